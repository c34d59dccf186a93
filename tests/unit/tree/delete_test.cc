#include <gtest/gtest.h>

#include "tests/unit/tree/tree_fixture.h"

namespace quorumfs::testing {
namespace {

class DeleteTest : public TreeTest {
 protected:
  void SetUp() override {
    must(dir_op("/d"));
    must(file_op("/d/f", "data"));
  }
  proto::Op rmdir_op(std::string_view path) {
    proto::Op op = delete_op(path);
    op.mutable_remove()->set_must_be_directory(true);
    return op;
  }
  proto::Op unlink_op(std::string_view path) {
    proto::Op op = delete_op(path);
    op.mutable_remove()->set_must_be_file(true);
    return op;
  }
};

TEST_F(DeleteTest, Delete_File_RemovesItAndReportsChange) {
  uint64_t inode = node("/d/f").inode();
  uint64_t parent_inode = node("/d").inode();
  ApplyResult result = apply({unlink_op("/d/f")});
  ASSERT_EQ(result.code, Code::kOk);
  EXPECT_EQ(tree.find("/d/f"), nullptr);
  EXPECT_EQ(tree.by_inode(inode), nullptr);
  EXPECT_EQ(node("/d").num_children(), 0u);
  EXPECT_EQ(tree.node_count(), 3u);
  ASSERT_EQ(result.ops.size(), 1u);
  EXPECT_EQ(result.ops[0].path, "/d/f");
  EXPECT_EQ(result.ops[0].inode, inode);
  ASSERT_EQ(result.changes.size(), 1u);
  EXPECT_EQ(result.changes[0].kind, Change::Kind::kDeleted);
  EXPECT_EQ(result.changes[0].inode, inode);
  EXPECT_EQ(result.changes[0].parent_inode, parent_inode);
  EXPECT_EQ(result.changes[0].name, "f");
  EXPECT_FALSE(result.changes[0].directory);
}

TEST_F(DeleteTest, Delete_MovesParentPzxidAndTimesButNotCversion) {
  Stat before = node("/d").stat();
  must(delete_op("/d/f"));
  const Stat& after = node("/d").stat();
  EXPECT_EQ(after.cversion, before.cversion);
  EXPECT_EQ(after.pzxid, zxid);
  EXPECT_EQ(after.mzxid, before.mzxid);
  EXPECT_EQ(after.version, before.version);
  EXPECT_EQ(node("/d").attrs().mtime_ns, time_ns);
  EXPECT_EQ(node("/d").attrs().ctime_ns, time_ns);
}

TEST_F(DeleteTest, Delete_EmptyDirectory_Succeeds) {
  must(delete_op("/d/f"));
  ApplyResult result = apply({rmdir_op("/d")});
  ASSERT_EQ(result.code, Code::kOk);
  EXPECT_TRUE(result.changes[0].directory);
  EXPECT_EQ(tree.find("/d"), nullptr);
}

TEST_F(DeleteTest, Delete_Missing_FailsNoNode) {
  expect_failure(delete_op("/d/g"), Code::kNoNode);
  expect_failure(delete_op("/x/y"), Code::kNoNode);
}

TEST_F(DeleteTest, Delete_Root_FailsBadArguments) { expect_failure(delete_op("/"), Code::kBadArguments); }

TEST_F(DeleteTest, Delete_BadPath_FailsBadArguments) {
  expect_failure(delete_op("/d/f/"), Code::kBadArguments);
  expect_failure(delete_op("d/f"), Code::kBadArguments);
}

TEST_F(DeleteTest, Delete_Zookeeper_FailsReadOnly) {
  expect_failure(delete_op("/zookeeper"), Code::kReadOnly);
  expect_failure(delete_op("/zookeeper/quota"), Code::kReadOnly);
}

TEST_F(DeleteTest, Delete_WithoutDeletePermissionOnParent_FailsNoAuth) {
  must(set_acl_op("/d", "world:anyone:crwa"));
  must(set_acl_op("/d/f", "world:anyone:cdrwa"));
  expect_failure(delete_op("/d/f"), Code::kNoAuth);
  EXPECT_EQ(apply_one(delete_op("/d/f"), user(0)), Code::kOk);
}

TEST_F(DeleteTest, Delete_WrongVersion_FailsBadVersion) {
  must(set_data_op("/d/f", "v1"));
  expect_failure(delete_op("/d/f", 0), Code::kBadVersion);
  must(delete_op("/d/f", 1));
}

TEST_F(DeleteTest, Delete_NonEmptyDirectory_FailsNotEmpty) {
  expect_failure(delete_op("/d"), Code::kNotEmpty);
  expect_failure(rmdir_op("/d"), Code::kNotEmpty);
}

TEST_F(DeleteTest, Rmdir_OfFile_FailsNotDirectory) { expect_failure(rmdir_op("/d/f"), Code::kNotDirectory); }

TEST_F(DeleteTest, Unlink_OfDirectory_FailsIsDirectory) {
  expect_failure(unlink_op("/d"), Code::kIsDirectory);
  must(dir_op("/e"));
  expect_failure(unlink_op("/e"), Code::kIsDirectory);
}

TEST_F(DeleteTest, Delete_ThenCreateSameName_GetsNewInode) {
  uint64_t old_inode = node("/d/f").inode();
  must(delete_op("/d/f"));
  must(file_op("/d/f"));
  EXPECT_NE(node("/d/f").inode(), old_inode);
  EXPECT_EQ(node("/d").stat().cversion, 2);
}

// The mount keeps serving descriptors of a deleted file from its last state (docs/mount.md,
// "Deleted while open"): the change hands it over, moved out of the node, never copied.
TEST_F(DeleteTest, Delete_HandsTheNodesLastStateToItsChange_WithoutCopyingTheData) {
  must(set_data_op("/d/f", std::string(1 << 20, 'x')));
  const char* bytes = node("/d/f").data().data();
  const Stat stat = node("/d/f").stat();
  const PosixAttrs attrs = node("/d/f").attrs();
  ApplyResult result = apply({unlink_op("/d/f")});
  ASSERT_EQ(result.code, Code::kOk);
  ASSERT_EQ(result.changes.size(), 1u);
  ASSERT_NE(result.changes[0].deleted, nullptr);
  const DeletedNode& deleted = *result.changes[0].deleted;
  EXPECT_EQ(deleted.data.view().data(), bytes);
  EXPECT_EQ(deleted.data.view(), std::string(1 << 20, 'x'));
  EXPECT_EQ(deleted.stat.version, stat.version);
  EXPECT_EQ(deleted.stat.czxid, stat.czxid);
  EXPECT_EQ(deleted.attrs.mode, attrs.mode);
  EXPECT_EQ(deleted.attrs.mtime_ns, attrs.mtime_ns);
}

// Each node a multi deletes comes with its own state, in the order of the changes.
TEST_F(DeleteTest, Delete_OfEveryNodeOfAMulti_HandsEachItsOwnState) {
  must(file_op("/d/g", "other"));
  ApplyResult result = apply({delete_op("/d/g"), delete_op("/d/f")});
  ASSERT_EQ(result.code, Code::kOk);
  ASSERT_EQ(result.changes.size(), 2u);
  ASSERT_NE(result.changes[0].deleted, nullptr);
  ASSERT_NE(result.changes[1].deleted, nullptr);
  EXPECT_EQ(result.changes[0].deleted->data.view(), "other");
  EXPECT_EQ(result.changes[1].deleted->data.view(), "data");
}

// A directory's st_nlink (2 + its subdirectories) is answered from this count in O(1).
TEST_F(DeleteTest, SubdirectoryCount_FollowsCreatesDeletesAndFailedTxns) {
  must(dir_op("/s"));
  must(dir_op("/s/a"));
  must(dir_op("/s/b"));
  must(file_op("/s/f"));
  EXPECT_EQ(node("/s").num_subdirectories(), 2u);
  EXPECT_EQ(node("/s").num_children(), 3u);
  must(delete_op("/s/a"));
  EXPECT_EQ(node("/s").num_subdirectories(), 1u);
  // A multi that fails after deleting /s/b is rolled back: the count comes back too.
  EXPECT_NE(apply({delete_op("/s/b"), delete_op("/s/missing")}).code, Code::kOk);
  EXPECT_EQ(node("/s").num_subdirectories(), 1u);
  must(delete_op("/s/b"));
  EXPECT_EQ(node("/s").num_subdirectories(), 0u);
  EXPECT_EQ(node("/s/f").num_subdirectories(), 0u);
}

}  // namespace
}  // namespace quorumfs::testing
