#include <gtest/gtest.h>

#include "fusefs/open_file.h"

namespace quorumfs::fusefs {
namespace {

TEST(WriteBudget, WritesPastTheLimit_AreRefusedAndChargeNothing) {
  WriteBudget budget(100);
  OpenFile a, b;
  ASSERT_TRUE(budget.charge(a, 60));
  a.buffer.resize(60);
  EXPECT_FALSE(budget.charge(b, 41));
  EXPECT_EQ(budget.in_use(), 60u);
  EXPECT_TRUE(budget.charge(b, 40));
  b.buffer.resize(40);
  EXPECT_TRUE(budget.charge(a, 10));  // shrinking always fits
  a.buffer.resize(10);
  EXPECT_EQ(budget.in_use(), 50u);
}

// A commit's bytes count until it is answered, not until the buffer is emptied.
TEST(WriteBudget, CommittedBytes_CountUntilSettled) {
  WriteBudget budget(100);
  OpenFile file;
  ASSERT_TRUE(budget.charge(file, 80));
  file.buffer.resize(80);
  file.dirty = file.loaded = true;
  std::string taken = budget.take(file);
  budget.reset(file);
  EXPECT_EQ(taken.size(), 80u);
  EXPECT_FALSE(file.dirty);
  EXPECT_EQ(budget.in_use(), 80u);
  OpenFile other;
  EXPECT_FALSE(budget.charge(other, 30));
  budget.settle(taken.size());
  EXPECT_EQ(budget.in_use(), 0u);
  EXPECT_TRUE(budget.charge(other, 30));
}

TEST(WriteBudget, Reset_DropsTheBufferAndWhatWasPending) {
  WriteBudget budget(100);
  OpenFile file;
  ASSERT_TRUE(budget.charge(file, 5));
  file.buffer = "12345";
  file.write_error = 27;
  file.mtime_ns = 1;
  file.only_truncated = true;
  budget.reset(file);
  EXPECT_EQ(budget.in_use(), 0u);
  EXPECT_TRUE(file.buffer.empty());
  EXPECT_EQ(file.write_error, 0);
  EXPECT_FALSE(file.mtime_ns.has_value());
  EXPECT_FALSE(file.only_truncated);
}

}  // namespace
}  // namespace quorumfs::fusefs
