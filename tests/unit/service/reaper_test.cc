// The containers and TTL nodes the leader removes, and how its deletes meet concurrent writes.
#include "daemon/service/reaper.h"

#include <gtest/gtest.h>

#include "tests/unit/tree/tree_fixture.h"

namespace quorumfs::service {
namespace {

using quorumfs::testing::create_op;
using quorumfs::testing::delete_op;
using quorumfs::testing::dir_op;
using quorumfs::testing::file_op;
using quorumfs::testing::set_data_op;

proto::Op container_op(std::string_view path) {
  proto::Op op = create_op(path, true);
  op.mutable_create()->set_container(true);
  return op;
}

proto::Op ttl_op(std::string_view path, int64_t ttl_ms) {
  proto::Op op = create_op(path, true);
  op.mutable_create()->set_ttl_ms(ttl_ms);
  return op;
}

class ReaperTest : public quorumfs::testing::TreeTest {
 protected:
  // The wall clock in ms, as the last txn's time: each txn of the fixture is a second later.
  int64_t now_ms() const { return time_ns / 1'000'000; }

  std::vector<std::string> due_paths(int64_t now, size_t max = 1000) {
    std::vector<std::string> paths;
    for (const proto::Txn& txn : due_for_removal(tree, now, max)) {
      EXPECT_EQ(txn.ops_size(), 1);
      paths.push_back(txn.ops(0).remove().path());
    }
    return paths;
  }

  Code apply_txn(const proto::Txn& txn) {
    proto::Txn copy = txn;
    copy.set_time_ns(next_time_ns());
    return tree.apply(++zxid, copy).code;
  }
};

TEST_F(ReaperTest, Container_IsDueOnceItHadAChildAndHasNoneLeft) {
  must(container_op("/c"));
  EXPECT_TRUE(due_paths(now_ms()).empty()) << "never had a child";
  must(file_op("/c/a"));
  must(file_op("/c/b"));
  must(delete_op("/c/a"));
  EXPECT_TRUE(due_paths(now_ms()).empty()) << "still has one";
  must(delete_op("/c/b"));
  std::vector<proto::Txn> txns = due_for_removal(tree, now_ms(), 1000);
  ASSERT_EQ(txns.size(), 1u);
  EXPECT_EQ(txns[0].ops(0).remove().path(), "/c");
  EXPECT_EQ(txns[0].ops(0).remove().expected_version(), 0);
  EXPECT_EQ(apply_txn(txns[0]), Code::kOk);
  EXPECT_EQ(tree.find("/c"), nullptr);
  EXPECT_TRUE(due_paths(now_ms()).empty());
}

TEST_F(ReaperTest, TtlNode_IsDueOnceChildlessAndUnchangedForItsTtl) {
  must(ttl_op("/t", 5000));
  const int64_t created_ms = node("/t").stat().mtime_ms;
  EXPECT_TRUE(due_paths(created_ms + 5000).empty());
  EXPECT_EQ(due_paths(created_ms + 5001), std::vector<std::string>{"/t"});
  must(file_op("/t/child"));
  EXPECT_TRUE(due_paths(created_ms + 60000).empty()) << "a child keeps it";
  must(delete_op("/t/child"));
  must(set_data_op("/t", "touched"));
  const int64_t changed_ms = node("/t").stat().mtime_ms;
  EXPECT_TRUE(due_paths(changed_ms + 5000).empty()) << "its setData counts from then";
  EXPECT_EQ(due_paths(changed_ms + 5001), std::vector<std::string>{"/t"});
}

TEST_F(ReaperTest, OtherNodes_AreNeverDue) {
  must(dir_op("/d"));
  must(file_op("/f"));
  must(create_op("/empty", true));
  must(quorumfs::testing::create_session_op(uint64_t{1} << 56 | 1));
  proto::Op ephemeral = file_op("/e");
  ephemeral.mutable_create()->set_ephemeral_owner(uint64_t{1} << 56 | 1);
  must(ephemeral);
  EXPECT_TRUE(due_paths(now_ms() + 1'000'000'000).empty());
}

TEST_F(ReaperTest, ASetDataOrderedBeforeTheDelete_Wins) {
  must(ttl_op("/t", 1));
  std::vector<proto::Txn> txns = due_for_removal(tree, now_ms() + 2, 1000);
  ASSERT_EQ(txns.size(), 1u);
  must(set_data_op("/t", "still here"));
  EXPECT_EQ(apply_txn(txns[0]), Code::kBadVersion);
  EXPECT_NE(tree.find("/t"), nullptr);
}

TEST_F(ReaperTest, ACreateOrderedBeforeTheDelete_MakesItFailNotEmpty) {
  must(container_op("/c"));
  must(file_op("/c/a"));
  must(delete_op("/c/a"));
  std::vector<proto::Txn> txns = due_for_removal(tree, now_ms(), 1000);
  ASSERT_EQ(txns.size(), 1u);
  must(file_op("/c/b"));
  EXPECT_EQ(apply_txn(txns[0]), Code::kNotEmpty);
  EXPECT_NE(tree.find("/c/b"), nullptr);
}

// Whatever the ACL: the leader removes them as the server, as ZooKeeper's deleteContainer does.
TEST_F(ReaperTest, TheDelete_PassesAnyAcl) {
  must(dir_op("/locked"));
  must(ttl_op("/locked/t", 1));
  must(quorumfs::testing::set_acl_op("/locked", "uid:4242:r"));
  std::vector<proto::Txn> txns = due_for_removal(tree, now_ms() + 2, 1000);
  ASSERT_EQ(txns.size(), 1u);
  EXPECT_EQ(apply_txn(txns[0]), Code::kOk);
}

TEST_F(ReaperTest, ARound_TakesAtMostMaxLowestInodesFirst) {
  for (const char* path : {"/t3", "/t1", "/t2"}) must(ttl_op(path, 1));
  EXPECT_EQ(due_paths(now_ms() + 2, 2), (std::vector<std::string>{"/t3", "/t1"}));
  EXPECT_EQ(due_paths(now_ms() + 2), (std::vector<std::string>{"/t3", "/t1", "/t2"}));
}

}  // namespace
}  // namespace quorumfs::service
