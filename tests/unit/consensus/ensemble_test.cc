// The core in small ensembles driven by hand: who wins the election, which epoch discovery
// picks, how a learner is synchronized, what counts towards a commit.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <stdexcept>

#include "consensus/replica.h"

// Messages are built with designated initializers; GCC 12's -Wextra flags every member left to
// its default initializer there, which is exactly what C++20 defines them to do.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace quorumfs::consensus {
namespace {

std::vector<Entry> entries(uint32_t epoch, uint32_t first, uint32_t last) {
  std::vector<Entry> log;
  for (uint32_t counter = first; counter <= last; ++counter) {
    log.push_back(Entry{make_zxid(epoch, counter), std::make_shared<std::string>("t")});
  }
  return log;
}

// A replica whose tree has applied its log through `applied` (none of it by default).
DurableState disk(uint32_t current_epoch, std::vector<Entry> log, Zxid applied = 0) {
  DurableState durable;
  durable.accepted_epoch = durable.current_epoch = current_epoch;
  durable.last_logged_zxid = log.empty() ? 0 : log.back().zxid;
  durable.applied_zxid = applied;
  durable.recent = std::move(log);
  return durable;
}

// Instant network and disks: messages are delivered in order, appends are durable at once.
// Messages on a blocked link, or to or from a stopped replica, are dropped.
struct Ensemble {
  std::set<NodeId> voters, observers;
  std::map<NodeId, std::unique_ptr<Replica>> replicas;
  std::set<NodeId> stopped;
  std::set<std::pair<NodeId, NodeId>> blocked;
  std::set<std::pair<NodeId, MessageType>> drop_once;  // the next such message from that sender
  std::vector<Message> sent;  // every message, in order
  std::map<NodeId, std::vector<Entry>> applied;
  std::map<NodeId, std::vector<uint64_t>> synced;
  std::map<NodeId, std::vector<Zxid>> truncated;  // Ready::truncate_after asked of each replica
  std::map<NodeId, std::vector<Zxid>> installed;  // Ready::install_snapshot asked of each replica

  void add(NodeId id, const DurableState& durable, int diff_window = 100, size_t diff_window_bytes = 1 << 20) {
    Config config;
    config.my_id = id;
    config.voters = voters;
    config.observers = observers;
    config.diff_window = diff_window;
    config.diff_window_bytes = diff_window_bytes;
    replicas[id] = std::make_unique<Replica>(config, durable);
  }
  Replica& operator[](NodeId id) { return *replicas.at(id); }

