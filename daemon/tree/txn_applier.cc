#include "daemon/tree/txn_applier.h"

#include <algorithm>
#include <tuple>

#include "consensus/check.h"
#include "daemon/tree/ephemeral_type.h"
#include "daemon/tree/path.h"

namespace quorumfs::tree_internal {

namespace {

constexpr int64_t kNanosPerMilli = 1'000'000;

// ZooKeeper's versions are Java ints: they wrap instead of overflowing.
int32_t next_version(int32_t version) {
  return static_cast<int32_t>(static_cast<uint32_t>(version) + 1u);
}

}  // namespace

TxnApplier::TxnApplier(TreeState& state, Zxid zxid, const proto::Txn& txn)
    : state_(state),
      zxid_(zxid),
      time_ns_(txn.time_ns()),
      caller_(txn.caller()),
      next_inode_before_(state.next_inode) {}

TxnApplier::~TxnApplier() { QFS_CHECK(finished_ || undo_log_.empty(), "a txn is committed or rolled back"); }

Code TxnApplier::apply(const proto::Op& op, OpResult* result) {
  switch (op.kind_case()) {
    case proto::Op::kCreate:
      return create(op.create(), result);
    case proto::Op::kRemove:
      return remove(op.remove(), result);
    case proto::Op::kSetData:
      return set_data(op.set_data(), result);
    case proto::Op::kSetAcl:
      return set_acl(op.set_acl(), result);
    case proto::Op::kSetMeta:
      return set_meta(op.set_meta(), result);
    case proto::Op::kCheck:
      return check(op.check(), result);
    case proto::Op::kCloseSession:
      close_session(op.close_session());
      return Code::kOk;
    case proto::Op::kCreateSession:
      return create_session(op.create_session());
    case proto::Op::kReserveInodes:
      return reserve_inodes(op.reserve_inodes(), result);
    case proto::Op::KIND_NOT_SET:
      break;
  }
  return Code::kBadArguments;
}

Code TxnApplier::verify_inodes_unique() const {
  for (const UndoStep& step : undo_log_) {
    if (step.kind != UndoStep::Kind::kCreated || !step.reused_inode) continue;
    std::vector<Node*> holders = holders_of(step.node->inode_);
    auto attached = [&](const Node* node) { return state_.attached(*node); };
    if (std::count_if(holders.begin(), holders.end(), attached) > 1) return Code::kBadArguments;
  }
  return Code::kOk;
}

std::vector<Node*> TxnApplier::holders_of(uint64_t inode) const {
  std::vector<Node*> holders;
  for (const UndoStep& step : undo_log_) {
    if (step.kind != UndoStep::Kind::kCreated || step.node->inode_ != inode) continue;
    holders.push_back(step.node);
    if (step.shadowed) holders.push_back(step.shadowed);
  }
  std::sort(holders.begin(), holders.end());
  holders.erase(std::unique(holders.begin(), holders.end()), holders.end());
  return holders;
}

std::vector<Change> TxnApplier::commit() {
  // A reused inode may have lost its index entry along the way (taken by a create that a later op
  // deleted): point it at the one holder left.
  for (const UndoStep& step : undo_log_) {
    if (step.kind != UndoStep::Kind::kCreated || !step.reused_inode) continue;
    for (Node* holder : holders_of(step.node->inode_)) {
      if (state_.attached(*holder)) state_.index_inode(holder);
    }
  }
  for (const UndoStep& step : undo_log_) {
    if (step.kind == UndoStep::Kind::kDeleted) {
      Node* node = step.node;
      // Moved, not copied: a delete of a large file costs one small allocation.
      changes_[step.change].deleted =
          std::make_shared<const DeletedNode>(DeletedNode{std::move(node->data_), node->stat_, node->attrs_});
      state_.acls().release(node->acl_);
      TreeState::destroy_node(node);
    }
  }
  for (const InternedAcl* acl : released_acls_) state_.acls().release(acl);
  finished_ = true;
  return std::move(changes_);
}

void TxnApplier::rollback() {
  for (auto step = undo_log_.rbegin(); step != undo_log_.rend(); ++step) undo(*step);
  for (const InternedAcl* acl : acquired_acls_) state_.acls().release(acl);
  state_.next_inode = next_inode_before_;
  changes_.clear();
  closed_sessions_.clear();
  finished_ = true;
}

void TxnApplier::undo(UndoStep& step) {
  Node* node = step.node;
  switch (step.kind) {
    case UndoStep::Kind::kCreated:
      state_.detach(node);
      if (step.shadowed) state_.index_inode(step.shadowed);
      TreeState::destroy_node(node);
      break;
    case UndoStep::Kind::kDeleted:
      state_.attach(node);
      break;
    case UndoStep::Kind::kSavedAttrs:
      node->stat_ = step.stat;
      node->attrs_ = step.attrs;
      break;
    case UndoStep::Kind::kSavedData:
      state_.data_resized(node->data().size(), step.data.view().size());
      node->data_ = std::move(step.data);
      break;
    case UndoStep::Kind::kSavedAcl:
      node->acl_ = step.acl;
      break;
    case UndoStep::Kind::kOpenedSession:
      state_.close_session(step.session);
      state_.set_highest_session_id(session_host(step.session), step.highest_session_id);
      break;
    case UndoStep::Kind::kClosedSession:
      state_.open_session(step.session, step.session_timeout_ms);
      break;
    case UndoStep::Kind::kBecameDirectory:
      state_.set_directory(node, false);
      break;
  }
}

Code TxnApplier::create(const proto::CreateOp& op, OpResult* result) {
  CreatePlan plan;
  if (Code code = plan_create(state_, op, caller_, &plan); code != Code::kOk) return code;
  Node* parent = plan.parent;
  if (plan.parent_becomes_directory) turn_into_directory(parent);
  Node* node = new_node(op, plan);
  Node* shadowed = state_.by_inode(node->inode_);
  state_.attach(node);
  undo_log_.push_back({.kind = UndoStep::Kind::kCreated,
                       .node = node,
                       .shadowed = shadowed,
                       .reused_inode = op.inode() != 0});

  save_attrs(parent);
  parent->stat_.cversion = next_version(parent->stat_.cversion);
  parent->stat_.pzxid = zxid_;
  touch_directory(parent);

  record_change(Change::Kind::kCreated, *node);
  result->path = join_path(plan.parent_path, plan.name);
  result->inode = node->inode_;
  return Code::kOk;
}

Node* TxnApplier::new_node(const proto::CreateOp& op, const CreatePlan& plan) {
  Node* node = TreeState::make_node(plan.name);
  node->parent_ = plan.parent;
  node->inode_ = op.inode() != 0 ? op.inode() : state_.next_inode++;
  node->directory_ = op.directory();
  node->data_ = op.data();
  if (plan.acl) {
    node->acl_ = state_.acls().acquire(*plan.acl);
  } else {
    node->acl_ = plan.parent->acl_;
    state_.acls().acquire(node->acl_);
  }
  acquired_acls_.push_back(node->acl_);

  Stat& stat = node->stat_;
  stat.czxid = stat.mzxid = stat.pzxid = zxid_;
  stat.ctime_ms = stat.mtime_ms = time_ns_ / kNanosPerMilli;
  stat.ephemeral_owner = op.container() ? kContainerOwner
                         : op.ttl_ms() != 0 ? ttl_owner(op.ttl_ms())
                                            : op.ephemeral_owner();

  const proto::PosixMeta& meta = op.meta();
  PosixAttrs& attrs = node->attrs_;
  attrs.uid = meta.uid();
  attrs.gid = meta.gid();
  attrs.mode = meta.mode();
  attrs.atime_ns = meta.has_atime_ns() ? meta.atime_ns() : time_ns_;
  attrs.mtime_ns = meta.has_mtime_ns() ? meta.mtime_ns() : time_ns_;
  attrs.ctime_ns = time_ns_;
  return node;
}

Code TxnApplier::remove(const proto::DeleteOp& op, OpResult* result) {
  Node* node = nullptr;
  if (Code code = plan_delete(state_, op, caller_, &node); code != Code::kOk) return code;
  result->path = op.path();
  result->inode = node->inode_;
  remove_node(node);
  return Code::kOk;
}

void TxnApplier::remove_node(Node* node) {
  Node* parent = node->parent_;
  state_.detach(node);
  undo_log_.push_back({.kind = UndoStep::Kind::kDeleted, .node = node, .change = changes_.size()});
  record_change(Change::Kind::kDeleted, *node);
  save_attrs(parent);
  // ZooKeeper's deleteNode moves only pzxid: cversion counts creates, and so do sequential names.
  parent->stat_.pzxid = std::max(parent->stat_.pzxid, zxid_);
  touch_directory(parent);
}

Code TxnApplier::set_data(const proto::SetDataOp& op, OpResult* result) {
  Node* node = nullptr;
  if (Code code = plan_set_data(state_, op, caller_, &node); code != Code::kOk) return code;
  save_attrs(node);
  const size_t old_size = node->data().size();
  undo_log_.push_back(
      {.kind = UndoStep::Kind::kSavedData, .node = node, .data = std::move(node->data_)});
  node->data_ = op.data();
  state_.data_resized(old_size, node->data().size());
  node->stat_.version = next_version(node->stat_.version);
  node->stat_.mzxid = zxid_;
  node->stat_.mtime_ms = time_ns_ / kNanosPerMilli;
  node->attrs_.mtime_ns = node->attrs_.ctime_ns = time_ns_;
  record_change(Change::Kind::kData, *node);
  result->path = op.path();
  result->inode = node->inode_;
  return Code::kOk;
}

Code TxnApplier::set_acl(const proto::SetAclOp& op, OpResult* result) {
  Node* node = nullptr;
  Acl acl;
  if (Code code = plan_set_acl(state_, op, caller_, &node, &acl); code != Code::kOk) return code;
  save_attrs(node);
  undo_log_.push_back({.kind = UndoStep::Kind::kSavedAcl, .node = node, .acl = node->acl_});
  released_acls_.push_back(node->acl_);
  node->acl_ = state_.acls().acquire(acl);
  acquired_acls_.push_back(node->acl_);
  node->stat_.aversion = next_version(node->stat_.aversion);
  node->attrs_.ctime_ns = time_ns_;
  record_change(Change::Kind::kAttrs, *node);
  result->path = op.path();
  result->inode = node->inode_;
  return Code::kOk;
}

Code TxnApplier::set_meta(const proto::SetMetaOp& op, OpResult* result) {
  Node* node = nullptr;
  if (Code code = plan_set_meta(state_, op, caller_, &node); code != Code::kOk) return code;
  save_attrs(node);
  const proto::PosixMeta& meta = op.meta();
  PosixAttrs& attrs = node->attrs_;
  if (meta.has_uid()) attrs.uid = meta.uid();
  if (meta.has_gid()) attrs.gid = meta.gid();
  if (meta.has_mode()) attrs.mode = meta.mode();
  if (meta.has_atime_ns()) attrs.atime_ns = meta.atime_ns();
  if (meta.has_mtime_ns()) attrs.mtime_ns = meta.mtime_ns();
  attrs.ctime_ns = time_ns_;
  record_change(Change::Kind::kAttrs, *node);
  result->path = op.path();
  result->inode = node->inode_;
  return Code::kOk;
}

Code TxnApplier::check(const proto::CheckOp& op, OpResult* result) {
  Node* node = nullptr;
  if (Code code = plan_check(state_, op, caller_, &node); code != Code::kOk) return code;
  result->path = op.path();
  result->inode = node->inode_;
  return Code::kOk;
}

// The numbers are only taken from the counter; rollback() gives them back with it.
Code TxnApplier::reserve_inodes(const proto::ReserveInodesOp& op, OpResult* result) {
  if (state_.next_inode + op.count() > kInodeLimit) return Code::kBadArguments;
  result->inode = state_.next_inode;
  state_.next_inode += op.count();
  return Code::kOk;
}

Code TxnApplier::create_session(const proto::CreateSessionOp& op) {
  if (Code code = plan_create_session(state_, op); code != Code::kOk) return code;
  const uint64_t session = op.session_id();
  if (state_.session_open(session)) return Code::kOk;
  undo_log_.push_back({.kind = UndoStep::Kind::kOpenedSession,
                       .session = session,
                       .highest_session_id = state_.highest_session_id(session_host(session))});
  state_.open_session(session, op.timeout_ms());
  return Code::kOk;
}

// Idempotent: a close is retried until it is applied (docs/architecture.md), so closing a session
// that is not open succeeds and changes nothing.
void TxnApplier::close_session(const proto::CloseSessionOp& op) {
  if (auto open = state_.open_sessions().find(op.session_id()); open != state_.open_sessions().end()) {
    undo_log_.push_back(
        {.kind = UndoStep::Kind::kClosedSession, .session = op.session_id(), .session_timeout_ms = open->second});
    state_.close_session(op.session_id());
    closed_sessions_.push_back(op.session_id());
  }
  const absl::flat_hash_set<Node*>* owned = state_.ephemerals_of(op.session_id());
  if (!owned) return;
  // The set's order differs between processes; changes must come out the same on every replica.
  std::vector<Node*> nodes(owned->begin(), owned->end());
  std::sort(nodes.begin(), nodes.end(), [](const Node* a, const Node* b) {
    return std::tuple(a->inode_, a->parent_->inode_, a->name()) <
           std::tuple(b->inode_, b->parent_->inode_, b->name());
  });
  for (Node* node : nodes) remove_node(node);
}

// Data, stat and inode stay; the mode gains x wherever it has r, as chmod +X would give a
// directory (docs/mount.md, "Nodes that get a child").
void TxnApplier::turn_into_directory(Node* file) {
  save_attrs(file);
  state_.set_directory(file, true);
  undo_log_.push_back({.kind = UndoStep::Kind::kBecameDirectory, .node = file});
  file->attrs_.mode |= (file->attrs_.mode & 0444) >> 2;
  file->attrs_.ctime_ns = time_ns_;
  record_change(Change::Kind::kBecameDirectory, *file);
}

void TxnApplier::save_attrs(Node* node) {
  undo_log_.push_back(
      {.kind = UndoStep::Kind::kSavedAttrs, .node = node, .stat = node->stat_, .attrs = node->attrs_});
}

void TxnApplier::touch_directory(Node* directory) {
  directory->attrs_.mtime_ns = directory->attrs_.ctime_ns = time_ns_;
}

void TxnApplier::record_change(Change::Kind kind, const Node& node) {
  uint64_t parent_inode = node.parent_ ? node.parent_->inode_ : 0;
  changes_.push_back(Change{kind, node.inode_, parent_inode, std::string(node.name()), node.directory_});
}

}  // namespace quorumfs::tree_internal
