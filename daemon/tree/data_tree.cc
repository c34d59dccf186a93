#include "daemon/tree/data_tree.h"

#include <algorithm>

#include "consensus/check.h"
#include "daemon/tree/tree_state.h"
#include "daemon/tree/txn_applier.h"
#include "daemon/tree/validate.h"

namespace quorumfs {

using tree_internal::TreeState;
using tree_internal::TxnApplier;

const char* code_name(Code code) {
  switch (code) {
    case Code::kOk: return "Ok";
    case Code::kNoNode: return "NoNode";
    case Code::kNodeExists: return "NodeExists";
    case Code::kNotEmpty: return "NotEmpty";
    case Code::kBadVersion: return "BadVersion";
    case Code::kNoAuth: return "NoAuth";
    case Code::kBadArguments: return "BadArguments";
    case Code::kNameTooLong: return "NameTooLong";
    case Code::kNoChildrenForEphemerals: return "NoChildrenForEphemerals";
    case Code::kNotDirectory: return "NotDirectory";
    case Code::kIsDirectory: return "IsDirectory";
    case Code::kDataTooLarge: return "DataTooLarge";
    case Code::kInvalidAcl: return "InvalidAcl";
    case Code::kReadOnly: return "ReadOnly";
    case Code::kNotApplied: return "NotApplied";
    case Code::kOutcomeUnknown: return "OutcomeUnknown";
    case Code::kStorageFailed: return "StorageFailed";
    case Code::kSessionExpired: return "SessionExpired";
    case Code::kTooManySessions: return "TooManySessions";
    case Code::kWouldBlock: return "WouldBlock";
    case Code::kTooManyLocks: return "TooManyLocks";
  }
  return "Unknown";
}

const Acl& Node::acl() const { return acl_->acl; }

size_t Node::num_children() const { return children_ ? children_->nodes.size() : 0; }

size_t Node::num_subdirectories() const { return children_ ? children_->directories : 0; }

void Node::for_each_child(std::string_view after, const std::function<bool(const Node&)>& fn) const {
  if (!children_) return;
  // Names are never empty, so "after" = "" starts at the first child.
  for (auto it = children_->nodes.upper_bound(after); it != children_->nodes.end(); ++it) {
    if (!fn(**it)) return;
  }
}

DataTree::DataTree() : state_(TreeState::with_initial_nodes()) {}
DataTree::DataTree(std::unique_ptr<TreeState> state) : state_(std::move(state)) {}
DataTree::~DataTree() = default;

const Node& DataTree::root() const { return *state_->root(); }
const Node* DataTree::find(std::string_view path) const { return state_->find(path); }
const Node* DataTree::by_inode(uint64_t inode) const { return state_->by_inode(inode); }
const Node* DataTree::child(const Node& dir, std::string_view name) const {
  return TreeState::child(dir, name);
}
std::string DataTree::path_of(const Node& node) const { return state_->path_of(node); }
Zxid DataTree::last_applied_zxid() const { return state_->last_zxid; }
std::vector<uint64_t> DataTree::sessions() const { return state_->sessions(); }
std::vector<const Node*> DataTree::ephemerals_of(uint64_t session_id) const {
  const auto* owned = state_->ephemerals_of(session_id);
  if (owned == nullptr) return {};
  return std::vector<const Node*>(owned->begin(), owned->end());
}
std::vector<const Node*> DataTree::containers_and_ttl_nodes() const {
  std::vector<const Node*> nodes(state_->containers_and_ttl_nodes().begin(), state_->containers_and_ttl_nodes().end());
  std::sort(nodes.begin(), nodes.end(), [](const Node* a, const Node* b) { return a->inode() < b->inode(); });
  return nodes;
}
std::vector<uint64_t> DataTree::open_sessions() const {
  std::vector<uint64_t> open;
  open.reserve(state_->open_sessions().size());
  for (const auto& [session, timeout_ms] : state_->open_sessions()) open.push_back(session);
  std::sort(open.begin(), open.end());
  return open;
}
bool DataTree::session_open(uint64_t session_id) const { return state_->session_open(session_id); }
std::optional<uint32_t> DataTree::session_timeout_ms(uint64_t session_id) const {
  auto open = state_->open_sessions().find(session_id);
  if (open == state_->open_sessions().end()) return std::nullopt;
  return open->second;
}
uint64_t DataTree::highest_session_id(uint32_t host) const {
  return host < 256 ? state_->highest_session_id(host) : 0;
}
size_t DataTree::node_count() const { return state_->node_count(); }
size_t DataTree::ephemeral_count() const { return state_->ephemeral_count(); }
size_t DataTree::open_session_count() const { return state_->open_sessions().size(); }
size_t DataTree::data_bytes() const { return state_->data_bytes(); }
void DataTree::set_data_bytes_max(size_t bytes_max) { state_->data_bytes_max = bytes_max; }
size_t DataTree::data_bytes_max() const { return state_->data_bytes_max; }
TxnLimits DataTree::txn_limits() const { return TxnLimits{.data_bytes_max = state_->data_bytes_max}; }

bool DataTree::permits(const Node& node, uint32_t perm, const proto::Caller& caller) const {
  return acl_permits(node.acl(), perm, caller);
}

// check() judges one op on its own: the txn-level rule that a reused inode be freed by the end
// of the txn is left to apply(), so each op of a rename can be checked before it is proposed.
Code DataTree::check(const proto::Op& op, const proto::Caller& caller) const {
  if (Code code = validate_op(op, txn_limits()); code != Code::kOk) return code;
  return tree_internal::plan_op(*state_, op, caller);
}

ApplyResult DataTree::apply_unparsable(Zxid zxid) {
  QFS_CHECK(zxid > state_->last_zxid, "txns are applied in rising zxid order");
  state_->last_zxid = zxid;
  ApplyResult result;
  result.zxid = zxid;
  result.code = Code::kBadArguments;
  return result;
}

ApplyResult DataTree::apply(Zxid zxid, const proto::Txn& txn) {
  ApplyResult result;
  result.zxid = zxid;
  // A failed txn is still a txn of the log: the tree has seen it.
  QFS_CHECK(zxid > state_->last_zxid, "txns are applied in rising zxid order");
  state_->last_zxid = zxid;
  // The leader refuses such a txn before proposing it; one that was committed anyway (an older
  // leader, a replayed log) fails here the same way on every replica.
  if (Code code = validate_txn(txn, txn_limits()); code != Code::kOk) {
    result.code = code;
    return result;
  }
  // ZooKeeper answers SessionExpired to a request of a closed session, whatever it asks.
  if (txn.session_id() != 0 && !state_->session_open(txn.session_id())) {
    result.code = Code::kSessionExpired;
    return result;
  }
  TxnApplier applier(*state_, zxid, txn);
  std::vector<OpResult> ops(txn.ops_size());
  for (int i = 0; i < txn.ops_size(); ++i) {
    result.code = applier.apply(txn.ops(i), &ops[i]);
    if (result.code != Code::kOk) {
      result.failed_op = i;
      break;
    }
  }
  if (result.code == Code::kOk) result.code = applier.verify_inodes_unique();
  if (result.code != Code::kOk) {
    applier.rollback();
    return result;
  }
  result.changes = applier.commit();
  result.closed_sessions = applier.closed_sessions();
  result.ops = std::move(ops);
  return result;
}

}  // namespace quorumfs
