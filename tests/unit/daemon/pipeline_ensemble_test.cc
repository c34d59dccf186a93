// Three pipelines, each over its own ReplicaStore, wired to each other in one io_context: the
// errno contract of a write taken by a follower (docs/guarantees.md §8) and what a restarted
// follower does with its earlier run's writes.
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "daemon/pipeline.h"
#include "tests/unit/daemon/txns.h"

namespace quorumfs {
namespace {

using testing::create_txn;

using consensus::NodeId;


class PipelineEnsembleTest : public ::testing::Test {
 protected:
  struct Member {
    std::unique_ptr<ReplicaStore> store;
    std::unique_ptr<consensus::Replica> replica;
    std::unique_ptr<Pipeline> pipeline;
  };

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("pipeline_ensemble_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    for (NodeId id : {1, 2, 3}) start(id);
  }
  void TearDown() override {
    members_.clear();
    std::filesystem::remove_all(dir_);
  }

  void start(NodeId id, std::chrono::milliseconds write_wait = std::chrono::seconds(5), int sync_limit_ticks = 50) {
    Member& member = members_[id];
    member = Member{};
    StoreOptions options;
    options.data_dir = (dir_ / std::to_string(id)).string();
    member.store = std::make_unique<ReplicaStore>(io_, options);
    std::string error;
    ASSERT_TRUE(member.store->recover(&error)) << error;
    consensus::Config config;
    config.my_id = id;
    config.voters = {1, 2, 3};
    config.sync_limit_ticks = sync_limit_ticks;
    member.replica = std::make_unique<consensus::Replica>(config, member.store->durable_state());
    member.pipeline = std::make_unique<Pipeline>(*member.store, *member.replica, id, write_wait);
    // Delivery goes through the loop, as the transport's does; a cut link or a stopped member
    // drops.
    member.pipeline->set_send([this](const consensus::Message& message) {
      if (cut_.count(message.from) || cut_.count(message.to) || blocked_.count({message.from, message.to})) return;
      boost::asio::post(io_, [this, message] {
        auto it = members_.find(message.to);
        if (it != members_.end() && it->second.pipeline && !cut_.count(message.to)) it->second.pipeline->step(message);
      });
    });
  }

  // Runs the loop, ticking every member, until done() or 10 s.
  bool run_until(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io_.run_for(std::chrono::milliseconds(2));
      for (auto& [id, member] : members_) {
        if (member.pipeline && !cut_.count(id)) member.pipeline->tick();
      }
    }
    return done();
  }
  NodeId leader() const {
    for (const auto& [id, member] : members_) {
      if (member.replica && member.replica->role() == consensus::Role::kLeading && member.replica->serving()) return id;
    }
    return 0;
  }
  bool all_serving() const {
    for (const auto& [id, member] : members_) {
      if (!member.replica->serving()) return false;
    }
    return true;
  }
  NodeId a_follower() const { return leader() == 1 ? 2 : 1; }

