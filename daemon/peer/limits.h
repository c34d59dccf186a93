// What the transport uses to keep strangers on the peer port cheap (docs/wire.md, "Strangers"):
// the address group a per-address cap counts by, and a log that says each thing once per interval.
//
//   LogLimiter log(10s, 256);
//   if (std::optional<std::string> note = log.admit("10.0.0.9", now)) {
//     spdlog::warn("peer: closing a connection from 10.0.0.9: ...{}", *note);
//   }   // -> "... (and 41 more held back in 10 s)" on the first line let through after a burst
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <boost/asio/ip/address.hpp>

namespace quorumfs::peer {

// The source a per-address cap counts: an IPv4 address, or an IPv6 address's /64 (one host
// usually holds a whole /64, and could otherwise take a fresh address for every connection).
// An IPv4-mapped IPv6 address counts as its IPv4 address.
std::string address_group(const boost::asio::ip::address& address);

// Lets a line about a key (an address) through at most once per interval, and counts the lines it
// holds back; the next line let through for that key says how many. It remembers at most keys_max
// keys, so a flood from many addresses cannot grow it: beyond them, every other key shares one
// line per interval.
class LogLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  LogLimiter(Clock::duration interval, size_t keys_max);

  // nullopt: hold the line back. Otherwise log it, followed by the returned note ("" when nothing
  // was held back, else " (and N more held back in T s)").
  std::optional<std::string> admit(const std::string& key, Clock::time_point now);

 private:
  struct Entry {
    Clock::time_point logged_at;
    uint64_t held_back = 0;
  };

  std::optional<std::string> admit(Entry* entry, Clock::time_point now);
  void forget_expired(Clock::time_point now);

  const Clock::duration interval_;
  const size_t keys_max_;
  std::map<std::string, Entry> entries_;
  std::optional<Entry> others_;  // every key beyond keys_max
};

}  // namespace quorumfs::peer
