// Snapshots on disk (daemon/storage/snapshot_store.h): round trips through a real DataTree, the
// newest-only rule with no silent fallback, and background snapshots by fork().
#include "daemon/storage/snapshot_store.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "consensus/snapshot_format.h"
#include "tests/unit/storage/temp_dir.h"

namespace quorumfs {
namespace {

using testing::read_file_bytes;
using testing::TempDir;
using testing::write_file_bytes;

proto::Txn create_txn(std::string_view path, std::string_view data) {
  proto::Txn txn;
  txn.set_time_ns(1'700'000'000'000'000'000);
  txn.mutable_caller()->set_uid(1000);
  txn.mutable_caller()->set_gid(100);
  proto::CreateOp* create = txn.add_ops()->mutable_create();
  create->set_path(std::string(path));
  create->set_data(std::string(data));
  create->mutable_meta()->set_uid(1000);
  create->mutable_meta()->set_gid(100);
  create->mutable_meta()->set_mode(0644);
  return txn;
}

// A tree after txns (1, 1) .. (1, count), each creating "/node-<n>".
std::unique_ptr<DataTree> tree_with(int count) {
  auto tree = std::make_unique<DataTree>();
  for (int n = 1; n <= count; ++n) {
    const ApplyResult result =
        tree->apply(make_zxid(1, n), create_txn("/node-" + std::to_string(n), "data " + std::to_string(n)));
    EXPECT_EQ(result.code, Code::kOk) << code_name(result.code);
  }
  return tree;
}

// Everything the tree would write to a snapshot, as bytes: equal trees give equal strings.
std::string image(const DataTree& tree) {
  std::string bytes;
  tree.write_snapshot([&](const proto::SnapshotHeader& header) { bytes += header.SerializeAsString(); },
                      [&](const proto::SnapshotNode& node) { bytes += node.SerializeAsString(); });
  return bytes;
}

class SnapshotStoreTest : public ::testing::Test {
 protected:
  std::string snapshot_path(Zxid zxid) const { return dir_.file("snap/" + snapshot_format::snapshot_file_name(zxid)); }

  void write(const SnapshotStore& store, const DataTree& tree) {
    std::string error;
    ASSERT_TRUE(store.write(tree, &error)) << error;
  }

  std::string load_error(const SnapshotStore& store) {
    std::string error;
    EXPECT_EQ(store.load_latest(&error), nullptr);
    return error;
  }

