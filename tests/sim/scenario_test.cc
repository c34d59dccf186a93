// Scripted runs of the ZooKeeper bugs of docs/simulation.md, and of a leader's failover time. Each
// drives a Cluster by hand, then lets it settle: settle() fails on any broken invariant, an
// acknowledged write missing from a new leader, or replicas that do not converge.
#include <gtest/gtest.h>

#include <set>

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

// Delivers from -> to (pumping the rest) until that connection's head is a message of a type
// in `stop`, which stays there.
void deliver_until(Cluster& cluster, NodeId from, NodeId to, std::set<MessageType> stop) {
  for (int i = 0; i < 1000; ++i) {
    const auto& channel = cluster.channel(from, to);
    if (!channel.empty() && stop.count(channel.front().type)) return;
    if (channel.empty()) {
      cluster.flush();
      cluster.tick_all();
    } else {
      cluster.deliver_head(from, to);
    }
  }
  FAIL() << "nothing of the awaited types from " << from << " to " << to;
}

// A leader sends a SNAP at its applied point, which can lie below its log's end. The learner
// dropped its log down to the snapshot before the resent txns were durable, keeping its higher
// currentEpoch; a crash then let it win an election with a shorter history and cut committed
// txns everywhere. Voters A=2, B=3, C=1 (ids make the elections come out as scripted).
TEST(Scenario, SnapBelowTheLeadersLogEnd_NeverShortensTheLearnersHistory) {
  constexpr NodeId A = 2, B = 3, C = 1;
  Cluster cluster(3, 0, 7001, false);
  cluster.settle();
  ASSERT_EQ(cluster.leader(), B);
  // 1. Epoch 1: B commits 1.1-1.5 everywhere, then logs 1.6-1.10 on A and C and commits them,
  //    but crashes before any of those COMMITs leaves.
  submit_writes(cluster, B, 5);
  cluster.flush();
  cluster.faults.channels_held = {{B, A}, {B, C}};
  submit_writes(cluster, B, 5);
  for (NodeId to : {A, C}) {
    while (!cluster.channel(B, to).empty() && cluster.channel(B, to).front().type == MessageType::kProposal) {
      cluster.deliver_head(B, to);
    }
  }
  cluster.flush();  // A and C log and ACK; B commits 1.6-1.10 and answers its clients
  ASSERT_EQ(cluster.acknowledged(), 10u);
  cluster.crash(B);
  cluster.faults.channels_held.clear();
  // 2. Epoch 2: A leads; C acks NEWLEADER, its link breaks before UPTODATE; A logs 2.1 and 2.2
  //    that never commit.
  cluster.faults.channels_held = {{A, C}};
  for (int i = 0; i < 200 && cluster.leader() != A; ++i) {
    cluster.flush();
    const auto& channel = cluster.channel(A, C);
    if (!channel.empty() && channel.front().type != MessageType::kUpToDate) {
      cluster.deliver_head(A, C);
    } else if (channel.empty()) {
      cluster.tick_all();
    }
  }
  ASSERT_EQ(cluster.leader(), A);
  ASSERT_EQ(cluster.node(C).disk.current_epoch, 2u);
  submit_writes(cluster, A, 2);
  cluster.cut(A, C);
  cluster.cut(A, B);
  cluster.faults.channels_held.clear();
  // 3. Epoch 3: C (currentEpoch 2) wins over B (currentEpoch 1). B's sync is held, so B stays
  //    at currentEpoch 1 and C is not established: its tree is still at 1.5.
  cluster.restart(B);
  cluster.faults.channels_held = {{C, B}};
  deliver_until(cluster, C, B, {MessageType::kDiff, MessageType::kTrunc, MessageType::kSnap});
  ASSERT_EQ(cluster.node(C).replica->role(), consensus::Role::kLeading);
  ASSERT_EQ(cluster.node(C).disk.current_epoch, 3u);
  ASSERT_EQ(cluster.node(B).disk.current_epoch, 1u);
  // 4. A rejoins C late: C sends a SNAP at 1.5, then 1.6-1.10. A's disk never completes the
  //    resent txns; A loses power, then C crashes.
  cluster.faults.storage_held = {A};
  cluster.heal(A, B);
  cluster.heal(A, C);
  for (int i = 0; i < 50 && cluster.node(A).replica->role() == consensus::Role::kLooking; ++i) {
    cluster.tick_all();
    cluster.flush();
  }
  cluster.flush();
  ASSERT_EQ(cluster.node(A).replica->leader(), C);
  cluster.crash(A, /*lose_unsynced=*/true);
  cluster.crash(C);
  cluster.faults = Faults{};
  // 5. A and B elect without C: whoever leads must hold 1.6-1.10 (checked as it establishes).
  cluster.restart(A);
  for (int i = 0; i < 100 && cluster.leader() == 0; ++i) {
    cluster.tick_all();
    cluster.flush();
  }
  ASSERT_NE(cluster.leader(), 0u);
  cluster.settle();
  EXPECT_EQ(cluster.acknowledged(), 10u);  // 2.1 and 2.2 never committed
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
