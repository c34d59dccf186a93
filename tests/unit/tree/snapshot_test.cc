#include <gtest/gtest.h>

#include "tests/unit/tree/tree_fixture.h"

namespace quorumfs::testing {
namespace {

class SnapshotTest : public TreeTest {
 protected:
  void SetUp() override {
    must(dir_op("/d"));
    must(file_op("/d/f", "data"));
    must(set_data_op("/d/f", "more data"));
    proto::Op acl_file = file_op("/d/private", "x");
    acl_file.mutable_create()->set_acl("uid:1000:cdrwa,digest:bob:H=:r,ip:10.0.0.0/8:r");
    must(acl_file);
    must(create_session_op(77));
    proto::Op ephemeral = file_op("/d/lock-");
    ephemeral.mutable_create()->set_ephemeral_owner(77);
    ephemeral.mutable_create()->set_sequential(true);
    must(ephemeral);
    proto::Op meta = set_meta_op("/d");
    meta.mutable_set_meta()->mutable_meta()->set_mode(03775);
    must(meta);
    must(dir_op("/d/e"));
    must(delete_op("/d/e"));
  }
};

TEST_F(SnapshotTest, RoundTrip_RebuildsAnEqualTree) {
  SnapshotRecords records = snapshot_of(tree);
  EXPECT_EQ(records.header.node_count(), tree.node_count());
  EXPECT_EQ(records.nodes.size(), tree.node_count());
  EXPECT_EQ(records.nodes[0].inode(), 1u);
  std::unique_ptr<DataTree> loaded = reload(records);
  ASSERT_NE(loaded, nullptr);
  EXPECT_EQ(dump(*loaded), dump(tree));
  EXPECT_EQ(loaded->last_applied_zxid(), tree.last_applied_zxid());
  EXPECT_EQ(loaded->sessions(), std::vector<uint64_t>{77});
  EXPECT_EQ(loaded->node_count(), tree.node_count());
  const Node* file = loaded->find("/d/f");
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(loaded->by_inode(file->inode()), file);
  EXPECT_EQ(file->stat().version, 1);
  EXPECT_EQ(format_acl(loaded->find("/d/private")->acl()), "uid:1000:cdrwa,digest:bob:H=:r,ip:10.0.0.0/8:r");
}

TEST_F(SnapshotTest, AclEqualToTheParents_IsStoredOnceAndRestoredOnLoad) {
  must(set_acl_op("/d", "world:anyone:cdrw"));
  must(file_op("/d/inherits"));
  SnapshotRecords records = snapshot_of(tree);
  for (const auto& record : records.nodes) {
    if (record.name() == "inherits") {
      EXPECT_TRUE(record.acl().empty()) << "same ACL as its parent";
    }
    if (record.name() == "private") {
      EXPECT_FALSE(record.acl().empty()) << "differs from its parent";
    }
  }
  std::unique_ptr<DataTree> loaded = reload(records);
  ASSERT_NE(loaded, nullptr);
  EXPECT_EQ(dump(*loaded), dump(tree));
  EXPECT_EQ(format_acl(loaded->find("/d/inherits")->acl()), "world:anyone:cdrw");
  EXPECT_EQ(format_acl(loaded->find("/d/f")->acl()), "world:anyone:cdrwa");
}

TEST_F(SnapshotTest, LoadedTree_BehavesAsTheOriginal) {
  std::unique_ptr<DataTree> loaded = reload(snapshot_of(tree));
  ASSERT_NE(loaded, nullptr);
  proto::Txn txn;
  txn.set_time_ns(5);
  proto::Op sequential = file_op("/d/lock-");
  sequential.mutable_create()->set_sequential(true);
  *txn.add_ops() = sequential;
  ApplyResult from_original = tree.apply(zxid + 1, txn);
  ApplyResult from_loaded = loaded->apply(zxid + 1, txn);
  ASSERT_EQ(from_original.code, Code::kOk);
  EXPECT_EQ(from_loaded.ops[0].path, from_original.ops[0].path);
  EXPECT_EQ(from_loaded.ops[0].inode, from_original.ops[0].inode);
  proto::Txn close;
  *close.add_ops() = close_session_op(77);
  EXPECT_EQ(loaded->apply(zxid + 2, close).changes.size(), 1u);
  EXPECT_EQ(tree.apply(zxid + 2, close).changes.size(), 1u);
  EXPECT_EQ(dump(*loaded), dump(tree));
}

TEST_F(SnapshotTest, Nodes_ComeParentsFirstInNameOrder) {
  std::vector<std::string> names;
  for (const proto::SnapshotNode& record : snapshot_of(tree).nodes) names.push_back(record.name());
  EXPECT_EQ(names, (std::vector<std::string>{"", "d", "f", "lock-0000000002", "private", "zookeeper"}));
}

TEST_F(SnapshotTest, UnknownParent_IsRefused) {
  SnapshotRecords records = snapshot_of(tree);
  records.nodes[2].set_parent_inode(999);
  EXPECT_NE(refusal(records).find("unknown parent"), std::string::npos);
}

TEST_F(SnapshotTest, ChildBeforeParent_IsRefused) {
  SnapshotRecords records = snapshot_of(tree);
  std::swap(records.nodes[1], records.nodes[2]);
  refusal(records);
}

TEST_F(SnapshotTest, DuplicateName_IsRefused) {
  SnapshotRecords records = snapshot_of(tree);
  records.nodes[3].set_name("f");
  EXPECT_NE(refusal(records).find("duplicate name"), std::string::npos);
}

TEST_F(SnapshotTest, DuplicateInode_IsRefused) {
  SnapshotRecords records = snapshot_of(tree);
  records.nodes[3].set_inode(records.nodes[2].inode());
  EXPECT_NE(refusal(records).find("duplicate inode"), std::string::npos);
}

TEST_F(SnapshotTest, InodeBeyondCounter_IsRefused) {
  SnapshotRecords records = snapshot_of(tree);
  records.nodes[2].set_inode(records.header.next_inode());
  refusal(records);
}

TEST_F(SnapshotTest, MissingRoot_IsRefused) {
  SnapshotRecords records = snapshot_of(tree);
  records.nodes.erase(records.nodes.begin());
  refusal(records);
}

TEST_F(SnapshotTest, MissingZookeeper_IsRefused) {
  SnapshotRecords records = snapshot_of(tree);
  records.nodes.pop_back();
  records.header.set_node_count(records.nodes.size());
  EXPECT_NE(refusal(records).find("/zookeeper"), std::string::npos);
}

TEST_F(SnapshotTest, WrongNodeCount_IsRefused) {
  SnapshotRecords records = snapshot_of(tree);
  records.header.set_node_count(records.nodes.size() + 1);
  refusal(records);
}

TEST_F(SnapshotTest, BadAclOrName_IsRefused) {
  SnapshotRecords bad_acl = snapshot_of(tree);
  bad_acl.nodes[2].set_acl("nonsense");
  refusal(bad_acl);
  SnapshotRecords bad_name = snapshot_of(tree);
  bad_name.nodes[2].set_name("a/b");
  refusal(bad_name);
}

// A tree saved before the request rules on ACL bytes (parse_acl) may hold what they now refuse.
TEST_F(SnapshotTest, StoredAclOutsideTheRequestRules_StillLoads) {
  SnapshotRecords records = snapshot_of(tree);
  const std::string acl = std::string("digest:b\x01\xc3\xa9:h*sh:r,uid:7:cdrwa");
  for (proto::SnapshotNode& record : records.nodes) {
    if (record.name() == "private") record.set_acl(acl);
  }
  std::unique_ptr<DataTree> loaded = reload(records);
  ASSERT_NE(loaded, nullptr);
  EXPECT_EQ(format_acl(loaded->find("/d/private")->acl()), acl);
}

TEST_F(SnapshotTest, ChildOfFile_IsRefused) {
  SnapshotRecords records = snapshot_of(tree);
  records.nodes[3].set_parent_inode(records.nodes[2].inode());
  refusal(records);
}

TEST_F(SnapshotTest, FreshTree_RoundTrips) {
  DataTree fresh;
  std::unique_ptr<DataTree> loaded = reload(snapshot_of(fresh));
  ASSERT_NE(loaded, nullptr);
  EXPECT_EQ(dump(*loaded), dump(fresh));
}

}  // namespace
}  // namespace quorumfs::testing
