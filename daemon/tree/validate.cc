#include "daemon/tree/validate.h"

#include "daemon/tree/ephemeral_type.h"
#include "daemon/tree/path.h"
#include "daemon/tree/tree_state.h"

namespace quorumfs {

namespace {


constexpr uint32_t kModeBits = 07777;

bool valid_mode(const proto::PosixMeta& meta) {
  return !meta.has_mode() || (meta.mode() & ~kModeBits) == 0;
}

// The form of a path and its bounds (limits.h). Length first: it bounds the walk.
Code check_path_form(std::string_view path) {
  if (path.size() > kPathBytesMax) return Code::kNameTooLong;
  if (path.empty() || path[0] != '/') return Code::kBadArguments;
  if (path == "/") return Code::kOk;
  if (path.back() == '/') return Code::kBadArguments;
  Code code = Code::kOk;
  size_t depth = 0;
  for_each_name(path, [&](std::string_view name) {
    if (name.empty() || name == "." || name == ".." || name.find('\0') != std::string_view::npos) {
      code = Code::kBadArguments;
    } else if (name.size() > kNameBytesMax || ++depth > kPathDepthMax) {
      code = Code::kNameTooLong;
    }
    return code == Code::kOk;
  });
  return code;
}

// A path an op changes (or checks): well formed and outside /zookeeper.
Code check_target(std::string_view path) {
  if (Code code = check_path_form(path); code != Code::kOk) return code;
  return in_system_subtree(path) ? Code::kReadOnly : Code::kOk;
}

Code check_data(std::string_view data, const TxnLimits& limits) {
  return data.size() > limits.data_bytes_max ? Code::kDataTooLarge : Code::kOk;
}

// The text's form, as a mount caller's (auth: takes its uid). What auth: needs of a ZooKeeper
// client (a digest identity) is the caller's, checked against the tree with the rest (plan_*).
Code check_acl_text(std::string_view text) {
  Acl acl;
  std::string error;
  return parse_acl(text, proto::Caller(), &acl, &error) ? Code::kOk : Code::kInvalidAcl;
}

// ZooKeeper's CreateMode rules for the node kinds of ephemeral_type.h.
bool valid_node_type(const proto::CreateOp& op) {
  const uint64_t owner = op.ephemeral_owner();
  if (owner != 0 && !is_session_owner(owner)) return false;
  if (op.container()) return !op.sequential() && owner == 0 && op.ttl_ms() == 0;
  return op.ttl_ms() == 0 || (valid_ttl_ms(op.ttl_ms()) && owner == 0);
}

Code validate_create(const proto::CreateOp& op, const TxnLimits& limits) {
  // A sequential create may give an empty base ("/queue/" makes "/queue/0000000007"), so its
  // path is checked with a digit standing for the suffix (ZooKeeper's validatePath does the same);
  // the real name and path are checked once the suffix is known (plan_create).
  const size_t suffix_bytes = op.sequential() ? 1 : 0;
  if (op.path().size() + suffix_bytes > kPathBytesMax) return Code::kNameTooLong;
  if (Code code = check_path_form(op.sequential() ? op.path() + "0" : op.path()); code != Code::kOk) {
    return code;
  }
  std::string_view parent_path, base_name;
  split_parent(op.path(), &parent_path, &base_name);
  if (!op.sequential() && base_name.empty()) return Code::kBadArguments;  // "/" itself
  if (in_system_subtree(parent_path) || (!op.sequential() && in_system_subtree(op.path()))) {
    return Code::kReadOnly;
  }
  const proto::PosixMeta& meta = op.meta();
  if (!meta.has_uid() || !meta.has_gid() || !meta.has_mode() || !valid_mode(meta) || !valid_node_type(op)) {
    return Code::kBadArguments;
  }
  if (Code code = check_data(op.data(), limits); code != Code::kOk) return code;
  return op.acl().empty() ? Code::kOk : check_acl_text(op.acl());
}

Code validate_delete(const proto::DeleteOp& op) {
  if (op.path() == "/") return Code::kBadArguments;
  if (Code code = check_target(op.path()); code != Code::kOk) return code;
  return op.must_be_directory() && op.must_be_file() ? Code::kBadArguments : Code::kOk;
}

Code validate_set_data(const proto::SetDataOp& op, const TxnLimits& limits) {
  if (Code code = check_target(op.path()); code != Code::kOk) return code;
  return check_data(op.data(), limits);
}

Code validate_set_acl(const proto::SetAclOp& op) {
  if (Code code = check_target(op.path()); code != Code::kOk) return code;
  return check_acl_text(op.acl());
}

Code validate_set_meta(const proto::SetMetaOp& op) {
  if (Code code = check_target(op.path()); code != Code::kOk) return code;
  return valid_mode(op.meta()) ? Code::kOk : Code::kBadArguments;
}

// 0 and the ephemeralOwner values of containers and TTL nodes (host 255) are no session's.
Code validate_create_session(const proto::CreateSessionOp& op) {
  if (!is_session_owner(op.session_id())) return Code::kBadArguments;
  return op.timeout_ms() > kSessionTimeoutMsMax ? Code::kBadArguments : Code::kOk;
}

}  // namespace

Code validate_op(const proto::Op& op, const TxnLimits& limits) {
  switch (op.kind_case()) {
    case proto::Op::kCreate:
      return validate_create(op.create(), limits);
    case proto::Op::kRemove:
      return validate_delete(op.remove());
    case proto::Op::kSetData:
      return validate_set_data(op.set_data(), limits);
    case proto::Op::kSetAcl:
      return validate_set_acl(op.set_acl());
    case proto::Op::kSetMeta:
      return validate_set_meta(op.set_meta());
    case proto::Op::kCheck:
      return check_target(op.check().path());
    case proto::Op::kCloseSession:
      return Code::kOk;  // any id; the tree decides what it means (data_tree.h)
    case proto::Op::kCreateSession:
      return validate_create_session(op.create_session());
    case proto::Op::kReserveInodes: {
      const uint32_t count = op.reserve_inodes().count();
      return count >= 1 && count <= kInodesReservedMax ? Code::kOk : Code::kBadArguments;
    }
    case proto::Op::KIND_NOT_SET:
      break;
  }
  return Code::kBadArguments;
}

Code validate_txn(const proto::Txn& txn, const TxnLimits& limits) {
  if (static_cast<size_t>(txn.ops_size()) > limits.ops_max) return Code::kBadArguments;
  if (txn.ByteSizeLong() > limits.txn_bytes_max) return Code::kDataTooLarge;
  for (const proto::Op& op : txn.ops()) {
    if (Code code = validate_op(op, limits); code != Code::kOk) return code;
  }
  return Code::kOk;
}

}  // namespace quorumfs

