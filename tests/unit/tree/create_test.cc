#include <gtest/gtest.h>

#include "daemon/tree/limits.h"
#include "tests/unit/tree/tree_fixture.h"

namespace quorumfs::testing {
namespace {

using CreateTest = TreeTest;

TEST_F(CreateTest, NewTree_HoldsRootAndReadOnlyZookeeper) {
  const Node& root = tree.root();
  EXPECT_EQ(root.inode(), 1u);
  EXPECT_TRUE(root.is_directory());
  EXPECT_EQ(root.name(), "");
  EXPECT_EQ(root.parent(), nullptr);
  EXPECT_EQ(root.attrs().mode, 0755u);
  EXPECT_EQ(root.attrs().uid, 0u);
  EXPECT_EQ(root.attrs().gid, 0u);
  EXPECT_EQ(format_acl(root.acl()), "world:anyone:cdrwa");
  EXPECT_EQ(root.num_children(), 1u);
  EXPECT_EQ(children("/"), std::vector<std::string>{"zookeeper"});
  const Node& system = node("/zookeeper");
  EXPECT_TRUE(system.is_directory());
  EXPECT_EQ(system.parent(), &root);
  EXPECT_EQ(tree.by_inode(system.inode()), &system);
  EXPECT_EQ(tree.node_count(), 2u);
  EXPECT_EQ(tree.path_of(system), "/zookeeper");
  EXPECT_EQ(tree.path_of(root), "/");
  EXPECT_EQ(tree.last_applied_zxid(), 0);
  EXPECT_TRUE(tree.sessions().empty());
}

TEST_F(CreateTest, Create_File_SetsStatAttrsAndResult) {
  ApplyResult result = apply({file_op("/f", "hello")});
  ASSERT_EQ(result.code, Code::kOk);
  ASSERT_EQ(result.ops.size(), 1u);
  EXPECT_EQ(result.zxid, zxid);
  EXPECT_EQ(result.ops[0].path, "/f");
  const Node& file = node("/f");
  EXPECT_EQ(result.ops[0].inode, file.inode());
  EXPECT_EQ(file.inode(), 3u);
  EXPECT_FALSE(file.is_directory());
  EXPECT_EQ(file.data(), "hello");
  EXPECT_EQ(file.name(), "f");
  const Stat& stat = file.stat();
  EXPECT_EQ(stat.czxid, zxid);
  EXPECT_EQ(stat.mzxid, zxid);
  EXPECT_EQ(stat.pzxid, zxid);
  EXPECT_EQ(stat.ctime_ms, time_ns / 1'000'000);
  EXPECT_EQ(stat.mtime_ms, time_ns / 1'000'000);
  EXPECT_EQ(stat.version, 0);
  EXPECT_EQ(stat.cversion, 0);
  EXPECT_EQ(stat.aversion, 0);
  EXPECT_EQ(stat.ephemeral_owner, 0u);
  const PosixAttrs& attrs = file.attrs();
  EXPECT_EQ(attrs.uid, 1000u);
  EXPECT_EQ(attrs.gid, 100u);
  EXPECT_EQ(attrs.mode, 0644u);
  EXPECT_EQ(attrs.atime_ns, time_ns);
  EXPECT_EQ(attrs.mtime_ns, time_ns);
  EXPECT_EQ(attrs.ctime_ns, time_ns);
  ASSERT_EQ(result.changes.size(), 1u);
  const Change& change = result.changes[0];
  EXPECT_EQ(change.kind, Change::Kind::kCreated);
  EXPECT_EQ(change.inode, file.inode());
  EXPECT_EQ(change.parent_inode, 1u);
  EXPECT_EQ(change.name, "f");
  EXPECT_FALSE(change.directory);
  EXPECT_EQ(tree.by_inode(file.inode()), &file);
  EXPECT_EQ(tree.node_count(), 3u);
}

TEST_F(CreateTest, Create_MovesParentCversionPzxidAndPosixTimes) {
  must(dir_op("/d"));
  Zxid created_at = zxid;
  int64_t dir_created_ns = time_ns;
  must(file_op("/d/f"));
  const Stat& stat = node("/d").stat();
  EXPECT_EQ(stat.cversion, 1);
  EXPECT_EQ(stat.pzxid, zxid);
  EXPECT_EQ(stat.czxid, created_at);
  EXPECT_EQ(stat.mzxid, created_at);
  EXPECT_EQ(stat.version, 0);
  EXPECT_EQ(node("/d").attrs().mtime_ns, time_ns);
  EXPECT_EQ(node("/d").attrs().ctime_ns, time_ns);
  EXPECT_EQ(node("/d").attrs().atime_ns, dir_created_ns);
  EXPECT_EQ(tree.root().stat().cversion, 1);
}

TEST_F(CreateTest, Create_WithMetaTimes_KeepsThem) {
  proto::Op op = file_op("/f");
  op.mutable_create()->mutable_meta()->set_atime_ns(11);
  op.mutable_create()->mutable_meta()->set_mtime_ns(22);
  must(op);
  EXPECT_EQ(node("/f").attrs().atime_ns, 11);
  EXPECT_EQ(node("/f").attrs().mtime_ns, 22);
  EXPECT_EQ(node("/f").attrs().ctime_ns, time_ns);
}

TEST_F(CreateTest, Create_EmptyAcl_InheritsParentAcl) {
  must(dir_op("/d"));
  must(set_acl_op("/d", "uid:1000:cdrwa,world:anyone:r"));
  must(file_op("/d/f"));
  EXPECT_EQ(format_acl(node("/d/f").acl()), "uid:1000:cdrwa,world:anyone:r");
}

TEST_F(CreateTest, Create_WithAcl_UsesItAndExpandsAuth) {
  proto::Op op = file_op("/f");
  op.mutable_create()->set_acl("auth::rw,world:anyone:r");
  must(op);
  EXPECT_EQ(format_acl(node("/f").acl()), "uid:1000:rw,world:anyone:r");
}

TEST_F(CreateTest, Create_ByZooKeeperClient_ExpandsAuthToItsDigests) {
  proto::Caller client = user(0);
  client.set_zk_client(true);
  proto::Op op = file_op("/f");
  op.mutable_create()->set_acl("auth::cdrwa");
  expect_failure(op, Code::kInvalidAcl, client);
  client.add_auth_ids("digest:bob:HASH=");
  ASSERT_EQ(apply_one(op, client), Code::kOk);
  EXPECT_EQ(format_acl(node("/f").acl()), "digest:bob:HASH=:cdrwa");
  EXPECT_EQ(apply_one(set_data_op("/f", "x"), client), Code::kOk);
  EXPECT_EQ(apply_one(set_data_op("/f", "y"), user(1000)), Code::kNoAuth);
}

TEST_F(CreateTest, Create_Directory_IsDirectoryAndCanHoldChildren) {
  must(dir_op("/d"));
  must(dir_op("/d/e"));
  must(file_op("/d/e/f"));
  EXPECT_TRUE(node("/d").is_directory());
  EXPECT_EQ(tree.path_of(node("/d/e/f")), "/d/e/f");
  EXPECT_EQ(node("/d/e/f").parent(), &node("/d/e"));
}

TEST_F(CreateTest, Create_Inodes_ComeFromOneRisingCounter) {
  must(file_op("/a"));
  must(file_op("/b"));
  must(delete_op("/a"));
  must(file_op("/c"));
  EXPECT_EQ(node("/b").inode(), 4u);
  EXPECT_EQ(node("/c").inode(), 5u);
}

TEST_F(CreateTest, Create_MissingParent_FailsNoNode) { expect_failure(file_op("/nope/f"), Code::kNoNode); }

TEST_F(CreateTest, Create_InFile_FailsNotDirectory) {
  must(file_op("/f"));
  expect_failure(file_op("/f/g"), Code::kNotDirectory);
}

// A ZooKeeper client creates children under any node; the mount shows the file as a directory
// from then on.
TEST_F(CreateTest, Create_InFileThatMayBecomeADirectory_MakesItOneKeepingItsState) {
  must(dir_op("/d"));
  proto::Op file = file_op("/d/f", "payload");
  file.mutable_create()->mutable_meta()->set_mode(0640);
  must(file);
  const Stat before = node("/d/f").stat();
  const uint64_t inode = node("/d/f").inode();
  proto::Op child = file_op("/d/f/c");
  child.mutable_create()->set_parent_may_become_directory(true);
  ApplyResult result = apply({child});
  ASSERT_EQ(result.code, Code::kOk);
  const Node& became = node("/d/f");
  EXPECT_TRUE(became.is_directory());
  EXPECT_EQ(became.inode(), inode);
  EXPECT_EQ(became.data(), "payload");
  EXPECT_EQ(became.attrs().mode, 0750u) << "x where it had r";
  EXPECT_EQ(became.stat().czxid, before.czxid);
  EXPECT_EQ(became.stat().version, before.version);
  EXPECT_EQ(became.stat().cversion, 1);
  EXPECT_EQ(became.attrs().ctime_ns, time_ns);
  EXPECT_EQ(node("/d").num_subdirectories(), 1u);
  ASSERT_EQ(result.changes.size(), 2u);
  EXPECT_EQ(result.changes[0].kind, Change::Kind::kBecameDirectory);
  EXPECT_EQ(result.changes[0].inode, inode);
  EXPECT_EQ(result.changes[0].parent_inode, node("/d").inode());
  EXPECT_EQ(result.changes[0].name, "f");
  EXPECT_TRUE(result.changes[0].directory);
  EXPECT_EQ(result.changes[1].kind, Change::Kind::kCreated);
  EXPECT_EQ(children("/d/f"), std::vector<std::string>{"c"});
  // A directory it stays, with or without children, and in a snapshot.
  must(delete_op("/d/f/c"));
  EXPECT_TRUE(node("/d/f").is_directory());
  std::unique_ptr<DataTree> loaded = reload(snapshot_of(tree));
  ASSERT_NE(loaded, nullptr);
  EXPECT_EQ(dump(*loaded), dump(tree));
}

TEST_F(CreateTest, Create_InDirectoryThatMayBecomeOne_ChangesNoType) {
  must(dir_op("/d"));
  proto::Op child = file_op("/d/c");
  child.mutable_create()->set_parent_may_become_directory(true);
  ApplyResult result = apply({child});
  ASSERT_EQ(result.code, Code::kOk);
  ASSERT_EQ(result.changes.size(), 1u);
  EXPECT_EQ(result.changes[0].kind, Change::Kind::kCreated);
}

TEST_F(CreateTest, Create_InFileThatMayBecomeADirectory_FailedMultiLeavesItAFile) {
  must(dir_op("/d"));
  must(file_op("/d/f", "payload"));
  proto::Op child = file_op("/d/f/c");
  child.mutable_create()->set_parent_may_become_directory(true);
  std::string before = dump(tree);
  ApplyResult result = apply({child, delete_op("/missing")});
  EXPECT_EQ(result.code, Code::kNoNode);
  EXPECT_TRUE(result.changes.empty());
  EXPECT_EQ(dump(tree), before);
  EXPECT_FALSE(node("/d/f").is_directory());
  EXPECT_EQ(node("/d").num_subdirectories(), 0u);
}

TEST_F(CreateTest, Create_InEphemeralFileThatMayBecomeADirectory_FailsNoChildrenForEphemerals) {
  constexpr uint64_t kSession = uint64_t{1} << 56 | 1;
  must(create_session_op(kSession));
  proto::Op ephemeral = file_op("/e");
  ephemeral.mutable_create()->set_ephemeral_owner(kSession);
  must(ephemeral);
  proto::Op child = file_op("/e/c");
  child.mutable_create()->set_parent_may_become_directory(true);
  expect_failure(child, Code::kNoChildrenForEphemerals);
  EXPECT_FALSE(node("/e").is_directory());
}

TEST_F(CreateTest, Create_InEphemeralFile_FailsNotDirectory) {
  must(create_session_op(7));
  proto::Op op = file_op("/e");
  op.mutable_create()->set_ephemeral_owner(7);
  must(op);
  expect_failure(file_op("/e/g"), Code::kNotDirectory);
}

TEST_F(CreateTest, Create_InEphemeralDirectory_FailsNoChildrenForEphemerals) {
  must(create_session_op(7));
  proto::Op op = dir_op("/e");
  op.mutable_create()->set_ephemeral_owner(7);
  must(op);
  expect_failure(file_op("/e/g"), Code::kNoChildrenForEphemerals);
}

TEST_F(CreateTest, Create_ExistingName_FailsNodeExists) {
  must(file_op("/f", "one"));
  expect_failure(file_op("/f", "two"), Code::kNodeExists);
  expect_failure(dir_op("/f"), Code::kNodeExists);
}

TEST_F(CreateTest, Create_WithoutCreatePermission_FailsNoAuth) {
  must(dir_op("/d"));
  must(set_acl_op("/d", "uid:1000:rwda,world:anyone:r"));
  expect_failure(file_op("/d/f"), Code::kNoAuth);
  expect_failure(file_op("/d/f"), Code::kNoAuth, user(2000));
}

TEST_F(CreateTest, Create_ByRoot_BypassesAcl) {
  must(dir_op("/d"));
  must(set_acl_op("/d", "uid:1000:r"));
  EXPECT_EQ(apply_one(file_op("/d/f"), user(0, 0)), Code::kOk);
}

TEST_F(CreateTest, Create_ByGroupMember_PassesGidAcl) {
  must(dir_op("/d"));
  must(set_acl_op("/d", "gid:50:c"));
  proto::Caller member = user(2000, 1);
  member.add_groups(50);
  EXPECT_EQ(apply_one(file_op("/d/f"), member), Code::kOk);
  expect_failure(file_op("/d/g"), Code::kNoAuth, user(2000, 1));
}

TEST_F(CreateTest, Create_DataOverLimit_FailsDataTooLarge) {
  EXPECT_EQ(tree.data_bytes_max(), 1024u * 1024u);
  expect_failure(file_op("/f", std::string(1024 * 1024 + 1, 'x')), Code::kDataTooLarge);
  must(file_op("/g", std::string(1024 * 1024, 'x')));
}

TEST_F(CreateTest, Create_DataOverConfiguredLimit_FailsDataTooLarge) {
  tree.set_data_bytes_max(4);
  must(file_op("/f", "1234"));
  expect_failure(file_op("/g", "12345"), Code::kDataTooLarge);
}

TEST_F(CreateTest, Create_BadAclText_FailsInvalidAcl) {
  proto::Op op = file_op("/f");
  op.mutable_create()->set_acl("world:someone:r");
  expect_failure(op, Code::kInvalidAcl);
}

TEST_F(CreateTest, Create_BadPath_FailsBadArguments) {
  must(dir_op("/d"));
  for (const std::string& path : std::vector<std::string>{"", "f", "/", "/d/", "/d//f", "//f", "/.", "/..", "/d/.", "/d/..",
                           std::string("/a\0b", 4)}) {
    SCOPED_TRACE(path);
    expect_failure(file_op(path), Code::kBadArguments);
  }
}

TEST_F(CreateTest, Create_NameOf256Bytes_FailsNameTooLong) {
  must(dir_op("/d"));
  expect_failure(file_op("/" + std::string(256, 'n')), Code::kNameTooLong);
  expect_failure(dir_op("/d/" + std::string(256, 'n')), Code::kNameTooLong);
}

TEST_F(CreateTest, Create_NameOf255BytesAndOddBytes_Succeeds) {
  must(file_op("/" + std::string(255, 'n')));
  must(file_op("/with space\n\xff"));
  must(file_op("/..."));
  EXPECT_NE(tree.find("/with space\n\xff"), nullptr);
}

TEST_F(CreateTest, Create_InOrAtZookeeper_FailsReadOnly) {
  expect_failure(file_op("/zookeeper/f"), Code::kReadOnly);
  expect_failure(dir_op("/zookeeper"), Code::kReadOnly);
  must(file_op("/zookeeperx"));
}

TEST_F(CreateTest, Create_WithoutOwnerOrMode_FailsBadArguments) {
  proto::Op no_mode = file_op("/f");
  no_mode.mutable_create()->mutable_meta()->clear_mode();
  expect_failure(no_mode, Code::kBadArguments);
  proto::Op no_uid = file_op("/f");
  no_uid.mutable_create()->mutable_meta()->clear_uid();
  expect_failure(no_uid, Code::kBadArguments);
  proto::Op file_type_in_mode = file_op("/f");
  file_type_in_mode.mutable_create()->mutable_meta()->set_mode(0100644);
  expect_failure(file_type_in_mode, Code::kBadArguments);
}

TEST_F(CreateTest, Create_SpecialModeBits_AreKept) {
  proto::Op op = dir_op("/q");
  op.mutable_create()->mutable_meta()->set_mode(03755);
  must(op);
  EXPECT_EQ(node("/q").attrs().mode, 03755u);
}

TEST_F(CreateTest, Create_WithUnissuedInode_FailsBadArguments) {
  proto::Op op = file_op("/f");
  op.mutable_create()->set_inode(1000);
  expect_failure(op, Code::kBadArguments);
}

proto::Op reserve_op(uint32_t count) {
  proto::Op op;
  op.mutable_reserve_inodes()->set_count(count);
  return op;
}

// A mount's background create (docs/mount.md): its inode comes from a block it reserved.
TEST_F(CreateTest, ReserveInodes_TakesABlock_ThatCreatesMayUseOnce) {
  ApplyResult reserved = apply({reserve_op(100)});
  ASSERT_EQ(reserved.code, Code::kOk);
  const uint64_t first = reserved.ops[0].inode;
  EXPECT_EQ(first, 3u);
  must(file_op("/counted"));
  EXPECT_EQ(node("/counted").inode(), first + 100);  // the counter went past the block

  proto::Op op = file_op("/f", "data");
  op.mutable_create()->set_inode(first + 7);
  must(op);
  EXPECT_EQ(node("/f").inode(), first + 7);
  EXPECT_EQ(tree.by_inode(first + 7), &node("/f"));
  EXPECT_EQ(node("/f").data(), "data");

  proto::Op again = file_op("/g");
  again.mutable_create()->set_inode(first + 7);  // held by /f: refused, nothing changes
  const std::string before = dump(tree);
  EXPECT_EQ(apply({again}).code, Code::kBadArguments);
  EXPECT_EQ(dump(tree), before);
}

TEST_F(CreateTest, ReserveInodes_OutOfBounds_FailsBadArguments) {
  expect_failure(reserve_op(0), Code::kBadArguments);
  expect_failure(reserve_op(kInodesReservedMax + 1), Code::kBadArguments);
  ApplyResult reserved = apply({reserve_op(kInodesReservedMax)});
  EXPECT_EQ(reserved.code, Code::kOk);
}

TEST_F(CreateTest, ReserveInodes_InAFailedMulti_GivesTheNumbersBack) {
  ApplyResult failed = apply({reserve_op(10), file_op("/nope/f")});
  EXPECT_NE(failed.code, Code::kOk);
  must(file_op("/f"));
  EXPECT_EQ(node("/f").inode(), 3u);
}

TEST_F(CreateTest, Create_FailedTxn_StillAdvancesLastAppliedZxid) {
  apply({file_op("/nope/f")});
  EXPECT_EQ(tree.last_applied_zxid(), zxid);
  must(file_op("/f"));
  EXPECT_EQ(node("/f").inode(), 3u);
}

TEST_F(CreateTest, Children_AreInByteOrder_AndResumeAfterAName) {
  for (std::string_view name : {"b", "a", "c", "B", "\xff", "aa"}) must(file_op("/" + std::string(name)));
  EXPECT_EQ(children("/"), (std::vector<std::string>{"B", "a", "aa", "b", "c", "zookeeper", "\xff"}));
  EXPECT_EQ(children("/", "aa"), (std::vector<std::string>{"b", "c", "zookeeper", "\xff"}));
  EXPECT_EQ(children("/", "ab"), (std::vector<std::string>{"b", "c", "zookeeper", "\xff"}));
  int visited = 0;
  tree.root().for_each_child("", [&](const Node&) { return ++visited < 2; });
  EXPECT_EQ(visited, 2);
  EXPECT_EQ(tree.root().num_children(), 7u);
}

TEST_F(CreateTest, Find_MalformedOrMissingPath_ReturnsNull) {
  must(dir_op("/d"));
  EXPECT_EQ(tree.find("/d/"), nullptr);
  EXPECT_EQ(tree.find("d"), nullptr);
  EXPECT_EQ(tree.find(""), nullptr);
  EXPECT_EQ(tree.find("/d/x"), nullptr);
  EXPECT_EQ(tree.find("/"), &tree.root());
  EXPECT_EQ(tree.child(tree.root(), "d"), tree.find("/d"));
  EXPECT_EQ(tree.child(node("/d"), "x"), nullptr);
}

TEST_F(CreateTest, Permits_FollowsNodeAcl) {
  must(file_op("/f"));
  must(set_acl_op("/f", "uid:1000:r"));
  EXPECT_TRUE(tree.permits(node("/f"), kRead, user(1000)));
  EXPECT_FALSE(tree.permits(node("/f"), kWrite, user(1000)));
  EXPECT_FALSE(tree.permits(node("/f"), kRead, user(1001)));
  EXPECT_TRUE(tree.permits(node("/f"), kWrite, user(0)));
}

TEST_F(CreateTest, EmptyTxn_SucceedsWithNothing) {
  ApplyResult result = apply({});
  EXPECT_EQ(result.code, Code::kOk);
  EXPECT_TRUE(result.ops.empty());
  EXPECT_EQ(tree.last_applied_zxid(), zxid);
}

TEST_F(CreateTest, OpWithoutKind_FailsBadArguments) { expect_failure(proto::Op(), Code::kBadArguments); }

TEST_F(CreateTest, CodeName_NamesEveryCode) {
  EXPECT_STREQ(code_name(Code::kOk), "Ok");
  EXPECT_STREQ(code_name(Code::kNoChildrenForEphemerals), "NoChildrenForEphemerals");
  EXPECT_STREQ(code_name(Code::kOutcomeUnknown), "OutcomeUnknown");
}

}  // namespace
}  // namespace quorumfs::testing
