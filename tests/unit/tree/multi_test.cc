// Multi-op txns: all or nothing, later ops seeing earlier ones, and the rename shape that reuses
// the source's inode.
#include <gtest/gtest.h>

#include "tests/unit/tree/tree_fixture.h"

namespace quorumfs::testing {
namespace {

class MultiTest : public TreeTest {
 protected:
  void SetUp() override {
    must(dir_op("/src"));
    must(dir_op("/dst"));
    must(file_op("/src/a", "payload"));
    source_inode = node("/src/a").inode();
  }
  // The create half of a rename of /src/a: same data, same inode.
  proto::Op move_create(std::string_view target) {
    proto::Op op = file_op(target, "payload");
    op.mutable_create()->set_inode(source_inode);
    return op;
  }
  void expect_multi_failure(std::vector<proto::Op> ops, Code expected) {
    std::string before = dump(tree);
    ApplyResult result = apply(ops);
    EXPECT_EQ(result.code, expected) << code_name(result.code);
    EXPECT_TRUE(result.ops.empty());
    EXPECT_TRUE(result.changes.empty());
    EXPECT_EQ(tree.last_applied_zxid(), zxid);
    EXPECT_EQ(dump(tree), before);
  }
  uint64_t source_inode = 0;
};

TEST_F(MultiTest, RenameShape_MovesNodeKeepingItsInode) {
  ApplyResult result = apply({move_create("/dst/b"), delete_op("/src/a", 0)});
  ASSERT_EQ(result.code, Code::kOk) << code_name(result.code);
  EXPECT_EQ(tree.find("/src/a"), nullptr);
  const Node& moved = node("/dst/b");
  EXPECT_EQ(moved.inode(), source_inode);
  EXPECT_EQ(moved.data(), "payload");
  EXPECT_EQ(tree.by_inode(source_inode), &moved);
  EXPECT_EQ(tree.node_count(), 5u);
  ASSERT_EQ(result.ops.size(), 2u);
  EXPECT_EQ(result.ops[0].path, "/dst/b");
  ASSERT_EQ(result.changes.size(), 2u);
  EXPECT_EQ(result.changes[0].kind, Change::Kind::kCreated);
  EXPECT_EQ(result.changes[0].parent_inode, node("/dst").inode());
  EXPECT_EQ(result.changes[1].kind, Change::Kind::kDeleted);
  EXPECT_EQ(result.changes[1].parent_inode, node("/src").inode());
  EXPECT_EQ(result.changes[1].inode, source_inode);
  // The next fresh inode is untouched by the reuse.
  must(file_op("/fresh"));
  EXPECT_EQ(node("/fresh").inode(), source_inode + 1);
}

TEST_F(MultiTest, RenameShape_DeleteSourceFirst_AlsoWorks) {
  ApplyResult result = apply({delete_op("/src/a"), move_create("/dst/b")});
  ASSERT_EQ(result.code, Code::kOk) << code_name(result.code);
  EXPECT_EQ(tree.by_inode(source_inode), &node("/dst/b"));
  EXPECT_EQ(tree.find("/src/a"), nullptr);
}

TEST_F(MultiTest, RenameShape_ReplacingTarget_DeletesOldTarget) {
  must(file_op("/dst/b", "old"));
  uint64_t old_target = node("/dst/b").inode();
  ApplyResult result = apply({delete_op("/dst/b"), move_create("/dst/b"), delete_op("/src/a")});
  ASSERT_EQ(result.code, Code::kOk) << code_name(result.code);
  EXPECT_EQ(node("/dst/b").data(), "payload");
  EXPECT_EQ(node("/dst/b").inode(), source_inode);
  EXPECT_EQ(tree.by_inode(old_target), nullptr);
  EXPECT_EQ(result.changes.size(), 3u);
}

TEST_F(MultiTest, RenameShape_LastOpFails_LeavesTreeIntact) {
  must(file_op("/dst/b", "old"));
  expect_multi_failure({delete_op("/dst/b"), move_create("/dst/b"), delete_op("/src/a", 5)},
                       Code::kBadVersion);
  EXPECT_EQ(node("/dst/b").data(), "old");
  EXPECT_EQ(tree.by_inode(source_inode), &node("/src/a"));
  EXPECT_EQ(tree.by_inode(node("/dst/b").inode()), &node("/dst/b"));
}

TEST_F(MultiTest, RenameShape_SourceGoneAlready_FailsNoNodeAndChangesNothing) {
  must(delete_op("/src/a"));
  proto::Op create = file_op("/dst/b");
  expect_multi_failure({create, delete_op("/src/a")}, Code::kNoNode);
  EXPECT_EQ(tree.find("/dst/b"), nullptr);
}

TEST_F(MultiTest, ReusedInodeStillHeldAtEnd_FailsBadArguments) {
  expect_multi_failure({move_create("/dst/b")}, Code::kBadArguments);
  expect_multi_failure({move_create("/dst/b"), move_create("/dst/c"), delete_op("/src/a")},
                       Code::kBadArguments);
  EXPECT_EQ(tree.by_inode(source_inode), &node("/src/a"));
}

TEST_F(MultiTest, ReusedInodeCreatedThenDeleted_LeavesSourceIndexed) {
  ApplyResult result = apply({move_create("/dst/b"), delete_op("/dst/b"), check_op("/src/a", 0)});
  ASSERT_EQ(result.code, Code::kOk) << code_name(result.code);
  EXPECT_EQ(tree.by_inode(source_inode), &node("/src/a"));
}

TEST_F(MultiTest, ReusedInodeTakenTwice_OneHolderLeft_IndexesIt) {
  ApplyResult result =
      apply({move_create("/dst/b"), delete_op("/dst/b"), move_create("/dst/c"), delete_op("/src/a")});
  ASSERT_EQ(result.code, Code::kOk) << code_name(result.code);
  EXPECT_EQ(tree.by_inode(source_inode), &node("/dst/c"));
  // c still holds it at the end, and so does e.
  expect_multi_failure({move_create("/dst/d"), move_create("/dst/e"), delete_op("/dst/d")}, Code::kBadArguments);
  EXPECT_EQ(tree.by_inode(source_inode), &node("/dst/c"));
}

TEST_F(MultiTest, Check_OfReusedInodeCreateAlone_Passes) {
  EXPECT_EQ(tree.check(move_create("/dst/b"), caller), Code::kOk);
}

TEST_F(MultiTest, LaterOps_SeeEarlierOps) {
  ApplyResult result =
      apply({dir_op("/new"), file_op("/new/f", "1"), set_data_op("/new/f", "2", 0), check_op("/new/f", 1)});
  ASSERT_EQ(result.code, Code::kOk) << code_name(result.code);
  EXPECT_EQ(node("/new/f").data(), "2");
  EXPECT_EQ(result.ops.size(), 4u);
  EXPECT_EQ(result.changes.size(), 3u);
}

TEST_F(MultiTest, CreateThenDeleteInOneTxn_LeavesNoTrace) {
  ApplyResult result = apply({file_op("/src/t"), delete_op("/src/t")});
  ASSERT_EQ(result.code, Code::kOk);
  EXPECT_EQ(tree.find("/src/t"), nullptr);
  EXPECT_EQ(node("/src").stat().cversion, 2);
}

TEST_F(MultiTest, FailureAfterEveryKindOfOp_RestoresEverything) {
  must(create_session_op(5));
  proto::Op ephemeral = file_op("/src/e");
  ephemeral.mutable_create()->set_ephemeral_owner(5);
  must(ephemeral);
  proto::Op meta = set_meta_op("/src/a");
  meta.mutable_set_meta()->mutable_meta()->set_mode(0600);
  proto::Op sequential = file_op("/dst/s-");
  sequential.mutable_create()->set_sequential(true);
  expect_multi_failure({set_data_op("/src/a", "changed"), set_acl_op("/src/a", "uid:1000:cdrwa"), meta, sequential,
                        dir_op("/dst/d"), file_op("/dst/d/f"), close_session_op(5), delete_op("/dst/d/f"),
                        delete_op("/nothing")},
                       Code::kNoNode);
  EXPECT_EQ(tree.sessions(), std::vector<uint64_t>{5});
  EXPECT_EQ(format_acl(node("/src/a").acl()), kOpenAclText);
  // The inode counter went back too: the next create gets what the failed one got.
  must(file_op("/after"));
  EXPECT_EQ(node("/after").inode(), node("/src/e").inode() + 1);
}

TEST_F(MultiTest, FailedMulti_ReportsFirstFailingCode) {
  expect_multi_failure({file_op("/src/a"), delete_op("/nothing")}, Code::kNodeExists);
}

}  // namespace
}  // namespace quorumfs::testing
