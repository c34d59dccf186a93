// validate_txn: every check that needs no tree, and DataTree::apply making it first.
#include "daemon/tree/validate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/unit/tree/tree_fixture.h"

namespace quorumfs::testing {
namespace {

proto::Txn txn_of(std::vector<proto::Op> ops) {
  proto::Txn txn;
  txn.set_time_ns(1'000'000'000);
  *txn.mutable_caller() = user(1000);
  for (proto::Op& op : ops) *txn.add_ops() = std::move(op);
  return txn;
}

Code validate(proto::Op op, const TxnLimits& limits = TxnLimits()) {
  Code alone = validate_op(op, limits);
  Code in_txn = validate_txn(txn_of({std::move(op)}), limits);
  EXPECT_EQ(alone, in_txn) << "validate_op and validate_txn disagree";
  return in_txn;
}

// Every op kind that names a path, on path.
std::vector<proto::Op> ops_on(const std::string& path) {
  proto::Op remove = delete_op(path);
  return {file_op(path), dir_op(path), remove, set_data_op(path, "x"), set_acl_op(path, kOpenAclText),
          set_meta_op(path), check_op(path, -1)};
}

// A path of exactly `bytes` bytes (at least 2), in names of at most 255 bytes.
std::string path_of_size(size_t bytes) {
  std::string path;
  while (path.size() < bytes) {
    size_t left = bytes - path.size();
    size_t segment = std::min<size_t>(left, 1 + kNameBytesMax);
    if (left - segment == 1) --segment;  // a lone '/' would be an empty name
    path += '/' + std::string(segment - 1, 'n');
  }
  return path;
}

std::string path_of_depth(size_t depth) {
  std::string path;
  for (size_t i = 0; i < depth; ++i) path += "/d";
  return path;
}

TEST(ValidateTxn, WhatTheMountSends_Passes) {
  proto::Op rename_create = file_op("/b", "data");
  rename_create.mutable_create()->set_inode(7);
  rename_create.mutable_create()->set_acl("world:anyone:cdrwa,uid:1000:r");
  proto::Op sequential_in_root = file_op("/");
  sequential_in_root.mutable_create()->set_sequential(true);
  std::vector<proto::Txn> txns = {
      txn_of({file_op("/a")}),
      txn_of({dir_op("/d")}),
      txn_of({delete_op("/b", 3), rename_create, delete_op("/a", 0)}),
      txn_of({set_data_op("/a", "x"), set_meta_op("/a")}),
      txn_of({set_acl_op("/a", "auth::cdrwa")}),
      txn_of({close_session_op(42)}),
      txn_of({check_op("/a", 1)}),
      txn_of({sequential_in_root}),
      txn_of({}),
  };
  for (const proto::Txn& txn : txns) EXPECT_EQ(validate_txn(txn, TxnLimits()), Code::kOk) << txn.ShortDebugString();
}

TEST(ValidateTxn, OpWithoutKind_FailsBadArguments) {
  EXPECT_EQ(validate(proto::Op()), Code::kBadArguments);
}

TEST(ValidateTxn, MalformedPaths_FailBadArguments) {
  for (const std::string& path : std::vector<std::string>{"", "a", "a/b", "/a/", "//", "/a//b", "/.", "/a/..",
                                                          "/./a", std::string("/a\0b", 4), std::string("/\0", 2)}) {
    for (proto::Op& op : ops_on(path)) {
      EXPECT_EQ(validate(op), Code::kBadArguments) << op.ShortDebugString();
    }
  }
}

TEST(ValidateTxn, NameOf256Bytes_FailsNameTooLongInEveryOp) {
  for (const std::string& path : {"/" + std::string(256, 'n'), "/d/" + std::string(256, 'n') + "/f"}) {
    for (proto::Op& op : ops_on(path)) EXPECT_EQ(validate(op), Code::kNameTooLong) << op.ShortDebugString();
  }
  for (proto::Op& op : ops_on("/" + std::string(255, 'n'))) EXPECT_EQ(validate(op), Code::kOk) << op.ShortDebugString();
}

TEST(ValidateTxn, PathPastItsBytes_FailsNameTooLong) {
  ASSERT_EQ(path_of_size(kPathBytesMax).size(), kPathBytesMax);
  for (proto::Op& op : ops_on(path_of_size(kPathBytesMax))) EXPECT_EQ(validate(op), Code::kOk);
  for (proto::Op& op : ops_on(path_of_size(kPathBytesMax + 1))) EXPECT_EQ(validate(op), Code::kNameTooLong);
  // Far past it: refused before the path is walked.
  for (proto::Op& op : ops_on("/" + std::string(1 << 20, 'n'))) EXPECT_EQ(validate(op), Code::kNameTooLong);
}

TEST(ValidateTxn, PathPastItsDepth_FailsNameTooLong) {
  for (proto::Op& op : ops_on(path_of_depth(kPathDepthMax))) EXPECT_EQ(validate(op), Code::kOk);
  for (proto::Op& op : ops_on(path_of_depth(kPathDepthMax + 1))) EXPECT_EQ(validate(op), Code::kNameTooLong);
}

// The suffix is not known without the tree: one digit stands for it, the rest is plan_create's.
TEST(ValidateTxn, SequentialCreate_IsCheckedWithADigitForTheSuffix) {
  auto sequential = [](const std::string& path) {
    proto::Op op = file_op(path);
    op.mutable_create()->set_sequential(true);
    return op;
  };
  EXPECT_EQ(validate(sequential("/q/")), Code::kOk);
  EXPECT_EQ(validate(sequential("/q/" + std::string(254, 'n'))), Code::kOk);
  EXPECT_EQ(validate(sequential("/q/" + std::string(255, 'n'))), Code::kNameTooLong);
  EXPECT_EQ(validate(sequential(path_of_size(kPathBytesMax - 1))), Code::kOk);
  EXPECT_EQ(validate(sequential(path_of_size(kPathBytesMax))), Code::kNameTooLong);
  EXPECT_EQ(validate(sequential("/q/.")), Code::kOk);  // ".0000000001"
  EXPECT_EQ(validate(sequential("/./")), Code::kBadArguments);
  EXPECT_EQ(validate(sequential("")), Code::kBadArguments);
}

TEST(ValidateTxn, WritesUnderZookeeper_FailReadOnly) {
  for (std::string path : {"/zookeeper", "/zookeeper/quota"}) {
    for (proto::Op& op : ops_on(path)) EXPECT_EQ(validate(op), Code::kReadOnly) << op.ShortDebugString();
  }
  EXPECT_EQ(validate(file_op("/zookeeperx")), Code::kOk);
}

TEST(ValidateTxn, RootItself_CannotBeCreatedOrDeleted) {
  EXPECT_EQ(validate(dir_op("/")), Code::kBadArguments);
  EXPECT_EQ(validate(delete_op("/")), Code::kBadArguments);
  EXPECT_EQ(validate(set_data_op("/", "x")), Code::kOk);
}

TEST(ValidateTxn, CreateWithoutOwnerOrMode_FailsBadArguments) {
  for (int missing = 0; missing < 3; ++missing) {
    proto::Op op = file_op("/f");
    proto::PosixMeta* meta = op.mutable_create()->mutable_meta();
    if (missing == 0) meta->clear_uid();
    if (missing == 1) meta->clear_gid();
    if (missing == 2) meta->clear_mode();
    EXPECT_EQ(validate(op), Code::kBadArguments) << op.ShortDebugString();
  }
}

TEST(ValidateTxn, ModeBeyondPermissionBits_FailsBadArguments) {
  proto::Op create = file_op("/f");
  create.mutable_create()->mutable_meta()->set_mode(0100644);  // S_IFREG
  EXPECT_EQ(validate(create), Code::kBadArguments);
  proto::Op meta = set_meta_op("/f");
  meta.mutable_set_meta()->mutable_meta()->set_mode(010000);
  EXPECT_EQ(validate(meta), Code::kBadArguments);
  meta.mutable_set_meta()->mutable_meta()->set_mode(07777);
  EXPECT_EQ(validate(meta), Code::kOk);
}

TEST(ValidateTxn, DeleteAskedToBeBothRmdirAndUnlink_FailsBadArguments) {
  proto::Op op = delete_op("/f");
  op.mutable_remove()->set_must_be_directory(true);
  op.mutable_remove()->set_must_be_file(true);
  EXPECT_EQ(validate(op), Code::kBadArguments);
}

TEST(ValidateTxn, DataPastTheLimit_FailsDataTooLarge) {
  TxnLimits limits{.data_bytes_max = 10};
  EXPECT_EQ(validate(file_op("/f", std::string(10, 'x')), limits), Code::kOk);
  EXPECT_EQ(validate(set_data_op("/f", std::string(10, 'x')), limits), Code::kOk);
  EXPECT_EQ(validate(file_op("/f", std::string(11, 'x')), limits), Code::kDataTooLarge);
  EXPECT_EQ(validate(set_data_op("/f", std::string(11, 'x')), limits), Code::kDataTooLarge);
}

TEST(ValidateTxn, BadAclText_FailsInvalidAcl) {
  for (const std::string& acl : {std::string("digest:\xff:x:cdrwa"), std::string("world:anyone:r\n"),
                                 std::string("bogus"), std::string(kAclTextBytesMax + 1, 'x')}) {
    proto::Op create = file_op("/f");
    create.mutable_create()->set_acl(acl);
    EXPECT_EQ(validate(create), Code::kInvalidAcl);
    EXPECT_EQ(validate(set_acl_op("/f", acl)), Code::kInvalidAcl);
  }
  EXPECT_EQ(validate(set_acl_op("/f", "")), Code::kInvalidAcl);
  EXPECT_EQ(validate(file_op("/f")), Code::kOk);  // no ACL: the parent's
}

TEST(ValidateTxn, MoreOpsThanTheLimit_FailBadArguments) {
  std::vector<proto::Op> ops(kTxnOpsMax, check_op("/", -1));
  EXPECT_EQ(validate_txn(txn_of(ops), TxnLimits()), Code::kOk);
  ops.push_back(check_op("/", -1));
  EXPECT_EQ(validate_txn(txn_of(ops), TxnLimits()), Code::kBadArguments);
  EXPECT_EQ(validate_txn(txn_of({file_op("/a"), file_op("/b")}), TxnLimits{.ops_max = 1}), Code::kBadArguments);
}

TEST(ValidateTxn, EncodingPastTheLimit_FailsDataTooLarge) {
  proto::Txn txn = txn_of({file_op("/a", "0123456789"), set_data_op("/a", "0123456789")});
  TxnLimits limits{.txn_bytes_max = txn.ByteSizeLong()};
  EXPECT_EQ(validate_txn(txn, limits), Code::kOk);
  limits.txn_bytes_max -= 1;
  EXPECT_EQ(validate_txn(txn, limits), Code::kDataTooLarge);
}

TEST(ValidateTxn, FirstFailingOp_GivesTheCode) {
  proto::Txn txn = txn_of({file_op("/a"), set_acl_op("/a", "bogus"), file_op("/" + std::string(300, 'n'))});
  EXPECT_EQ(validate_txn(txn, TxnLimits()), Code::kInvalidAcl);
}

// ---- DataTree::apply validates first ---------------------------------------------------------

class ApplyValidatesTest : public TreeTest {};

TEST_F(ApplyValidatesTest, CommittedTxnFailingValidation_FailsWholeAndChangesNothing) {
  must(file_op("/f", "data"));
  std::string before = dump(tree);
  // Each op would succeed on its own: only the count is wrong.
  std::vector<proto::Op> ops(kTxnOpsMax + 1, set_data_op("/f", "new"));
  ApplyResult result = apply(ops);
  EXPECT_EQ(result.code, Code::kBadArguments);
  EXPECT_TRUE(result.ops.empty());
  EXPECT_TRUE(result.changes.empty());
  EXPECT_EQ(tree.last_applied_zxid(), zxid);
  EXPECT_EQ(dump(tree), before);
  result = apply({set_data_op("/f", "new"), set_acl_op("/f", "digest:\xff:x:cdrwa")});
  EXPECT_EQ(result.code, Code::kInvalidAcl);
  EXPECT_EQ(dump(tree), before);
}

TEST_F(ApplyValidatesTest, NamesAndPathsPastTheLimits_FailNameTooLong) {
  expect_failure(file_op("/" + std::string(256, 'n')), Code::kNameTooLong);
  std::string path;
  for (size_t depth = 1; depth <= kPathDepthMax; ++depth) {
    path += "/d";
    must(dir_op(path));
  }
  expect_failure(dir_op(path + "/d"), Code::kNameTooLong);
  must(dir_op("/long"));
  std::string long_path = "/long";
  while (long_path.size() + 256 <= kPathBytesMax) {
    long_path += '/' + std::string(255, 'n');
    must(dir_op(long_path));
  }
  std::string last_name(kPathBytesMax - long_path.size() - 1, 'n');
  must(file_op(long_path + '/' + last_name));
  expect_failure(file_op(long_path + '/' + last_name + 'n'), Code::kNameTooLong);
}

// The suffix may carry a name or a path past its limit; only the tree knows the suffix.
TEST_F(ApplyValidatesTest, SequentialSuffixPastTheLimits_FailsNameTooLong) {
  must(dir_op("/q"));
  proto::Op name_op = file_op("/q/" + std::string(246, 'n'));
  name_op.mutable_create()->set_sequential(true);
  expect_failure(name_op, Code::kNameTooLong);
  std::string path = "/q";
  while (path.size() + 256 <= kPathBytesMax) {
    path += '/' + std::string(255, 'n');
    must(dir_op(path));
  }
  // The name with its ten digits fits; the path has room for the digit validate_op puts there,
  // not for ten.
  std::string base(kNameBytesMax - 10, 'n');
  ASSERT_LE(path.size() + 1 + base.size() + 1, kPathBytesMax);
  ASSERT_GT(path.size() + 1 + base.size() + 10, kPathBytesMax);
  proto::Op path_op = file_op(path + '/' + base);
  path_op.mutable_create()->set_sequential(true);
  EXPECT_EQ(validate_op(path_op, tree.txn_limits()), Code::kOk);
  expect_failure(path_op, Code::kNameTooLong);
}

TEST_F(ApplyValidatesTest, TxnLimits_FollowTheTreesDataLimit) {
  tree.set_data_bytes_max(4);
  EXPECT_EQ(tree.txn_limits().data_bytes_max, 4u);
  expect_failure(file_op("/f", "12345"), Code::kDataTooLarge);
  must(file_op("/f", "1234"));
}

}  // namespace
}  // namespace quorumfs::testing
