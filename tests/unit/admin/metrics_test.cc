// /metrics' text: Prometheus's exposition format exactly (HELP and TYPE, cumulative buckets with
// le in seconds, +Inf, _sum, _count), and the histogram's bucketing at its bounds.
#include "daemon/admin/metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace quorumfs::admin {
namespace {

using namespace std::chrono_literals;

TEST(PrometheusTextTest, CounterAndGaugeWithLabels) {
  PrometheusText out;
  out.family("quorumfs_znodes", "gauge", "Znodes in the tree");
  out.sample("quorumfs_znodes", uint64_t{42});
  out.family("quorumfs_server_state", "gauge", "State");
  out.sample("quorumfs_server_state", uint64_t{1}, label("state", "leader"));
  out.sample("quorumfs_uptime_seconds", 1.5);
  EXPECT_EQ(out.text(),
            "# HELP quorumfs_znodes Znodes in the tree\n"
            "# TYPE quorumfs_znodes gauge\n"
            "quorumfs_znodes 42\n"
            "# HELP quorumfs_server_state State\n"
            "# TYPE quorumfs_server_state gauge\n"
            "quorumfs_server_state{state=\"leader\"} 1\n"
            "quorumfs_uptime_seconds 1.5\n");
}

TEST(PrometheusTextTest, LabelValuesAreEscaped) {
  EXPECT_EQ(label("op", "a\"b\\c\nd"), "op=\"a\\\"b\\\\c\\nd\"");
}

TEST(PrometheusTextTest, HistogramIsCumulativeInSeconds) {
  metrics::LatencyHistogram histogram;
  histogram.record(30us);    // <= 50 µs
  histogram.record(50us);    // exactly on the bound: in it
  histogram.record(51us);    // <= 100 µs
  histogram.record(20s);     // past the last bound: +Inf only
  PrometheusText out;
  out.histogram("x_seconds", histogram.counts(), label("op", "create"));
  const std::string& text = out.text();
  EXPECT_NE(text.find("x_seconds_bucket{op=\"create\",le=\"5e-05\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_seconds_bucket{op=\"create\",le=\"0.0001\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_seconds_bucket{op=\"create\",le=\"10\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_seconds_bucket{op=\"create\",le=\"+Inf\"} 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_seconds_sum{op=\"create\"} 20.000131\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_seconds_count{op=\"create\"} 4\n"), std::string::npos) << text;
  // 16 bounds, +Inf, sum, count.
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 19);
}

TEST(PrometheusTextTest, EmptyHistogramWithoutLabels) {
  PrometheusText out;
  out.histogram("y_seconds", metrics::LatencyHistogram{}.counts());
  EXPECT_NE(out.text().find("y_seconds_bucket{le=\"0.00025\"} 0\n"), std::string::npos) << out.text();
  EXPECT_NE(out.text().find("y_seconds_sum 0\n"), std::string::npos) << out.text();
  EXPECT_NE(out.text().find("y_seconds_count 0\n"), std::string::npos) << out.text();
}

}  // namespace
}  // namespace quorumfs::admin
