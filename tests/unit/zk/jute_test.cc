#include "daemon/zk/jute.h"

#include <gtest/gtest.h>

#include <string>

namespace quorumfs::zk {
namespace {

TEST(Jute, WritesBigEndianAndReadsItBack) {
  std::string bytes;
  JuteWriter out(&bytes);
  out.write_int(-2);
  out.write_long(0x0102030405060708);
  out.write_bool(true);
  out.write_buffer("abc");
  out.write_null_buffer();
  EXPECT_EQ(std::string("\xff\xff\xff\xfe\x01\x02\x03\x04\x05\x06\x07\x08\x01\x00\x00\x00\x03" "abc\xff\xff\xff\xff", 24),
            bytes);
  JuteReader in(bytes);
  EXPECT_EQ(-2, in.read_int());
  EXPECT_EQ(0x0102030405060708, in.read_long());
  EXPECT_TRUE(in.read_bool());
  EXPECT_EQ("abc", in.read_buffer(10));
  EXPECT_EQ("", in.read_buffer(10));  // null reads as empty
  EXPECT_TRUE(in.at_end());
}

TEST(Jute, FrameLengthIsPatchedAtTheEnd) {
  std::string bytes = "x";
  JuteWriter out(&bytes);
  const size_t start = out.begin_frame();
  out.write_int(7);
  out.end_frame(start);
  EXPECT_EQ(std::string("x\x00\x00\x00\x04\x00\x00\x00\x07", 9), bytes);
}

TEST(Jute, ShortInputFailsAndLaterReadsYieldZero) {
  JuteReader in(std::string("\x00\x00\x01", 3));
  EXPECT_EQ(0, in.read_int());
  EXPECT_FALSE(in.ok());
  EXPECT_EQ(0, in.read_long());
  EXPECT_EQ(0u, in.remaining());
}

TEST(Jute, ABufferLongerThanItsLimitOrTheInputFails) {
  std::string bytes;
  JuteWriter(&bytes).write_buffer("abcdef");
  JuteReader limited(bytes);
  limited.read_buffer(5);
  EXPECT_FALSE(limited.ok());

  const std::string claims_more("\x00\x00\x10\x00" "ab", 6);  // 4096 bytes claimed, 2 present
  JuteReader truncated(claims_more);
  truncated.read_buffer(1 << 20);
  EXPECT_FALSE(truncated.ok());

  const std::string negative("\xff\xff\xff\xfe", 4);  // -2: neither a length nor null
  JuteReader bad(negative);
  bad.read_buffer(10);
  EXPECT_FALSE(bad.ok());
}

TEST(Jute, ACountTheInputCannotHoldFailsBeforeAnythingIsAllocated) {
  const std::string huge("\x7f\xff\xff\xff", 4);
  JuteReader in(huge);
  EXPECT_EQ(0u, in.read_count(size_t{1} << 40, 4));
  EXPECT_FALSE(in.ok());

  std::string two;
  JuteWriter out(&two);
  out.write_int(2);
  out.write_int(0);
  out.write_int(0);
  JuteReader over_limit(two);
  over_limit.read_count(1, 4);
  EXPECT_FALSE(over_limit.ok());
  JuteReader fits(two);
  EXPECT_EQ(2u, fits.read_count(2, 4));
  EXPECT_TRUE(fits.ok());
}

}  // namespace
}  // namespace quorumfs::zk
