// A replica's storage (daemon/replica_store.h): recovery hands the core its durable state, TRUNC
// rebuilds the tree without the cut txns (also when a snapshot held them), SNAP replaces tree and
// log, and both survive a restart.
#include "daemon/replica_store.h"
#include "tests/unit/daemon/txns.h"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <filesystem>

namespace quorumfs {
namespace {

using testing::create_txn;


consensus::Entry entry(Zxid zxid, const std::string& path) {
  auto payload = std::make_shared<std::string>();
  create_txn(path).SerializeToString(payload.get());
  return {zxid, payload};
}

class ReplicaStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("replica_store_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void open_store() {
    store_.reset();
    store_ = std::make_unique<ReplicaStore>(io_, store_options());
    std::string error;
    ASSERT_TRUE(store_->recover(&error)) << error;
  }

  // Logs and applies /n1 .. /n<count> as (1, 1) .. (1, count), durably.
  void write_nodes(int count) {
    std::vector<consensus::Entry> entries;
    for (int n = 1; n <= count; ++n) entries.push_back(entry(make_zxid(1, n), "/n" + std::to_string(n)));
    store_->append(entries);
    store_->log().flush();
    for (const auto& e : entries) {
      proto::Txn txn;
      txn.ParseFromString(*e.payload);
      store_->tree().apply(e.zxid, txn);
    }
  }

  boost::asio::io_context io_;
  StoreOptions store_options() const {
    StoreOptions options;
    options.data_dir = dir_.string();
    options.recent_entries_max = 3;
    return options;
  }
  std::filesystem::path dir_;
  std::unique_ptr<ReplicaStore> store_;
};

TEST_F(ReplicaStoreTest, Recover_GivesEpochsLastZxidAndTheLastRecords) {
  ASSERT_NO_FATAL_FAILURE(open_store());
  store_->persist_hard_state({3, 2});
  write_nodes(5);
  ASSERT_NO_FATAL_FAILURE(open_store());
  consensus::DurableState state = store_->durable_state();
  EXPECT_EQ(state.accepted_epoch, 3u);
  EXPECT_EQ(state.current_epoch, 2u);
  EXPECT_EQ(state.last_logged_zxid, make_zxid(1, 5));
  ASSERT_EQ(state.recent.size(), 3u) << "capped at recent_entries_max";
  EXPECT_EQ(state.recent.front().zxid, make_zxid(1, 3));
  EXPECT_EQ(store_->tree().last_applied_zxid(), make_zxid(1, 5));
}

TEST_F(ReplicaStoreTest, TruncateAfter_RebuildsTheTreeWithoutTheCutTxnsEvenFromANewerSnapshot) {
  ASSERT_NO_FATAL_FAILURE(open_store());
  write_nodes(6);
  std::string error;
  ASSERT_TRUE(store_->snapshots().write(store_->tree(), &error)) << error;  // holds (1, 6)
  store_->truncate_after(make_zxid(1, 4));
  EXPECT_EQ(store_->tree().last_applied_zxid(), make_zxid(1, 4));
  EXPECT_NE(store_->tree().find("/n4"), nullptr);
  EXPECT_EQ(store_->tree().find("/n5"), nullptr);
  EXPECT_TRUE(store_->snapshots().snapshot_zxids(&error).empty()) << "the snapshot past the cut is gone";
  store_->append({entry(make_zxid(2, 1), "/after")});
  store_->log().flush();
  ASSERT_NO_FATAL_FAILURE(open_store());
  EXPECT_EQ(store_->durable_state().last_logged_zxid, make_zxid(2, 1));
  EXPECT_EQ(store_->tree().find("/n5"), nullptr);
  EXPECT_NE(store_->tree().find("/after"), nullptr);
}

TEST_F(ReplicaStoreTest, InstallSnapshot_ReplacesTreeAndLogDurably) {
  // The leader's tree: /l1 .. /l3 at (2, 3).
  DataTree leader;
  for (int n = 1; n <= 3; ++n) leader.apply(make_zxid(2, n), create_txn("/l" + std::to_string(n)));
  std::string bytes;
  std::string error;
  ASSERT_TRUE(SnapshotStore::encode(leader, &bytes, &error)) << error;

  ASSERT_NO_FATAL_FAILURE(open_store());
  write_nodes(5);  // a diverged history in epoch 1
  bool reported = false;
  store_->set_on_durable([&](Zxid) { reported = true; });
  store_->install_snapshot(make_zxid(2, 3), bytes);
  EXPECT_EQ(store_->tree().last_applied_zxid(), make_zxid(2, 3));
  EXPECT_NE(store_->tree().find("/l3"), nullptr);
  EXPECT_EQ(store_->tree().find("/n1"), nullptr) << "the diverged records below its zxid are not replayed";
  EXPECT_EQ(store_->tree().find("/n5"), nullptr);
  io_.poll();
  EXPECT_FALSE(reported) << "no durability report of the replaced log";

  ASSERT_NO_FATAL_FAILURE(open_store());
  EXPECT_EQ(store_->tree().last_applied_zxid(), make_zxid(2, 3));
  EXPECT_NE(store_->tree().find("/l2"), nullptr);
  EXPECT_EQ(store_->durable_state().last_logged_zxid, make_zxid(2, 3));
}

TEST_F(ReplicaStoreTest, InstallSnapshot_DamagedBytes_Throws) {
  ASSERT_NO_FATAL_FAILURE(open_store());
  EXPECT_THROW(store_->install_snapshot(make_zxid(2, 3), "not a snapshot"), std::runtime_error);
}

}  // namespace
}  // namespace quorumfs
