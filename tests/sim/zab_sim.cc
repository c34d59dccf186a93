// Runs seeded simulations of the Zab core (see cluster.h and docs/simulation.md):
//
//   $ build/tests/sim/zab_sim --seeds 100000          # seeds 1..100000, stops at the first failure
//   $ build/tests/sim/zab_sim --seed 4242 --verbose   # replays one seed, printing every event
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "tests/sim/cluster.h"

int main(int argc, char** argv) {
  uint64_t first = 1, count = 1000;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--seeds") && i + 1 < argc) {
      count = std::strtoull(argv[++i], nullptr, 10);
    } else if (!std::strcmp(argv[i], "--seed") && i + 1 < argc) {
      first = std::strtoull(argv[++i], nullptr, 10);
      count = 1;
    } else if (!std::strcmp(argv[i], "--verbose")) {
      verbose = true;
    } else {
      std::cerr << "usage: zab_sim [--seeds N | --seed S] [--verbose]\n";
      return 2;
    }
  }
  for (uint64_t seed = first; seed < first + count; ++seed) {
    std::string failure = quorumfs::sim::run_seed(seed, verbose);
    if (!failure.empty()) {
      std::cerr << "seed " << seed << " FAILED: " << failure << "\n"
                << "replay: zab_sim --seed " << seed << " --verbose\n";
      return 1;
    }
  }
  std::cout << count << " seeds passed\n";
  return 0;
}
