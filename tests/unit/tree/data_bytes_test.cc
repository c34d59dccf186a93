// The tree's count of data bytes (/metrics' quorumfs_znode_data_bytes) follows every create,
// setData and delete, a failed multi leaves it as it was, and a snapshot's tree has the same.
#include <gtest/gtest.h>

#include "tests/unit/tree/tree_fixture.h"

namespace quorumfs::testing {
namespace {

class DataBytesTest : public ::testing::Test {
 protected:
  Code apply(std::vector<proto::Op> ops) {
    proto::Txn txn;
    for (proto::Op& op : ops) *txn.add_ops() = std::move(op);
    txn.set_time_ns(1);
    return tree_.apply((Zxid{1} << 32) | ++counter_, txn).code;
  }
  DataTree tree_;
  uint64_t counter_ = 0;
};

TEST_F(DataBytesTest, FollowsCreateSetDataAndDelete) {
  const size_t base = tree_.data_bytes();
  ASSERT_EQ(apply({file_op("/a", "12345")}), Code::kOk);
  EXPECT_EQ(tree_.data_bytes(), base + 5);
  ASSERT_EQ(apply({set_data_op("/a", "12")}), Code::kOk);
  EXPECT_EQ(tree_.data_bytes(), base + 2);
  ASSERT_EQ(apply({dir_op("/d"), file_op("/d/b", "xyz")}), Code::kOk);
  EXPECT_EQ(tree_.data_bytes(), base + 5);
  ASSERT_EQ(apply({delete_op("/a")}), Code::kOk);
  EXPECT_EQ(tree_.data_bytes(), base + 3);
}

TEST_F(DataBytesTest, FailedMultiChangesNothing) {
  ASSERT_EQ(apply({file_op("/a", "12345")}), Code::kOk);
  const size_t before = tree_.data_bytes();
  EXPECT_NE(apply({set_data_op("/a", "1234567890"), delete_op("/a"), file_op("/a/c", "x")}), Code::kOk);
  EXPECT_EQ(tree_.data_bytes(), before);
  EXPECT_NE(apply({set_data_op("/a", "1"), check_op("/a", 99)}), Code::kOk);
  EXPECT_EQ(tree_.data_bytes(), before);
}

TEST_F(DataBytesTest, SnapshotLoadCountsTheSame) {
  ASSERT_EQ(apply({file_op("/a", "12345"), dir_op("/d"), file_op("/d/b", "xyz")}), Code::kOk);
  const auto loaded = reload(snapshot_of(tree_));
  ASSERT_NE(loaded, nullptr);
  EXPECT_EQ(loaded->data_bytes(), tree_.data_bytes());
}

}  // namespace
}  // namespace quorumfs::testing
