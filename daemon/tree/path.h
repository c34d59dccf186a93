// Znode paths and names: "/a/b", names of 1..255 bytes, any byte but '/' and NUL, not "." or "..".
// The tree's rules, which every front end (the mount, the client port) checks requests against.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "daemon/tree/limits.h"

namespace quorumfs {

constexpr std::string_view kSystemPath = "/zookeeper";

bool valid_name(std::string_view name);
// "/" or "/name/name...": no empty, "." or ".." names, no trailing '/'.
bool valid_path(std::string_view path);
// Splits at the last '/': "/a/b" -> ("/a", "b"), "/b" -> ("/", "b"), "/a/" -> ("/a", "").
// False when path does not start with '/'. The parts are not validated.
bool split_parent(std::string_view path, std::string_view* parent, std::string_view* name);
// Calls visit(name) for each name of a valid path, root first; stops early when visit returns false.
template <typename Visit>
bool for_each_name(std::string_view path, Visit&& visit) {
  size_t start = 1;
  while (start < path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (!visit(path.substr(start, slash - start))) return false;
    start = slash + 1;
  }
  return true;
}
// "/zookeeper" and everything below it: read-only.
bool in_system_subtree(std::string_view path);
std::string join_path(std::string_view parent_path, std::string_view name);
// ZooKeeper's "%010d" of the parent's cversion (signed: after 2147483647 comes -2147483648).
std::string sequential_suffix(int32_t cversion);

}  // namespace quorumfs
