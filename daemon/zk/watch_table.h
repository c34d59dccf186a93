// The watches this member's ZooKeeper clients set, and which of them an applied change fires
// (ZooKeeper's WatchManager semantics; docs/zk-protocol.md, "Watches"):
//   - data watches (getData, exists): NodeCreated, NodeDeleted, NodeDataChanged on the path;
//   - child watches (getChildren): NodeChildrenChanged on the path, NodeDeleted when it goes;
//   - persistent watches (addWatch): every event on the path, never removed by firing;
//   - persistent recursive watches: created, deleted and data events on the path and below.
// One-shot watches are removed when they fire. A watcher gets one event per change even if
// several of its watches match. Watches belong to a connection and go with it (a client sets
// them again with setWatches when it reconnects).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "daemon/zk/protocol.h"

namespace quorumfs::zk {

using WatcherId = uint64_t;

// Watches of one member, all connections together, and the bytes of their paths (docs/zk-protocol.md,
// "Limits"): past either, a read that would set one more answers SystemError.
inline constexpr size_t kWatchesMax = size_t{1} << 22;
inline constexpr size_t kWatchPathBytesMax = size_t{256} << 20;

enum class WatchKind : uint8_t { kData, kChild, kPersistent, kRecursive };
inline constexpr size_t kWatchKinds = 4;

struct FiredEvent {
  WatcherId watcher;
  EventType type;
  std::string path;
  // Fired by a recursive watch on an ancestor: the watcher must be allowed to read the node
  // before it hears of it (docs/zk-protocol.md, "Watches").
  bool below_watch = false;
};

class WatchTable {
 public:
  // False (and nothing added) when the watcher already holds watches_per_watcher_max, or the
  // member kWatchesMax or kWatchPathBytesMax.
  bool add(std::string_view path, WatchKind kind, WatcherId watcher);
  bool has(std::string_view path, WatchKind kind, WatcherId watcher) const;
  // Removes the watch; false when there was none.
  bool remove(std::string_view path, WatchKind kind, WatcherId watcher);
  void remove_watcher(WatcherId watcher);

  // The events one change raises, appended to out; one-shot watches that fired are removed.
  void fire(EventType type, std::string_view path, std::vector<FiredEvent>* out);

  bool empty() const { return count_ == 0; }
  size_t size() const { return count_; }
  size_t watcher_count() const { return by_watcher_.size(); }
  size_t path_count() const;
  // For wchs-style reports: (path, watchers) of one kind.
  const std::unordered_map<std::string, std::unordered_set<WatcherId>>& of_kind(WatchKind kind) const {
    return by_path_[static_cast<size_t>(kind)];
  }

  void set_watches_per_watcher_max(size_t max) { per_watcher_max_ = max; }

 private:
  using PathMap = std::unordered_map<std::string, std::unordered_set<WatcherId>>;
  // kind, path: what a watcher holds, so that its watches go with it.
  using Held = std::unordered_set<std::string>;

  void fire_kind(WatchKind kind, std::string_view key, EventType type, std::string_view path, bool one_shot,
                 std::unordered_set<WatcherId>* fired, std::vector<FiredEvent>* out);
  void fire_recursive(EventType type, std::string_view path, std::unordered_set<WatcherId>* fired,
                      std::vector<FiredEvent>* out);

  PathMap by_path_[kWatchKinds];
  std::unordered_map<WatcherId, Held[kWatchKinds]> by_watcher_;
  size_t count_ = 0;
  size_t path_bytes_ = 0;
  size_t per_watcher_max_ = 1 << 20;
};

}  // namespace quorumfs::zk
