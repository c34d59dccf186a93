#include "fusefs/echo.h"

#include <spdlog/spdlog.h>
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

}  // namespace quorumfs::fusefs
