#include "daemon/zk/watch_table.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace quorumfs::zk {
namespace {

std::vector<FiredEvent> fire(WatchTable& table, EventType type, const std::string& path) {
  std::vector<FiredEvent> events;
  table.fire(type, path, &events);
  return events;
}

TEST(WatchTable, AOneShotDataWatchFiresOnceAndIsGone) {
  WatchTable table;
  ASSERT_TRUE(table.add("/a", WatchKind::kData, 1));
  auto events = fire(table, kNodeDataChanged, "/a");
  ASSERT_EQ(1u, events.size());
  EXPECT_EQ(1u, events[0].watcher);
  EXPECT_EQ(kNodeDataChanged, events[0].type);
  EXPECT_EQ("/a", events[0].path);
  EXPECT_TRUE(fire(table, kNodeDataChanged, "/a").empty());
  EXPECT_TRUE(table.empty());
}

TEST(WatchTable, ChildWatchesFireOnChildrenChangesAndOnDeleteButNotOnData) {
  WatchTable table;
  table.add("/dir", WatchKind::kChild, 7);
  EXPECT_TRUE(fire(table, kNodeDataChanged, "/dir").empty());
  EXPECT_EQ(1u, fire(table, kNodeChildrenChanged, "/dir").size());
  table.add("/dir", WatchKind::kChild, 7);
  const auto deleted = fire(table, kNodeDeleted, "/dir");
  ASSERT_EQ(1u, deleted.size());
  EXPECT_EQ(kNodeDeleted, deleted[0].type);
}

TEST(WatchTable, AWatcherWithDataAndChildWatchesGetsOneDeleteEvent) {
  WatchTable table;
  table.add("/n", WatchKind::kData, 3);
  table.add("/n", WatchKind::kChild, 3);
  table.add("/n", WatchKind::kData, 4);
  const auto events = fire(table, kNodeDeleted, "/n");
  EXPECT_EQ(2u, events.size());
  EXPECT_TRUE(table.empty());
}

TEST(WatchTable, PersistentWatchesStayAndRecursiveOnesCoverTheSubtree) {
  WatchTable table;
  table.add("/p", WatchKind::kPersistent, 1);
  table.add("/r", WatchKind::kRecursive, 2);
  EXPECT_EQ(1u, fire(table, kNodeDataChanged, "/p").size());
  EXPECT_EQ(1u, fire(table, kNodeChildrenChanged, "/p").size());
  EXPECT_EQ(1u, fire(table, kNodeDataChanged, "/p").size());
  EXPECT_EQ(1u, fire(table, kNodeCreated, "/r/a/b").size());
  EXPECT_EQ(1u, fire(table, kNodeDeleted, "/r").size());
  // A recursive watch sees no NodeChildrenChanged (ZooKeeper's rule), and nothing outside it.
  EXPECT_TRUE(fire(table, kNodeChildrenChanged, "/r").empty());
  EXPECT_TRUE(fire(table, kNodeCreated, "/rx").empty());
  EXPECT_EQ(2u, table.size());
}

TEST(WatchTable, AnEventARecursiveWatchGetsFromBelowSaysSo) {
  WatchTable table;
  table.add("/r", WatchKind::kRecursive, 1);
  const auto own = fire(table, kNodeDataChanged, "/r");
  ASSERT_EQ(1u, own.size());
  EXPECT_FALSE(own[0].below_watch);
  const auto below = fire(table, kNodeCreated, "/r/x");
  ASSERT_EQ(1u, below.size());
  EXPECT_TRUE(below[0].below_watch);
}

TEST(WatchTable, ARecursiveWatchOnTheRootSeesEverything) {
  WatchTable table;
  table.add("/", WatchKind::kRecursive, 9);
  EXPECT_EQ(1u, fire(table, kNodeCreated, "/x/y").size());
  EXPECT_EQ(1u, fire(table, kNodeDataChanged, "/").size());
}

TEST(WatchTable, RemovingAWatcherRemovesEveryWatchOfIt) {
  WatchTable table;
  table.add("/a", WatchKind::kData, 1);
  table.add("/b", WatchKind::kChild, 1);
  table.add("/c", WatchKind::kRecursive, 1);
  table.add("/a", WatchKind::kData, 2);
  table.remove_watcher(1);
  EXPECT_EQ(1u, table.size());
  EXPECT_FALSE(table.has("/b", WatchKind::kChild, 1));
  EXPECT_TRUE(table.has("/a", WatchKind::kData, 2));
  EXPECT_TRUE(fire(table, kNodeCreated, "/c/x").empty());
}

TEST(WatchTable, RemoveSaysWhetherThereWasAWatch) {
  WatchTable table;
  table.add("/a", WatchKind::kData, 1);
  EXPECT_FALSE(table.remove("/a", WatchKind::kChild, 1));
  EXPECT_FALSE(table.remove("/a", WatchKind::kData, 2));
  EXPECT_TRUE(table.remove("/a", WatchKind::kData, 1));
  EXPECT_TRUE(table.empty());
  EXPECT_EQ(0u, table.watcher_count());
}

TEST(WatchTable, AWatcherPastItsLimitGetsNoMoreWatches) {
  WatchTable table;
  table.set_watches_per_watcher_max(2);
  EXPECT_TRUE(table.add("/a", WatchKind::kData, 1));
  EXPECT_TRUE(table.add("/b", WatchKind::kData, 1));
  EXPECT_TRUE(table.add("/a", WatchKind::kData, 1));  // held already: not a new one
  EXPECT_FALSE(table.add("/c", WatchKind::kData, 1));
  EXPECT_TRUE(table.add("/c", WatchKind::kData, 2));
  EXPECT_EQ(3u, table.size());
}

}  // namespace
}  // namespace quorumfs::zk
