#include "fusefs/open_file.h"

#include <spdlog/spdlog.h>

#include <utility>

namespace quorumfs::fusefs {

bool WriteBudget::charge(OpenFile& file, size_t new_size) {
  const size_t old_size = file.buffer.size();
  if (new_size > old_size && in_use_ + (new_size - old_size) > limit_bytes_) {
    spdlog::warn("mount: {} bytes of writes not yet committed on this host: a write of inode {} refused (ENOSPC)",
                 in_use_, file.inode);
    return false;
  }
  in_use_ = in_use_ - old_size + new_size;
  return true;
}

bool WriteBudget::reserve(size_t bytes) {
  if (in_use_ + bytes > limit_bytes_) return false;
  in_use_ += bytes;
  return true;
}

void WriteBudget::reset(OpenFile& file) {
  in_use_ -= file.buffer.size();
  file.buffer.clear();
  file.buffer.shrink_to_fit();
  file.loaded = file.dirty = file.only_truncated = file.kill_privileges = false;
  file.write_error = 0;
  file.atime_ns.reset();
  file.mtime_ns.reset();
}

// The bytes stay charged: the emptied buffer's reset() uncharges nothing of them.
std::string WriteBudget::take(OpenFile& file) { return std::exchange(file.buffer, {}); }

}  // namespace quorumfs::fusefs
