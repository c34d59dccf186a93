// A latency histogram with fixed buckets, recorded from any thread without a lock or an
// allocation (relaxed atomics: a scrape may see one sample's count before its sum, which
// Prometheus tolerates). The admin endpoint renders them (daemon/admin/metrics.h).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace quorumfs::metrics {

// Bucket upper bounds in microseconds: 50 µs (a read on the loop) to 10 s (a write that waits for
// a leader); a sample above the last goes to +Inf only.
inline constexpr std::array<uint64_t, 16> kLatencyBucketsUs{
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 10000000};

class LatencyHistogram {
 public:
  struct Counts {
    std::array<uint64_t, kLatencyBucketsUs.size()> buckets{};  // per bucket, not cumulative
    uint64_t count = 0;                                         // every sample, +Inf included
    uint64_t sum_ns = 0;
  };

  void record(std::chrono::nanoseconds latency) {
    const uint64_t ns = latency.count() < 0 ? 0 : static_cast<uint64_t>(latency.count());
    const uint64_t us = ns / 1000;
    for (size_t i = 0; i < kLatencyBucketsUs.size(); ++i) {
      if (us < kLatencyBucketsUs[i] || (us == kLatencyBucketsUs[i] && ns % 1000 == 0)) {
        buckets_[i].fetch_add(1, std::memory_order_relaxed);
        break;
      }
    }
    sum_ns_.fetch_add(ns, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
  }

  Counts counts() const {
    Counts counts;
    for (size_t i = 0; i < buckets_.size(); ++i) counts.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
    counts.sum_ns = sum_ns_.load(std::memory_order_relaxed);
    counts.count = count_.load(std::memory_order_relaxed);
    return counts;
  }

 private:
  std::array<std::atomic<uint64_t>, kLatencyBucketsUs.size()> buckets_{};
  std::atomic<uint64_t> sum_ns_{0};
  std::atomic<uint64_t> count_{0};
};

}  // namespace quorumfs::metrics
