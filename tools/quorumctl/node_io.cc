#include "tools/quorumctl/node_io.h"

#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>

namespace quorumfs::quorumctl {

namespace {

// Closes fd keeping the errno of the call that failed before.
void close_keeping_errno(int fd) {
  const int saved = errno;
  close(fd);
  errno = saved;
}

}  // namespace

bool read_all(int fd, std::string* out) {
  char buffer[65536];
  while (true) {
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n == 0) return true;
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    out->append(buffer, static_cast<size_t>(n));
  }
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool get_xattr(const std::string& path, const char* name, std::string* value) {
  for (int attempt = 0; attempt < 4; ++attempt) {
    const ssize_t size = lgetxattr(path.c_str(), name, nullptr, 0);
    if (size < 0) return false;
    value->resize(static_cast<size_t>(size));
    const ssize_t got = lgetxattr(path.c_str(), name, value->data(), value->size());
    if (got >= 0) {
      value->resize(static_cast<size_t>(got));
      return true;
    }
    if (errno != ERANGE) return false;
  }
  return false;
}

bool read_node(const std::string& local, bool directory, std::string* data) {
  if (directory) return get_xattr(local, "user.zk.data", data);
  const int fd = open(local.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  if (!read_all(fd, data)) {
    close_keeping_errno(fd);
    return false;
  }
  close(fd);
  return true;
}

bool write_node(const std::string& local, bool directory, std::string_view data) {
  if (directory) return lsetxattr(local.c_str(), "user.zk.data", data.data(), data.size(), 0) == 0;
  const int fd = open(local.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return false;
  if (!write_all(fd, data)) {
    close_keeping_errno(fd);
    return false;
  }
  return close(fd) == 0;  // the commit: its error is the setData's
}

}  // namespace quorumfs::quorumctl
