#include "fusefs/errors.h"

#include <gtest/gtest.h>

#include <string>

namespace quorumfs::fusefs {
namespace {

TEST(Errors, NameTooLong_IsEnametoolong) { EXPECT_EQ(errno_of(Code::kNameTooLong), ENAMETOOLONG); }

// A name may hold any byte; the log line that quotes it may not (a newline would forge a line).
TEST(Errors, Printable_EscapesEverythingOutsidePrintableAscii) {
  EXPECT_EQ(printable("/a b/c~"), "/a b/c~");
  EXPECT_EQ(printable(std::string("/x\n\xff\0\\", 6)), "/x\\x0a\\xff\\x00\\x5c");
}

}  // namespace
}  // namespace quorumfs::fusefs
