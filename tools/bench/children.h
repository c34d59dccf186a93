// The benchmark drivers' child processes (the workers of fsbench, lockbench and registrybench):
// each is forked with a "go" pipe (the parent writes a byte per phase) and a "result" pipe (the
// child writes its figures), and dies with the parent, so nothing keeps a mount or a lock busy
// after it. Also the pipes' I/O and the clock they time with.
#pragma once

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <vector>

namespace quorumfs::bench {

struct Child {
  pid_t pid = -1;
  int go_fd = -1;      // the parent's end: one byte per phase
  int result_fd = -1;  // the parent's end: what the child reports
};

// Forks one child that runs body(go_read_fd, result_write_fd), which must not return (it _exits);
// adds it to children. False when a pipe or the fork fails.
template <typename Body>
bool fork_child(std::vector<Child>& children, Body body) {
  int go[2], result[2];
  if (pipe2(go, O_CLOEXEC) != 0 || pipe2(result, O_CLOEXEC) != 0) return false;
  std::fflush(stdout);
  const pid_t parent_pid = getpid();
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent_pid) _exit(2);  // the parent died before prctl took effect
    // Drop the parent's ends of every pipe, so a dead parent reads as EOF in each child.
    for (const Child& other : children) {
      close(other.go_fd);
      close(other.result_fd);
    }
    close(go[1]);
    close(result[0]);
    body(go[0], result[1]);
    _exit(1);
  }
  close(go[0]);
  close(result[1]);
  children.push_back({pid, go[1], result[0]});
  return true;
}

// Closing the go pipes ends any child still waiting; with kill_first the others get SIGTERM. True
// when every child exited with status 0.
inline bool reap_children(std::vector<Child>& children, bool kill_first) {
  bool all_ok = true;
  for (Child& child : children) {
    close(child.go_fd);
    close(child.result_fd);
    if (kill_first) kill(child.pid, SIGTERM);
  }
  for (Child& child : children) {
    int status = 0;
    while (waitpid(child.pid, &status, 0) < 0 && errno == EINTR) {
    }
    all_ok = all_ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  return all_ok;
}

// The steady clock in nanoseconds: what the children time their operations with.
inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// All of size bytes through a pipe, retried on EINTR; false when the other end is gone.
inline bool write_all(int fd, const void* data, size_t size) {
  auto* bytes = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = write(fd, bytes, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

inline bool read_all(int fd, void* data, size_t size) {
  auto* bytes = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n = read(fd, bytes, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace quorumfs::bench
