#include "daemon/admin/metrics.h"

#include <fmt/format.h>

#include <cmath>

namespace quorumfs::admin {

namespace {

void append_labels(std::string* text, std::string_view labels, std::string_view extra = "") {
  if (labels.empty() && extra.empty()) return;
  text->push_back('{');
  text->append(labels);
  if (!labels.empty() && !extra.empty()) text->push_back(',');
  text->append(extra);
  text->push_back('}');
}

}  // namespace

std::string label(std::string_view key, std::string_view value) {
  std::string text(key);
  text += "=\"";
  for (char c : value) {
    if (c == '\\') {
      text += "\\\\";
    } else if (c == '"') {
      text += "\\\"";
    } else if (c == '\n') {
      text += "\\n";
    } else {
      text.push_back(c);
    }
  }
  text.push_back('"');
  return text;
}

void PrometheusText::family(std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(text_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void PrometheusText::sample(std::string_view name, double value, std::string_view labels) {
  text_.append(name);
  append_labels(&text_, labels);
  if (std::isnan(value)) {
    text_ += " NaN\n";
  } else if (std::isinf(value)) {
    text_ += value > 0 ? " +Inf\n" : " -Inf\n";
  } else {
    fmt::format_to(std::back_inserter(text_), " {}\n", value);
  }
}

void PrometheusText::sample(std::string_view name, uint64_t value, std::string_view labels) {
  text_.append(name);
  append_labels(&text_, labels);
  fmt::format_to(std::back_inserter(text_), " {}\n", value);
}

void PrometheusText::histogram(std::string_view name, const metrics::LatencyHistogram::Counts& counts,
                               std::string_view labels) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < metrics::kLatencyBucketsUs.size(); ++i) {
    cumulative += counts.buckets[i];
    fmt::format_to(std::back_inserter(text_), "{}_bucket", name);
    append_labels(&text_, labels, label("le", fmt::format("{}", metrics::kLatencyBucketsUs[i] / 1e6)));
    fmt::format_to(std::back_inserter(text_), " {}\n", cumulative);
  }
  fmt::format_to(std::back_inserter(text_), "{}_bucket", name);
  append_labels(&text_, labels, "le=\"+Inf\"");
  fmt::format_to(std::back_inserter(text_), " {}\n", counts.count);
  fmt::format_to(std::back_inserter(text_), "{}_sum", name);
  append_labels(&text_, labels);
  fmt::format_to(std::back_inserter(text_), " {}\n", static_cast<double>(counts.sum_ns) / 1e9);
  fmt::format_to(std::back_inserter(text_), "{}_count", name);
  append_labels(&text_, labels);
  fmt::format_to(std::back_inserter(text_), " {}\n", counts.count);
}

}  // namespace quorumfs::admin
