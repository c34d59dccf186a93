// Interned ACLs, shared by every node that has the same one (ZooKeeper's ReferenceCountedACLCache):
// most trees hold a handful of distinct ACLs, so a node keeps one pointer instead of a list.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "daemon/tree/acl.h"

namespace quorumfs {

struct InternedAcl {
  Acl acl;
  std::string text;  // canonical, format_acl(acl)
  mutable uint64_t references = 0;  // bookkeeping of the cache, not part of the value
};

class AclCache {
 public:
  // Returns the shared copy of acl, its reference count raised by one.
  const InternedAcl* acquire(const Acl& acl);
  void acquire(const InternedAcl* acl);
  // Lowers the count; the last release frees it.
  void release(const InternedAcl* acl);
  size_t size() const { return by_text_.size(); }

 private:
  absl::flat_hash_map<std::string, std::unique_ptr<InternedAcl>> by_text_;
};

}  // namespace quorumfs
