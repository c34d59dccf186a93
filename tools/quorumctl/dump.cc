// dump and restore of a subtree through the mount (docs/quorumctl.md, "Dump format"): one JSON
// object per line, the header first, then every node in depth-first order, names in byte order.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <dirent.h>

#include "tools/quorumctl/commands.h"
#include "tools/quorumctl/format.h"
#include "tools/quorumctl/node_io.h"

namespace quorumfs::quorumctl {

namespace {

// One line on stderr, redrawn in place, and only on a terminal: a pipe or a log file stays clean.
class Progress {
 public:
  Progress(const Global& global, std::string verb, size_t total)
      : enabled_(!global.quiet && isatty(2) == 1), verb_(std::move(verb)), total_(total) {}
  void step() {
    ++done_;
    if (!enabled_ || (done_ % 16 != 0 && done_ != total_)) return;
    constexpr size_t kWidth = 30;
    const size_t filled = total_ == 0 ? kWidth : done_ * kWidth / total_;
    std::fprintf(stderr, "\r%s [%s%s] %zu/%zu nodes", verb_.c_str(), std::string(filled, '#').c_str(),
                 std::string(kWidth - std::min(filled, kWidth), ' ').c_str(), done_, total_);
    std::fflush(stderr);
  }
  ~Progress() {
    if (enabled_ && done_ > 0) std::fprintf(stderr, "\n");
  }