namespace quorumfs::tree_internal {

namespace {

Code find_node(const TreeState& state, std::string_view path, Node** node) {
  *node = state.find(path);
  return *node ? Code::kOk : Code::kNoNode;
}

bool version_matches(int32_t expected, int32_t actual) { return expected == -1 || expected == actual; }

bool permits(const Node& node, uint32_t perm, const proto::Caller& caller) {
  return acl_permits(node.acl(), perm, caller);
}

// The part of a create that needs no more than validate_op did: the inode, the ACL as this caller
// makes it.
Code prepare_create(const TreeState& state, const proto::CreateOp& op, const proto::Caller& caller,
                    CreatePlan* plan) {
  // A reused inode must be one the tree handed out; the counter stays the only source of new ones.
  if (op.inode() >= state.next_inode) return Code::kBadArguments;
  if (!op.acl().empty()) {
    plan->acl.emplace();
    std::string error;
    if (!parse_acl(op.acl(), caller, &*plan->acl, &error)) return Code::kInvalidAcl;
  }
  std::string_view parent_path, base_name;
  split_parent(op.path(), &parent_path, &base_name);
  plan->parent_path = parent_path;
  plan->name = base_name;
  return Code::kOk;
}

}  // namespace

Code plan_create(const TreeState& state, const proto::CreateOp& op, const proto::Caller& caller,
                 CreatePlan* plan) {
  if (Code code = prepare_create(state, op, caller, plan); code != Code::kOk) return code;
  if (Code code = find_node(state, plan->parent_path, &plan->parent); code != Code::kOk) return code;
  const Node& parent = *plan->parent;
  // An ephemeral file is first of all a file: ENOTDIR either way, but the ZooKeeper code only
  // where the parent could otherwise hold children.
  plan->parent_becomes_directory = !parent.is_directory() && op.parent_may_become_directory();
  if (!parent.is_directory() && !plan->parent_becomes_directory) return Code::kNotDirectory;
  if (is_session_owner(parent.stat().ephemeral_owner)) return Code::kNoChildrenForEphemerals;
  if (!permits(parent, kCreate, caller)) return Code::kNoAuth;
  if (op.sequential()) {
    plan->name += sequential_suffix(parent.stat().cversion);
    if (plan->name.size() > kNameBytesMax ||
        join_path(plan->parent_path, plan->name).size() > kPathBytesMax) {
      return Code::kNameTooLong;
    }
  }
  // validate_op checked the name (and the digits add no '/', NUL, "." or ".."); TreeState::make_node
  // relies on it.
  if (!valid_name(plan->name)) return Code::kBadArguments;
  if (TreeState::child(parent, plan->name)) return Code::kNodeExists;
  if (op.ephemeral_owner() != 0 && !state.session_open(op.ephemeral_owner())) return Code::kSessionExpired;
  return Code::kOk;
}

Code plan_delete(const TreeState& state, const proto::DeleteOp& op, const proto::Caller& caller,
                 Node** node) {
  if (op.path() == "/") return Code::kBadArguments;  // as validate_op says: the root has no parent
  if (Code code = find_node(state, op.path(), node); code != Code::kOk) return code;
  const Node& target = **node;
  if (!permits(*target.parent(), kDelete, caller)) return Code::kNoAuth;
  if (!version_matches(op.expected_version(), target.stat().version)) return Code::kBadVersion;
  if (op.must_be_directory() && !target.is_directory()) return Code::kNotDirectory;
  if (op.must_be_file() && target.is_directory()) return Code::kIsDirectory;
  if (target.num_children() > 0) return Code::kNotEmpty;
  return Code::kOk;
}

Code plan_set_data(const TreeState& state, const proto::SetDataOp& op, const proto::Caller& caller,
                   Node** node) {
  if (Code code = find_node(state, op.path(), node); code != Code::kOk) return code;
  if (!permits(**node, kWrite, caller)) return Code::kNoAuth;
  if (!version_matches(op.expected_version(), (*node)->stat().version)) return Code::kBadVersion;
  return Code::kOk;
}

Code plan_set_acl(const TreeState& state, const proto::SetAclOp& op, const proto::Caller& caller,
                  Node** node, Acl* acl) {
  std::string error;
  if (!parse_acl(op.acl(), caller, acl, &error)) return Code::kInvalidAcl;
  if (Code code = find_node(state, op.path(), node); code != Code::kOk) return code;
  if (!permits(**node, kAdmin, caller)) return Code::kNoAuth;
  if (!version_matches(op.expected_aversion(), (*node)->stat().aversion)) return Code::kBadVersion;
  return Code::kOk;
}

// chown/chmod/utimensat need WRITE: the ACL has no "owner" permission, and ADMIN guards only the
// ACL itself (ZooKeeper has no POSIX metadata to model this on). The kernel's own POSIX checks
// (owner for chmod, root for chown) come on top, at the mount.
Code plan_set_meta(const TreeState& state, const proto::SetMetaOp& op, const proto::Caller& caller,
                   Node** node) {
  if (Code code = find_node(state, op.path(), node); code != Code::kOk) return code;
  if (!permits(**node, kWrite, caller)) return Code::kNoAuth;
  return Code::kOk;
}

// ZooKeeper's check op needs READ on the node (PrepRequestProcessor, OpCode.check).
Code plan_check(const TreeState& state, const proto::CheckOp& op, const proto::Caller& caller,
                Node** node) {
  if (Code code = find_node(state, op.path(), node); code != Code::kOk) return code;
  if (!permits(**node, kRead, caller)) return Code::kNoAuth;
  if (!version_matches(op.expected_version(), (*node)->stat().version)) return Code::kBadVersion;
  return Code::kOk;
}

// An id at or below its host's highest was opened before (or skipped): it never opens again.
Code plan_create_session(const TreeState& state, const proto::CreateSessionOp& op) {
  const uint64_t session = op.session_id();
  if (state.session_open(session)) return Code::kOk;
  if (session <= state.highest_session_id(session_host(session))) return Code::kSessionExpired;
  if (state.open_sessions().size() >= kOpenSessionsLimit) return Code::kTooManySessions;
  return Code::kOk;
}

Code plan_op(const TreeState& state, const proto::Op& op, const proto::Caller& caller) {
  Node* node = nullptr;
  switch (op.kind_case()) {
    case proto::Op::kCreate: {
      CreatePlan plan;
      return plan_create(state, op.create(), caller, &plan);
    }
    case proto::Op::kRemove:
      return plan_delete(state, op.remove(), caller, &node);
    case proto::Op::kSetData:
      return plan_set_data(state, op.set_data(), caller, &node);
    case proto::Op::kSetAcl: {
      Acl acl;
      return plan_set_acl(state, op.set_acl(), caller, &node, &acl);
    }
    case proto::Op::kSetMeta:
      return plan_set_meta(state, op.set_meta(), caller, &node);
    case proto::Op::kCheck:
      return plan_check(state, op.check(), caller, &node);
    case proto::Op::kCloseSession:
      return Code::kOk;
    case proto::Op::kCreateSession:
      return plan_create_session(state, op.create_session());
    case proto::Op::kReserveInodes:
      return state.next_inode + op.reserve_inodes().count() <= kInodeLimit ? Code::kOk : Code::kBadArguments;
    case proto::Op::KIND_NOT_SET:
      break;
  }
  return Code::kBadArguments;
}

}  // namespace quorumfs::tree_internal