  TempDir dir_;
  SnapshotStore store_{dir_.file("snap"), 2};
};

TEST_F(SnapshotStoreTest, LoadLatest_NoSnapshot_GivesFreshTree) {
  std::string error;
  std::unique_ptr<DataTree> tree = store_.load_latest(&error);
  ASSERT_NE(tree, nullptr) << error;
  EXPECT_EQ(tree->last_applied_zxid(), 0);
  EXPECT_EQ(image(*tree), image(DataTree()));
}

TEST_F(SnapshotStoreTest, WriteThenLoad_RebuildsAnEqualTree) {
  auto tree = tree_with(20);
  write(store_, *tree);
  EXPECT_TRUE(std::filesystem::exists(snapshot_path(make_zxid(1, 20))));

  std::string error;
  std::unique_ptr<DataTree> loaded = store_.load_latest(&error);
  ASSERT_NE(loaded, nullptr) << error;
  EXPECT_EQ(loaded->last_applied_zxid(), make_zxid(1, 20));
  EXPECT_EQ(image(*loaded), image(*tree));
  ASSERT_NE(loaded->find("/node-7"), nullptr);
  EXPECT_EQ(loaded->find("/node-7")->data(), "data 7");
}

TEST_F(SnapshotStoreTest, LoadLatest_PicksTheNewestByZxid) {
  write(store_, *tree_with(3));
  write(store_, *tree_with(5));
  write(store_, *tree_with(4));
  std::string error;
  std::unique_ptr<DataTree> loaded = store_.load_latest(&error);
  ASSERT_NE(loaded, nullptr) << error;
  EXPECT_EQ(loaded->last_applied_zxid(), make_zxid(1, 5));
}

TEST_F(SnapshotStoreTest, LoadLatest_CorruptNewest_FailsNamingFileAndOffsetWithoutFallback) {
  write(store_, *tree_with(3));
  write(store_, *tree_with(5));
  const std::string newest = snapshot_path(make_zxid(1, 5));
  std::string bytes = read_file_bytes(newest);
  bytes[bytes.size() / 2] ^= 0x01;
  write_file_bytes(newest, bytes);

  const std::string error = load_error(store_);
  EXPECT_NE(error.find(newest + ": "), std::string::npos) << error;
  EXPECT_NE(error.find(" at offset "), std::string::npos) << error;
}

TEST_F(SnapshotStoreTest, LoadLatest_TruncatedSnapshot_Fails) {
  write(store_, *tree_with(5));
  const std::string path = snapshot_path(make_zxid(1, 5));
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 7);
  const std::string error = load_error(store_);
  EXPECT_NE(error.find(path + ": file ends inside the trailer (13 of 20 bytes) at offset"), std::string::npos) << error;
}

TEST_F(SnapshotStoreTest, LoadLatest_RenamedSnapshot_FailsOnZxidMismatch) {
  write(store_, *tree_with(5));
  std::filesystem::rename(snapshot_path(make_zxid(1, 5)), snapshot_path(make_zxid(1, 9)));
  const std::string error = load_error(store_);
  EXPECT_NE(error.find(snapshot_path(make_zxid(1, 9)) + ": header zxid 0x0000000100000005 does not match the file name at offset 16"),
            std::string::npos)
      << error;
}

TEST_F(SnapshotStoreTest, LoadLatest_NotASnapshot_FailsAtOffsetZero) {
  write(store_, *tree_with(1));
  write_file_bytes(snapshot_path(make_zxid(1, 1)), "garbage that is long enough to hold a header");
  const std::string error = load_error(store_);
  EXPECT_NE(error.find("bad magic (not a quorumfs snapshot) at offset 0"), std::string::npos) << error;
}

TEST_F(SnapshotStoreTest, LoadLatest_LeftoverTempFile_IsIgnoredAndRemoved) {
  write(store_, *tree_with(2));
  const std::string leftover = snapshot_path(make_zxid(1, 9)) + ".tmp";
  write_file_bytes(leftover, "half a snapshot");
  std::string error;
  std::unique_ptr<DataTree> loaded = store_.load_latest(&error);
  ASSERT_NE(loaded, nullptr) << error;
  EXPECT_EQ(loaded->last_applied_zxid(), make_zxid(1, 2));
  EXPECT_FALSE(std::filesystem::exists(leftover));
}

TEST_F(SnapshotStoreTest, Background_WritesSnapshotAndKeepsOnlyRetainCount) {
  for (int count : {1, 2, 3}) {
    auto tree = tree_with(count);
    const pid_t child = store_.start_background(*tree);
    ASSERT_GT(child, 0);
    Zxid oldest_kept = 0;
    std::string error;
    ASSERT_TRUE(store_.finish_background(child, &oldest_kept, &error)) << error;
    EXPECT_EQ(oldest_kept, make_zxid(1, std::max(1, count - 1)));
  }
  std::string error;
  EXPECT_EQ(store_.snapshot_zxids(&error), (std::vector<Zxid>{make_zxid(1, 2), make_zxid(1, 3)}));
  std::unique_ptr<DataTree> loaded = store_.load_latest(&error);
  ASSERT_NE(loaded, nullptr) << error;
  EXPECT_EQ(image(*loaded), image(*tree_with(3)));
}

TEST_F(SnapshotStoreTest, Background_ChildFails_ReportsIt) {
  write_file_bytes(dir_.file("not-a-dir"), "x");
  SnapshotStore store(dir_.file("not-a-dir/snap"));
  const pid_t child = store.start_background(*tree_with(1));
  ASSERT_GT(child, 0);
  Zxid oldest_kept = 0;
  std::string error;
  EXPECT_FALSE(store.finish_background(child, &oldest_kept, &error));
  EXPECT_NE(error.find("failed with exit status 1"), std::string::npos) << error;
}

TEST_F(SnapshotStoreTest, Write_IntoUnusableDir_FailsWithPath) {
  write_file_bytes(dir_.file("not-a-dir"), "x");
  SnapshotStore store(dir_.file("not-a-dir/snap"));
  std::string error;
  EXPECT_FALSE(store.write(*tree_with(1), &error));
  EXPECT_NE(error.find("not-a-dir/snap"), std::string::npos) << error;
}

// ---- Snapshots sent to a learner (Zab's SNAP)

TEST_F(SnapshotStoreTest, EncodeThenInstall_GivesTheSameTreeDurablyUnderItsZxid) {
  std::unique_ptr<DataTree> tree = tree_with(4);
  std::string bytes;
  std::string error;
  ASSERT_TRUE(SnapshotStore::encode(*tree, &bytes, &error)) << error;
  SnapshotStore learner(dir_.file("learner"));
  std::unique_ptr<DataTree> installed = learner.install(make_zxid(1, 4), bytes, &error);
  ASSERT_NE(installed, nullptr) << error;
  EXPECT_EQ(image(*installed), image(*tree));
  EXPECT_EQ(learner.snapshot_zxids(&error), (std::vector<Zxid>{make_zxid(1, 4)}));
  std::unique_ptr<DataTree> loaded = learner.load_latest(&error);
  ASSERT_NE(loaded, nullptr) << error;
  EXPECT_EQ(image(*loaded), image(*tree));
}

TEST_F(SnapshotStoreTest, Check_AcceptsWhatInstallTakesAndNothingElse) {
  std::string bytes;
  std::string error;
  ASSERT_TRUE(SnapshotStore::encode(*tree_with(3), &bytes, &error)) << error;
  EXPECT_TRUE(SnapshotStore::check(make_zxid(1, 3), bytes, &error)) << error;
  EXPECT_FALSE(SnapshotStore::check(make_zxid(1, 4), bytes, &error)) << "another zxid";
  std::string damaged = bytes;
  damaged[damaged.size() / 2] ^= 0x5a;
  EXPECT_FALSE(SnapshotStore::check(make_zxid(1, 3), damaged, &error));
  EXPECT_NE(error.find("snapshot from the leader"), std::string::npos) << error;
  EXPECT_FALSE(SnapshotStore::check(make_zxid(1, 3), bytes.substr(0, bytes.size() - 1), &error)) << "cut short";
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_.path()), {}), 0) << "nothing written";
}

