#include <gtest/gtest.h>

#include "fusefs/unlinked.h"

namespace quorumfs::fusefs {
namespace {

std::shared_ptr<const DeletedNode> deleted_with(std::string_view data) {
  auto node = std::make_shared<DeletedNode>();
  node->data = data;
  node->attrs.mode = 0640;
  return node;
}

TEST(UnlinkedFiles, DeletedWhileOpen_IsKeptUntilTheLastRelease) {
  WriteBudget budget(100);
  UnlinkedFiles unlinked(budget);
  unlinked.opened(7);
  unlinked.opened(7);
  EXPECT_TRUE(unlinked.deleted(7, deleted_with("last data")));
  ASSERT_NE(unlinked.find(7), nullptr);
  EXPECT_EQ(unlinked.find(7)->data.view(), "last data");
  EXPECT_EQ(unlinked.find(7)->attrs.mode, 0640u);
  EXPECT_EQ(budget.in_use(), 9u);
  unlinked.released(7);
  EXPECT_NE(unlinked.find(7), nullptr);
  unlinked.released(7);
  EXPECT_EQ(unlinked.find(7), nullptr);
  EXPECT_EQ(unlinked.kept_count(), 0u);
  EXPECT_EQ(budget.in_use(), 0u);
  EXPECT_FALSE(unlinked.is_open(7));
}

TEST(UnlinkedFiles, DeletedWhileNotOpen_IsNotKept) {
  WriteBudget budget(100);
  UnlinkedFiles unlinked(budget);
  unlinked.opened(8);
  EXPECT_FALSE(unlinked.deleted(7, deleted_with("data")));
  EXPECT_EQ(unlinked.find(7), nullptr);
  EXPECT_EQ(budget.in_use(), 0u);
}

// Past the host's budget nothing is kept: its descriptors get ENOENT, as before (docs/mount.md).
TEST(UnlinkedFiles, PastTheBudget_NothingIsKept) {
  WriteBudget budget(10);
  UnlinkedFiles unlinked(budget);
  unlinked.opened(7);
  unlinked.opened(8);
  EXPECT_TRUE(unlinked.deleted(7, deleted_with("12345678")));
  EXPECT_FALSE(unlinked.deleted(8, deleted_with("123")));
  EXPECT_EQ(unlinked.find(8), nullptr);
  EXPECT_EQ(budget.in_use(), 8u);
  OpenFile writer;
  EXPECT_FALSE(budget.charge(writer, 3));  // the kept bytes count against writes too
  unlinked.released(7);
  EXPECT_TRUE(budget.charge(writer, 3));
}

TEST(UnlinkedFiles, DeletedTwice_KeepsTheLastStateChargedOnce) {
  WriteBudget budget(100);
  UnlinkedFiles unlinked(budget);
  unlinked.opened(7);
  EXPECT_TRUE(unlinked.deleted(7, deleted_with("first")));
  EXPECT_TRUE(unlinked.deleted(7, deleted_with("second!")));
  EXPECT_EQ(unlinked.find(7)->data.view(), "second!");
  EXPECT_EQ(budget.in_use(), 7u);
}

TEST(UnlinkedFiles, Destroyed_GivesItsBytesBack) {
  WriteBudget budget(100);
  {
    UnlinkedFiles unlinked(budget);
    unlinked.opened(7);
    EXPECT_TRUE(unlinked.deleted(7, deleted_with("data")));
    EXPECT_EQ(budget.in_use(), 4u);
  }
  EXPECT_EQ(budget.in_use(), 0u);
}

}  // namespace
}  // namespace quorumfs::fusefs
