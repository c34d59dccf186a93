#include "daemon/storage/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace quorumfs::storage {

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) reset(other.release());
  return *this;
}

int UniqueFd::release() {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

void UniqueFd::reset(int fd) {
  // close() errors are not actionable here: every write we rely on was fsynced and checked.
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

std::string errno_message(std::string_view path, std::string_view what) {
  const int saved = errno;
  std::string message(path);
  message += ": ";
  message += what;
  message += ": ";
  message += std::strerror(saved);
  return message;
}

std::string join_path(std::string_view dir, std::string_view name) {
  std::string path(dir);
  if (!path.empty() && path.back() != '/') path += '/';
  path += name;
  return path;
}

bool write_all_at(int fd, std::string_view bytes, uint64_t offset, const std::string& path, std::string* error,
                  int flags) {
  while (!bytes.empty()) {
    struct iovec part {const_cast<char*>(bytes.data()), bytes.size()};
    const ssize_t written = ::pwritev2(fd, &part, 1, static_cast<off_t>(offset), flags);
    if (written < 0) {
      if (errno == EINTR) continue;
      *error = errno_message(path, "write at offset " + std::to_string(offset));
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(written));
    offset += static_cast<uint64_t>(written);
  }
  return true;
}

bool write_all(int fd, std::string_view bytes, const std::string& path, std::string* error) {
  while (!bytes.empty()) {
    const ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      *error = errno_message(path, "write");
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(written));
  }
  return true;
}

bool read_at(int fd, uint64_t offset, size_t count, std::string* out, const std::string& path,
             std::string* error) {
  out->resize(count);
  size_t done = 0;
  while (done < count) {
    const ssize_t got = ::pread(fd, out->data() + done, count - done, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      *error = errno_message(path, "read at offset " + std::to_string(offset + done));
      return false;
    }
    if (got == 0) break;  // end of file
    done += static_cast<size_t>(got);
  }
  out->resize(done);
  return true;
}

bool sync_directory(const std::string& dir, std::string* error) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) {
    *error = errno_message(dir, "open directory");
    return false;
  }
  if (::fsync(fd.get()) != 0) {
    *error = errno_message(dir, "fsync directory");
    return false;
  }
  return true;
}

// Creates each missing directory of the path with kDirMode (those that exist keep theirs).
bool make_directories(const std::string& dir, std::string* error) {
  std::filesystem::path path;
  for (const auto& part : std::filesystem::path(dir)) {
    path /= part;
    if (::mkdir(path.c_str(), kDirMode) != 0 && errno != EEXIST) {
      *error = errno_message(path.string(), "create directory");
      return false;
    }
  }
  if (!std::filesystem::is_directory(dir)) {
    *error = dir + ": create directory: not a directory";
    return false;
  }
  return true;
}

std::string readable_by_others_warning(const std::string& dir) {
  struct stat info{};
  if (::stat(dir.c_str(), &info) != 0 || (info.st_mode & 0077) == 0) return "";
  char mode[8];
  std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(info.st_mode & 07777));
  return dir + " has mode " + mode + ": other local users can read every znode in its snapshots and log, "
         "whatever the ACLs; chmod 700 " + dir;
}

bool replace_file_durably(const std::string& path, std::string_view bytes, std::string* error) {
  const std::string temp_path = path + ".tmp";
  UniqueFd fd(::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, kFileMode));
  if (!fd.valid()) {
    *error = errno_message(temp_path, "create");
    return false;
  }
  if (!write_all(fd.get(), bytes, temp_path, error)) return false;
  if (::fsync(fd.get()) != 0) {
    *error = errno_message(temp_path, "fsync");
    return false;
  }
  fd.reset();
  if (::rename(temp_path.c_str(), path.c_str()) != 0) {
    *error = errno_message(temp_path, "rename to " + path);
    return false;
  }
  const std::string dir = std::filesystem::path(path).parent_path().string();
  return sync_directory(dir.empty() ? "." : dir, error);
}

}  // namespace quorumfs::storage
