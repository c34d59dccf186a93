// Latency figures of the benchmark drivers (fsbench, zkbench): nearest-rank percentiles of a sorted
// sample, and the sampled CDF their JSON carries for tools/bench/vs-zookeeper.sh to plot.
//
//   const auto cdf = quorumfs::bench::latency_cdf(sorted_ns, 1e6);   // [[0.001, ms], ..., [1, max]]
//
// The CDF is the percentile at fixed fractions (0.001, 0.01 to 0.99 by 0.01, 0.995, 0.999, 1), so
// runs of any size give a line of the same ~100 points, and percentiles of several runs can be
// combined fraction by fraction.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <vector>

namespace quorumfs::bench {

// Nearest rank: the smallest sample with at least `fraction` of the sample at or below it.
// `unit_ns` converts: 1e3 gives microseconds, 1e6 milliseconds. 0 for an empty sample.
template <typename Nanoseconds>
double percentile(const std::vector<Nanoseconds>& sorted_ns, double fraction, double unit_ns) {
  if (sorted_ns.empty()) return 0;
  const size_t rank = size_t(std::ceil(fraction * double(sorted_ns.size())));
  return double(sorted_ns[std::clamp<size_t>(rank, 1, sorted_ns.size()) - 1]) / unit_ns;
}

// [fraction, latency] pairs; empty for an empty sample.
template <typename Nanoseconds>
std::vector<std::array<double, 2>> latency_cdf(const std::vector<Nanoseconds>& sorted_ns,
                                               double unit_ns) {
  std::vector<std::array<double, 2>> points;
  if (sorted_ns.empty()) return points;
  std::vector<double> fractions{0.001};
  for (int percent = 1; percent <= 99; ++percent) fractions.push_back(percent / 100.0);
  fractions.insert(fractions.end(), {0.995, 0.999, 1.0});
  for (double fraction : fractions) {
    points.push_back({fraction, percentile(sorted_ns, fraction, unit_ns)});
  }
  return points;
}

}  // namespace quorumfs::bench
