#include "daemon/tree/acl_cache.h"

#include "consensus/check.h"

namespace quorumfs {

const InternedAcl* AclCache::acquire(const Acl& acl) {
  std::string text = format_acl(acl);
  auto [it, inserted] = by_text_.try_emplace(text);
  if (inserted) {
    it->second = std::make_unique<InternedAcl>();
    it->second->acl = acl;
    it->second->text = std::move(text);
  }
  it->second->references++;
  return it->second.get();
}

void AclCache::acquire(const InternedAcl* acl) {
  QFS_CHECK(acl->references > 0, "an interned ACL is referenced");
  acl->references++;
}

void AclCache::release(const InternedAcl* acl) {
  QFS_CHECK(acl->references > 0, "an interned ACL is referenced");
  if (--acl->references > 0) return;
  std::string text = acl->text;  // erase destroys the entry that owns acl->text
  by_text_.erase(text);
}

}  // namespace quorumfs
