// Not a pass/fail threshold: prints what a node costs, so a change that bloats it shows up.
// Budget (docs/benchmarks.md: 100k nodes of 100 B in well under 40 MB RSS): ~250 B per node beyond
// its data.
#include <malloc.h>

#include <gtest/gtest.h>

#include <cstdio>

#include "tests/unit/tree/tree_fixture.h"

namespace quorumfs::testing {
namespace {

size_t heap_bytes_in_use() { return mallinfo2().uordblks; }

long resident_megabytes() {
  long pages_total = 0, pages_resident = 0;
  if (FILE* statm = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(statm, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = 0;
    std::fclose(statm);
  }
  return pages_resident * 4096 / (1024 * 1024);
}

TEST(TreeMemory, HundredThousandNodesOf100Bytes_PrintsBytesPerNode) {
  constexpr int kDirectories = 100;
  constexpr int kFilesPerDirectory = 1000;
  constexpr size_t kDataBytes = 100;
  size_t heap_before = heap_bytes_in_use();
  long resident_before_megabytes = resident_megabytes();
  {
    DataTree tree;
    Zxid zxid = 0;
    proto::Txn txn;
    for (int d = 0; d < kDirectories; ++d) {
      txn.clear_ops();
      *txn.add_ops() = dir_op("/dir" + std::to_string(d));
      ASSERT_EQ(tree.apply(++zxid, txn).code, Code::kOk);
      for (int f = 0; f < kFilesPerDirectory; ++f) {
        txn.clear_ops();
        *txn.add_ops() = file_op("/dir" + std::to_string(d) + "/file-" + std::to_string(f),
                                 std::string(kDataBytes, 'x'));
        ASSERT_EQ(tree.apply(++zxid, txn).code, Code::kOk);
      }
    }
    size_t nodes = tree.node_count();
    double bytes_per_node = static_cast<double>(heap_bytes_in_use() - heap_before) / nodes;
    std::printf("[ memory   ] %zu nodes: %.0f heap bytes per node, %.0f beyond its %zu data bytes\n",
                nodes, bytes_per_node, bytes_per_node - kDataBytes, kDataBytes);
    std::printf("[ memory   ] test process RSS: %ld MB before the tree, %ld MB with it\n",
                resident_before_megabytes, resident_megabytes());
  }
  // Everything is given back when the tree goes.
  EXPECT_LT(heap_bytes_in_use(), heap_before + 64 * 1024);
}

}  // namespace
}  // namespace quorumfs::testing
