// What a txn asks, checked before anything changes, in two steps:
//
// validate_txn: every check that needs no tree, i.e. the request's own form. The leader runs it on
// every request before proposing it (so a bad one never reaches the log), and DataTree::apply runs
// it first (so a committed txn that fails it is a failed txn, with the same code, on every replica).
//
// plan_*: the preconditions of each op against the tree, without changing it, for an op that
// passed validate_op. apply() runs them before touching anything, so an op either fails here or
// cannot fail at all; check() runs them alone.
//
// Order of checks, the same for every op (ZooKeeper's PrepRequestProcessor order, where it has one):
// the request itself first (path form, /zookeeper, meta, data size, ACL text), then the tree
// (inode, node exists, node kinds, ACL permission, versions, name free / no children).
#pragma once

#include <optional>
#include <string>

#include "daemon/tree/data_tree.h"
#include "daemon/tree/limits.h"

namespace quorumfs {

// Checks everything about txn that needs no tree (limits.h; docs/mount.md, "Limits"):
// - at most limits.ops_max ops (kBadArguments), at most limits.txn_bytes_max bytes encoded
//   (kDataTooLarge);
// - each op: its kind set (kBadArguments); every path absolute with no empty, "." or ".." name,
//   no NUL and no trailing '/' (kBadArguments), names of at most kNameBytesMax bytes, the path at
//   most kPathBytesMax bytes and kPathDepthMax names (kNameTooLong); nothing written under
//   /zookeeper (kReadOnly); a create's uid, gid and mode present, modes only permission bits, a
//   delete not asked to be both rmdir and unlink (kBadArguments); data at most
//   limits.data_bytes_max bytes (kDataTooLarge); ACL text as parse_acl takes it (kInvalidAcl); a
//   create's node kind one ZooKeeper allows (ephemeral_type.h; kBadArguments); a CreateSession's
//   id one that no node kind claims (not 0, not host 255, not a container's) and its timeout at
//   most kSessionTimeoutMsMax (kBadArguments).
// Returns the first failing check's code, the same on every replica, or kOk.
Code validate_txn(const proto::Txn& txn, const TxnLimits& limits);
// The checks of one op (DataTree::check judges an op on its own).
Code validate_op(const proto::Op& op, const TxnLimits& limits);

}  // namespace quorumfs

namespace quorumfs::tree_internal {

struct CreatePlan {
  Node* parent = nullptr;
  std::string parent_path;
  std::string name;         // with the sequential suffix
  std::optional<Acl> acl;   // none: inherit the parent's
  bool parent_becomes_directory = false;  // the parent is a file (parent_may_become_directory)
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
