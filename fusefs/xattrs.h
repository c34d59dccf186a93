// ZooKeeper's stat and ACL as extended attributes (docs/guarantees.md §7).
//
//   $ getfattr -d -m - /mnt/q/greeting
//   user.zk.czxid="0x100000002"  ...  user.zk.stat="czxid=0x100000002 mzxid=... numChildren=0"
//   $ setfattr -n user.zk.acl -v 'world:anyone:r,uid:1000:cdrwa' /mnt/q/greeting
//
// zxids and ephemeralOwner are hex with 0x (as zkCli prints them); times are milliseconds since
// the epoch; counters are decimal.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "daemon/tree/data_tree.h"

namespace quorumfs::fusefs {

inline constexpr std::string_view kZkPrefix = "user.zk.";
// On the root: the daemon's control socket for quorumctl, "@quorumfs-PID" (docs/quorumctl.md).
// Not listed; read-only (setting it is ENOTSUP, as for any other user.* name).
inline constexpr std::string_view kControlXattr = "user.quorumfs.control";

enum class XattrKind { kStat, kAcl, kData, kName, kPath, kState, kLockToken, kUnknown };
XattrKind classify_xattr(std::string_view name);

// Value of a read-only stat attribute, a user.zk.name/path, or nullopt.
std::optional<std::string> stat_xattr(const DataTree& tree, const Node& node, std::string_view name);
std::string stat_line(const Node& node);
// The root's user.zk.state: "synced" while the replica follows or leads a quorum (connected),
// "unsynced" while it looks for one (no quorum: its reads come from its own tree and may be
// behind), "expired" while it is synced and descriptors of this mount are open whose session or
// lock the ensemble closed (the host was cut off past the session timeout; docs/mount.md).
std::string_view state_xattr(bool synced, bool expired = false);
// NUL-separated names, as listxattr wants them (user.zk.state on the root only).
std::string list_xattrs(const Node& node);
// Why value cannot be set as user.zk.acl, in printable ASCII for the log, or empty when it can:
// the tree's own rules (parse_acl), checked before a txn is built so that a bad text never
// reaches the log.
std::string acl_value_error(std::string_view value);

}  // namespace quorumfs::fusefs
