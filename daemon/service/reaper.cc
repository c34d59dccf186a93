#include "daemon/service/reaper.h"

#include "daemon/tree/ephemeral_type.h"

namespace quorumfs::service {

namespace {

// ZooKeeper's ContainerManager.getCandidates.
bool due(const Node& node, int64_t now_ms) {
  if (node.num_children() > 0) return false;
  const Stat& stat = node.stat();
  switch (node_type(stat.ephemeral_owner)) {
    case NodeType::kContainer:
      return stat.cversion > 0;
    case NodeType::kTtl:
      return now_ms - stat.mtime_ms > ttl_ms_of(stat.ephemeral_owner);
    case NodeType::kPersistent:
    case NodeType::kEphemeral:
      break;
  }
  return false;
}

// As the server: the txn's default caller, uid 0 of the mount, passes every ACL, as ZooKeeper's
// deleteContainer skips the check.
proto::Txn delete_txn(const DataTree& tree, const Node& node) {
  proto::Txn txn;
  proto::DeleteOp* remove = txn.add_ops()->mutable_remove();
  remove->set_path(tree.path_of(node));
  remove->set_expected_version(node.stat().version);
  return txn;
}

}  // namespace

std::vector<proto::Txn> due_for_removal(const DataTree& tree, int64_t now_ms, size_t max) {
  std::vector<proto::Txn> txns;
  for (const Node* node : tree.containers_and_ttl_nodes()) {
    if (txns.size() == max) break;
    if (due(*node, now_ms)) txns.push_back(delete_txn(tree, *node));
  }
  return txns;
}

}  // namespace quorumfs::service
