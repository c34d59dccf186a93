#include "fusefs/descriptors.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <charconv>

namespace quorumfs::fusefs {

namespace {

// Splits on spaces, as /proc's tables are written.
std::vector<std::string_view> fields_of(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  while (start < line.size()) {
    size_t end = line.find(' ', start);
    if (end == std::string_view::npos) end = line.size();
    if (end > start) fields.push_back(line.substr(start, end - start));
    start = end + 1;
  }
  return fields;
}

template <typename Fn>
void for_each_line(std::string_view text, Fn fn) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    fn(text.substr(start, end - start));
    start = end + 1;
  }
}

template <typename T>
bool parse_number(std::string_view text, T* out, int base = 10) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *out, base);
  return error == std::errc() && end != text.data();
}

// mountinfo escapes space, tab, newline and backslash in paths as \ooo.
std::string unescape(std::string_view path) {
  std::string out;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '\\' && i + 3 < path.size()) {
      int value = 0;
      if (parse_number(path.substr(i + 1, 3), &value, 8)) {
        out += static_cast<char>(value);
        i += 3;
        continue;
      }
    }
    out += path[i];
  }
  return out;
}

std::vector<std::string> entries_of(const std::string& directory) {
  std::vector<std::string> names;
  DIR* dir = opendir(directory.c_str());
  if (dir == nullptr) return names;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') names.emplace_back(entry->d_name);
  }
  closedir(dir);
  return names;
}

// The mount ids of the descriptors of pid open for writing on inode.
std::vector<int> writable_mounts_of(pid_t pid, uint64_t inode) {
  std::vector<int> mounts;
  const std::string base = "/proc/" + std::to_string(pid) + "/fdinfo/";
  for (const std::string& fd : entries_of(base)) {
    std::optional<std::string> text = read_proc_file(base + fd);
    if (!text) continue;
    std::optional<DescriptorInfo> info = parse_fdinfo(*text);
    if (info && info->inode == inode && (info->flags & O_ACCMODE) != O_RDONLY) mounts.push_back(info->mount_id);
  }
  return mounts;
}

bool holds_on_device(pid_t pid, std::string_view device, uint64_t inode) {
  std::vector<int> mounts = writable_mounts_of(pid, inode);
  if (mounts.empty()) return false;
  // Mount ids are per namespace: the task's own table says which are this filesystem's.
  std::optional<std::string> mountinfo = read_proc_file("/proc/" + std::to_string(pid) + "/mountinfo");
  if (!mountinfo) return false;
  std::vector<int> ours = mount_ids_of_device(*mountinfo, device);
  for (int mount : mounts) {
    for (int id : ours) {
      if (mount == id) return true;
    }
  }
  return false;
}

}  // namespace

std::optional<std::string> read_proc_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string text;
  char chunk[4096];
  ssize_t got;
  while ((got = ::read(fd, chunk, sizeof chunk)) > 0) text.append(chunk, static_cast<size_t>(got));
  ::close(fd);
  if (got < 0) return std::nullopt;
  return text;
}

std::optional<DescriptorInfo> parse_fdinfo(std::string_view text) {
  DescriptorInfo info;
  bool flags = false, mount = false, inode = false;
  for_each_line(text, [&](std::string_view line) {
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return;
    std::string_view key = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    if (key == "flags") flags = parse_number(value, &info.flags, 8);
    else if (key == "mnt_id") mount = parse_number(value, &info.mount_id);
    else if (key == "ino") inode = parse_number(value, &info.inode);
  });
  if (!flags || !mount || !inode) return std::nullopt;
  return info;
}

// A line: "ID PARENT MAJOR:MINOR ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER".
std::string mount_device(std::string_view mountinfo, std::string_view mountpoint) {
  std::string device;
  for_each_line(mountinfo, [&](std::string_view line) {
    std::vector<std::string_view> fields = fields_of(line);
    if (fields.size() >= 5 && unescape(fields[4]) == mountpoint) device = std::string(fields[2]);
  });
  return device;
}

std::vector<int> mount_ids_of_device(std::string_view mountinfo, std::string_view device) {
  std::vector<int> ids;
  for_each_line(mountinfo, [&](std::string_view line) {
    std::vector<std::string_view> fields = fields_of(line);
    int id = 0;
    if (fields.size() >= 3 && fields[2] == device && parse_number(fields[0], &id)) ids.push_back(id);
  });
  return ids;
}

std::pair<pid_t, pid_t> process_and_parent(pid_t tid) {
  pid_t tgid = 0, ppid = 0;
  std::optional<std::string> status = read_proc_file("/proc/" + std::to_string(tid) + "/status");
  if (!status) return {0, 0};
  for_each_line(*status, [&](std::string_view line) {
    if (line.starts_with("Tgid:")) parse_number(line.substr(5), &tgid);
    if (line.starts_with("PPid:")) parse_number(line.substr(5), &ppid);
  });
  return {tgid, ppid};
}

std::vector<pid_t> lineage_of(pid_t tid, int depth) {
  std::vector<pid_t> lineage;
  for (pid_t task = tid; static_cast<int>(lineage.size()) < depth && task > 1;) {
    auto [process, parent] = process_and_parent(task);
    if (process == 0) break;
    lineage.push_back(process);
    task = parent;
  }
  return lineage;
}

bool holds_writable_descriptor(pid_t tid, std::string_view mount_device, uint64_t inode) {
  if (tid <= 0 || mount_device.empty()) return false;
  // /proc/TID works for any thread: its fd table is the one that made the call.
  if (holds_on_device(tid, mount_device, inode)) return true;
  // A child may have inherited the description (then its own close, or its exit, flushes it).
  const std::string tasks = "/proc/" + std::to_string(tid) + "/task/";
  for (const std::string& task : entries_of(tasks)) {
    std::optional<std::string> children = read_proc_file(tasks + task + "/children");
    if (!children) continue;
    for (std::string_view child : fields_of(*children)) {
      pid_t pid = 0;
      if (parse_number(child, &pid) && holds_on_device(pid, mount_device, inode)) return true;
    }
  }
  return false;
}

}  // namespace quorumfs::fusefs
