// The leader's removal of container and TTL nodes (ZooKeeper 3.8's ContainerManager): a container
// goes once it had a child and has none left, a TTL node once it has no children and was not
// changed for its TTL (docs/mount.md, "Containers and TTL nodes"). Server submits what
// due_for_removal finds every znode.container.checkIntervalMs, on the leader only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "daemon/proto/txn.pb.h"
#include "daemon/tree/data_tree.h"

namespace quorumfs::service {

// Server's bound on one round: the rest waits for the next.
inline constexpr size_t kReapedPerRoundMax = 1000;

// One txn per due node, at most max, lowest inode first: a DeleteOp of the node at its current
// version, so that a setData (which moves a TTL node's mtime) ordered before it wins, and a create
// of a child makes it fail with kNotEmpty. now_ms: the wall clock, as txn times are.
std::vector<proto::Txn> due_for_removal(const DataTree& tree, int64_t now_ms, size_t max);

}  // namespace quorumfs::service
