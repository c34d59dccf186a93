// The commands that go through the mount (docs/quorumctl.md, "Through the mount"): each is the
// system call a shell tool would make, so the kernel's POSIX check and the daemon's ACL check
// apply exactly as they do for `cat`, `echo >`, `rm`, `getfattr`.
#include "tools/quorumctl/commands.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>

#include "tools/quorumctl/format.h"
#include "tools/quorumctl/node_io.h"

namespace quorumfs::quorumctl {

void report(const Global& global, const std::string& command, const std::string& what, const std::string& reason) {
  if (global.quiet) return;
  std::cerr << "quorumctl: " << command << ": " << (what.empty() ? "" : what + ": ") << reason << std::endl;
}

int fail_errno(const Global& global, const std::string& command, const std::string& what, int error) {
  report(global, command, what, std::strerror(error));
  return exit_for_errno(error);
}

// Data given neither as an argument nor piped in is empty (a terminal is not read).
std::string read_stdin_data() {
  std::string data;
  if (isatty(0)) return data;
  read_all(0, &data);
  return data;
}

bool resolve_or_report(const Global& global, const std::string& command, const std::string& path, Target* target,
                       int* code) {
  std::string error;
  if (resolve_target(path, global.mount, target, &error)) return true;
  report(global, command, "", error);
  *code = global.mount.empty() || path.empty() || path[0] == '/' ? kExitUnreachable : kExitUsage;
  return false;
}

namespace {

bool parse_mode(const std::string& text, mode_t fallback, mode_t* mode) {
  if (text.empty()) {
    *mode = fallback;
    return true;
  }
  char* end = nullptr;
  const unsigned long value = std::strtoul(text.c_str(), &end, 8);
  if (end == text.c_str() || *end != '\0' || value > 07777) return false;
  *mode = static_cast<mode_t>(value);
  return true;
}

volatile sig_atomic_t g_stop_signal = 0;

sigset_t holding_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  return signals;
}

// The ephemeral lives as long as fd: hold it until a signal, or run a command meanwhile.
int hold_ephemeral(int fd, const std::vector<std::string>& command) {
  if (command.empty()) {
    // Blocked since before the create (cmd_create): a signal that came meanwhile is taken here.
    sigset_t signals = holding_signals();
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    close(fd);
    return kExitOk;
  }
  // The descriptor is close-on-exec: the command does not hold the node, quorumctl does, and
  // releases it as soon as the command ends.
  const pid_t child = fork();
  if (child < 0) {
    close(fd);
    return kExitOther;
  }
  if (child == 0) {
    std::vector<char*> argv;
    for (const std::string& word : command) argv.push_back(const_cast<char*>(word.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    std::fprintf(stderr, "quorumctl: create: %s: %s\n", argv[0], std::strerror(errno));
    _exit(127);
  }
  // A terminal's SIGINT reaches the command too (one process group): quorumctl waits for it.
  // A SIGTERM or SIGHUP sent to quorumctl alone is passed on to the command. No SA_RESTART: the
  // signal must interrupt waitpid.
  signal(SIGINT, SIG_IGN);
  struct sigaction forward {};
  forward.sa_handler = [](int signal_number) { g_stop_signal = signal_number; };
  sigemptyset(&forward.sa_mask);
  sigaction(SIGTERM, &forward, nullptr);
  sigaction(SIGHUP, &forward, nullptr);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    if (g_stop_signal != 0) kill(child, g_stop_signal);
    g_stop_signal = 0;
  }
  close(fd);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

}  // namespace

int cmd_create(const Global& global, const CreateArgs& args) {
  Target target;
  int code = 0;
  if (!resolve_or_report(global, "create", args.path, &target, &code)) return code;
  if (target.znode == "/") return fail_errno(global, "create", target.show("/"), EEXIST);
  if (args.directory && (args.ephemeral || args.sequential)) {
    report(global, "create", "", "-d makes a plain directory: -e and -s are for files (docs/quorumctl.md)");
    return kExitUsage;
  }
  if (!args.command.empty() && !args.ephemeral) {
    report(global, "create", "", "-- COMMAND holds an ephemeral node: it needs -e");
    return kExitUsage;
  }
  mode_t mode = 0;
  if (!parse_mode(args.mode, args.directory ? 0755 : 0644, &mode)) {
    report(global, "create", "", "--mode '" + args.mode + "' is not octal permission bits");
    return kExitUsage;
  }
  const std::string data = args.data ? *args.data : read_stdin_data();
  if (args.directory) {
    if (mkdir(target.local.c_str(), mode) != 0) return fail_errno(global, "create", target.show(target.znode), errno);
    if (!data.empty() && !write_node(target.local, true, data)) {
      return fail_errno(global, "create", target.show(target.znode), errno);
    }
    std::cout << target.show(target.znode) << std::endl;
    return kExitOk;
  }
  if (args.ephemeral && args.command.empty()) {
    // A SIGTERM right after the node appears must still close it and exit 0 (hold_ephemeral).
    const sigset_t signals = holding_signals();
    sigprocmask(SIG_BLOCK, &signals, nullptr);
  }
  // The mount's creation flags (docs/mount.md): sticky = sequential, set-gid = ephemeral.
  if (args.sequential) mode |= S_ISVTX;
  if (args.ephemeral) mode |= S_ISGID;
  const int fd = open(target.local.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return fail_errno(global, "create", target.show(target.znode), errno);
  std::string name = target.znode.substr(target.znode.rfind('/') + 1);
  std::string real;
  // The real name of the node this descriptor created (a sequential one has its suffix).
  char value[512];
  const ssize_t got = fgetxattr(fd, "user.zk.name", value, sizeof value);
  if (got > 0) name.assign(value, static_cast<size_t>(got));
  const std::string parent = target.znode.substr(0, target.znode.rfind('/'));
  const std::string created = (parent.empty() ? "" : parent) + "/" + name;
  if (!data.empty()) {
    // fsync commits the data now (one setData) and keeps the descriptor, which an ephemeral needs.
    if (!write_all(fd, data) || fsync(fd) != 0) {
      const int error = errno;
      close(fd);
      return fail_errno(global, "create", target.show(created), error);
    }
  }
  std::cout << target.show(created) << std::endl;
  if (args.ephemeral) return hold_ephemeral(fd, args.command);
  if (close(fd) != 0) return fail_errno(global, "create", target.show(created), errno);
  return kExitOk;
}

int cmd_get(const Global& global, const std::string& path) {
  Target target;
  int code = 0;
  if (!resolve_or_report(global, "get", path, &target, &code)) return code;
  struct stat st{};
  if (lstat(target.local.c_str(), &st) != 0) return fail_errno(global, "get", target.show(target.znode), errno);
  std::string data;
  if (!read_node(target.local, S_ISDIR(st.st_mode), &data)) {
    return fail_errno(global, "get", target.show(target.znode), errno);
  }
  std::cout.write(data.data(), static_cast<std::streamsize>(data.size()));
  std::cout.flush();
  return kExitOk;
}

namespace {

int set_through_mount(const Global& global, const Target& target, const std::string& data) {
  struct stat st{};
  if (lstat(target.local.c_str(), &st) != 0) return fail_errno(global, "set", target.show(target.znode), errno);
  if (!write_node(target.local, S_ISDIR(st.st_mode), data)) {
    return fail_errno(global, "set", target.show(target.znode), errno);
  }
  return kExitOk;
}

int delete_through_mount(const Global& global, const Target& target) {
  struct stat st{};
  if (lstat(target.local.c_str(), &st) != 0) return fail_errno(global, "delete", target.show(target.znode), errno);
  const int result = S_ISDIR(st.st_mode) ? rmdir(target.local.c_str()) : unlink(target.local.c_str());
  if (result != 0) return fail_errno(global, "delete", target.show(target.znode), errno);
  return kExitOk;
}

}  // namespace

int cmd_set(const Global& global, const std::string& path, const std::optional<std::string>& data,
            std::optional<int32_t> version) {
  Target target;
  int code = 0;
  if (!resolve_or_report(global, "set", path, &target, &code)) return code;
  const std::string bytes = data ? *data : read_stdin_data();
  if (version) return control_set(global, target, bytes, *version);
  return set_through_mount(global, target, bytes);
}

int cmd_delete(const Global& global, const std::string& path, std::optional<int32_t> version) {
  Target target;
  int code = 0;
  if (!resolve_or_report(global, "delete", path, &target, &code)) return code;
  if (version) return control_delete(global, target, *version);
  return delete_through_mount(global, target);
}

int cmd_stat(const Global& global, const std::string& path) {
  Target target;
  int code = 0;
  if (!resolve_or_report(global, "stat", path, &target, &code)) return code;
  struct stat st{};
  if (lstat(target.local.c_str(), &st) != 0) return fail_errno(global, "stat", target.show(target.znode), errno);
  std::string line;
  if (!get_xattr(target.local, "user.zk.stat", &line)) return fail_errno(global, "stat", target.show(target.znode), errno);
  std::cout << "path=" << target.znode << "\n";
  std::cout << "type=" << (S_ISDIR(st.st_mode) ? "dir" : "file") << "\n";
  // user.zk.stat: "czxid=0x... mzxid=... numChildren=N", one field per line here.
  size_t start = 0;
  while (start < line.size()) {
    size_t end = line.find(' ', start);
    if (end == std::string::npos) end = line.size();
    if (end > start) std::cout << line.substr(start, end - start) << "\n";
    start = end + 1;
  }
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  std::cout << "mode=" << mode << "\nuid=" << st.st_uid << "\ngid=" << st.st_gid << "\ninode=" << st.st_ino
            << "\nposixMtimeNs=" << (int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec) << "\n";
  std::cout.flush();
  return kExitOk;
}

namespace {

bool sorted_children(const std::string& local, std::vector<std::pair<std::string, bool>>* children) {
  DIR* dir = opendir(local.c_str());
  if (dir == nullptr) return false;
  errno = 0;
  while (const dirent* entry = readdir(dir)) {
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    bool directory = entry->d_type == DT_DIR;
    if (entry->d_type == DT_UNKNOWN) {
      struct stat st{};
      directory = lstat((local + "/" + name).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    }
    children->emplace_back(name, directory);
  }
  const int error = errno;
  closedir(dir);
  std::sort(children->begin(), children->end());
  errno = error;
  return error == 0;
}

std::string child_znode(const std::string& parent, const std::string& name) {
  return parent == "/" ? "/" + name : parent + "/" + name;
}

// Pre-order, names in byte order. false when a listing failed (errno set, *failed names it).
bool walk(const Target& root, const std::string& znode, const std::function<bool(const std::string&, bool)>& visit,
          std::string* failed) {
  const Target here = sibling(root, znode);
  std::vector<std::pair<std::string, bool>> children;
  if (!sorted_children(here.local, &children)) {
    *failed = znode;
    return false;
  }
  for (const auto& [name, directory] : children) {
    const std::string path = child_znode(znode, name);
    if (!visit(path, directory)) {
      *failed = path;
      return false;
    }
    if (directory && !walk(root, path, visit, failed)) return false;
  }
  return true;
}

}  // namespace

int cmd_ls(const Global& global, const std::string& path, bool recursive) {
  Target target;
  int code = 0;
  if (!resolve_or_report(global, "ls", path, &target, &code)) return code;
  if (!recursive) {
    std::vector<std::pair<std::string, bool>> children;
    if (!sorted_children(target.local, &children)) return fail_errno(global, "ls", target.show(target.znode), errno);
    for (const auto& [name, directory] : children) std::cout << name << "\n";
    std::cout.flush();
    return kExitOk;
  }
  std::string failed;
  const bool ok = walk(target, target.znode, [&](const std::string& znode, bool) {
    std::cout << target.show(znode) << "\n";
    return true;
  }, &failed);
  std::cout.flush();
  if (!ok) return fail_errno(global, "ls", target.show(failed), errno);
  return kExitOk;
}

int cmd_acl_get(const Global& global, const std::string& path) {
  Target target;
  int code = 0;
  if (!resolve_or_report(global, "acl get", path, &target, &code)) return code;
  std::string acl;
  if (!get_xattr(target.local, "user.zk.acl", &acl)) return fail_errno(global, "acl get", target.show(target.znode), errno);
  std::cout << acl << std::endl;
  return kExitOk;
}

int cmd_acl_set(const Global& global, const std::string& path, const std::string& acl) {
  Target target;
  int code = 0;
  if (!resolve_or_report(global, "acl set", path, &target, &code)) return code;
  if (lsetxattr(target.local.c_str(), "user.zk.acl", acl.data(), acl.size(), 0) != 0) {
    const int error = errno;
    if (error == EINVAL) {
      report(global, "acl set", target.show(target.znode), "'" + acl + "' is not an ACL the mount takes (docs/mount.md, \"ACLs\")");
      return kExitUsage;
    }
    return fail_errno(global, "acl set", target.show(target.znode), error);
  }
  return kExitOk;
}

int cmd_sync(const Global& global, const std::string& path) {
  Target target;
  int code = 0;
  if (!resolve_or_report(global, "sync", path, &target, &code)) return code;
  const int fd = open(target.local.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail_errno(global, "sync", target.show(target.znode), errno);
  // fsync on any node of the mount is ZooKeeper's sync() (docs/mount.md).
  const int result = fsync(fd);
  const int error = errno;
  close(fd);
  if (result != 0) return fail_errno(global, "sync", target.show(target.znode), error);
  return kExitOk;
}

namespace {

// What `wait --until change` compares: ZooKeeper's stat (data, children, ACL) and, for POSIX-only
// changes, the ctime the kernel reports.
std::optional<std::string> fingerprint(const std::string& local) {
  std::string line;
  if (!get_xattr(local, "user.zk.stat", &line)) return std::nullopt;
  return line;
}

}  // namespace

int cmd_wait(const Global& global, const std::string& path, WaitFor until, double timeout_s) {
  Target target;
  int code = 0;
  if (!resolve_or_report(global, "wait", path, &target, &code)) return code;
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  const std::string parent = target.local.substr(0, target.local.rfind('/'));
  std::optional<std::string> before;
  if (until == WaitFor::kChange) {
    before = fingerprint(target.local);
    if (!before) return fail_errno(global, "wait", target.show(target.znode), errno);
  }
  const int inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify < 0) return fail_errno(global, "wait", "inotify", errno);
  constexpr uint32_t kParentEvents = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_CLOSE_WRITE;
  constexpr uint32_t kNodeEvents = IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF |
                                   IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO;
  int node_watch = -1;
  auto arm = [&] {
    inotify_add_watch(inotify, parent.empty() ? "/" : parent.c_str(), kParentEvents);
    if (node_watch < 0) node_watch = inotify_add_watch(inotify, target.local.c_str(), kNodeEvents);
  };
  auto satisfied = [&] {
    struct stat st{};
    const bool exists = lstat(target.local.c_str(), &st) == 0;
    if (until == WaitFor::kExists) return exists;
    if (until == WaitFor::kGone) return !exists;
    if (!exists) return true;  // deleted: a change too
    const auto now = fingerprint(target.local);
    return !now || *now != *before;
  };
  int result = kExitOk;
  while (true) {
    arm();  // watches first, then the check: no change falls between them
    if (satisfied()) break;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (timeout_s > 0 && left.count() <= 0) {
      result = kExitTimeout;
      break;
    }
    // The events wake it; the 250 ms re-check covers a parent that did not exist yet.
    const int wait_ms = timeout_s > 0 ? static_cast<int>(std::min<int64_t>(left.count(), 250)) : 250;
    pollfd poll_fd{inotify, POLLIN, 0};
    poll(&poll_fd, 1, wait_ms);
    char buffer[4096];
    while (read(inotify, buffer, sizeof buffer) > 0) {
    }
  }
  close(inotify);
  if (result == kExitTimeout) {
    report(global, "wait", target.show(target.znode), "timed out after " + std::to_string(timeout_s) + " s");
  }
  return result;
}

}  // namespace quorumfs::quorumctl
