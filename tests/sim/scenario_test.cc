// Scripted runs of the ZooKeeper bugs of ZAB-NOTES §4, and of a leader's failover time. Each
// drives a Cluster by hand, then lets it settle: settle() fails on any broken invariant, an
// acknowledged write missing from a new leader, or replicas that do not converge.
#include <gtest/gtest.h>

#include "tests/sim/cluster.h"

namespace quorumfs::sim {
namespace {

using consensus::MessageType;

// A follower other than the leader and `besides`.
NodeId follower(Cluster& cluster, NodeId besides = 0) {
  for (NodeId id = 1;; ++id) {
    if (id != cluster.leader() && id != besides) return id;
  }
}

void submit_writes(Cluster& cluster, NodeId at, int count) {
  for (int i = 0; i < count; ++i) ASSERT_NE(cluster.submit(at), 0u);
}

// Delivers from -> to up to and including the first message of that type.
void deliver_through(Cluster& cluster, NodeId from, NodeId to, MessageType type) {
  for (;;) {
    ASSERT_FALSE(cluster.channel(from, to).empty());
    bool last = cluster.channel(from, to).front().type == type;
    cluster.deliver_head(from, to);
    if (last) return;
  }
}

// Runs the ensemble until the leader has the joiner's sync ready, holding the leader's
// messages to it from the first one that is not part of the election or discovery.
void run_until_sync_sent(Cluster& cluster, NodeId leader, NodeId joiner) {
  auto handshake = [](MessageType type) {
    return type == MessageType::kVote || type == MessageType::kLeaderInfo || type == MessageType::kPing;
  };
  cluster.faults.channels_held = {{leader, joiner}};
  for (int i = 0; i < 100; ++i) {
    cluster.flush();
    const auto& channel = cluster.channel(leader, joiner);
    if (channel.empty()) {
      cluster.tick_all();
    } else if (handshake(channel.front().type)) {
      cluster.deliver_head(leader, joiner);
    } else {
      return;
    }
  }
}

bool holds(Cluster& cluster, NodeId from, NodeId to, MessageType type) {
  for (const auto& message : cluster.channel(from, to)) {
    if (message.type == type) return true;
  }
  return false;
}

TEST(Scenario, Zookeeper3642_SnapAbandonedBeforeNewLeader_LeavesTheDiskAsItWas) {
  Cluster cluster(3, 0, 3642, false, /*diff_window=*/2);
  cluster.settle();
  NodeId leader = cluster.leader(), lagging = follower(cluster);
  cluster.crash(lagging);
  submit_writes(cluster, leader, 10);
  cluster.flush();
  cluster.restart(lagging);
  run_until_sync_sent(cluster, leader, lagging);
  ASSERT_TRUE(holds(cluster, leader, lagging, MessageType::kSnap));
  ASSERT_TRUE(holds(cluster, leader, lagging, MessageType::kNewLeader));
  Zxid before = cluster.node(lagging).replica->last_logged_zxid();
  deliver_through(cluster, leader, lagging, MessageType::kSnap);
  cluster.crash(leader);  // before NEWLEADER
  EXPECT_EQ(cluster.node(lagging).replica->last_logged_zxid(), before);
  EXPECT_TRUE(cluster.node(lagging).disk.snapshots.empty());
  cluster.settle();
  EXPECT_EQ(cluster.acknowledged(), 10u);
}

// Proposals reach a syncing follower before NEWLEADER, their COMMIT after it; the follower's
// NEWLEADER ACK counts for them, so they must be durable there before it (3911), and applied
// only once committed (4394). Then every replica crashes at once.
TEST(Scenario, Zookeeper3911And4394_ProposalBeforeNewLeaderCommitAfter_SurvivesFullCrash) {
  Cluster cluster(3, 0, 3911, false);
  cluster.settle();
  NodeId leader = cluster.leader(), other = follower(cluster), joiner = follower(cluster, other);
  cluster.crash(joiner);
  cluster.faults.channels_held = {{other, leader}};  // the other follower's ACKs stall
  submit_writes(cluster, leader, 3);
  cluster.flush();
  EXPECT_EQ(cluster.acknowledged(), 0u);
  cluster.restart(joiner);
  cluster.flush();  // DIFF, 3 PROPOSALs, COMMIT of the history, NEWLEADER; the joiner's ACK commits
  EXPECT_EQ(cluster.acknowledged(), 3u);
  EXPECT_EQ(cluster.node(joiner).tree.size(), cluster.node(leader).tree.size());
  cluster.faults.channels_held.clear();
  cluster.flush();
  for (NodeId id = 1; id <= 3; ++id) cluster.crash(id);
  cluster.settle();
  EXPECT_EQ(cluster.acknowledged(), 3u);
}

// The follower's disk does not complete: no currentEpoch, no NEWLEADER ACK; a crash then
// leaves the old epoch (4785, 4643).
TEST(Scenario, Zookeeper4785_NoNewLeaderAckBeforeTheSyncIsDurable) {
  Cluster cluster(3, 0, 4785, false);
  cluster.settle();
  NodeId leader = cluster.leader(), joiner = follower(cluster);
  cluster.crash(joiner);
  submit_writes(cluster, leader, 5);
  cluster.flush();
  uint32_t epoch_before = cluster.node(joiner).disk.current_epoch;
  cluster.faults.storage_held = {joiner};
  cluster.restart(joiner);
  cluster.flush();
  EXPECT_FALSE(cluster.node(joiner).replica->serving());
  EXPECT_EQ(cluster.node(joiner).disk.current_epoch, epoch_before);
  cluster.crash(joiner);
  EXPECT_EQ(cluster.node(joiner).disk.current_epoch, epoch_before);
  cluster.settle();
  EXPECT_EQ(cluster.acknowledged(), 5u);
}

// kill -9 of the leader: its peers see the connections break (peer_down) and elect at once;
// with 10 ms ticks the new leader must serve well under 300 ms (30 ticks).
TEST(Scenario, LeaderKilled_NewLeaderServesWithinFewTicks) {
  for (int voters : {3, 5}) {
    Cluster cluster(voters, 1, 77, false);
    cluster.settle();
    NodeId old_leader = cluster.leader();
    cluster.crash(old_leader);
    int ticks = 0;
    for (cluster.flush(); cluster.leader() == 0 && ticks < 100; cluster.flush()) {
      cluster.tick_all();
      ++ticks;
    }
    EXPECT_NE(cluster.leader(), 0u);
    EXPECT_LE(ticks, 5) << voters << " voters";
  }
}

}  // namespace
}  // namespace quorumfs::sim
