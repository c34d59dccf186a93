#include <gtest/gtest.h>

#include "tests/unit/tree/tree_fixture.h"

namespace quorumfs::testing {
namespace {

proto::Op sequential(proto::Op op) {
  op.mutable_create()->set_sequential(true);
  return op;
}

proto::Op ephemeral(proto::Op op, uint64_t session) {
  op.mutable_create()->set_ephemeral_owner(session);
  return op;
}

class SequentialTest : public TreeTest {
 protected:
  void SetUp() override { must(dir_op("/q")); }
  std::string create_sequential(std::string_view path) {
    ApplyResult result = apply({sequential(file_op(path))});
    EXPECT_EQ(result.code, Code::kOk) << code_name(result.code);
    return result.ops.empty() ? "" : result.ops[0].path;
  }
};

TEST_F(SequentialTest, Sequential_AppendsParentCversionInTenDigits) {
  EXPECT_EQ(create_sequential("/q/job-"), "/q/job-0000000000");
  EXPECT_EQ(create_sequential("/q/job-"), "/q/job-0000000001");
  EXPECT_EQ(create_sequential("/q/lock-"), "/q/lock-0000000002");
  EXPECT_NE(tree.find("/q/job-0000000001"), nullptr);
  EXPECT_EQ(tree.find("/q/job-"), nullptr);
}

TEST_F(SequentialTest, Sequential_DeletesDoNotMoveTheCounter) {
  create_sequential("/q/job-");
  must(delete_op("/q/job-0000000000"));
  EXPECT_EQ(node("/q").stat().cversion, 1);
  EXPECT_EQ(create_sequential("/q/job-"), "/q/job-0000000001");
}

TEST_F(SequentialTest, Sequential_PlainCreatesMoveTheCounter) {
  must(file_op("/q/plain"));
  EXPECT_EQ(create_sequential("/q/job-"), "/q/job-0000000001");
}

TEST_F(SequentialTest, Sequential_EmptyBase_IsJustTheNumber) {
  EXPECT_EQ(create_sequential("/q/"), "/q/0000000000");
  EXPECT_EQ(create_sequential("/"), "/0000000001");
}

TEST_F(SequentialTest, Sequential_DirectoryNode_GetsSuffixToo) {
  ApplyResult result = apply({sequential(dir_op("/q/d-"))});
  ASSERT_EQ(result.code, Code::kOk);
  EXPECT_EQ(result.ops[0].path, "/q/d-0000000000");
  EXPECT_TRUE(node("/q/d-0000000000").is_directory());
  EXPECT_EQ(result.changes[0].name, "d-0000000000");
}

TEST_F(SequentialTest, Sequential_NameTooLongWithSuffix_FailsNameTooLong) {
  expect_failure(sequential(file_op("/q/" + std::string(250, 'n'))), Code::kNameTooLong);
  EXPECT_EQ(create_sequential("/q/" + std::string(245, 'n')).size(), 3u + 255u);
}

TEST_F(SequentialTest, Sequential_UnderZookeeper_FailsReadOnly) {
  expect_failure(sequential(file_op("/zookeeper/")), Code::kReadOnly);
  EXPECT_EQ(create_sequential("/zookeeper"), "/zookeeper0000000001");
}

TEST_F(SequentialTest, Sequential_TakenName_FailsNodeExists) {
  must(file_op("/q/job-0000000001"));
  expect_failure(sequential(file_op("/q/job-")), Code::kNodeExists);
}

TEST_F(SequentialTest, Sequential_AfterMaxInt_WrapsNegativeAsZooKeeper) {
  SnapshotRecords records = snapshot_of(tree);
  for (proto::SnapshotNode& record : records.nodes) {
    if (record.name() == "q") record.set_cversion(2147483647);
  }
  std::string error;
  std::unique_ptr<DataTree> loaded = load(records, &error);
  ASSERT_NE(loaded, nullptr) << error;
  proto::Txn txn;
  *txn.add_ops() = sequential(file_op("/q/x-"));
  ApplyResult first = loaded->apply(++zxid, txn);
  ApplyResult second = loaded->apply(++zxid, txn);
  ASSERT_EQ(first.code, Code::kOk);
  ASSERT_EQ(second.code, Code::kOk);
  EXPECT_EQ(first.ops[0].path, "/q/x-2147483647");
  EXPECT_EQ(second.ops[0].path, "/q/x--2147483648");
  EXPECT_EQ(loaded->find("/q")->stat().cversion, -2147483647);
}

class EphemeralTest : public TreeTest {
 protected:
  void SetUp() override {
    must(create_session_op(7));
    must(create_session_op(9));
  }
};

TEST_F(EphemeralTest, Ephemeral_IsIndexedBySession) {
  must(dir_op("/members"));
  must(ephemeral(file_op("/members/a"), 7));
  must(ephemeral(file_op("/members/b"), 7));
  must(ephemeral(file_op("/members/c"), 9));
  must(file_op("/members/persistent"));
  EXPECT_EQ(tree.sessions(), (std::vector<uint64_t>{7, 9}));
  EXPECT_EQ(node("/members/a").stat().ephemeral_owner, 7u);
  EXPECT_EQ(node("/members/persistent").stat().ephemeral_owner, 0u);
}

TEST_F(EphemeralTest, Delete_LastEphemeralOfSession_DropsSession) {
  must(ephemeral(file_op("/a"), 7));
  must(delete_op("/a"));
  EXPECT_TRUE(tree.sessions().empty());
}

TEST_F(EphemeralTest, CloseSession_DeletesOnlyThatSessionsNodes) {
  must(dir_op("/m"));
  must(ephemeral(file_op("/m/a"), 7));
  must(ephemeral(sequential(file_op("/m/lock-")), 7));
  must(ephemeral(file_op("/b"), 7));
  must(ephemeral(file_op("/m/other"), 9));
  uint64_t a_inode = node("/m/a").inode();
  Stat before = node("/m").stat();
  ApplyResult result = apply({close_session_op(7)});
  ASSERT_EQ(result.code, Code::kOk);
  EXPECT_EQ(tree.find("/m/a"), nullptr);
  EXPECT_EQ(tree.find("/m/lock-0000000001"), nullptr);
  EXPECT_EQ(tree.find("/b"), nullptr);
  EXPECT_NE(tree.find("/m/other"), nullptr);
  EXPECT_EQ(tree.sessions(), std::vector<uint64_t>{9});
  ASSERT_EQ(result.changes.size(), 3u);
  // In inode order, the same on every replica.
  EXPECT_EQ(result.changes[0].inode, a_inode);
  EXPECT_EQ(result.changes[0].name, "a");
  EXPECT_EQ(result.changes[1].name, "lock-0000000001");
  EXPECT_EQ(result.changes[2].name, "b");
  for (const Change& change : result.changes) EXPECT_EQ(change.kind, Change::Kind::kDeleted);
  const Stat& after = node("/m").stat();
  EXPECT_EQ(after.pzxid, zxid);
  EXPECT_EQ(after.cversion, before.cversion);
  EXPECT_EQ(node("/m").attrs().mtime_ns, time_ns);
  EXPECT_EQ(tree.root().stat().pzxid, zxid);
}

TEST_F(EphemeralTest, CloseSession_WithoutEphemerals_SucceedsWithNoChanges) {
  must(file_op("/f"));
  std::string before = dump(tree);
  ApplyResult result = apply({close_session_op(42)});
  EXPECT_EQ(result.code, Code::kOk);
  EXPECT_TRUE(result.changes.empty());
  EXPECT_EQ(dump(tree), before);
  EXPECT_EQ(tree.check(close_session_op(42), caller), Code::kOk);
}

TEST_F(EphemeralTest, CloseSession_IgnoresAcl) {
  must(dir_op("/m"));
  must(ephemeral(file_op("/m/a"), 7));
  must(set_acl_op("/m", "uid:1000:r"));
  EXPECT_EQ(apply_one(close_session_op(7), user(2000)), Code::kOk);
  EXPECT_EQ(tree.find("/m/a"), nullptr);
}

}  // namespace
}  // namespace quorumfs::testing
