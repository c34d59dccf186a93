// A replica's storage (daemon/replica_store.h): recovery hands the core its durable state and
// rebuilds the tree only through the applied mark the log recorded; TRUNC cuts the log and keeps
// the tree; SNAP replaces tree and log; each survives a restart.
#include "daemon/replica_store.h"
#include "tests/unit/daemon/txns.h"
#include "tests/unit/storage/out_of_descriptors.h"

#include <gtest/gtest.h>
#include <thread>
#include <fcntl.h>
#include <sys/resource.h>

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

  // Logs /n1 .. /n<count> as (1, 1) .. (1, count), durably, then applies the first `applied` of
  // them (all by default). The log records what was applied before the append: nothing of them.
  void write_nodes(int count, int applied = -1) {
    std::vector<consensus::Entry> entries;
    for (int n = 1; n <= count; ++n) entries.push_back(entry(make_zxid(1, n), "/n" + std::to_string(n)));
    store_->append(entries);
    store_->log().flush();
    for (int n = 0; n < (applied < 0 ? count : applied); ++n) {
      proto::Txn txn;
      txn.ParseFromString(*entries[n].payload);
      store_->tree().apply(entries[n].zxid, txn);
    }
  }

  boost::asio::io_context io_;
  StoreOptions store_options() const {
    StoreOptions options;
    options.data_dir = dir_.string();
    options.recent_entries_max = 3;
    options.log_inline_commit = inline_commit_;
    return options;
  }
  TxnLogOptions::InlineCommit inline_commit_;
  std::filesystem::path dir_;
  std::unique_ptr<ReplicaStore> store_;
};

TEST_F(ReplicaStoreTest, Recover_RebuildsTheTreeOnlyThroughTheAppliedMark) {
  ASSERT_NO_FATAL_FAILURE(open_store());
  store_->persist_hard_state({3, 2});
  write_nodes(5);  // logged while nothing was applied
  ASSERT_NO_FATAL_FAILURE(open_store());
  consensus::DurableState state = store_->durable_state();
  EXPECT_EQ(state.accepted_epoch, 3u);
  EXPECT_EQ(state.current_epoch, 2u);
  EXPECT_EQ(state.last_logged_zxid, make_zxid(1, 5));
  EXPECT_EQ(state.applied_zxid, 0);
  EXPECT_EQ(store_->tree().find("/n1"), nullptr) << "a restart shows nothing not known committed";
  ASSERT_EQ(state.recent.size(), 5u) << "every unapplied record, beyond recent_entries_max";
  EXPECT_EQ(state.recent_after, 0);
}

TEST_F(ReplicaStoreTest, Recover_KeepsTheLastRecordsBeyondTheAppliedOnes) {
  ASSERT_NO_FATAL_FAILURE(open_store());
  write_nodes(5);
  store_->append({entry(make_zxid(1, 6), "/n6")});  // records that 1.5 was applied
  store_->log().flush();
  ASSERT_NO_FATAL_FAILURE(open_store());
  consensus::DurableState state = store_->durable_state();
  EXPECT_EQ(state.applied_zxid, make_zxid(1, 5));
  EXPECT_EQ(store_->replayed_count(), 5u);
  EXPECT_NE(store_->tree().find("/n5"), nullptr);
  EXPECT_EQ(store_->tree().find("/n6"), nullptr);
  ASSERT_EQ(state.recent.size(), 3u) << "capped at recent_entries_max";
  EXPECT_EQ(state.recent.front().zxid, make_zxid(1, 4));
  EXPECT_EQ(state.recent_after, make_zxid(1, 3));
}

TEST_F(ReplicaStoreTest, Recover_KeepsRecordsWithinTheirBytesToo) {
  ASSERT_NO_FATAL_FAILURE(open_store());
  write_nodes(5);
  store_->append({entry(make_zxid(1, 6), "/n6")});  // records that 1.5 was applied
  store_->log().flush();
  const size_t record_bytes = entry(make_zxid(1, 1), "/n1").payload->size();
  StoreOptions options = store_options();
  options.recent_bytes_max = 2 * record_bytes;
  store_.reset();
  store_ = std::make_unique<ReplicaStore>(io_, options);
  std::string error;
  ASSERT_TRUE(store_->recover(&error)) << error;
  consensus::DurableState state = store_->durable_state();
  ASSERT_EQ(state.recent.size(), 2u) << "bounded by bytes, below recent_entries_max";
  EXPECT_EQ(state.recent.front().zxid, make_zxid(1, 5));
  EXPECT_EQ(state.recent_after, make_zxid(1, 4));
}