 private:
  bool enabled_;
  std::string verb_;
  size_t total_;
  size_t done_ = 0;
};

bool children_of(const std::string& local, std::vector<std::string>* names) {
  DIR* dir = opendir(local.c_str());
  if (dir == nullptr) return false;
  errno = 0;
  while (const dirent* entry = readdir(dir)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names->push_back(name);
  }
  const int error = errno;
  closedir(dir);
  std::sort(names->begin(), names->end());
  errno = error;
  return error == 0;
}

// An ephemeral belongs to a session, not to the tree's content: a dump leaves it out. Containers
// (0x8000000000000000) and TTL nodes (0xff...) are kept, as plain nodes.
bool is_ephemeral(const std::string& owner) {
  return owner != "0x0" && owner != "0x8000000000000000" && !owner.starts_with("0xff");
}

struct Walked {
  std::string relative;
  std::string local;
};

bool walk(const std::string& local, const std::string& relative, std::vector<Walked>* out, std::string* failed) {
  out->push_back({relative, local});
  struct stat st{};
  if (lstat(local.c_str(), &st) != 0) {
    *failed = local;
    return false;
  }
  if (!S_ISDIR(st.st_mode)) return true;
  std::vector<std::string> names;
  if (!children_of(local, &names)) {
    *failed = local;
    return false;
  }
  for (const std::string& name : names) {
    if (!walk(local + "/" + name, relative.empty() ? name : relative + "/" + name, out, failed)) return false;
  }
  return true;
}

bool read_record(const Walked& node, DumpRecord* record, bool* skip) {
  struct stat st{};
  if (lstat(node.local.c_str(), &st) != 0) return false;
  std::string owner;
  if (!get_xattr(node.local, "user.zk.ephemeralOwner", &owner)) return false;
  *skip = is_ephemeral(owner);
  if (*skip) return true;
  record->path = node.relative;
  record->directory = S_ISDIR(st.st_mode);
  record->mode = st.st_mode & 07777;
  record->uid = st.st_uid;
  record->gid = st.st_gid;
  record->mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  if (!get_xattr(node.local, "user.zk.acl", &record->acl)) return false;
  record->data.clear();
  return read_node(node.local, record->directory, &record->data);
}

}  // namespace

int cmd_dump(const Global& global, const std::string& path, const std::string& output) {
  Target target;
  int code = 0;
  if (!resolve_or_report(global, "dump", path, &target, &code)) return code;
  std::vector<Walked> nodes;
  std::string failed;
  if (!walk(target.local, "", &nodes, &failed)) return fail_errno(global, "dump", failed, errno);
  std::ofstream file;
  if (output != "-") {
    file.open(output, std::ios::binary | std::ios::trunc);
    if (!file) return fail_errno(global, "dump", output, errno);
  }
  std::ostream& out = output == "-" ? std::cout : file;
  out << dump_header_line(target.znode) << "\n";
  Progress progress(global, "dump", nodes.size());
  for (const Walked& node : nodes) {
    DumpRecord record;
    bool skip = false;
    if (!read_record(node, &record, &skip)) return fail_errno(global, "dump", target.show(node.local), errno);
    progress.step();
    if (skip) continue;
    out << dump_record_line(record) << "\n";
  }
  out.flush();
  if (!out) return fail_errno(global, "dump", output, EIO);
  return kExitOk;
}

namespace {

// The POSIX view and the ACL last, children before their directory: a directory's sticky or
// set-gid bit would make what is restored into it sequential or ephemeral, and its ACL or mode
// could refuse the restore's own later calls.
bool apply_metadata(const std::string& local, const DumpRecord& record) {
  struct stat st{};
  if (lstat(local.c_str(), &st) != 0) return false;
  if ((st.st_uid != record.uid || st.st_gid != record.gid) && lchown(local.c_str(), record.uid, record.gid) != 0) {
    return false;
  }
  if (chmod(local.c_str(), record.mode) != 0) return false;
  const timespec times[2] = {{0, UTIME_OMIT},
                             {static_cast<time_t>(record.mtime_ns / 1000000000), static_cast<long>(record.mtime_ns % 1000000000)}};
  if (utimensat(AT_FDCWD, local.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) return false;
  std::string acl;
  if (get_xattr(local, "user.zk.acl", &acl) && acl == record.acl) return true;
  return lsetxattr(local.c_str(), "user.zk.acl", record.acl.data(), record.acl.size(), 0) == 0;
}

}  // namespace

int cmd_restore(const Global& global, const std::string& path, const std::string& input, bool force) {
  Target target;
  int code = 0;
  if (!resolve_or_report(global, "restore", path, &target, &code)) return code;
  std::ifstream file;
  if (input != "-") {
    file.open(input, std::ios::binary);
    if (!file) return fail_errno(global, "restore", input, errno);
  }
  std::istream& in = input == "-" ? std::cin : file;
  std::string line;
  std::string root;
  std::string error;
  if (!std::getline(in, line) || !parse_dump_header(line, &root, &error)) {
    report(global, "restore", input == "-" ? "stdin" : input, error.empty() ? "empty input" : error);
    return kExitUsage;
  }
  std::vector<DumpRecord> records;
  for (size_t number = 2; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    DumpRecord record;
    if (!parse_dump_record(line, &record, &error)) {
      report(global, "restore", "line " + std::to_string(number), error);
      return kExitUsage;
    }
    records.push_back(std::move(record));
  }
  if (records.empty() || !records.front().path.empty()) {
    report(global, "restore", "", "the dump has no root record (its first node)");
    return kExitUsage;
  }
  auto local_of = [&](const DumpRecord& record) {
    return record.path.empty() ? target.local : target.local + "/" + record.path;
  };
  // Nothing is written before every node is known to be free (or --force).
  for (const DumpRecord& record : records) {
    struct stat st{};
    if (lstat(local_of(record).c_str(), &st) == 0) {
      if (!force) {
        report(global, "restore", target.show(target.znode + (record.path.empty() ? "" : "/" + record.path)),
               "exists (restore --force overwrites)");
        return kExitNodeExists;
      }
      if (S_ISDIR(st.st_mode) != record.directory) {
        report(global, "restore", local_of(record), "exists as a " + std::string(S_ISDIR(st.st_mode) ? "directory" : "file") +
                                                      ", the dump has a " + (record.directory ? "directory" : "file"));
        return kExitNodeExists;
      }
    }
  }
  Progress progress(global, "restore", records.size() * 2);
  for (const DumpRecord& record : records) {
    const std::string local = local_of(record);
    struct stat st{};
    const bool created = lstat(local.c_str(), &st) != 0;
    if (created) {
      const int made = record.directory ? mkdir(local.c_str(), 0700)
                                        : [&] {
                                            const int fd = open(local.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                                            return fd < 0 ? -1 : close(fd);
                                          }();
      if (made != 0) return fail_errno(global, "restore", local, errno);
    }
    // A new directory's data is empty already: no setData for it.
    const bool data_due = !(created && record.directory && record.data.empty());
    if (data_due && !write_node(local, record.directory, record.data)) return fail_errno(global, "restore", local, errno);
    progress.step();
  }
  for (auto record = records.rbegin(); record != records.rend(); ++record) {
    const std::string local = local_of(*record);
    if (!apply_metadata(local, *record)) return fail_errno(global, "restore", local, errno);
    progress.step();
  }
  return kExitOk;
}

}  // namespace quorumfs::quorumctl
