#include "tools/quorumctl/mount.h"

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace quorumfs::quorumctl {

namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(std::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      const std::string_view digits = field.substr(i + 1, 3);
      if (digits.size() == 3 && digits.find_first_not_of("01234567") == std::string_view::npos) {
        out += static_cast<char>(std::stoi(std::string(digits), nullptr, 8));
        i += 3;
        continue;
      }
    }
    out += field[i];
  }
  return out;
}

bool under(std::string_view path, std::string_view mount) {
  if (mount == "/") return true;
  return path == mount || (path.starts_with(mount) && path[mount.size()] == '/');
}

// realpath of the longest prefix that exists, the rest appended as given: the node itself may
// not exist yet (create, wait).
std::string resolve_existing_prefix(const std::string& path) {
  std::string head = path;
  std::string tail;
  while (true) {
    char resolved[PATH_MAX];
    if (realpath(head.c_str(), resolved) != nullptr) {
      std::string out = resolved;
      if (!tail.empty()) out += (out == "/" ? "" : "/") + tail;
      return out;
    }
    const size_t slash = head.rfind('/');
    if (slash == std::string::npos || head == "/") return path;
    tail = head.substr(slash + 1) + (tail.empty() ? "" : "/" + tail);
    head = slash == 0 ? "/" : head.substr(0, slash);
  }
}

}  // namespace

std::string normalize_path(std::string_view path) {
  std::vector<std::string_view> names;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view name = path.substr(start, end - start);
    if (name == "..") {
      if (!names.empty()) names.pop_back();
    } else if (!name.empty() && name != ".") {
      names.push_back(name);
    }
    start = end + 1;
  }
  std::string out;
  for (auto name : names) {
    out += '/';
    out += name;
  }
  return out.empty() ? "/" : out;
}

std::vector<std::string> quorumfs_mounts(std::string_view mountinfo) {
  std::vector<std::string> mounts;
  std::istringstream lines{std::string(mountinfo)};
  std::string line;
  while (std::getline(lines, line)) {
    // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
    const size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream before(line.substr(0, dash));
    std::string id, parent, device, root, mountpoint;
    before >> id >> parent >> device >> root >> mountpoint;
    std::istringstream after(line.substr(dash + 3));
    std::string fstype;
    after >> fstype;
    if (fstype == "fuse.quorumfs") mounts.push_back(unescape(mountpoint));
  }
  return mounts;
}

std::string Target::show(std::string_view path) const {
  if (by_znode) return std::string(path);
  if (path == "/") return mount;
  return mount == "/" ? std::string(path) : mount + std::string(path);
}

Target sibling(const Target& of, std::string_view znode) {
  Target target = of;
  target.znode = std::string(znode);
  target.local = znode == "/" ? of.mount : (of.mount == "/" ? "" : of.mount) + std::string(znode);
  return target;
}

bool resolve_target(const std::string& argument, const std::string& mount_option, Target* out, std::string* error) {
  std::ifstream file("/proc/self/mountinfo");
  std::stringstream text;
  text << file.rdbuf();
  const std::vector<std::string> mounts = quorumfs_mounts(text.str());
  if (!mount_option.empty()) {
    if (argument.empty() || argument[0] != '/') {
      *error = "with --mount, '" + argument + "' must be a znode path (starting with /)";
      return false;
    }
    const std::string mount = normalize_path(resolve_existing_prefix(mount_option));
    bool found = false;
    for (const std::string& known : mounts) found |= known == mount;
    if (!found) {
      *error = "'" + mount_option + "' is not a quorumfs mount (no fuse.quorumfs in /proc/self/mountinfo)";
      return false;
    }
    *out = sibling(Target{mount, mount, "/", true}, normalize_path(argument));
    out->by_znode = true;
    return true;
  }
  std::string absolute = argument;
  if (absolute.empty() || absolute[0] != '/') {
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) == nullptr) {
      *error = "cannot tell the working directory";
      return false;
    }
    absolute = std::string(cwd) + "/" + argument;
  }
  const std::string path = normalize_path(resolve_existing_prefix(normalize_path(absolute)));
  const std::string* best = nullptr;
  for (const std::string& mount : mounts) {
    if (under(path, mount) && (best == nullptr || mount.size() > best->size())) best = &mount;
  }
  if (best == nullptr) {
    *error = "'" + argument + "' is not inside a quorumfs mount (give a path in one, or --mount M and a znode path)";
    return false;
  }
  out->mount = *best;
  out->local = path;
  out->znode = path.size() == best->size() ? "/" : (*best == "/" ? path : path.substr(best->size()));
  out->by_znode = false;
  return true;
}

}  // namespace quorumfs::quorumctl