TEST_F(ReplicaStoreTest, TruncateAfter_CutsTheLogAndSnapshotsPastItAndKeepsTheTree) {
  ASSERT_NO_FATAL_FAILURE(open_store());
  write_nodes(6, /*applied=*/4);
  DataTree newer;  // a snapshot past the cut (what ZOOKEEPER-1549 was about)
  for (int n = 1; n <= 6; ++n) newer.apply(make_zxid(1, n), create_txn("/n" + std::to_string(n)));
  std::string error;
  ASSERT_TRUE(store_->snapshots().write(newer, &error)) << error;
  store_->truncate_after(make_zxid(1, 4));
  EXPECT_EQ(store_->tree().last_applied_zxid(), make_zxid(1, 4));
  EXPECT_NE(store_->tree().find("/n4"), nullptr);
  EXPECT_TRUE(store_->snapshots().snapshot_zxids(&error).empty()) << "the snapshot past the cut is gone";
  store_->append({entry(make_zxid(2, 1), "/after")});
  store_->log().flush();
  ASSERT_NO_FATAL_FAILURE(open_store());
  consensus::DurableState state = store_->durable_state();
  EXPECT_EQ(state.last_logged_zxid, make_zxid(2, 1));
  EXPECT_EQ(state.applied_zxid, make_zxid(1, 4));
  EXPECT_EQ(store_->tree().find("/n5"), nullptr);
  EXPECT_EQ(store_->tree().find("/after"), nullptr) << "not known committed";
  ASSERT_FALSE(state.recent.empty());
  EXPECT_EQ(state.recent.back().zxid, make_zxid(2, 1));
}

// The appends of one turn of the loop share one write at its end, made on the loop thread while
// the log's writer is idle: the report comes from that turn (no hop to another thread and back),
// never from inside append().
TEST_F(ReplicaStoreTest, Append_ReportedDurableAtTheEndOfTheTurnWithOneWrite) {
  inline_commit_.sync_us_max = UINT32_MAX;  // however slow the test machine's disk is today
  inline_commit_.idle_percent = 0;           // and however soon after the last write
  inline_commit_.appends_max = 2;
  ASSERT_NO_FATAL_FAILURE(open_store());
  write_nodes(1);  // the first append creates the segment (on the writer thread)
  io_.poll();
  std::vector<Zxid> reported;
  store_->set_on_durable([&](Zxid zxid) { reported.push_back(zxid); });
  const uint64_t syncs = store_->log_sync_count();
  store_->append({entry(make_zxid(1, 2), "/n2")});
  store_->append({entry(make_zxid(1, 3), "/n3")});
  EXPECT_TRUE(reported.empty());
  io_.restart();
  io_.poll();
  EXPECT_EQ(reported, std::vector<Zxid>{make_zxid(1, 3)});
  EXPECT_EQ(store_->log_sync_count(), syncs + 1);
  ASSERT_NO_FATAL_FAILURE(open_store());
  EXPECT_EQ(store_->durable_state().last_logged_zxid, make_zxid(1, 3));
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

// Appends handed over before a cut are counted durable by the core once the cut is done: a cut
// while the writer cannot write fails (and is retried) rather than drop them.
TEST_F(ReplicaStoreTest, TruncateAfter_WhileTheWriterFails_FailsAndKeepsTheAppends) {
  ASSERT_NO_FATAL_FAILURE(open_store());
  testing::OutOfDescriptors no_descriptors;
  std::vector<consensus::Entry> entries;
  for (int n = 1; n <= 4; ++n) entries.push_back(entry(make_zxid(1, n), "/n" + std::to_string(n)));
  store_->append(entries);  // the writer cannot create its first segment
  EXPECT_THROW(store_->truncate_after(make_zxid(1, 3)), std::runtime_error);
  no_descriptors.release();
  for (int i = 0; i < 100 && store_->log_failing(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_NO_THROW(store_->truncate_after(make_zxid(1, 3)));  // the retry
  ASSERT_NO_FATAL_FAILURE(open_store());
  EXPECT_EQ(store_->durable_state().last_logged_zxid, make_zxid(1, 3)) << "1.1-1.3 durable, 1.4 cut";
}

// Only the data dir's owner may read it: it holds every znode, whatever the ACLs.
TEST_F(ReplicaStoreTest, DataDir_Is0700AndItsFiles0600) {
  ASSERT_NO_FATAL_FAILURE(open_store());
  store_->persist_hard_state({1, 1});
  write_nodes(3);
  std::string error;
  ASSERT_TRUE(store_->snapshots().write(store_->tree(), &error)) << error;
  size_t files = 0;
  auto mode_of = [](const std::filesystem::path& path) {
    return static_cast<unsigned>(std::filesystem::status(path).permissions());
  };
  EXPECT_EQ(mode_of(dir_), 0700u);
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_)) {
    if (entry.is_directory()) {
      EXPECT_EQ(mode_of(entry.path()), 0700u) << entry.path();
    } else {
      EXPECT_EQ(mode_of(entry.path()), 0600u) << entry.path();
      ++files;
    }
  }
  EXPECT_GE(files, 5u) << "epochs, lock, log segment, snapshot";
}

TEST_F(ReplicaStoreTest, InstallSnapshot_DamagedBytes_Throws) {
  ASSERT_NO_FATAL_FAILURE(open_store());
  EXPECT_THROW(store_->install_snapshot(make_zxid(2, 3), "not a snapshot"), std::runtime_error);
}

}  // namespace
}  // namespace quorumfs
