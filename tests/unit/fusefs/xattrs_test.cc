#include "fusefs/xattrs.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace quorumfs::fusefs {
namespace {

proto::Txn create(const std::string& path, const std::string& data) {
  proto::Txn txn;
  txn.set_time_ns(1'000'000'000);  // 1000 ms
  auto* op = txn.add_ops()->mutable_create();
  op->set_path(path);
  op->set_data(data);
  op->mutable_meta()->set_uid(0);
  op->mutable_meta()->set_gid(0);
  op->mutable_meta()->set_mode(0644);
  return txn;
}

TEST(Xattrs, Classify_KnowsStatAclDataNameAndNothingElse) {
  EXPECT_EQ(classify_xattr("user.zk.czxid"), XattrKind::kStat);
  EXPECT_EQ(classify_xattr("user.zk.numChildren"), XattrKind::kStat);
  EXPECT_EQ(classify_xattr("user.zk.stat"), XattrKind::kStat);
  EXPECT_EQ(classify_xattr("user.zk.acl"), XattrKind::kAcl);
  EXPECT_EQ(classify_xattr("user.zk.data"), XattrKind::kData);
  EXPECT_EQ(classify_xattr("user.zk.name"), XattrKind::kName);
  EXPECT_EQ(classify_xattr("user.zk.bogus"), XattrKind::kUnknown);
  EXPECT_EQ(classify_xattr("security.capability"), XattrKind::kUnknown);
}

TEST(Xattrs, StatValues_ZxidsInHexCountersInDecimal) {
  DataTree tree;
  ASSERT_EQ(tree.apply(make_zxid(1, 2), create("/a", "hello")).code, Code::kOk);
  const Node* node = tree.find("/a");
  ASSERT_NE(node, nullptr);
  EXPECT_EQ(*stat_xattr(tree, *node, "user.zk.czxid"), "0x100000002");
  EXPECT_EQ(*stat_xattr(tree, *node, "user.zk.version"), "0");
  EXPECT_EQ(*stat_xattr(tree, *node, "user.zk.dataLength"), "5");
  EXPECT_EQ(*stat_xattr(tree, *node, "user.zk.ctime"), "1000");
  EXPECT_EQ(*stat_xattr(tree, *node, "user.zk.name"), "a");
  EXPECT_EQ(*stat_xattr(tree, *node, "user.zk.path"), "/a");
  EXPECT_EQ(*stat_xattr(tree, *node, "user.zk.stat"),
            "czxid=0x100000002 mzxid=0x100000002 pzxid=0x100000002 ctime=1000 mtime=1000 version=0 "
            "cversion=0 aversion=0 ephemeralOwner=0x0 dataLength=5 numChildren=0");
}

// docs/mount.md, "Containers and TTL nodes".
TEST(Xattrs, EphemeralOwner_ShowsTheMarkOfAContainerOrTtlNode) {
  DataTree tree;
  proto::Txn container = create("/c", "");
  container.mutable_ops(0)->mutable_create()->set_container(true);
  proto::Txn ttl = create("/t", "");
  ttl.mutable_ops(0)->mutable_create()->set_ttl_ms(5000);
  ASSERT_EQ(tree.apply(make_zxid(1, 1), container).code, Code::kOk);
  ASSERT_EQ(tree.apply(make_zxid(1, 2), ttl).code, Code::kOk);
  EXPECT_EQ(*stat_xattr(tree, *tree.find("/c"), "user.zk.ephemeralOwner"), "0x8000000000000000");
  EXPECT_EQ(*stat_xattr(tree, *tree.find("/t"), "user.zk.ephemeralOwner"), "0xff00000000001388");
}

TEST(Xattrs, List_DataOnlyOnDirectories) {
  DataTree tree;
  ASSERT_EQ(tree.apply(make_zxid(1, 1), create("/f", "")).code, Code::kOk);
  std::string file_names = list_xattrs(*tree.find("/f"));
  std::string dir_names = list_xattrs(tree.root());
  EXPECT_EQ(file_names.find(std::string("user.zk.data") + '\0'), std::string::npos);
  EXPECT_NE(dir_names.find(std::string("user.zk.data") + '\0'), std::string::npos);
  EXPECT_NE(file_names.find(std::string("user.zk.acl") + '\0'), std::string::npos);
}

TEST(Xattrs, AclValue_WhatParseAclTakesPasses) {
  for (std::string_view value : {"world:anyone:cdrwa", "uid:0:cdrwa,gid:65534:rw,world:anyone:r", "auth::rw",
                                 "digest:bob:aGFzaA==:r", "ip:10.0.0.0/8:r"}) {
    EXPECT_EQ(acl_value_error(value), "") << value;
  }
}

// setfattr hands over any bytes: each refusal says why, in a form fit for one log line.
TEST(Xattrs, AclValue_BadTextGivesAPrintableReason) {
  using namespace std::string_literals;
  for (const std::string& value : {"digest:\xff:x:cdrwa"s, "world:anyone:r\n"s, "world:any\0one:r"s, "\x1b[2J"s,
                                   "bogus"s, ""s, std::string(kAclTextBytesMax + 1, 'x')}) {
    std::string reason = acl_value_error(value);
    EXPECT_FALSE(reason.empty()) << ::testing::PrintToString(value);
    EXPECT_TRUE(std::all_of(reason.begin(), reason.end(), [](char c) { return c >= 0x20 && c <= 0x7e; }))
        << ::testing::PrintToString(reason);
  }
  EXPECT_EQ(acl_value_error("digest:\xff:x:cdrwa"), "byte 0xff at offset 7 is not printable ASCII");
}

TEST(StateXattr, ConnectedNoQuorumExpired) {
  EXPECT_EQ(state_xattr(true), "synced");
  EXPECT_EQ(state_xattr(false), "unsynced");
  EXPECT_EQ(state_xattr(true, true), "expired");
  EXPECT_EQ(state_xattr(false, true), "unsynced");  // what the ensemble decided is not known yet
}

}  // namespace
}  // namespace quorumfs::fusefs
