#include "daemon/tree/validate.h"

#include "daemon/tree/path.h"

namespace quorumfs::tree_internal {

namespace {

constexpr uint32_t kModeBits = 07777;

Code check_path(std::string_view path) {
  if (!valid_path(path)) return Code::kBadArguments;
  if (in_system_subtree(path)) return Code::kReadOnly;
  return Code::kOk;
}

Code find_node(const TreeState& state, std::string_view path, Node** node) {
  *node = state.find(path);
  return *node ? Code::kOk : Code::kNoNode;
}

bool version_matches(int32_t expected, int32_t actual) { return expected == -1 || expected == actual; }

bool permits(const Node& node, uint32_t perm, const proto::Caller& caller) {
  return acl_permits(node.acl(), perm, caller);
}

bool valid_mode(const proto::PosixMeta& meta) {
  return !meta.has_mode() || (meta.mode() & ~kModeBits) == 0;
}

Code check_acl_text(std::string_view text, const proto::Caller& caller, Acl* acl) {
  std::string error;
  return parse_acl(text, caller, acl, &error) ? Code::kOk : Code::kInvalidAcl;
}

// The part of a create that needs no tree: path form, /zookeeper, meta, size, ACL text, inode.
Code check_create_request(const TreeState& state, const proto::CreateOp& op,
                          const proto::Caller& caller, CreatePlan* plan) {
  // A sequential create may give an empty base ("/queue/" makes "/queue/0000000007"), so its
  // path is checked with a digit standing for the suffix (ZooKeeper's validatePath does the same);
  // the length of the real name is checked once the suffix is known.
  if (!valid_path(op.sequential() ? op.path() + "0" : op.path())) return Code::kBadArguments;
  std::string_view parent_path, base_name;
  split_parent(op.path(), &parent_path, &base_name);
  if (!op.sequential() && base_name.empty()) return Code::kBadArguments;  // "/" itself
  if (in_system_subtree(parent_path) || (!op.sequential() && in_system_subtree(op.path()))) {
    return Code::kReadOnly;
  }
  const proto::PosixMeta& meta = op.meta();
  if (!meta.has_uid() || !meta.has_gid() || !meta.has_mode() || !valid_mode(meta)) {
    return Code::kBadArguments;
  }
  // A reused inode must be one the tree handed out; the counter stays the only source of new ones.
  if (op.inode() >= state.next_inode) return Code::kBadArguments;
  if (op.data().size() > state.data_bytes_max) return Code::kDataTooLarge;
  if (!op.acl().empty()) {
    plan->acl.emplace();
    if (Code code = check_acl_text(op.acl(), caller, &*plan->acl); code != Code::kOk) return code;
  }
  plan->parent_path = parent_path;
  plan->name = base_name;
  return Code::kOk;
}

}  // namespace

Code plan_create(const TreeState& state, const proto::CreateOp& op, const proto::Caller& caller,
                 CreatePlan* plan) {
  if (Code code = check_create_request(state, op, caller, plan); code != Code::kOk) return code;
  if (Code code = find_node(state, plan->parent_path, &plan->parent); code != Code::kOk) return code;
  const Node& parent = *plan->parent;
  // An ephemeral file is first of all a file: ENOTDIR either way, but the ZooKeeper code only
  // where the parent could otherwise hold children.
  if (!parent.is_directory()) return Code::kNotDirectory;
  if (parent.stat().ephemeral_owner != 0) return Code::kNoChildrenForEphemerals;
  if (!permits(parent, kCreate, caller)) return Code::kNoAuth;
  if (op.sequential()) plan->name += sequential_suffix(parent.stat().cversion);
  if (!valid_name(plan->name)) return Code::kBadArguments;
  if (TreeState::child(parent, plan->name)) return Code::kNodeExists;
  if (op.ephemeral_owner() != 0 && !state.session_open(op.ephemeral_owner())) return Code::kSessionExpired;
  return Code::kOk;
}

Code plan_delete(const TreeState& state, const proto::DeleteOp& op, const proto::Caller& caller,
                 Node** node) {
  if (op.path() == "/") return Code::kBadArguments;
  if (Code code = check_path(op.path()); code != Code::kOk) return code;
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
  if (Code code = check_path(op.path()); code != Code::kOk) return code;
  if (op.data().size() > state.data_bytes_max) return Code::kDataTooLarge;
  if (Code code = find_node(state, op.path(), node); code != Code::kOk) return code;
  if (!permits(**node, kWrite, caller)) return Code::kNoAuth;
  if (!version_matches(op.expected_version(), (*node)->stat().version)) return Code::kBadVersion;
  return Code::kOk;
}

Code plan_set_acl(const TreeState& state, const proto::SetAclOp& op, const proto::Caller& caller,
                  Node** node, Acl* acl) {
  if (Code code = check_path(op.path()); code != Code::kOk) return code;
  if (Code code = check_acl_text(op.acl(), caller, acl); code != Code::kOk) return code;
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
  if (Code code = check_path(op.path()); code != Code::kOk) return code;
  if (!valid_mode(op.meta())) return Code::kBadArguments;
  if (Code code = find_node(state, op.path(), node); code != Code::kOk) return code;
  if (!permits(**node, kWrite, caller)) return Code::kNoAuth;
  return Code::kOk;
}

// ZooKeeper's check op needs READ on the node (PrepRequestProcessor, OpCode.check).
Code plan_check(const TreeState& state, const proto::CheckOp& op, const proto::Caller& caller,
                Node** node) {
  if (Code code = check_path(op.path()); code != Code::kOk) return code;
  if (Code code = find_node(state, op.path(), node); code != Code::kOk) return code;
  if (!permits(**node, kRead, caller)) return Code::kNoAuth;
  if (!version_matches(op.expected_version(), (*node)->stat().version)) return Code::kBadVersion;
  return Code::kOk;
}

// An id at or below its host's highest was opened before (or skipped): it never opens again.
Code plan_create_session(const TreeState& state, const proto::CreateSessionOp& op) {
  const uint64_t session = op.session_id();
  if (session == 0) return Code::kBadArguments;
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
    case proto::Op::KIND_NOT_SET:
      break;
  }
  return Code::kBadArguments;
}

}  // namespace quorumfs::tree_internal
