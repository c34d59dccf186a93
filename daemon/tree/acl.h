// ZooKeeper ACLs in their text form ("world:anyone:cdrwa,uid:1000:rw"), and the check of a caller
// against them: a mount caller (Unix uid/gids) or a ZooKeeper client (Caller.zk_client, with the
// identities it authenticated in Caller.auth_ids).
//
// Schemes: world:anyone grants everyone; uid:N and gid:N grant the mount's callers, by number, and
// never a ZooKeeper client; digest:user:hash grants a caller that holds exactly that digest
// identity; ip:addr[/bits] a caller whose ip identity lies in that network (a mount caller holds
// neither). auth: is ZooKeeper's "the creator's identities": uid:<caller> for a mount caller, one
// digest: entry per digest identity of a ZooKeeper client (none: the ACL is invalid, ZooKeeper's
// InvalidACL). uid 0 of the mount is the super user.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/proto/txn.pb.h"
#include "daemon/tree/limits.h"

namespace quorumfs {

enum Perm : uint32_t { kRead = 1, kWrite = 2, kCreate = 4, kDelete = 8, kAdmin = 16, kAllPerms = 31 };

struct AclEntry {
  uint32_t perms = 0;
  std::string scheme;
  std::string id;
  bool operator==(const AclEntry&) const = default;
};
using Acl = std::vector<AclEntry>;

// Parses "scheme:id:perms[,...]" (perms from "cdrwa") as a request gives it: printable ASCII only
// (0x20-0x7e), at most kAclTextBytesMax bytes (and so is its canonical form), a known scheme and a
// well-formed id in each entry. auth: entries are expanded as above.
// Returns false with *error saying why (printable ASCII, fit for a log line); *out is untouched then.
bool parse_acl(std::string_view text, const proto::Caller& caller, Acl* out, std::string* error);
// An ACL a snapshot holds: the entry grammar of parse_acl without the byte, length and digest rules
// added after the first release, so that a tree saved by it still loads (docs/mount.md, Limits).
bool parse_stored_acl(std::string_view text, Acl* out, std::string* error);
std::string format_acl(const Acl& acl);  // canonical text, perms in "cdrwa" order
bool acl_permits(const Acl& acl, uint32_t perm, const proto::Caller& caller);

inline const char* kOpenAclText = "world:anyone:cdrwa";

}  // namespace quorumfs
