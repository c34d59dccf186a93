// zxid: ZooKeeper's transaction id, epoch << 32 | counter. (e, 0) marks a new leader's epoch;
// its first txn is (e, 1).
#pragma once
#include <cstdint>

namespace quorumfs {

using Zxid = int64_t;

constexpr Zxid make_zxid(uint32_t epoch, uint32_t counter) {
  return static_cast<Zxid>((static_cast<uint64_t>(epoch) << 32) | counter);
}
constexpr uint32_t zxid_epoch(Zxid zxid) { return static_cast<uint32_t>(static_cast<uint64_t>(zxid) >> 32); }
constexpr uint32_t zxid_counter(Zxid zxid) { return static_cast<uint32_t>(zxid & 0xffffffffu); }

}  // namespace quorumfs
