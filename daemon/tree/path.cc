#include "daemon/tree/path.h"

#include <cstdio>

namespace quorumfs {

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > kNameBytesMax) return false;
  if (name == "." || name == "..") return false;
  return name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

bool valid_path(std::string_view path) {
  if (path.empty() || path[0] != '/') return false;
  if (path == "/") return true;
  if (path.back() == '/') return false;
  return for_each_name(path, [](std::string_view name) { return valid_name(name); });
}

bool split_parent(std::string_view path, std::string_view* parent, std::string_view* name) {
  if (path.empty() || path[0] != '/') return false;
  size_t slash = path.rfind('/');
  *parent = slash == 0 ? path.substr(0, 1) : path.substr(0, slash);
  *name = path.substr(slash + 1);
  return true;
}

bool in_system_subtree(std::string_view path) {
  if (!path.starts_with(kSystemPath)) return false;
  return path.size() == kSystemPath.size() || path[kSystemPath.size()] == '/';
}

std::string join_path(std::string_view parent_path, std::string_view name) {
  std::string path(parent_path);
  if (path != "/") path += '/';
  path += name;
  return path;
}

std::string sequential_suffix(int32_t cversion) {
  char text[16];
  std::snprintf(text, sizeof(text), "%010d", cversion);
  return text;
}

}  // namespace quorumfs
