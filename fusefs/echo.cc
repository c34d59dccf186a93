#include "fusefs/echo.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace quorumfs::fusefs {

void Echo::removed(std::string path, bool directory) {
  thread_.push([this, path = std::move(path), directory] {
    std::string full = mountpoint_ + path;
    int result = directory ? ::rmdir(full.c_str()) : ::unlink(full.c_str());
    // ENOENT: the kernel no longer had the name, so there is nothing to announce.
    if (result != 0 && errno != ENOENT) {
      spdlog::debug("echo of the removal of {}: {}", path, std::strerror(errno));
    }
    done_(path);
  });
}

void Echo::created(std::string path, uint64_t parent_inode, std::string name, bool directory) {
  thread_.push([this, path = std::move(path), parent_inode, name = std::move(name), directory] {
    fuse_lowlevel_notify_inval_entry(session_, parent_inode, name.data(), name.size());
    std::string full = mountpoint_ + path;
    int result = 0;
    if (directory) {
      result = ::mkdir(full.c_str(), 0755);
    } else {
      int fd = ::open(full.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
      if (fd >= 0) ::close(fd);
      result = fd >= 0 ? 0 : -1;
    }
    if (result != 0) spdlog::debug("echo of the creation of {}: {}", path, std::strerror(errno));
    done_(path);
  });
}

}  // namespace quorumfs::fusefs
