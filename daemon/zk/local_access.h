// The POSIX check the kernel makes for a mount caller (default_permissions), made by the daemon
// for a request on the control socket (docs/quorumctl.md, "The control socket"), where no kernel
// stands between the caller and the tree: search on every directory above the node, read or
// write on the node, write and search on the parent of a create or delete, and the sticky
// directory's restricted deletion and its owner-only user.* xattrs (a directory's data), as the
// kernel applies them on the mount.
#pragma once

#include <cstdint>
#include <vector>

#include "daemon/tree/data_tree.h"
#include "daemon/zk/protocol.h"

namespace quorumfs::zk {

// A local caller, from the socket's SO_PEERCRED and SO_PEERGROUPS (captured at connect).
struct LocalCaller {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> groups;  // supplementary
};

inline constexpr uint32_t kMayRead = 4;
inline constexpr uint32_t kMayWrite = 2;
inline constexpr uint32_t kMaySearch = 1;

// Owner, group or other bits of attrs, as the kernel's generic_permission picks them; uid 0
// passes (CAP_DAC_OVERRIDE).
bool mode_permits(const PosixAttrs& attrs, const LocalCaller& caller, uint32_t mask);
// kOk, or kNoAuth when the kernel would have answered EACCES or EPERM for this op (a create,
// delete, setData, check, getData or exists) on the mount. A node that does not exist is left to
// the tree's own answer (NoNode).
int32_t posix_check(const DataTree& tree, const Request& request, const LocalCaller& caller);

}  // namespace quorumfs::zk
