#include "daemon/zk/watch_table.h"

#include "daemon/tree/path.h"

namespace quorumfs::zk {

namespace {

size_t index(WatchKind kind) { return static_cast<size_t>(kind); }

size_t held_count(const std::unordered_set<std::string> (&held)[kWatchKinds]) {
  size_t count = 0;
  for (const auto& paths : held) count += paths.size();
  return count;
}

}  // namespace

bool WatchTable::add(std::string_view path, WatchKind kind, WatcherId watcher) {
  auto& held = by_watcher_[watcher];
  auto& paths = held[index(kind)];
  if (paths.contains(std::string(path))) return true;
  if (held_count(held) >= per_watcher_max_ || count_ >= kWatchesMax ||
      path_bytes_ + path.size() > kWatchPathBytesMax) {
    if (held_count(held) == 0) by_watcher_.erase(watcher);
    return false;
  }
  paths.emplace(path);
  by_path_[index(kind)][std::string(path)].insert(watcher);
  ++count_;
  path_bytes_ += path.size();
  return true;
}

bool WatchTable::has(std::string_view path, WatchKind kind, WatcherId watcher) const {
  const auto& map = by_path_[index(kind)];
  const auto found = map.find(std::string(path));
  return found != map.end() && found->second.contains(watcher);
}

bool WatchTable::remove(std::string_view path, WatchKind kind, WatcherId watcher) {
  auto& map = by_path_[index(kind)];
  const auto found = map.find(std::string(path));
  if (found == map.end() || found->second.erase(watcher) == 0) return false;
  if (found->second.empty()) map.erase(found);
  const auto holder = by_watcher_.find(watcher);
  holder->second[index(kind)].erase(std::string(path));
  if (held_count(holder->second) == 0) by_watcher_.erase(holder);
  --count_;
  path_bytes_ -= path.size();
  return true;
}

void WatchTable::remove_watcher(WatcherId watcher) {
  const auto holder = by_watcher_.find(watcher);
  if (holder == by_watcher_.end()) return;
  for (size_t kind = 0; kind < kWatchKinds; ++kind) {
    for (const std::string& path : holder->second[kind]) {
      auto found = by_path_[kind].find(path);
      found->second.erase(watcher);
      if (found->second.empty()) by_path_[kind].erase(found);
      --count_;
      path_bytes_ -= path.size();
    }
  }
  by_watcher_.erase(holder);
}

size_t WatchTable::path_count() const {
  size_t count = 0;
  for (const auto& map : by_path_) count += map.size();
  return count;
}

void WatchTable::fire_kind(WatchKind kind, std::string_view key, EventType type, std::string_view path,
                           bool one_shot, std::unordered_set<WatcherId>* fired, std::vector<FiredEvent>* out) {
  auto& map = by_path_[index(kind)];
  const auto found = map.find(std::string(key));
  if (found == map.end()) return;
  for (WatcherId watcher : found->second) {
    if (fired->insert(watcher).second) out->push_back({watcher, type, std::string(path)});
  }
  if (!one_shot) return;
  for (WatcherId watcher : found->second) {
    const auto holder = by_watcher_.find(watcher);
    holder->second[index(kind)].erase(found->first);
    if (held_count(holder->second) == 0) by_watcher_.erase(holder);
    --count_;
    path_bytes_ -= found->first.size();
  }
  map.erase(found);
}

void WatchTable::fire_recursive(EventType type, std::string_view path, std::unordered_set<WatcherId>* fired,
                                std::vector<FiredEvent>* out) {
  auto& map = by_path_[index(WatchKind::kRecursive)];
  if (map.empty()) return;
  for (std::string_view at = path, name;;) {
    if (const auto found = map.find(std::string(at)); found != map.end()) {
      for (WatcherId watcher : found->second) {
        if (fired->insert(watcher).second) out->push_back({watcher, type, std::string(path), at != path});
      }
    }
    if (at == "/" || !split_parent(at, &at, &name)) break;
  }
}

void WatchTable::fire(EventType type, std::string_view path, std::vector<FiredEvent>* out) {
  if (count_ == 0) return;
  std::unordered_set<WatcherId> fired;
  switch (type) {
    case kNodeCreated:
    case kNodeDataChanged:
      fire_kind(WatchKind::kData, path, type, path, true, &fired, out);
      fire_kind(WatchKind::kPersistent, path, type, path, false, &fired, out);
      fire_recursive(type, path, &fired, out);
      break;
    case kNodeDeleted:
      fire_kind(WatchKind::kData, path, type, path, true, &fired, out);
      fire_kind(WatchKind::kChild, path, type, path, true, &fired, out);
      fire_kind(WatchKind::kPersistent, path, type, path, false, &fired, out);
      fire_recursive(type, path, &fired, out);
      break;
    case kNodeChildrenChanged:
      fire_kind(WatchKind::kChild, path, type, path, true, &fired, out);
      fire_kind(WatchKind::kPersistent, path, type, path, false, &fired, out);
      break;
    default:
      break;
  }
}

}  // namespace quorumfs::zk