  void run() {
    for (bool busy = true; busy;) {
      busy = false;
      for (auto& [id, replica] : replicas) busy |= drain(id);
    }
  }
  void tick(int ticks) {
    for (int i = 0; i < ticks; ++i) {
      for (auto& [id, replica] : replicas) {
        if (!stopped.count(id)) replica->tick();
      }
      run();
    }
  }
  bool drain(NodeId id) {
    if (stopped.count(id)) return false;
    Ready ready = replicas[id]->ready();
    if (ready.empty()) return false;
    if (ready.truncate_after) truncated[id].push_back(*ready.truncate_after);
    if (ready.install_snapshot) installed[id].push_back(ready.install_snapshot->zxid);
    if (!ready.to_persist.empty()) replicas[id]->persisted(ready.to_persist.back().zxid);
    for (const Entry& entry : ready.to_apply) applied[id].push_back(entry);
    synced[id].insert(synced[id].end(), ready.synced.begin(), ready.synced.end());
    for (Message& message : ready.messages) {
      sent.push_back(message);
      if (message.type == MessageType::kSnap) message.snapshot = std::make_shared<std::string>();
      if (stopped.count(message.to) || blocked.count({message.from, message.to})) continue;
      if (drop_once.erase({message.from, message.type}) > 0) continue;
      replicas[message.to]->step(message);
    }
    return true;
  }
  const Message* first(MessageType type, NodeId to) const {
    for (const Message& message : sent) {
      if (message.type == type && message.to == to) return &message;
    }
    return nullptr;
  }
};

Ensemble three(const DurableState& one, const DurableState& two, const DurableState& three) {
  Ensemble ensemble;
  ensemble.voters = {1, 2, 3};
  ensemble.add(1, one);
  ensemble.add(2, two);
  ensemble.add(3, three);
  ensemble.run();
  return ensemble;
}

TEST(Election, LongestLogWins) {
  Ensemble ensemble = three(disk(1, entries(1, 1, 5)), disk(1, entries(1, 1, 7)), disk(1, entries(1, 1, 6)));
  EXPECT_EQ(ensemble[2].role(), Role::kLeading);
  EXPECT_EQ(ensemble[1].leader(), 2u);
  EXPECT_EQ(ensemble[3].role(), Role::kFollowing);
}

TEST(Election, CurrentEpochBeatsALongerLog) {
  auto newer = entries(1, 1, 2);
  auto epoch2 = entries(2, 1, 1);
  newer.insert(newer.end(), epoch2.begin(), epoch2.end());
  Ensemble ensemble = three(disk(1, entries(1, 1, 9)), disk(2, newer), disk(1, entries(1, 1, 9)));
  EXPECT_EQ(ensemble[2].role(), Role::kLeading);
}

TEST(Election, TieGoesToTheHighestId) {
  Ensemble ensemble = three(disk(1, entries(1, 1, 3)), disk(1, entries(1, 1, 3)), disk(1, entries(1, 1, 3)));
  EXPECT_EQ(ensemble[3].role(), Role::kLeading);
  EXPECT_TRUE(ensemble[1].serving());
}

TEST(Discovery, NewEpochIsOnePastTheHighestAcceptedEpoch) {
  DurableState ahead = disk(1, entries(1, 1, 3));
  ahead.accepted_epoch = 6;  // accepted from a leader that never established
  Ensemble ensemble = three(disk(1, entries(1, 1, 4)), ahead, disk(1, entries(1, 1, 3)));
  ensemble.tick(10);  // the first leader chose too low an epoch for node 2: elected again
  for (NodeId id : {1, 2, 3}) {
    EXPECT_TRUE(ensemble[id].serving());
    EXPECT_EQ(ensemble[id].epoch(), 7u);
  }
}

TEST(Discovery, ALostFollowerInfoIsResentBeforeTheInitLimit) {
  // The first FOLLOWERINFO can reach the leader while it still waits out its election and is
  // dropped there; the learner must not sit out the whole initLimit.
  Ensemble ensemble;
  ensemble.voters = {1, 2, 3};
  for (NodeId id : {1, 2, 3}) ensemble.add(id, disk(1, entries(1, 1, 3)));
  ensemble.drop_once = {{1, MessageType::kFollowerInfo}};
  ensemble.run();
  ASSERT_EQ(ensemble[3].role(), Role::kLeading);
  EXPECT_FALSE(ensemble[1].serving());
  ensemble.tick(Config{}.election_resend_ticks + 1);
  EXPECT_TRUE(ensemble[1].serving());
  EXPECT_EQ(ensemble[1].leader(), 3u);
  EXPECT_EQ(ensemble[1].epoch(), 2u);
}

TEST(Discovery, AnEpochPromisedBeforeDoesNotCountTowardsIt) {
  // Node 1 accepted epoch 5 from another leader earlier. Leader 3 chose 5 from its own and node
  // 2's acceptedEpoch 4, and node 2's ACKEPOCH is lost: node 1's ACKEPOCH, which promises
  // nothing new, must not make epoch 5 stand (it may count for that other leader).
  Ensemble ensemble;
  ensemble.voters = {1, 2, 3};
  DurableState promised = disk(4, entries(4, 1, 2));
  promised.accepted_epoch = 5;
  ensemble.add(1, promised);
  ensemble.add(2, disk(4, entries(4, 1, 2)));
  ensemble.add(3, disk(4, entries(4, 1, 3)));
  ensemble.blocked = {{1, 3}, {3, 1}};
  ensemble.drop_once = {{2, MessageType::kAckEpoch}};
  ensemble.run();
  ensemble.tick(Config{}.election_finalize_ticks + 1);
  ASSERT_EQ(ensemble[3].role(), Role::kLeading);
  ASSERT_EQ(ensemble[3].epoch(), 4u);
  ensemble.blocked.clear();
  ensemble.tick(2 * Config{}.election_resend_ticks);
  ASSERT_EQ(ensemble[1].leader(), 3u);
  const Message* ack_epoch = nullptr;
  for (const Message& message : ensemble.sent) {
    if (message.type == MessageType::kAckEpoch && message.from == 1) ack_epoch = &message;
  }
  ASSERT_NE(ack_epoch, nullptr);
  EXPECT_FALSE(ack_epoch->flag);
  EXPECT_EQ(ensemble[3].epoch(), 4u) << "epoch 5 stood on a promise made to someone else";
  EXPECT_EQ(ensemble.first(MessageType::kNewLeader, 1), nullptr);
  EXPECT_FALSE(ensemble[3].serving());
}

TEST(Sync, DiffWhenTheLeaderHasTheFollowersLastZxid) {
  Ensemble ensemble = three(disk(1, entries(1, 1, 5)), disk(1, entries(1, 1, 3)), disk(1, entries(1, 1, 5)));
  const Message* diff = ensemble.first(MessageType::kDiff, 2);
  ASSERT_NE(diff, nullptr);
  EXPECT_EQ(diff->zxid, make_zxid(1, 3));
  EXPECT_EQ(ensemble[2].last_logged_zxid(), make_zxid(1, 5));
}

TEST(Sync, TruncWhenTheFollowerIsAheadInTheSameEpoch) {
  auto leader_log = entries(1, 1, 3);
  auto epoch2 = entries(2, 1, 1);
  leader_log.insert(leader_log.end(), epoch2.begin(), epoch2.end());
  Ensemble ensemble = three(disk(1, entries(1, 1, 6)), disk(2, leader_log), disk(2, leader_log));
  const Message* trunc = ensemble.first(MessageType::kTrunc, 1);
  ASSERT_NE(trunc, nullptr);
  EXPECT_EQ(trunc->zxid, make_zxid(1, 3));
  EXPECT_EQ(ensemble[1].last_logged_zxid(), make_zxid(2, 1));
}

TEST(Sync, SnapWhenTheFollowerIsBehindTheWindow) {
  Ensemble ensemble;
  ensemble.voters = {1, 2, 3};
  ensemble.add(1, disk(1, entries(1, 1, 2)));
  ensemble.add(2, disk(1, entries(1, 1, 9), make_zxid(1, 9)), /*diff_window=*/3);
  ensemble.add(3, disk(1, entries(1, 1, 9), make_zxid(1, 9)), /*diff_window=*/3);
  ensemble.run();
  const Message* snap = ensemble.first(MessageType::kSnap, 1);
  ASSERT_NE(snap, nullptr);
  EXPECT_EQ(snap->zxid, make_zxid(1, 9)) << "the leader's applied point";
}

TEST(Sync, SnapWhenTheFollowerIsBehindTheWindowsBytes) {
  // 9 records of 100 bytes; the window keeps 100 records but only 300 bytes: the last 3.
  std::vector<Entry> log;
  for (uint32_t counter = 1; counter <= 9; ++counter) {
    log.push_back(Entry{make_zxid(1, counter), std::make_shared<std::string>(100, 'x')});
  }
  Ensemble ensemble;
  ensemble.voters = {1, 2, 3};
  ensemble.add(1, disk(1, {log.begin(), log.begin() + 5}, make_zxid(1, 5)), 100, 300);
  ensemble.add(2, disk(1, log, make_zxid(1, 9)), 100, 300);
  ensemble.add(3, disk(1, log, make_zxid(1, 9)), 100, 300);
  ensemble.run();
  const Message* snap = ensemble.first(MessageType::kSnap, 1);
  ASSERT_NE(snap, nullptr) << "1.5 is outside the 300 bytes the leader keeps";
  EXPECT_EQ(snap->zxid, make_zxid(1, 9));
}

TEST(Sync, SnapBelowWhatTheLearnerShares_BecomesACutAfterTheSharedHistory) {
  // Leader 3 (epoch 3) has applied only 1.5 of its 1.10: its SNAP would be at 1.5. Node 1
  // holds 1.1-1.10 (committed in epoch 1) and 2.1-2.2 of a leader that never committed them.
  auto mine = entries(1, 1, 10);
  auto epoch2 = entries(2, 1, 2);
  mine.insert(mine.end(), epoch2.begin(), epoch2.end());
  DurableState leader = disk(3, entries(1, 1, 10), make_zxid(1, 5));
  DurableState behind = disk(1, entries(1, 1, 10), make_zxid(1, 5));
  Ensemble ensemble = three(disk(2, mine, make_zxid(1, 10)), behind, leader);
  ASSERT_EQ(ensemble[3].role(), Role::kLeading);
  const Message* snap = ensemble.first(MessageType::kSnap, 1);
  ASSERT_NE(snap, nullptr);
  EXPECT_EQ(snap->zxid, make_zxid(1, 5));
  EXPECT_TRUE(ensemble.installed[1].empty()) << "the learner dropped its log down to the snapshot";
  EXPECT_EQ(ensemble.truncated[1], std::vector<Zxid>{make_zxid(1, 10)});
  EXPECT_EQ(ensemble[1].last_logged_zxid(), make_zxid(1, 10));
  EXPECT_TRUE(ensemble[1].serving());
}

TEST(Restart, TheUnappliedEndOfTheLogIsAppliedOnlyOnceCommitted) {
  // Node 1 restarts with 2.1 logged but not applied (its leader never committed it); the
  // ensemble moved on in epoch 3 without it. Node 2 restarts with 3.1 unapplied, which is.
  auto stale = entries(1, 1, 3);
  stale.push_back(Entry{make_zxid(2, 1), std::make_shared<std::string>("never committed")});
  auto current = entries(1, 1, 3);
  current.push_back(Entry{make_zxid(3, 1), std::make_shared<std::string>("committed")});
  DurableState restarted = disk(1, stale, make_zxid(1, 3));
  restarted.accepted_epoch = 2;
  Ensemble ensemble = three(restarted, disk(3, current, make_zxid(1, 3)), disk(3, current, make_zxid(1, 3)));
  ASSERT_TRUE(ensemble[1].serving());
  EXPECT_EQ(ensemble.truncated[1], std::vector<Zxid>{make_zxid(1, 3)});
  for (NodeId id : {1, 2, 3}) {
    ASSERT_EQ(ensemble.applied[id].size(), 1u) << "node " << id;
    EXPECT_EQ(ensemble.applied[id][0].zxid, make_zxid(3, 1));
  }
}

TEST(Restart, AloneTheWholeLogIsCommittedAndApplied) {
  Ensemble ensemble;
  ensemble.voters = {1};
  ensemble.add(1, disk(1, entries(1, 1, 5), make_zxid(1, 3)));
  ensemble.run();
  ASSERT_EQ(ensemble.applied[1].size(), 2u);
  EXPECT_EQ(ensemble.applied[1][0].zxid, make_zxid(1, 4));
  EXPECT_EQ(ensemble.applied[1][1].zxid, make_zxid(1, 5));
}

TEST(Restart, RecordsThatDoNotReachBackToTheAppliedPointAreRefused) {
  DurableState durable = disk(1, entries(1, 4, 5), make_zxid(1, 2));
  durable.recent_after = make_zxid(1, 3);
  Config config;
  EXPECT_THROW(Replica(config, durable), std::runtime_error);
  durable.applied_zxid = make_zxid(1, 3);
  EXPECT_NO_THROW(Replica(config, durable));
}

// A leader that lines a learner up twice in one sync (a bug, or a member that lies) would have the
// learner log its resent txns out of order: the learner starts over instead.
TEST(Sync, ASecondDiffTruncOrSnapInOneSync_MakesTheLearnerStartOver) {
  for (MessageType second : {MessageType::kDiff, MessageType::kTrunc, MessageType::kSnap}) {
    Config config;
    config.my_id = 1;
    config.voters = {1, 2};
    Replica learner(config, disk(1, entries(1, 1, 3), make_zxid(1, 3)));
    // Node 2 has the longer log: node 1 votes for it, and follows it.
    learner.step(Message{.type = MessageType::kVote, .from = 2, .to = 1, .state = Role::kLooking, .leader = 2,
                         .round = 1, .epoch = 1, .zxid = make_zxid(1, 5)});
    ASSERT_EQ(learner.role(), Role::kFollowing);
    learner.step(Message{.type = MessageType::kLeaderInfo, .from = 2, .to = 1, .epoch = 2});
    learner.step(Message{.type = MessageType::kDiff, .from = 2, .to = 1, .zxid = make_zxid(1, 3)});
    ASSERT_EQ(learner.role(), Role::kFollowing);
    Message again{.type = second, .from = 2, .to = 1, .zxid = make_zxid(1, 3)};
    again.snapshot = std::make_shared<std::string>();
    learner.step(again);
    EXPECT_EQ(learner.role(), Role::kLooking) << "a second sync start, type " << static_cast<int>(second);
  }
}

TEST(Broadcast, CommitNeedsAVoterQuorumOfAcks) {
  Ensemble ensemble = three(disk(1, {}), disk(1, {}), disk(1, {}));
  ensemble.blocked = {{1, 3}, {2, 3}};  // the followers' ACKs never arrive
  ASSERT_TRUE(ensemble[3].submit(1, std::make_shared<std::string>("a")));
  ensemble.run();
  EXPECT_TRUE(ensemble.applied[3].empty());
  ensemble.blocked.clear();
  ASSERT_TRUE(ensemble[3].submit(2, std::make_shared<std::string>("b")));
  ensemble.run();
  ASSERT_EQ(ensemble.applied[3].size(), 2u);
  EXPECT_EQ(ensemble.applied[1].size(), 2u);
}

size_t count(const Ensemble& ensemble, MessageType type, NodeId to) {
  size_t n = 0;
  for (const Message& message : ensemble.sent) n += message.type == type && message.to == to;
  return n;
}

// docs/zab.md §5, "A follower's own commit": the leader's log and a follower's, both durable, are
// a quorum of three; the follower applies without the leader's COMMIT.
TEST(Broadcast, AFollowerCommitsWhenItsLogAndTheLeadersAreDurable) {
  Ensemble ensemble = three(disk(1, {}), disk(1, {}), disk(1, {}));
  ensemble.blocked = {{1, 3}, {2, 3}};  // the followers' ACKs never arrive: the leader cannot commit
  ASSERT_TRUE(ensemble[3].submit(1, std::make_shared<std::string>("a")));
  ensemble.run();
  EXPECT_TRUE(ensemble.applied[3].empty());
  ASSERT_EQ(ensemble.applied[1].size(), 1u);
  ASSERT_EQ(ensemble.applied[2].size(), 1u);
  EXPECT_EQ(*ensemble.applied[1][0].payload, "a");
  EXPECT_EQ(count(ensemble, MessageType::kDurable, 1), 1u);
  EXPECT_EQ(count(ensemble, MessageType::kCommit, 1), 1u) << "only the sync's";
}

TEST(Broadcast, AFollowerThatAckedWhatTheLeaderCalledDurable_GetsNoCommit) {
  Ensemble ensemble = three(disk(1, {}), disk(1, {}), disk(1, {}));
  const size_t commits_before = count(ensemble, MessageType::kCommit, 1);
  for (uint64_t token = 1; token <= 3; ++token) {
    ASSERT_TRUE(ensemble[1].submit(token, std::make_shared<std::string>("w")));
    ensemble.run();
  }
  for (NodeId id : {1, 2, 3}) EXPECT_EQ(ensemble.applied[id].size(), 3u) << "replica " << id;
  // Replica 1's ACK reaches the leader first here: the leader commits on it, and replica 2, which
  // has not acked yet, still gets the COMMIT.
  EXPECT_EQ(count(ensemble, MessageType::kCommit, 1), commits_before);
  EXPECT_EQ(count(ensemble, MessageType::kDurable, 1), 3u);
}

// A follower that has not logged the txn durably still gets the COMMIT (a member whose disk
// fails keeps applying), and in five voters the leader and one follower are no quorum.
TEST(Broadcast, FiveVoters_FollowersWaitForTheLeadersCommit) {
  Ensemble ensemble;
  ensemble.voters = {1, 2, 3, 4, 5};
  for (NodeId id : {1, 2, 3, 4, 5}) ensemble.add(id, disk(1, {}));
  for (int tick = 0; tick < 50 && !ensemble[5].serving(); ++tick) ensemble.tick(1);
  ASSERT_TRUE(ensemble[5].serving());
  ensemble.blocked = {{1, 5}, {2, 5}, {3, 5}, {4, 5}};
  ASSERT_TRUE(ensemble[5].submit(1, std::make_shared<std::string>("a")));
  ensemble.run();
  for (NodeId id : {1, 2, 3, 4, 5}) EXPECT_TRUE(ensemble.applied[id].empty()) << "replica " << id;
  for (NodeId id : {1, 2, 3, 4}) EXPECT_EQ(count(ensemble, MessageType::kDurable, id), 0u);
  ensemble.blocked.clear();
  ASSERT_TRUE(ensemble[5].submit(2, std::make_shared<std::string>("b")));
  ensemble.run();
  for (NodeId id : {1, 2, 3, 4, 5}) EXPECT_EQ(ensemble.applied[id].size(), 2u) << "replica " << id;
}

TEST(Broadcast, ObserverNeverCounts) {
  Ensemble ensemble;
  ensemble.voters = {1, 2, 3};
  ensemble.observers = {4};
  for (NodeId id : {1, 2, 3, 4}) ensemble.add(id, disk(1, {}));
  ensemble.run();
  for (int tick = 0; tick < 20 && ensemble[4].role() == Role::kLooking; ++tick) {
    ensemble[4].tick();  // it resends its vote; the voters, settled by now, answer
    ensemble.run();
  }
  ASSERT_EQ(ensemble[4].role(), Role::kObserving);
  ASSERT_TRUE(ensemble[4].serving());
  ensemble.blocked = {{1, 3}, {2, 3}};
  ASSERT_TRUE(ensemble[4].submit(9, std::make_shared<std::string>("from observer")));
  ensemble.run();
  EXPECT_TRUE(ensemble.applied[3].empty()) << "the observer's copy is not an ACK";
  ensemble.stopped = {1, 2};
  for (int tick = 0; tick < 60; ++tick) ensemble[3].tick();
  ensemble.run();
  EXPECT_EQ(ensemble[3].role(), Role::kLooking) << "an observer is no quorum";
}

TEST(Broadcast, ForwardedWriteAndSyncComeBackToTheLearner) {
  Ensemble ensemble = three(disk(1, {}), disk(1, {}), disk(1, {}));
  ASSERT_TRUE(ensemble[1].submit(5, std::make_shared<std::string>("a")));
  ASSERT_TRUE(ensemble[1].sync(6));
  ensemble.run();
  ASSERT_EQ(ensemble.applied[1].size(), 1u);
  EXPECT_EQ(ensemble.applied[1][0].origin, 1u);
  EXPECT_EQ(ensemble.applied[1][0].token, 5u);
  EXPECT_EQ(ensemble.synced[1], std::vector<uint64_t>{6});
}

TEST(Broadcast, LearnerLosingItsLeaderReportsForwardedWritesLost) {
  Ensemble ensemble = three(disk(1, {}), disk(1, {}), disk(1, {}));
  ensemble.blocked = {{1, 3}};
  ASSERT_TRUE(ensemble[1].submit(5, std::make_shared<std::string>("a")));
  ensemble.run();
  ensemble[1].peer_down(3);
  EXPECT_EQ(ensemble[1].ready().lost, std::vector<uint64_t>{5});
  EXPECT_EQ(ensemble[1].role(), Role::kLooking);
}

// What `quorumctl status` shows of the leader's followers (Replica::learners(), docs/quorumctl.md).
TEST(Status, TheLeaderReportsHowFarEachLearnersAcksReach) {
  Ensemble ensemble = three(disk(1, {}), disk(1, {}), disk(1, {}));
  ASSERT_EQ(ensemble[3].role(), Role::kLeading);
  EXPECT_TRUE(ensemble[1].learners().empty()) << "a follower reports no learners";
  ensemble.blocked = {{2, 3}};  // follower 2's ACKs never arrive
  ASSERT_TRUE(ensemble[3].submit(1, std::make_shared<std::string>("a")));
  ensemble.run();
  const std::vector<LearnerStatus> learners = ensemble[3].learners();
  ASSERT_EQ(learners.size(), 2u);
  std::map<NodeId, LearnerStatus> by_id;
  for (const LearnerStatus& learner : learners) by_id[learner.id] = learner;
  ASSERT_EQ(by_id.count(1), 1u);
  ASSERT_EQ(by_id.count(2), 1u);
  EXPECT_TRUE(by_id[1].synced);
  EXPECT_FALSE(by_id[1].observer);
  EXPECT_EQ(by_id[1].acked, ensemble[3].last_logged_zxid());
  EXPECT_LT(by_id[2].acked, ensemble[3].last_logged_zxid());
}

}  // namespace
}  // namespace quorumfs::consensus
