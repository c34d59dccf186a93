// Every bound a request meets in the tree, in one place (docs/mount.md, "Limits"). They decide
// txn results, so every replica must use the same values: the constants are not configured, and
// the daemon gives every replica the same TxnLimits.
#pragma once

#include <cstddef>
#include <cstdint>

#include "consensus/log_format.h"

namespace quorumfs {

// A znode's name: docs/guarantees.md §3's 255 bytes, NAME_MAX of Linux filesystems (a node keeps
// its name's length in one byte).
inline constexpr size_t kNameBytesMax = 255;
// A znode's whole path ("/a/b"): PATH_MAX (4096 bytes) less its terminating NUL, so that every
// node can be named in one system call relative to the mount's root.
inline constexpr size_t kPathBytesMax = 4095;
// Names in a path. 4095 bytes would allow 2047; 1024 keeps anything that walks the tree one stack
// frame per level (a client's recursive delete, `find`, a recursive check of a snapshot) within
// 8 KiB per level of an 8 MiB thread stack. ZooKeeper's recipes go a few levels down.
inline constexpr size_t kPathDepthMax = 1024;
// ACL text (user.zk.acl, a create's or setACL's ACL), in bytes: about 80 entries of the longest
// kinds (ip:<IPv6>/bits, digest:user:<base64 SHA-1>). Each distinct ACL is kept once in memory
// (acl_cache.h), so this also bounds what one of them costs.
inline constexpr size_t kAclTextBytesMax = 4096;
// Ops in one multi txn. A rename takes 3; ZooKeeper clients batch hundreds. It bounds one txn's
// undo log and how long its apply holds the event loop (each op walks one path).
inline constexpr size_t kTxnOpsMax = 1024;
// A ZooKeeper client session's timeout (CreateSessionOp.timeout_ms). The server negotiates it down
// to its maxSessionTimeout long before this; the bound only keeps a txn from asking for a session
// that outlives any plausible client.
inline constexpr uint32_t kSessionTimeoutMsMax = 24 * 60 * 60 * 1000;
// Inode numbers one ReserveInodesOp takes (the mount asks for a block at a time, docs/mount.md).
inline constexpr uint32_t kInodesReservedMax = 1 << 16;
// The tree's inode counter never passes this: a reservation that would is refused (BadArguments),
// and no inode number ever comes near the top bit.
inline constexpr uint64_t kInodeLimit = uint64_t{1} << 62;

// The bounds of validate_txn (validate.h) that the daemon sets; DataTree::txn_limits() gives the
// tree's own.
struct TxnLimits {
  size_t data_bytes_max = 1 << 20;  // one Create's or SetData's data (DataTree::data_bytes_max())
  // The whole encoded txn: one log record must hold it (a longer one stops the log writer).
  size_t txn_bytes_max = log_format::kPayloadBytesMax;
  size_t ops_max = kTxnOpsMax;
};

}  // namespace quorumfs
