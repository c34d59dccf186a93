#include "fusefs/errors.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <string>

#include <spdlog/sinks/ostream_sink.h>

namespace quorumfs::fusefs {
namespace {

TEST(Errors, NameTooLong_IsEnametoolong) { EXPECT_EQ(errno_of(Code::kNameTooLong), ENAMETOOLONG); }

// A name may hold any byte; the log line that quotes it may not (a newline would forge a line).
TEST(Errors, Printable_EscapesEverythingOutsidePrintableAscii) {
  EXPECT_EQ(printable("/a b/c~"), "/a b/c~");
  EXPECT_EQ(printable(std::string("/x\n\xff\0\\", 6)), "/x\\x0a\\xff\\x00\\x5c");
}

// A user looping over refused names gets a bounded number of log lines.
TEST(Errors, RefusalLines_AreBoundedPerWindow) {
  std::ostringstream lines;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(lines);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink));
  for (int i = 0; i < 10 * kRefusalLinesPerWindow; ++i) log_refusal("lookup", "/x", ENAMETOOLONG, "name too long");
  spdlog::set_default_logger(previous);
  const std::string text = lines.str();
  EXPECT_LE(std::count(text.begin(), text.end(), '\n'), kRefusalLinesPerWindow);
  EXPECT_NE(text.find("lookup /x: File name too long (name too long)"), std::string::npos);
}

}  // namespace
}  // namespace quorumfs::fusefs
