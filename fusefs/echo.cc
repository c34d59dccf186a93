#include "fusefs/echo.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace quorumfs::fusefs {

namespace {
// "/a/b" -> "a/b", for the *at() calls relative to the mount's root.
const char* relative(const std::string& path) { return path.c_str() + 1; }
}  // namespace

Echo::Echo(fuse_session* session, std::string mountpoint, Done done)
    : session_(session), mountpoint_(std::move(mountpoint)), done_(std::move(done)) {
  thread_.push([this] {
    struct stat root {};
    if (::stat(mountpoint_.c_str(), &root) == 0) mount_device_ = root.st_dev;
  });
}

// The owner stops the echo only once its calls can end (the loop serves, or the device is closed).
Echo::~Echo() {
  thread_.request_stop();
  while (!thread_.finished()) std::this_thread::yield();
}

int Echo::open_root() const {
  int fd = ::open(mountpoint_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  struct stat root {};
  if (fd >= 0 && (mount_device_ == 0 || ::fstat(fd, &root) != 0 || root.st_dev != mount_device_)) {
    ::close(fd);
    fd = -1;
  }
  return fd;
}

void Echo::removed(std::string path, bool directory) {
  thread_.push([this, path = std::move(path), directory] {
    int root_fd = open_root();
    int result = root_fd < 0 ? -1 : ::unlinkat(root_fd, relative(path), directory ? AT_REMOVEDIR : 0);
    if (root_fd >= 0) ::close(root_fd);
    // ENOENT: the kernel no longer had the name, so there is nothing to announce.
    if (result != 0 && errno != ENOENT) {
      spdlog::debug("echo of the removal of {}: {}", path, std::strerror(errno));
    }
    done_(path, true);
  });
}

void Echo::created(std::string path, uint64_t parent_inode, std::string name, bool directory) {
  thread_.push([this, path = std::move(path), parent_inode, name = std::move(name), directory] {
    fuse_lowlevel_notify_inval_entry(session_, parent_inode, name.data(), name.size());
    int root_fd = open_root();
    int result = -1;
    if (root_fd >= 0 && directory) {
      result = ::mkdirat(root_fd, relative(path), 0755);
    } else if (root_fd >= 0) {
      int fd = ::openat(root_fd, relative(path), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
      if (fd >= 0) ::close(fd);
      result = fd >= 0 ? 0 : -1;
    }
    if (root_fd >= 0) ::close(root_fd);
    if (result != 0) spdlog::debug("echo of the creation of {}: {}", path, std::strerror(errno));
    done_(path, false);
  });
}

}  // namespace quorumfs::fusefs
