// Seeded random runs (1000 seeds in ten shards, so ctest can spread them) and scripted
// scenarios for the ZooKeeper bugs of ZAB-NOTES §4.
#include <gtest/gtest.h>

#include "tests/sim/cluster.h"

namespace quorumfs::sim {
namespace {

class Seeds : public testing::TestWithParam<int> {};

TEST_P(Seeds, InvariantsHoldAndReplicasConverge) {
  uint64_t first = static_cast<uint64_t>(GetParam()) * 100 + 1;
  for (uint64_t seed = first; seed < first + 100; ++seed) {
    std::string failure = run_seed(seed, false);
    ASSERT_EQ(failure, "") << "seed " << seed << "; replay: zab_sim --seed " << seed << " --verbose";
  }
}

INSTANTIATE_TEST_SUITE_P(Shard, Seeds, testing::Range(0, 10));

}  // namespace
}  // namespace quorumfs::sim
