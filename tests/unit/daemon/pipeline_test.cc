// The write path (daemon/pipeline.h) over a real ReplicaStore: the ensemble of one commits what is
// durable, in order; a learner with no leader holds writes for the write wait and then fails them
// as "not applied".
#include "daemon/pipeline.h"
#include "tests/unit/daemon/txns.h"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <optional>

#include "consensus/log_format.h"

namespace quorumfs {
namespace {

using testing::create_txn;

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("pipeline_test_" + std::to_string(::getpid()) + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override {
    pipeline_.reset();
    replica_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }


  // A replica on a store in dir_, run by io (kept running for the log writer's posts).
  void start(consensus::Config config = {}, std::chrono::milliseconds write_wait = std::chrono::seconds(5)) {
    std::string error;
    store_ = std::make_unique<ReplicaStore>(io, store_options());
    ASSERT_TRUE(store_->recover(&error)) << error;
    replica_ = std::make_unique<consensus::Replica>(config, store_->durable_state());
    pipeline_ = std::make_unique<Pipeline>(*store_, *replica_, config.my_id, write_wait);
    pipeline_->drain();
  }
  void restart() {
    pipeline_.reset();
    replica_.reset();
    store_.reset();
    start();
  }

  StoreOptions store_options() const {
    StoreOptions options;
    options.data_dir = dir_.string();
    options.recent_entries_max = 3;
    return options;
  }
  std::filesystem::path dir_;
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> keep_running =
      boost::asio::make_work_guard(io);
  std::unique_ptr<ReplicaStore> store_;
  std::unique_ptr<consensus::Replica> replica_;
  std::unique_ptr<Pipeline> pipeline_;
};

TEST_F(PipelineTest, Submit_AppliesAfterDurableAndAnswersInZxidOrder) {
  ASSERT_NO_FATAL_FAILURE(start());
  std::vector<Zxid> answered;
  std::vector<Zxid> applied;
  pipeline_->set_on_applied([&](const ApplyResult& result, bool own, service::Submitter) {
    EXPECT_TRUE(own);
    applied.push_back(result.zxid);
  });
  for (const char* path : {"/a", "/b", "/a"}) {
    pipeline_->submit(create_txn(path), [&](const ApplyResult& result) {
      answered.push_back(result.zxid);
      if (answered.size() == 3) io.stop();
    });
  }
  io.run_for(std::chrono::seconds(10));
  ASSERT_EQ(answered.size(), 3u);
  EXPECT_EQ(answered, (std::vector<Zxid>{make_zxid(1, 1), make_zxid(1, 2), make_zxid(1, 3)}));
  EXPECT_EQ(applied, answered);
  EXPECT_NE(store_->tree().find("/a"), nullptr);
  EXPECT_NE(store_->tree().find("/b"), nullptr);
  EXPECT_TRUE(pipeline_->idle());

  // Every answered txn is in the log, the failed third one too (it was ordered). A restart
  // rebuilds the tree through the applied mark the log recorded (below 1.3: each write recorded
  // what was applied before it), leads the next epoch, and applies the rest as its own history.
  ASSERT_NO_FATAL_FAILURE(restart());
  EXPECT_LT(store_->replayed_count(), 3u);
  EXPECT_EQ(store_->tree().last_applied_zxid(), make_zxid(1, 3));
  EXPECT_NE(store_->tree().find("/b"), nullptr);
  EXPECT_EQ(replica_->epoch(), 2u);
}

TEST_F(PipelineTest, Submit_TxnAboveALogRecord_RefusedWithoutReachingTheLog) {
  ASSERT_NO_FATAL_FAILURE(start());
  proto::Txn txn = create_txn("/huge");
  txn.mutable_ops(0)->mutable_create()->set_data(std::string(log_format::kPayloadBytesMax, 'x'));
  std::optional<Code> answer;
  pipeline_->submit(std::move(txn), [&](const ApplyResult& result) { answer = result.code; });
  ASSERT_TRUE(answer.has_value()) << "refused at once";
  EXPECT_EQ(*answer, Code::kDataTooLarge);
  EXPECT_EQ(store_->log().last_zxid(), 0);
  EXPECT_TRUE(pipeline_->idle());
}

TEST_F(PipelineTest, Submit_TxnNoReplicaWouldApply_RefusedWithItsCodeBeforeTheLog) {
  ASSERT_NO_FATAL_FAILURE(start());
  std::vector<Code> answers;
  for (const char* path : {"relative", "/a/../b", "/a//b"}) {
    pipeline_->submit(create_txn(path), [&](const ApplyResult& result) { answers.push_back(result.code); });
  }
  proto::Txn long_name = create_txn("/" + std::string(256, 'n'));
  pipeline_->submit(long_name, [&](const ApplyResult& result) { answers.push_back(result.code); });
  EXPECT_EQ(answers, (std::vector<Code>{Code::kBadArguments, Code::kBadArguments, Code::kBadArguments,
                                        Code::kNameTooLong}));
  EXPECT_EQ(store_->log().last_zxid(), 0);
}

TEST_F(PipelineTest, Submit_FailedTxnReturnsItsCodeAndChangesNothing) {
  ASSERT_NO_FATAL_FAILURE(start());
  Code code = Code::kOk;
  pipeline_->submit(create_txn("/missing/child"), [&](const ApplyResult& result) {
    code = result.code;
    io.stop();
  });
  io.run_for(std::chrono::seconds(10));
  EXPECT_EQ(code, Code::kNoNode);
  EXPECT_EQ(store_->tree().node_count(), DataTree().node_count());
}

// /metrics' quorumfs_write_latency_seconds: each answered write once, by what it does, failed
// ones too; a multi as multi.
TEST_F(PipelineTest, WriteLatency_EachAnsweredWriteTimedByKind) {
  ASSERT_NO_FATAL_FAILURE(start());
  proto::Txn multi = create_txn("/m1");
  *multi.add_ops() = create_txn("/m2").ops(0);
  size_t answered = 0;
  for (proto::Txn txn : {create_txn("/a"), create_txn("/a"), multi}) {
    pipeline_->submit(std::move(txn), [&](const ApplyResult&) {
      if (++answered == 3) io.stop();
    });
  }
  io.run_for(std::chrono::seconds(10));
  ASSERT_EQ(answered, 3u);
  const auto& latency = pipeline_->write_latency();
  EXPECT_EQ(std::string(kTxnKindNames[txn_kind(create_txn("/x"))]), "create");
  EXPECT_EQ(latency[txn_kind(create_txn("/x"))].counts().count, 2u);  // the second failed: NodeExists
  EXPECT_EQ(latency[kTxnKindNames.size() - 1].counts().count, 1u);
  EXPECT_GT(latency[txn_kind(create_txn("/x"))].counts().sum_ns, 0u);
  EXPECT_EQ(pipeline_->pending_count(), 0u);
}

TEST_F(PipelineTest, NoLeader_WriteWaitsThenFailsAsNotApplied) {
  consensus::Config config;
  config.my_id = 1;
  config.voters = {1, 2, 3};  // the others never answer
  ASSERT_NO_FATAL_FAILURE(start(config, std::chrono::milliseconds(200)));
  std::vector<consensus::Message> sent;
  pipeline_->set_send([&](const consensus::Message& message) { sent.push_back(message); });
  Code code = Code::kOk;
  bool answered = false;
  const auto submitted = std::chrono::steady_clock::now();
  pipeline_->submit(create_txn("/x"), [&](const ApplyResult& result) {
    code = result.code;
    answered = true;
  });
  EXPECT_FALSE(answered) << "it waits for a leader";
  EXPECT_FALSE(pipeline_->idle());
  const auto deadline = submitted + std::chrono::seconds(5);
  while (!answered && std::chrono::steady_clock::now() < deadline) {
    io.run_for(std::chrono::milliseconds(10));
    pipeline_->tick();
  }
  ASSERT_TRUE(answered);
  EXPECT_EQ(code, Code::kNotApplied);
  EXPECT_GE(std::chrono::steady_clock::now() - submitted, std::chrono::milliseconds(200));
  // A failed write is timed too, to its failure.
  EXPECT_EQ(pipeline_->write_latency()[txn_kind(create_txn("/x"))].counts().count, 1u);
  EXPECT_GE(pipeline_->write_latency()[txn_kind(create_txn("/x"))].counts().sum_ns, 200'000'000u);
  EXPECT_EQ(store_->tree().find("/x"), nullptr);
  EXPECT_TRUE(pipeline_->idle());
  EXPECT_FALSE(sent.empty()) << "meanwhile it looks for a leader (votes)";
}

TEST_F(PipelineTest, Sync_OnTheEnsembleOfOne_AnswersAfterEarlierWrites) {
  ASSERT_NO_FATAL_FAILURE(start());
  std::vector<std::string> order;
  pipeline_->submit(create_txn("/a"), [&](const ApplyResult&) { order.push_back("write"); });
  pipeline_->sync([&](Code code) {
    order.push_back(code == Code::kOk ? "sync" : "failed sync");
    io.stop();
  });
  io.run_for(std::chrono::seconds(10));
  EXPECT_EQ(order, (std::vector<std::string>{"write", "sync"}));
}

TEST_F(PipelineTest, Sync_NoLeader_FailsAsNotAppliedAfterTheWriteWait) {
  consensus::Config config;
  config.my_id = 1;
  config.voters = {1, 2, 3};
  ASSERT_NO_FATAL_FAILURE(start(config, std::chrono::milliseconds(100)));
  std::optional<Code> code;
  pipeline_->sync([&](Code result) { code = result; });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!code && std::chrono::steady_clock::now() < deadline) {
    io.run_for(std::chrono::milliseconds(10));
    pipeline_->tick();
  }
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, Code::kNotApplied) << "fsync must not claim a sync it could not make";
}

}  // namespace
}  // namespace quorumfs
