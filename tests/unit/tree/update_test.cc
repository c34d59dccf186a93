// SetData, SetAcl, SetMeta and Check.
#include <gtest/gtest.h>

#include "tests/unit/tree/tree_fixture.h"

namespace quorumfs::testing {
namespace {

class UpdateTest : public TreeTest {
 protected:
  void SetUp() override {
    must(file_op("/f", "one"));
    created_zxid = zxid;
    created_ns = time_ns;
  }
  Zxid created_zxid = 0;
  int64_t created_ns = 0;
};

TEST_F(UpdateTest, SetData_ReplacesDataAndMovesVersionMzxidMtime) {
  ApplyResult result = apply({set_data_op("/f", "two!", 0)});
  ASSERT_EQ(result.code, Code::kOk);
  const Node& file = node("/f");
  EXPECT_EQ(file.data(), "two!");
  EXPECT_EQ(file.stat().version, 1);
  EXPECT_EQ(file.stat().mzxid, zxid);
  EXPECT_EQ(file.stat().czxid, created_zxid);
  EXPECT_EQ(file.stat().pzxid, created_zxid);
  EXPECT_EQ(file.stat().mtime_ms, time_ns / 1'000'000);
  EXPECT_EQ(file.stat().ctime_ms, created_ns / 1'000'000);
  EXPECT_EQ(file.attrs().mtime_ns, time_ns);
  EXPECT_EQ(file.attrs().ctime_ns, time_ns);
  EXPECT_EQ(file.attrs().atime_ns, created_ns);
  ASSERT_EQ(result.changes.size(), 1u);
  EXPECT_EQ(result.changes[0].kind, Change::Kind::kData);
  EXPECT_EQ(result.changes[0].inode, file.inode());
  EXPECT_EQ(result.ops[0].inode, file.inode());
  EXPECT_EQ(tree.root().stat().cversion, 1);  // parent untouched by a data write
}

TEST_F(UpdateTest, SetData_OnDirectory_SetsItsData) {
  must(dir_op("/d"));
  must(set_data_op("/d", "dir data"));
  EXPECT_EQ(node("/d").data(), "dir data");
}

TEST_F(UpdateTest, SetData_AnyVersion_Succeeds) {
  must(set_data_op("/f", "a"));
  must(set_data_op("/f", "b", -1));
  EXPECT_EQ(node("/f").stat().version, 2);
}

TEST_F(UpdateTest, SetData_Missing_FailsNoNode) { expect_failure(set_data_op("/g", "x"), Code::kNoNode); }

TEST_F(UpdateTest, SetData_WrongVersion_FailsBadVersion) {
  expect_failure(set_data_op("/f", "x", 3), Code::kBadVersion);
}

TEST_F(UpdateTest, SetData_WithoutWritePermission_FailsNoAuth) {
  must(set_acl_op("/f", "world:anyone:cdra"));
  expect_failure(set_data_op("/f", "x"), Code::kNoAuth);
}

TEST_F(UpdateTest, SetData_TooLarge_FailsDataTooLarge) {
  tree.set_data_bytes_max(3);
  expect_failure(set_data_op("/f", "four"), Code::kDataTooLarge);
}

TEST_F(UpdateTest, SetData_OnZookeeper_FailsReadOnly) {
  expect_failure(set_data_op("/zookeeper", "x"), Code::kReadOnly);
}

TEST_F(UpdateTest, SetAcl_ReplacesAclAndMovesAversionAndCtime) {
  ApplyResult result = apply({set_acl_op("/f", "uid:1000:cdrwa,gid:100:r", 0)});
  ASSERT_EQ(result.code, Code::kOk);
  const Node& file = node("/f");
  EXPECT_EQ(format_acl(file.acl()), "uid:1000:cdrwa,gid:100:r");
  EXPECT_EQ(file.stat().aversion, 1);
  EXPECT_EQ(file.stat().version, 0);
  EXPECT_EQ(file.stat().mzxid, created_zxid);
  EXPECT_EQ(file.attrs().ctime_ns, time_ns);
  EXPECT_EQ(file.attrs().mtime_ns, created_ns);
  ASSERT_EQ(result.changes.size(), 1u);
  EXPECT_EQ(result.changes[0].kind, Change::Kind::kAttrs);
}

TEST_F(UpdateTest, SetAcl_AuthScheme_BecomesCallerUid) {
  must(set_acl_op("/f", "auth::cdrwa"));
  EXPECT_EQ(format_acl(node("/f").acl()), "uid:1000:cdrwa");
}

TEST_F(UpdateTest, SetAcl_SharedAclAcrossNodes_StaysCorrectWhenOneChanges) {
  must(file_op("/g"));
  must(set_acl_op("/f", "uid:1000:cdrwa,uid:5:r"));
  must(set_acl_op("/g", "uid:1000:cdrwa,uid:5:r"));
  EXPECT_EQ(&node("/f").acl(), &node("/g").acl());
  must(set_acl_op("/g", "uid:1000:cdrwa,uid:6:r"));
  must(delete_op("/g"));
  EXPECT_EQ(format_acl(node("/f").acl()), "uid:1000:cdrwa,uid:5:r");
}

TEST_F(UpdateTest, SetAcl_WithoutAdmin_FailsNoAuth) {
  must(set_acl_op("/f", "world:anyone:cdrw"));
  expect_failure(set_acl_op("/f", kOpenAclText), Code::kNoAuth);
}

TEST_F(UpdateTest, SetAcl_WrongAversion_FailsBadVersion) {
  expect_failure(set_acl_op("/f", "uid:1:r", 1), Code::kBadVersion);
}

TEST_F(UpdateTest, SetAcl_BadOrEmptyText_FailsInvalidAcl) {
  expect_failure(set_acl_op("/f", "uid:x:r"), Code::kInvalidAcl);
  expect_failure(set_acl_op("/f", ""), Code::kInvalidAcl);
}

TEST_F(UpdateTest, SetAcl_Missing_FailsNoNode) { expect_failure(set_acl_op("/g", "uid:1:r"), Code::kNoNode); }

TEST_F(UpdateTest, SetMeta_ChangesOnlyPresentFieldsAndCtime) {
  proto::Op op = set_meta_op("/f");
  op.mutable_set_meta()->mutable_meta()->set_mode(04600);
  op.mutable_set_meta()->mutable_meta()->set_mtime_ns(123456789);
  Stat before = node("/f").stat();
  ApplyResult result = apply({op});
  ASSERT_EQ(result.code, Code::kOk);
  const PosixAttrs& attrs = node("/f").attrs();
  EXPECT_EQ(attrs.mode, 04600u);
  EXPECT_EQ(attrs.mtime_ns, 123456789);
  EXPECT_EQ(attrs.uid, 1000u);
  EXPECT_EQ(attrs.gid, 100u);
  EXPECT_EQ(attrs.atime_ns, created_ns);
  EXPECT_EQ(attrs.ctime_ns, time_ns);
  const Stat& after = node("/f").stat();
  EXPECT_EQ(after.version, before.version);
  EXPECT_EQ(after.aversion, before.aversion);
  EXPECT_EQ(after.mzxid, before.mzxid);
  EXPECT_EQ(after.mtime_ms, before.mtime_ms);
  ASSERT_EQ(result.changes.size(), 1u);
  EXPECT_EQ(result.changes[0].kind, Change::Kind::kAttrs);
}

TEST_F(UpdateTest, SetMeta_OwnerAndAtime_AreSet) {
  proto::Op op = set_meta_op("/f");
  op.mutable_set_meta()->mutable_meta()->set_uid(7);
  op.mutable_set_meta()->mutable_meta()->set_gid(8);
  op.mutable_set_meta()->mutable_meta()->set_atime_ns(9);
  must(op);
  EXPECT_EQ(node("/f").attrs().uid, 7u);
  EXPECT_EQ(node("/f").attrs().gid, 8u);
  EXPECT_EQ(node("/f").attrs().atime_ns, 9);
  EXPECT_EQ(node("/f").attrs().mode, 0644u);
}

TEST_F(UpdateTest, SetMeta_WithoutWritePermission_FailsNoAuth) {
  must(set_acl_op("/f", "world:anyone:cdra"));
  proto::Op op = set_meta_op("/f");
  op.mutable_set_meta()->mutable_meta()->set_mode(0600);
  expect_failure(op, Code::kNoAuth);
}

TEST_F(UpdateTest, SetMeta_ModeWithTypeBits_FailsBadArguments) {
  proto::Op op = set_meta_op("/f");
  op.mutable_set_meta()->mutable_meta()->set_mode(040755);
  expect_failure(op, Code::kBadArguments);
}

TEST_F(UpdateTest, SetMeta_OnZookeeper_FailsReadOnly) {
  expect_failure(set_meta_op("/zookeeper"), Code::kReadOnly);
}

TEST_F(UpdateTest, Check_MatchingVersion_SucceedsWithoutChanges) {
  std::string before = dump(tree);
  ApplyResult result = apply({check_op("/f", 0)});
  EXPECT_EQ(result.code, Code::kOk);
  EXPECT_TRUE(result.changes.empty());
  EXPECT_EQ(result.ops[0].inode, node("/f").inode());
  EXPECT_EQ(dump(tree), before);
  EXPECT_EQ(apply_one(check_op("/f", -1)), Code::kOk);
}

TEST_F(UpdateTest, Check_WrongVersion_FailsBadVersion) { expect_failure(check_op("/f", 1), Code::kBadVersion); }

TEST_F(UpdateTest, Check_Missing_FailsNoNode) { expect_failure(check_op("/g", 0), Code::kNoNode); }

TEST_F(UpdateTest, Check_WithoutRead_FailsNoAuth) {
  must(set_acl_op("/f", "world:anyone:cdwa"));
  expect_failure(check_op("/f", 0), Code::kNoAuth);
}

TEST_F(UpdateTest, SetData_EachWrite_BumpsVersionByOne) {
  for (int i = 1; i <= 5; ++i) must(set_data_op("/f", std::to_string(i), i - 1));
  EXPECT_EQ(node("/f").stat().version, 5);
}

}  // namespace
}  // namespace quorumfs::testing
