#include "daemon/storage/epoch_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "daemon/storage/file_util.h"

namespace quorumfs {
namespace {

// An epoch file is at most "4294967295\n"; anything longer is not ours.
constexpr size_t kEpochFileBytesMax = 32;

// Strict: decimal digits, then at most one '\n' (ZooKeeper writes none, we write one).
std::optional<uint32_t> parse_epoch(const std::string& text, const std::string& path, std::string* error) {
  size_t end = text.size();
  if (end > 0 && text[end - 1] == '\n') --end;
  if (end == 0) {
    *error = path + ": empty epoch file at offset 0";
    return std::nullopt;
  }
  uint64_t value = 0;
  for (size_t offset = 0; offset < end; ++offset) {
    const char digit = text[offset];
    if (digit < '0' || digit > '9') {
      *error = path + ": not a decimal digit at offset " + std::to_string(offset);
      return std::nullopt;
    }
    value = value * 10 + static_cast<uint64_t>(digit - '0');
    if (value > UINT32_MAX) {
      *error = path + ": epoch above 2^32-1 at offset " + std::to_string(offset);
      return std::nullopt;
    }
  }
  return static_cast<uint32_t>(value);
}

}  // namespace

std::optional<uint32_t> read_epoch_file(const std::string& path, std::string* error) {
  storage::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return 0;  // never written: no epoch accepted yet
    *error = storage::errno_message(path, "open");
    return std::nullopt;
  }
  std::string text;
  if (!storage::read_at(fd.get(), 0, kEpochFileBytesMax + 1, &text, path, error)) return std::nullopt;
  if (text.size() > kEpochFileBytesMax) {
    *error = path + ": epoch file longer than " + std::to_string(kEpochFileBytesMax) + " bytes at offset " +
             std::to_string(kEpochFileBytesMax);
    return std::nullopt;
  }
  return parse_epoch(text, path, error);
}

bool write_epoch_file(const std::string& path, uint32_t epoch, std::string* error) {
  return storage::replace_file_durably(path, std::to_string(epoch) + "\n", error);
}

}  // namespace quorumfs