TEST_F(SnapshotStoreTest, Install_DamagedBytes_RefusedAndNothingWritten) {
  std::string bytes;
  std::string error;
  ASSERT_TRUE(SnapshotStore::encode(*tree_with(3), &bytes, &error)) << error;
  bytes[bytes.size() / 2] ^= 0x5a;
  SnapshotStore learner(dir_.file("learner"));
  EXPECT_EQ(learner.install(make_zxid(1, 3), bytes, &error), nullptr);
  EXPECT_FALSE(error.empty());
  std::string list_error;
  EXPECT_TRUE(learner.snapshot_zxids(&list_error).empty());
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_.file("learner")), {}), 0);
}

TEST_F(SnapshotStoreTest, RemoveNewerThan_KeepsThoseAtOrBelow) {
  SnapshotStore store(dir_.file("cut"), 5);
  std::string error;
  for (int count : {1, 2, 3}) ASSERT_TRUE(store.write(*tree_with(count), &error)) << error;
  ASSERT_TRUE(store.remove_newer_than(make_zxid(1, 2), &error)) << error;
  EXPECT_EQ(store.snapshot_zxids(&error), (std::vector<Zxid>{make_zxid(1, 1), make_zxid(1, 2)}));
}

}  // namespace
}  // namespace quorumfs
