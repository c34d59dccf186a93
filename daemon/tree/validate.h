// The preconditions of each op, checked against the tree without changing it. apply() runs them
// before touching anything, so an op either fails here or cannot fail at all; check() runs them alone.
//
// Order of checks, the same for every op (ZooKeeper's PrepRequestProcessor order, where it has one):
// the request itself first (path form, /zookeeper, data size, ACL text, meta), then the tree
// (node exists, node kinds, ACL permission, versions, name free / no children).
#pragma once

#include <optional>
#include <string>

#include "daemon/tree/tree_state.h"

namespace quorumfs::tree_internal {

struct CreatePlan {
  Node* parent = nullptr;
  std::string parent_path;
  std::string name;         // with the sequential suffix
  std::optional<Acl> acl;   // none: inherit the parent's
};

Code plan_create(const TreeState& state, const proto::CreateOp& op, const proto::Caller& caller,
                 CreatePlan* plan);
Code plan_delete(const TreeState& state, const proto::DeleteOp& op, const proto::Caller& caller,
                 Node** node);
Code plan_set_data(const TreeState& state, const proto::SetDataOp& op, const proto::Caller& caller,
                   Node** node);
Code plan_set_acl(const TreeState& state, const proto::SetAclOp& op, const proto::Caller& caller,
                  Node** node, Acl* acl);
Code plan_set_meta(const TreeState& state, const proto::SetMetaOp& op, const proto::Caller& caller,
                   Node** node);
Code plan_check(const TreeState& state, const proto::CheckOp& op, const proto::Caller& caller,
                Node** node);
Code plan_create_session(const TreeState& state, const proto::CreateSessionOp& op);
// Any op; CloseSession always passes.
Code plan_op(const TreeState& state, const proto::Op& op, const proto::Caller& caller);

}  // namespace quorumfs::tree_internal
