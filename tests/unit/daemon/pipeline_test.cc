#include "daemon/pipeline.h"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>

namespace quorumfs {
namespace {

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("pipeline_test_" + std::to_string(::getpid()) + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static proto::Txn create(const std::string& path) {
    proto::Txn txn;
    auto* op = txn.add_ops()->mutable_create();
    op->set_path(path);
    op->set_data("data of " + path);
    op->mutable_meta()->set_uid(0);
    op->mutable_meta()->set_gid(0);
    op->mutable_meta()->set_mode(0644);
    return txn;
  }

  // The pipeline with a real log in dir_, run by io (kept running for the log writer's posts).
  void start() {
    std::string error;
    log_ = TxnLog::open({.dir = dir_.string()}, &error);
    ASSERT_TRUE(log_) << error;
    pipeline_ = std::make_unique<Pipeline>(io, tree, *log_, replica,
                                           [this](const consensus::HardState& s) { epochs.push_back(s); });
    pipeline_->drain();
  }

  std::filesystem::path dir_;
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> keep_running =
      boost::asio::make_work_guard(io);
  DataTree tree;
  consensus::Replica replica{1, consensus::DurableState{}};
  std::vector<consensus::HardState> epochs;
  std::unique_ptr<TxnLog> log_;
  std::unique_ptr<Pipeline> pipeline_;
};

TEST_F(PipelineTest, Submit_AppliesAfterDurableAndAnswersInZxidOrder) {
  ASSERT_NO_FATAL_FAILURE(start());
  Pipeline& pipeline = *pipeline_;
  ASSERT_EQ(epochs.size(), 1u) << "the new epoch is persisted before any proposal";

  std::vector<Zxid> answered;
  std::vector<Zxid> applied;
  pipeline.set_on_applied([&](const ApplyResult& result) { applied.push_back(result.zxid); });
  for (const char* path : {"/a", "/b", "/a"}) {
    pipeline.submit(create(path), [&](const ApplyResult& result) {
      answered.push_back(result.zxid);
      if (answered.size() == 3) io.stop();
    });
  }
  io.run_for(std::chrono::seconds(10));
  ASSERT_EQ(answered.size(), 3u);
  EXPECT_EQ(answered, (std::vector<Zxid>{make_zxid(1, 1), make_zxid(1, 2), make_zxid(1, 3)}));
  EXPECT_EQ(applied, answered);
  EXPECT_NE(tree.find("/a"), nullptr);
  EXPECT_NE(tree.find("/b"), nullptr);
  EXPECT_EQ(tree.last_applied_zxid(), make_zxid(1, 3));
  pipeline_.reset();
  log_.reset();

  // Every answered txn is in the log, the failed third one too (it was ordered).
  std::string error;
  auto reopened = TxnLog::open({.dir = dir_.string()}, &error);
  ASSERT_TRUE(reopened) << error;
  int records = 0;
  ASSERT_TRUE(reopened->replay(0, [&](Zxid, std::string_view) { ++records; }, &error)) << error;
  EXPECT_EQ(records, 3);
}

TEST_F(PipelineTest, Submit_FailedTxnReturnsItsCodeAndChangesNothing) {
  ASSERT_NO_FATAL_FAILURE(start());
  Pipeline& pipeline = *pipeline_;
  Code code = Code::kOk;
  pipeline.submit(create("/missing/child"), [&](const ApplyResult& result) {
    code = result.code;
    io.stop();
  });
  io.run_for(std::chrono::seconds(10));
  EXPECT_EQ(code, Code::kNoNode);
  EXPECT_EQ(tree.node_count(), DataTree().node_count());
}

}  // namespace
}  // namespace quorumfs
