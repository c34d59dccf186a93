#include "daemon/peer/auth.h"

#include <gtest/gtest.h>

namespace quorumfs::peer {
namespace {

std::string hex(std::string_view bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char byte : bytes) {
    out.push_back(kDigits[byte >> 4]);
    out.push_back(kDigits[byte & 15]);
  }
  return out;
}

std::string bytes_from(int first) {
  std::string bytes;
  for (int i = 0; i < 32; ++i) bytes.push_back(static_cast<char>(first + i));
  return bytes;
}

// Vectors from Python's hmac module over the layout in docs/wire.md: a second implementation of
// the handshake needs nothing else to interoperate.
TEST(Auth, Mac_MatchesTheDocumentedLayout) {
  const std::string dialer_nonce = bytes_from(0);
  const std::string acceptor_nonce = bytes_from(32);
  EXPECT_EQ(hex(handshake_mac("secret", HandshakeRole::kDialer, 2, dialer_nonce, acceptor_nonce, 1)),
            "397310d8866a6291aa0207408c2a4f05db068adb2f521f5004ef19af3b9ce240");
  EXPECT_EQ(hex(handshake_mac("", HandshakeRole::kAcceptor, 1, dialer_nonce, acceptor_nonce, 1)),
            "a0e5ca7fe825949bd966a794cda72869be17ef4835ffc5f29b5280a306d7d3c7");
}

TEST(Auth, Mac_DependsOnEveryInput) {
  const std::string a = bytes_from(0), b = bytes_from(32);
  const std::string base = handshake_mac("s", HandshakeRole::kDialer, 2, a, b, 1);
  EXPECT_NE(base, handshake_mac("t", HandshakeRole::kDialer, 2, a, b, 1));
  EXPECT_NE(base, handshake_mac("s", HandshakeRole::kAcceptor, 2, a, b, 1));
  EXPECT_NE(base, handshake_mac("s", HandshakeRole::kDialer, 3, a, b, 1));
  EXPECT_NE(base, handshake_mac("s", HandshakeRole::kDialer, 2, b, a, 1));
  EXPECT_NE(base, handshake_mac("s", HandshakeRole::kDialer, 2, a, b, 2));
}

TEST(Auth, Nonces_AreFreshAndFullLength) {
  const std::optional<std::string> first = random_nonce(), second = random_nonce();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->size(), kNonceBytes);
  EXPECT_NE(*first, *second);
}

TEST(Auth, MacMatches_NeedsEqualLengthAndBytes) {
  EXPECT_TRUE(mac_matches("abc", "abc"));
  EXPECT_FALSE(mac_matches("abc", "abd"));
  EXPECT_FALSE(mac_matches("abc", "ab"));
  EXPECT_FALSE(mac_matches("abc", ""));
}

}  // namespace
}  // namespace quorumfs::peer
