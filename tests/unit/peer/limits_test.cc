#include "daemon/peer/limits.h"

#include <gtest/gtest.h>

namespace quorumfs::peer {
namespace {

using namespace std::chrono_literals;
using Clock = LogLimiter::Clock;

TEST(AddressGroup, Ipv4IsItself_Ipv6IsItsSlash64_MappedIpv4IsIpv4) {
  using boost::asio::ip::make_address;
  EXPECT_EQ(address_group(make_address("10.0.0.9")), "10.0.0.9");
  EXPECT_EQ(address_group(make_address("2001:db8:1:2:aaaa:bbbb:cccc:dddd")), "2001:db8:1:2::/64");
  EXPECT_EQ(address_group(make_address("2001:db8:1:2::1")), address_group(make_address("2001:db8:1:2:ffff::7")));
  EXPECT_NE(address_group(make_address("2001:db8:1:2::1")), address_group(make_address("2001:db8:1:3::1")));
  EXPECT_EQ(address_group(make_address("::ffff:192.0.2.1")), "192.0.2.1");
}

TEST(LogLimiter, OneLinePerKeyPerInterval_TheNextSaysHowManyWereHeldBack) {
  LogLimiter log(10s, 16);
  const Clock::time_point start{};
  EXPECT_EQ(log.admit("10.0.0.9", start), "");
  for (int i = 1; i <= 41; ++i) EXPECT_EQ(log.admit("10.0.0.9", start + i * 100ms), std::nullopt);
  EXPECT_EQ(log.admit("10.0.0.7", start + 5s), "");  // another key has its own line
  EXPECT_EQ(log.admit("10.0.0.9", start + 10s), " (and 41 more held back in 10.0 s)");
  EXPECT_EQ(log.admit("10.0.0.9", start + 11s), std::nullopt);
  EXPECT_EQ(log.admit("10.0.0.9", start + 25s), " (and 1 more held back in 15.0 s)");
  EXPECT_EQ(log.admit("10.0.0.9", start + 40s), "");
}

TEST(LogLimiter, ManyKeys_ShareOneLinePerInterval_BeyondKeysMax) {
  LogLimiter log(10s, 4);
  const Clock::time_point start{};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(log.admit("10.0.0." + std::to_string(i), start), "");
  const std::optional<std::string> first_other = log.admit("10.0.1.0", start);
  ASSERT_TRUE(first_other);
  EXPECT_EQ(*first_other, " (the log names at most 4 addresses at once)");
  for (int i = 1; i < 1000; ++i) EXPECT_EQ(log.admit("10.0.1." + std::to_string(i % 250), start + 1s), std::nullopt);
  // An interval later the first keys have expired and make room again.
  EXPECT_EQ(log.admit("10.0.2.0", start + 10s), "");
}

}  // namespace
}  // namespace quorumfs::peer
