// The mount's POSIX -> txn rules, without a mount: each txn is applied to a real tree.
#include "fusefs/txn_rules.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <sys/stat.h>

#include <utility>
#include <vector>

#include "fusefs/background_create.h"
#include "tests/unit/tree/tree_fixture.h"

namespace quorumfs::fusefs {
namespace {

using quorumfs::testing::dir_op;
using quorumfs::testing::file_op;
using quorumfs::testing::set_data_op;

class TxnRules : public ::testing::Test {
 protected:
  ApplyResult apply(proto::Txn txn) {
    txn.set_time_ns(1'000'000'000);
    txn.mutable_caller()->set_uid(0);
    return tree_.apply((Zxid{1} << 32) | ++counter_, txn);
  }
  ApplyResult apply(proto::Op op) {
    proto::Txn txn;
    *txn.add_ops() = std::move(op);
    return apply(std::move(txn));
  }

  DataTree tree_;
  uint64_t counter_ = 0;
};

TEST(CreateFlags, ParentStickyBit_MakesEveryChildSequential) {
  EXPECT_TRUE(create_flags(01755, 0644, false, O_CREAT).sequential);
  EXPECT_TRUE(create_flags(01755, 0755, true, std::nullopt).sequential);
  EXPECT_FALSE(create_flags(0755, 0644, false, O_CREAT).sequential);
}

TEST(CreateFlags, ParentSetGid_MakesFilesEphemeral_NotDirectories) {
  EXPECT_TRUE(create_flags(02755, 0644, false, O_CREAT).ephemeral);
  EXPECT_FALSE(create_flags(02755, 0755, true, std::nullopt).ephemeral);
}

TEST(CreateFlags, FileModeBits_AddToTheParents_AndAreNotKept) {
  const CreateFlags flags = create_flags(0755, 03644, false, O_CREAT);
  EXPECT_TRUE(flags.sequential);
  EXPECT_TRUE(flags.ephemeral);
  EXPECT_EQ(flags.mode, 0644u);
  EXPECT_EQ(create_flags(0755, 04755, false, O_CREAT).mode, 04755u);  // set-user-ID kept, as on ext4
  EXPECT_EQ(create_flags(0755, 03755, true, std::nullopt).mode, 03755u);  // a directory keeps its flags
}

TEST(CreateFlags, OnlyAPlainOpenCreat_OpensAnExistingName) {
  EXPECT_FALSE(create_flags(0755, 0644, false, O_CREAT | O_WRONLY).exclusive);
  EXPECT_TRUE(create_flags(0755, 0644, false, O_CREAT | O_EXCL).exclusive);
  EXPECT_TRUE(create_flags(0755, 0755, true, std::nullopt).exclusive);      // mkdir
  EXPECT_TRUE(create_flags(01755, 0644, false, O_CREAT).exclusive);         // a new sequential name
}

TEST_F(TxnRules, EphemeralCreate_OpensItsSessionInTheSameTxn) {
  ASSERT_EQ(apply(dir_op("/m")).code, Code::kOk);
  int index = -1;
  const CreateFlags flags = create_flags(02755, 0644, false, O_CREAT);
  ApplyResult result = apply(create_txn("/m/host", false, flags, 1000, 100, 77, &index));
  ASSERT_EQ(result.code, Code::kOk);
  EXPECT_EQ(index, 1);
  EXPECT_TRUE(tree_.session_open(77));
  EXPECT_EQ(tree_.find("/m/host")->stat().ephemeral_owner, 77u);
}

TEST_F(TxnRules, SequentialCreate_GetsTheSuffix) {
  ASSERT_EQ(apply(dir_op("/q")).code, Code::kOk);
  int index = -1;
  ApplyResult result = apply(create_txn("/q/job-", false, create_flags(01755, 0644, false, O_CREAT), 1000, 100, 0, &index));
  ASSERT_EQ(result.code, Code::kOk);
  EXPECT_EQ(index, 0);
  EXPECT_EQ(result.ops[0].path, "/q/job-0000000000");
}

TEST_F(TxnRules, Delete_OfTheWrongKind_ChangesNothing) {
  ASSERT_EQ(apply(file_op("/f")).code, Code::kOk);
  ASSERT_EQ(apply(dir_op("/d")).code, Code::kOk);
  EXPECT_EQ(apply(delete_txn("/f", true)).code, Code::kNotDirectory);
  EXPECT_EQ(apply(delete_txn("/d", false)).code, Code::kIsDirectory);
  EXPECT_NE(tree_.find("/f"), nullptr);
  EXPECT_EQ(apply(delete_txn("/f", false)).code, Code::kOk);
}

TEST_F(TxnRules, Rename_IsOneTxnThatKeepsDataInodeAndOwner) {
  ASSERT_EQ(apply(file_op("/a", "payload")).code, Code::kOk);
  const uint64_t inode = tree_.find("/a")->inode();
  proto::Txn txn;
  ASSERT_EQ(rename_txn(*tree_.find("/a"), nullptr, "/a", "/b", 0, &txn), 0);
  ASSERT_EQ(apply(txn).code, Code::kOk);
  EXPECT_EQ(tree_.find("/a"), nullptr);
  const Node* moved = tree_.find("/b");
  ASSERT_NE(moved, nullptr);
  EXPECT_EQ(moved->data(), "payload");
  EXPECT_EQ(moved->inode(), inode);
  EXPECT_EQ(moved->attrs().uid, 1000u);
}

// The kind is in ephemeral_owner, which a create may not name for a container or TTL node.
TEST_F(TxnRules, Rename_KeepsAContainersOrTtlNodesKind) {
  proto::Op container = dir_op("/c");
  container.mutable_create()->set_container(true);
  proto::Op ttl = file_op("/t");
  ttl.mutable_create()->set_ttl_ms(5000);
  ASSERT_EQ(apply(container).code, Code::kOk);
  ASSERT_EQ(apply(ttl).code, Code::kOk);
  for (auto [from, to] : {std::pair{"/c", "/c2"}, std::pair{"/t", "/t2"}}) {
    const uint64_t owner = tree_.find(from)->stat().ephemeral_owner;
    proto::Txn txn;
    ASSERT_EQ(rename_txn(*tree_.find(from), nullptr, from, to, 0, &txn), 0);
    ASSERT_EQ(apply(txn).code, Code::kOk) << from;
    EXPECT_EQ(tree_.find(to)->stat().ephemeral_owner, owner) << to;
  }
  EXPECT_EQ(tree_.containers_and_ttl_nodes().size(), 2u);
}

TEST_F(TxnRules, RenameOverATarget_FailsWholeIfEitherChangedSince) {
  ASSERT_EQ(apply(file_op("/a", "new")).code, Code::kOk);
  ASSERT_EQ(apply(file_op("/b", "old")).code, Code::kOk);
  proto::Txn txn;
  ASSERT_EQ(rename_txn(*tree_.find("/a"), tree_.find("/b"), "/a", "/b", 0, &txn), 0);
  ASSERT_EQ(apply(set_data_op("/b", "changed meanwhile")).code, Code::kOk);
  EXPECT_EQ(apply(txn).code, Code::kBadVersion);
  EXPECT_EQ(tree_.find("/a")->data(), "new");
  EXPECT_EQ(tree_.find("/b")->data(), "changed meanwhile");
}

TEST_F(TxnRules, RenameRefusals) {
  ASSERT_EQ(apply(dir_op("/d")).code, Code::kOk);
  ASSERT_EQ(apply(file_op("/d/child")).code, Code::kOk);
  ASSERT_EQ(apply(file_op("/f")).code, Code::kOk);
  ASSERT_EQ(apply(dir_op("/e")).code, Code::kOk);
  proto::Txn txn;
  EXPECT_EQ(rename_txn(*tree_.find("/d"), nullptr, "/d", "/x", 0, &txn), EXDEV);  // a subtree
  EXPECT_EQ(rename_txn(*tree_.find("/f"), tree_.find("/e"), "/f", "/e", 0, &txn), EISDIR);
  EXPECT_EQ(rename_txn(*tree_.find("/e"), tree_.find("/f"), "/e", "/f", 0, &txn), ENOTDIR);
  EXPECT_EQ(rename_txn(*tree_.find("/f"), tree_.find("/d/child"), "/f", "/d/child", RENAME_NOREPLACE, &txn), EEXIST);
}

TEST_F(TxnRules, Commit_IsOneSetDataWithPinnedTimesAndDroppedPrivileges) {
  ASSERT_EQ(apply(file_op("/f", "old")).code, Code::kOk);
  CommitContent content;
  content.data = "new";
  content.mtime_ns = 42;
  content.kill_privileges = true;
  proto::Txn txn = commit_txn("/f", 06755, content);
  ASSERT_EQ(txn.ops_size(), 2);
  EXPECT_EQ(txn.ops(0).set_data().data(), "new");
  EXPECT_EQ(txn.ops(1).set_meta().meta().mtime_ns(), 42);
  EXPECT_EQ(txn.ops(1).set_meta().meta().mode(), 0755u);
  ASSERT_EQ(apply(txn).code, Code::kOk);
  EXPECT_EQ(tree_.find("/f")->data(), "new");
  EXPECT_EQ(tree_.find("/f")->stat().version, 1);
  EXPECT_EQ(commit_txn("/f", 0644, content).ops_size(), 2);  // times only: nothing to drop
  content.mtime_ns.reset();
  EXPECT_EQ(commit_txn("/f", 0644, content).ops_size(), 1);
}

TEST_F(TxnRules, BackgroundCreate_IsOneCreateWithTheReservedInodeAndTheContent) {
  proto::Txn reserve;
  reserve.add_ops()->mutable_reserve_inodes()->set_count(InodeBlocks::kBlockInodes);
  ApplyResult reserved = apply(reserve);
  ASSERT_EQ(reserved.code, Code::kOk);
  const uint64_t inode = reserved.ops[0].inode + 5;
  CommitContent content;
  content.data = "hello";
  content.mtime_ns = 42;
  content.kill_privileges = true;
  proto::Txn txn = background_create_txn({"/new", inode, 04755, 1000, 100}, &content);
  ASSERT_EQ(txn.ops_size(), 1);
  ApplyResult created = apply(txn);
  ASSERT_EQ(created.code, Code::kOk);
  const Node* node = tree_.find("/new");
  ASSERT_NE(node, nullptr);
  EXPECT_EQ(node->inode(), inode);
  EXPECT_EQ(node->data(), "hello");
  EXPECT_EQ(node->stat().version, 0);
  EXPECT_EQ(node->stat().czxid, node->stat().mzxid);
  EXPECT_EQ(node->attrs().mode, 0755u);  // written by a caller without CAP_FSETID
  EXPECT_EQ(node->attrs().mtime_ns, 42);
  EXPECT_EQ(node->attrs().uid, 1000u);

  // Ordered early (no content): an empty file with the asked mode.
  ASSERT_EQ(apply(background_create_txn({"/early", inode + 1, 0640, 1000, 100}, nullptr)).code, Code::kOk);
  EXPECT_EQ(tree_.find("/early")->data(), "");
  EXPECT_EQ(tree_.find("/early")->attrs().mode, 0640u);
  // The name taken meanwhile: NodeExists, and the other node is untouched.
  EXPECT_EQ(apply(background_create_txn({"/new", inode + 2, 0644, 0, 0}, &content)).code, Code::kNodeExists);
}

TEST(InodeBlocks, TakesEachNumberOnce_AsksForMoreAtHalf_AndUsesTheSpareAfter) {
  InodeBlocks blocks;
  EXPECT_EQ(blocks.take(), 0u);  // nothing reserved yet
  EXPECT_TRUE(blocks.wants_more());
  blocks.set_reserving(true);
  EXPECT_FALSE(blocks.wants_more());  // one reservation at a time
  blocks.set_reserving(false);
  blocks.add(100, 4);
  blocks.add(1000, 2);  // answered while the first is in use: the spare
  std::vector<uint64_t> taken;
  for (uint64_t inode; (inode = blocks.take()) != 0;) taken.push_back(inode);
  EXPECT_EQ(taken, (std::vector<uint64_t>{100, 101, 102, 103, 1000, 1001}));
  EXPECT_TRUE(blocks.wants_more());

  InodeBlocks full;
  full.add(1, InodeBlocks::kBlockInodes);
  EXPECT_FALSE(full.wants_more());
  for (uint32_t i = 0; i <= InodeBlocks::kBlockInodes / 2; ++i) full.take();
  EXPECT_TRUE(full.wants_more());
}

TEST(ModeWithoutPrivileges, AsTheKernelsShouldRemoveSuid) {
  EXPECT_EQ(mode_without_privileges(04755), 0755u);
  EXPECT_EQ(mode_without_privileges(02755), 0755u);  // set-group-ID with group-execute
  EXPECT_EQ(mode_without_privileges(02745), 02745u);  // mandatory-locking marker: kept
}

TEST(FlushCommits, OnlyAnUnsharedOrWrittenDescriptorCommits) {
  EXPECT_TRUE(flush_commits(false, false));
  EXPECT_TRUE(flush_commits(false, true));   // data written: commits
  EXPECT_TRUE(flush_commits(true, false));   // `: > f`: the truncate is durable at close
  EXPECT_FALSE(flush_commits(true, true));   // `echo x > f`'s dup2 close: waits for the data
}

TEST(Paths, TheLockTree) {
  EXPECT_TRUE(in_lock_tree("/.locks"));
  EXPECT_TRUE(in_lock_tree("/.locks/42/write-0000000001"));
  EXPECT_FALSE(in_lock_tree("/.lockssmith"));
  EXPECT_FALSE(in_lock_tree("/a/.locks"));
}

TEST(Paths, JoinAndBounds) {
  EXPECT_EQ(join_path("/", "a"), "/a");
  EXPECT_EQ(join_path("/a", "b"), "/a/b");
  EXPECT_EQ(bounds_error("ok", "/ok"), "");
  EXPECT_NE(bounds_error(std::string(256, 'n'), "/x"), "");
}

}  // namespace
}  // namespace quorumfs::fusefs
