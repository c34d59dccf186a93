// QFS_CHECK stays on in the build everyone runs (RelWithDebInfo defines NDEBUG, which would
// compile an assert() away) and names the broken invariant.
#include <gtest/gtest.h>

#include "consensus/check.h"

namespace quorumfs {
namespace {

TEST(Check, HoldingInvariant_DoesNothing) {
  int evaluated = 0;
  QFS_CHECK(++evaluated == 1, "evaluated once");
  EXPECT_EQ(evaluated, 1);
}

TEST(CheckDeathTest, BrokenInvariant_StopsTheProcessNamingIt) {
  EXPECT_DEATH(QFS_CHECK(1 + 1 == 3, "arithmetic holds"),
               "check failed: arithmetic holds \\(1 \\+ 1 == 3\\) at .*check_test.cc");
}

}  // namespace
}  // namespace quorumfs
