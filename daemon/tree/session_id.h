// A session id in ZooKeeper's layout: the id of the server that opened it in the top byte, a
// per-server counter below. The host part is what session expiry goes by (a host's sessions live
// as long as the leader hears from that host); the counter keeps ids unique across restarts.
#pragma once

#include <compare>
#include <cstdint>

namespace quorumfs {

class SessionId {
 public:
  static constexpr int kCounterBits = 56;
  static constexpr uint64_t kCounterMask = (uint64_t{1} << kCounterBits) - 1;

  constexpr SessionId() = default;
  constexpr explicit SessionId(uint64_t value) : value_(value) {}
  // host: a server id (0..255, as in ZooKeeper's myid); counter: its low 56 bits are kept.
  static constexpr SessionId of(uint32_t host, uint64_t counter) {
    return SessionId((uint64_t{host & 0xff} << kCounterBits) | (counter & kCounterMask));
  }

  constexpr uint64_t value() const { return value_; }
  constexpr uint32_t host() const { return static_cast<uint32_t>(value_ >> kCounterBits); }
  constexpr uint64_t counter() const { return value_ & kCounterMask; }
  constexpr bool empty() const { return value_ == 0; }
  constexpr auto operator<=>(const SessionId&) const = default;

 private:
  uint64_t value_ = 0;
};

}  // namespace quorumfs
