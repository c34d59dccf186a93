// Wall-clock times as the mount keeps them (int64 nanoseconds since the epoch, PosixMeta) and as
// the kernel takes them (timespec).
#pragma once

#include <time.h>

#include <chrono>
#include <cstdint>

namespace quorumfs::fusefs {

inline int64_t wall_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline int64_t timespec_ns(const timespec& ts) { return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec; }

inline timespec ns_timespec(int64_t ns) {
  return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

}  // namespace quorumfs::fusefs
