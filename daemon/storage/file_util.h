// Small POSIX file helpers shared by the txn log, the snapshot store and the epoch files. Each
// failure comes back as a message naming the file and the errno text, never as a silent false.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace quorumfs::storage {

// Owns a file descriptor; closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release();
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// "<path>: <what>: <strerror(errno)>", reading errno at the call.
std::string errno_message(std::string_view path, std::string_view what);

std::string join_path(std::string_view dir, std::string_view name);

// Writes all of bytes at offset (pwritev2, retried on EINTR and short writes). flags are
// pwritev2's: RWF_DSYNC makes each write durable before it returns, as write + fdatasync would.
bool write_all_at(int fd, std::string_view bytes, uint64_t offset, const std::string& path, std::string* error,
                  int flags = 0);
// Appends all of bytes at the file position (write, retried on EINTR and short writes).
bool write_all(int fd, std::string_view bytes, const std::string& path, std::string* error);
// Reads up to count bytes at offset into *out (replacing it); fewer only at end of file.
bool read_at(int fd, uint64_t offset, size_t count, std::string* out, const std::string& path,
             std::string* error);

// fsync of the directory, so a create, rename or unlink in it survives a crash.
bool sync_directory(const std::string& dir, std::string* error);
bool make_directories(const std::string& dir, std::string* error);

// A data dir holds every znode whatever its ACL: only its owner may read it. Directories the
// daemon creates get kDirMode, files kFileMode (docs/operations.md, "The data dir").
inline constexpr mode_t kDirMode = 0700;
inline constexpr mode_t kFileMode = 0600;
// "" when only its owner may read or enter dir; else a warning that says why it matters.
std::string readable_by_others_warning(const std::string& dir);

// Writes bytes to "<path>.tmp", fsyncs it, renames it over path and fsyncs the directory: after a
// crash, path holds either the old or the new bytes, never a mix.
bool replace_file_durably(const std::string& path, std::string_view bytes, std::string* error);

}  // namespace quorumfs::storage
