// One open file description as the mount keeps it: its buffered writes (committed as ONE setData
// at flush or fsync, docs/guarantees.md §3), its ephemeral session, its caller; and the host's
// budget for the bytes written to open files and not yet committed.
#pragma once

#include <fuse_lowlevel.h>

#include <cstdint>
#include <optional>
#include <string>

#include "daemon/proto/txn.pb.h"

namespace quorumfs::fusefs {

// One open file description. Writes are buffered here and committed as ONE setData at flush
// (every close of a descriptor) or fsync (docs/guarantees.md §3).
struct OpenFile {
  uint64_t inode = 0;
  bool writable = false;
  bool append = false;
  bool loaded = false;    // buffer holds the content this descriptor reads and writes
  bool dirty = false;     // buffer must be committed
  // Its open's O_TRUNC is all it holds: a flush while another descriptor shares the description
  // waits for the data (docs/guarantees.md §3, `echo x > f`).
  bool only_truncated = false;
  // Written by a caller without CAP_FSETID: the commit clears set-user-ID/set-group-ID.
  bool kill_privileges = false;
  // A write failed: past the data limit (EFBIG) or the host's buffer budget (ENOSPC). The
  // commit then fails with it: a half file is never stored.
  int write_error = 0;
  std::string buffer;
  // Times set explicitly (futimens) after writing: the commit must not move them to "now", as
  // `cp -a` and `tar x` set them before the close that commits the data.
  std::optional<int64_t> atime_ns;
  std::optional<int64_t> mtime_ns;
  uint64_t session_id = 0;  // non-zero: this description owns ephemeral nodes
  // Its session (or the session of a lock taken through it) was closed, not by its release (the
  // leader expired this host's sessions): every call but the release fails with ESTALE
  // (docs/mount.md, "Expired sessions").
  bool expired = false;
  proto::Caller caller;     // the opener: its commits are checked against the ACL as its own
  // Made by a background create (background_create.h): the inode it reserved, which the kernel
  // keeps naming it by even if another host's node won the name (Filesystem::alias_of).
  uint64_t created_inode = 0;
};

inline OpenFile* open_file(fuse_file_info* fi) { return reinterpret_cast<OpenFile*>(fi->fh); }

// Bytes written to open files and not yet committed, over all descriptors of this host, and the
// data of files deleted while open (unlinked.h), within buffered_bytes_max: a write past it fails
// with ENOSPC (docs/mount.md, "Limits"). A commit's bytes count until it is answered.
class WriteBudget {
 public:
  explicit WriteBudget(size_t limit_bytes) : limit_bytes_(limit_bytes) {}

  // Charges the growth of file's buffer to new_size: false, and nothing charged, past the limit.
  // Shrinking always fits.
  bool charge(OpenFile& file, size_t new_size);
  // Drops file's buffer and everything it had pending (its bytes no longer count).
  void reset(OpenFile& file);
  // Charges bytes held outside any buffer (a deleted file kept for its descriptors, unlinked.h):
  // false, and nothing charged, past the limit.
  bool reserve(size_t bytes);
  // A commit of bytes (moved out of a buffer before the reset) was answered, or reserved bytes
  // were let go.
  void settle(size_t bytes) { in_use_ -= bytes; }
  // The buffer's bytes leave it for a commit: they still count, until settle().
  std::string take(OpenFile& file);
  size_t in_use() const { return in_use_; }

 private:
  const size_t limit_bytes_;
  size_t in_use_ = 0;
};

}  // namespace quorumfs::fusefs
