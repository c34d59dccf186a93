// Applies the ops of one txn to the tree, keeping an undo log so that a multi whose op N fails
// leaves the tree exactly as before op 1. Each op is validated in full before it changes anything,
// so the log only ever undoes whole ops.
#pragma once

#include <string>
#include <vector>

#include "daemon/tree/tree_state.h"
#include "daemon/tree/validate.h"

namespace quorumfs::tree_internal {

class TxnApplier {
 public:
  TxnApplier(TreeState& state, Zxid zxid, const proto::Txn& txn);
  ~TxnApplier();
  TxnApplier(const TxnApplier&) = delete;
  TxnApplier& operator=(const TxnApplier&) = delete;

  // Applies one op; on failure this op changed nothing (earlier ones stay until rollback()).
  Code apply(const proto::Op& op, OpResult* result);
  // After the last op: no inode may be held by two nodes (a rename's create reuses the source's
  // inode, so the source must be gone by the end of the txn).
  Code verify_inodes_unique() const;
  // Keeps every change (after verify_inodes_unique() passed); returns them in the order they
  // happened.
  std::vector<Change> commit();
  // The sessions the txn closed (that were open), in the order it closed them.
  const std::vector<uint64_t>& closed_sessions() const { return closed_sessions_; }
  // Puts the tree back as it was before the first op.
  void rollback();

 private:
  // One step of the undo log; only the fields its kind names are used. (A struct rather than a
  // std::variant: GCC 12 warns falsely about variants holding strings.)
  struct UndoStep {
    enum class Kind {
      kCreated,     // node was attached; shadowed held its reused inode until then, if any
      kDeleted,     // node was detached and is owned by the log until commit; change is its kDeleted
      kSavedAttrs,  // stat and attrs of node before the op
      kSavedData,   // data of node before the op
      kSavedAcl,    // acl of node before the op
      kOpenedSession,  // session was opened; its host's highest id was highest_session_id
      kClosedSession,  // session, whose timeout was session_timeout_ms, was closed
      kBecameDirectory,  // node was a file
    };
    Kind kind = Kind::kCreated;
    Node* node = nullptr;
    Node* shadowed = nullptr;
    bool reused_inode = false;
    const InternedAcl* acl = nullptr;
    Stat stat = {};
    PosixAttrs attrs = {};
    NodeData data = {};
    uint64_t session = 0;
    uint64_t highest_session_id = 0;
    uint32_t session_timeout_ms = 0;
    size_t change = 0;  // index in changes_
  };

  Code create(const proto::CreateOp& op, OpResult* result);
  Code remove(const proto::DeleteOp& op, OpResult* result);
  Code set_data(const proto::SetDataOp& op, OpResult* result);
  Code set_acl(const proto::SetAclOp& op, OpResult* result);
  Code set_meta(const proto::SetMetaOp& op, OpResult* result);
  Code check(const proto::CheckOp& op, OpResult* result);
  Code create_session(const proto::CreateSessionOp& op);
  Code reserve_inodes(const proto::ReserveInodesOp& op, OpResult* result);
  void close_session(const proto::CloseSessionOp& op);

  Node* new_node(const proto::CreateOp& op, const CreatePlan& plan);
  void remove_node(Node* node);
  void turn_into_directory(Node* file);
  void save_attrs(Node* node);
  void touch_directory(Node* directory);
  void record_change(Change::Kind kind, const Node& node);
  void undo(UndoStep& step);
  // The nodes that held a reused inode during the txn: the creates that reused it and the nodes
  // they took it from. At most one of them may be left in the tree.
  std::vector<Node*> holders_of(uint64_t inode) const;

  TreeState& state_;
  const Zxid zxid_;
  const int64_t time_ns_;
  const proto::Caller& caller_;
  const uint64_t next_inode_before_;
  std::vector<UndoStep> undo_log_;
  std::vector<const InternedAcl*> acquired_acls_;  // released on rollback
  std::vector<const InternedAcl*> released_acls_;  // released on commit
  std::vector<Change> changes_;
  std::vector<uint64_t> closed_sessions_;
  bool finished_ = false;
};

}  // namespace quorumfs::tree_internal