  std::filesystem::path dir_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> keep_running_ =
      boost::asio::make_work_guard(io_);
  std::map<NodeId, Member> members_;
  std::set<NodeId> cut_;  // members whose messages are dropped both ways
  std::set<std::pair<NodeId, NodeId>> blocked_;  // (from, to) links that drop
};

TEST_F(PipelineEnsembleTest, FollowerWrite_CommittedEverywhereAndAnsweredOnce) {
  ASSERT_TRUE(run_until([&] { return all_serving(); }));
  const NodeId follower = a_follower();
  std::vector<Code> answers;
  members_[follower].pipeline->submit(create_txn("/from-follower"), [&](const ApplyResult& result) { answers.push_back(result.code); });
  ASSERT_TRUE(run_until([&] {
    for (auto& [id, member] : members_) {
      if (member.store->tree().find("/from-follower") == nullptr) return false;
    }
    return !answers.empty();
  }));
  EXPECT_EQ(answers, std::vector<Code>{Code::kOk});
}

TEST_F(PipelineEnsembleTest, LeaderLostAfterItTookTheWrite_OutcomeUnknown) {
  ASSERT_TRUE(run_until([&] { return all_serving(); }));
  const NodeId old_leader = leader();
  const NodeId follower = a_follower();
  std::optional<Code> answer;
  // The leader takes the write, but none of what it sends gets out: then it is gone.
  members_[follower].pipeline->submit(create_txn("/in-flight"), [&](const ApplyResult& result) { answer = result.code; });
  io_.poll();  // the request is delivered
  cut_.insert(old_leader);
  for (auto& [id, member] : members_) {
    if (id != old_leader) member.pipeline->peer_down(old_leader);
  }
  ASSERT_TRUE(run_until([&] { return answer.has_value(); }));
  EXPECT_EQ(*answer, Code::kOutcomeUnknown) << "ETIMEDOUT: the leader may have logged it";
}

TEST_F(PipelineEnsembleTest, TakenButNotCommittedWithinTheWriteWait_OutcomeUnknown) {
  members_.clear();
  // A long syncLimit (1000 ticks, >= 2 s here): the leader keeps its role meanwhile.
  for (NodeId id : {1, 2, 3}) ASSERT_NO_FATAL_FAILURE(start(id, std::chrono::milliseconds(100), 1000));
  ASSERT_TRUE(run_until([&] { return all_serving(); }));
  const NodeId the_leader = leader();
  // The followers' acks stop reaching the leader.
  for (NodeId id : {1, 2, 3}) {
    if (id != the_leader) blocked_.insert({id, the_leader});
  }
  std::optional<Code> answer;
  const auto submitted = std::chrono::steady_clock::now();
  members_[the_leader].pipeline->submit(create_txn("/slow"), [&](const ApplyResult& result) { answer = result.code; });
  ASSERT_TRUE(run_until([&] { return answer.has_value(); }));
  EXPECT_EQ(*answer, Code::kOutcomeUnknown);
  EXPECT_LT(std::chrono::steady_clock::now() - submitted, std::chrono::milliseconds(1000)) << "before the leader gave up";
  EXPECT_EQ(leader(), the_leader);
}

TEST_F(PipelineEnsembleTest, NoLeaderYet_WriteWaitsForOneAndCommits) {
  std::optional<Code> answer;
  members_[1].pipeline->submit(create_txn("/early"), [&](const ApplyResult& result) { answer = result.code; });
  EXPECT_FALSE(answer.has_value()) << "held, not refused, while an election runs";
  ASSERT_TRUE(run_until([&] { return answer.has_value(); }));
  EXPECT_EQ(*answer, Code::kOk);
}

TEST_F(PipelineEnsembleTest, RestartedFollower_RejoinsAndItsNewWriteGetsItsOwnResult) {
  ASSERT_TRUE(run_until([&] { return all_serving(); }));
  const NodeId follower = a_follower();
  members_[follower].pipeline->submit(create_txn("/first-run"), [](const ApplyResult&) {});
  ASSERT_TRUE(run_until([&] { return members_[follower].store->tree().find("/first-run") != nullptr; }));
  cut_.insert(follower);
  for (auto& [id, member] : members_) {
    if (id != follower) member.pipeline->peer_down(follower);
  }
  members_[follower] = Member{};
  ASSERT_NO_FATAL_FAILURE(start(follower));
  cut_.erase(follower);
  std::optional<ApplyResult> answer;
  members_[follower].pipeline->submit(create_txn("/second-run"), [&](const ApplyResult& result) { answer = result; });
  ASSERT_TRUE(run_until([&] { return answer.has_value(); }));
  EXPECT_EQ(answer->code, Code::kOk);
  ASSERT_EQ(answer->ops.size(), 1u);
  EXPECT_EQ(answer->ops[0].path, "/second-run") << "answered with its own txn, not the earlier run's";
}

// Member 1 logged (1, 2) "/tail" from a leader of epoch 1 that died before committing it; 2 and 3
// went on in epoch 2 without it. Restarted, member 1 never shows /tail: not from its own disk at
// start, nor after the sync that cuts it (docs/architecture.md, "What a restart shows").
TEST_F(PipelineEnsembleTest, RestartedMemberWithAnUncommittedTail_NeverShowsIt) {
  members_.clear();
  std::filesystem::remove_all(dir_);
  auto entry = [](Zxid zxid, const std::string& path) {
    auto payload = std::make_shared<std::string>();
    create_txn(path).SerializeToString(payload.get());
    return consensus::Entry{zxid, payload};
  };
  auto craft = [&](NodeId id, consensus::HardState epochs, const std::vector<consensus::Entry>& log, size_t applied) {
    StoreOptions options;
    options.data_dir = (dir_ / std::to_string(id)).string();
    ReplicaStore store(io_, options);
    std::string error;
    ASSERT_TRUE(store.recover(&error)) << error;
    store.persist_hard_state(epochs);
    for (size_t n = 0; n < log.size(); ++n) {
      store.append({log[n]});
      store.log().flush();
      if (n < applied) store.tree().apply(log[n].zxid, [&] { proto::Txn txn; txn.ParseFromString(*log[n].payload); return txn; }());
    }
  };
  const auto a = entry(make_zxid(1, 1), "/a"), tail = entry(make_zxid(1, 2), "/tail"), b = entry(make_zxid(2, 1), "/b");
  ASSERT_NO_FATAL_FAILURE(craft(1, {1, 1}, {a, tail}, 1));
  ASSERT_NO_FATAL_FAILURE(craft(2, {2, 2}, {a, b, entry(make_zxid(2, 2), "/c")}, 2));
  ASSERT_NO_FATAL_FAILURE(craft(3, {2, 2}, {a, b, entry(make_zxid(2, 2), "/c")}, 2));

  ASSERT_NO_FATAL_FAILURE(start(1));
  EXPECT_EQ(members_[1].store->durable_state().last_logged_zxid, make_zxid(1, 2)) << "it still counts for votes";
  EXPECT_NE(members_[1].store->tree().find("/a"), nullptr);
  EXPECT_EQ(members_[1].store->tree().find("/tail"), nullptr) << "shown from its own disk at start";
  bool shown = false;
  members_[1].pipeline->set_on_applied([&](const ApplyResult& result, bool, service::Submitter) {
    for (const Change& change : result.changes) shown |= change.name == "tail";
  });
  ASSERT_NO_FATAL_FAILURE(start(2));
  ASSERT_NO_FATAL_FAILURE(start(3));
  ASSERT_TRUE(run_until([&] { return all_serving() && members_[1].store->tree().find("/c") != nullptr; }));
  EXPECT_NE(leader(), 1u);
  EXPECT_EQ(members_[1].store->tree().find("/tail"), nullptr);
  EXPECT_FALSE(shown);
  EXPECT_EQ(members_[1].store->durable_state().last_logged_zxid, make_zxid(2, 2));
}

// A committed txn whose bytes do not parse (a peer's bug, a bit flipped before it was logged) is
// a failed txn on every replica: no replica stops, nothing changes, and each starts again.
TEST_F(PipelineEnsembleTest, CommittedTxnThatDoesNotParse_FailsAlikeEverywhere) {
  ASSERT_TRUE(run_until([&] { return all_serving(); }));
  const NodeId the_leader = leader();
  ASSERT_TRUE(members_[the_leader].replica->submit(1, std::make_shared<const std::string>("\xff\xffnot a txn")));
  members_[the_leader].pipeline->drain();
  const Zxid zxid = members_[the_leader].replica->last_logged_zxid();
  std::map<NodeId, size_t> nodes_before;
  for (auto& [id, member] : members_) nodes_before[id] = member.store->tree().node_count();
  ASSERT_TRUE(run_until([&] {
    for (auto& [id, member] : members_) {
      if (member.store->tree().last_applied_zxid() != zxid) return false;
    }
    return true;
  }));
  for (auto& [id, member] : members_) EXPECT_EQ(member.store->tree().node_count(), nodes_before[id]);
  const NodeId follower = a_follower();
  members_[follower] = Member{};
  ASSERT_NO_FATAL_FAILURE(start(follower));  // replays it from its log, or gets it again
  ASSERT_TRUE(run_until([&] { return all_serving(); }));
  std::optional<Code> answer;
  members_[follower].pipeline->submit(create_txn("/after"), [&](const ApplyResult& result) { answer = result.code; });
  ASSERT_TRUE(run_until([&] { return answer.has_value(); }));
  EXPECT_EQ(*answer, Code::kOk);
}

// A SNAP whose snapshot does not decode (a leader's bug, bytes damaged on the way) is refused
// before the core takes it: the learner starts over instead of failing its install forever.
TEST_F(PipelineEnsembleTest, SnapshotThatDoesNotDecode_RefusedAndTheLearnerRejoins) {
  ASSERT_TRUE(run_until([&] { return all_serving(); }));
  const NodeId the_leader = leader(), follower = a_follower();
  const size_t nodes_before = members_[follower].store->tree().node_count();
  consensus::Message snap;
  snap.type = consensus::MessageType::kSnap;
  snap.from = the_leader;
  snap.to = follower;
  snap.zxid = make_zxid(9, 9);
  snap.snapshot = std::make_shared<const std::string>("QFSSNAP but nothing else");
  members_[follower].pipeline->step(snap);
  EXPECT_EQ(members_[follower].replica->role(), consensus::Role::kLooking);
  EXPECT_EQ(members_[follower].store->tree().node_count(), nodes_before);
  ASSERT_TRUE(run_until([&] { return all_serving(); }));
  std::optional<Code> answer;
  members_[follower].pipeline->submit(create_txn("/after"), [&](const ApplyResult& result) { answer = result.code; });
  ASSERT_TRUE(run_until([&] { return answer.has_value(); }));
  EXPECT_EQ(*answer, Code::kOk);
}

// What a learner forwards is checked by the leader as its own writes are: a request no replica
// would apply (here an ACL that is not text, as in setfattr -v $'digest:\xff:x:cdrwa') or that
// does not parse is never proposed, and the log does not grow.
TEST_F(PipelineEnsembleTest, LeaderRefusesABadRequestWithoutProposingIt) {
  ASSERT_TRUE(run_until([&] { return all_serving(); }));
  const NodeId the_leader = leader(), follower = a_follower();
  const Zxid before = members_[the_leader].replica->last_logged_zxid();
  proto::Txn txn = create_txn("/acl");
  txn.mutable_ops(0)->mutable_create()->set_acl("digest:\xff:x:cdrwa");
  for (std::string payload : {txn.SerializeAsString(), std::string("\xff\xffnot a txn")}) {
    consensus::Message request;
    request.type = consensus::MessageType::kRequest;
    request.from = follower;
    request.to = the_leader;
    request.token = 77;
    request.entry.payload = std::make_shared<const std::string>(payload);
    members_[the_leader].pipeline->step(request);
  }
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  run_until([&] { return std::chrono::steady_clock::now() >= until; });
  EXPECT_EQ(members_[the_leader].replica->last_logged_zxid(), before);
  EXPECT_EQ(members_[the_leader].store->tree().find("/acl"), nullptr);
}

// A sync the leader took but never answered (its messages stopped arriving) fails after the
// write wait instead of holding its fsync forever.
TEST_F(PipelineEnsembleTest, SyncWithoutAnAnswer_FailsAfterTheWriteWait) {
  members_.clear();
  for (NodeId id : {1, 2, 3}) ASSERT_NO_FATAL_FAILURE(start(id, std::chrono::milliseconds(200), 1000));
  ASSERT_TRUE(run_until([&] { return all_serving(); }));
  const NodeId the_leader = leader(), follower = a_follower();
  blocked_.insert({the_leader, follower});
  std::optional<Code> answer;
  members_[follower].pipeline->sync([&](Code code) { answer = code; });
  ASSERT_TRUE(run_until([&] { return answer.has_value(); }));
  EXPECT_EQ(*answer, Code::kOutcomeUnknown);
}

}  // namespace
}  // namespace quorumfs
