// Credentials of the client port (docs/zk-protocol.md, "Sessions" and "One tree").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace quorumfs::zk {

// ZooKeeper's session passwords are 16 bytes.
inline constexpr size_t kPasswordBytes = 16;

// A session's password: HMAC-SHA256 of its id under the ensemble's secret, cut to 16 bytes. Every
// member computes the same one, so a client can move its session to any member.
std::string session_password(std::string_view secret, uint64_t session_id);
// Compares in constant time.
bool password_matches(std::string_view secret, uint64_t session_id, std::string_view password);

// addauth digest "user:password" -> "user:BASE64(SHA1(user:password))", the id a digest ACL entry
// names. Empty when the credentials have no ':'.
std::string digest_id(std::string_view credentials);

}  // namespace quorumfs::zk
