// Prometheus's text exposition format (version 0.0.4) for /metrics: each family's HELP and TYPE
// once, then its samples; histograms as cumulative _bucket{le="..."} lines, _sum and _count, in
// seconds (docs/operations.md, "Admin endpoint and metrics", lists the families).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "daemon/metrics/histogram.h"

namespace quorumfs::admin {

class PrometheusText {
 public:
  // Starts a family: type is counter, gauge or histogram.
  void family(std::string_view name, std::string_view type, std::string_view help);
  // One sample of the current family; labels as `op="create",server="2"` (built with label()).
  void sample(std::string_view name, double value, std::string_view labels = "");
  void sample(std::string_view name, uint64_t value, std::string_view labels = "");
  void histogram(std::string_view name, const metrics::LatencyHistogram::Counts& counts, std::string_view labels = "");

  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

// key="value" with the value escaped as the format wants (backslash, quote, newline).
std::string label(std::string_view key, std::string_view value);

}  // namespace quorumfs::admin
