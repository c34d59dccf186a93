// lockbench: how fast an exclusive lock passes from one process to the next, through flock() on a
// file (a quorumfs mount, or any directory) or through ZooKeeper's lock recipe.
//
//   $ lockbench flock /mntA/locks/L /mntB/locks/L /mntC/locks/L --iterations 200 --label quorumfs
//   lockbench flock label=quorumfs contenders=3 iterations=200: 600 acquisitions, 599 handoffs in
//     ... s = ... handoffs/s, handoff p50 ... ms p99 ... ms, self-reacquires 0, overlaps 0 (by time 0)
//   {"label":"quorumfs","mode":"flock",...,"handoffs_per_s":...,"overlaps":0,...}
//
//   $ lockbench zk 127.0.0.1:2181 127.0.0.1:2182 127.0.0.1:2183 --lock /locks/L --iterations 200
//
// One contender process per target (--contenders N cycles over the targets; repeat a path to put
// several contenders on one file). Each contender loops --iterations times:
//   flock: open(O_CREAT|O_RDWR), flock(LOCK_EX) (blocking) -> acquired; ... ; flock(LOCK_UN), close
//   zk:    ZooKeeper's standard lock recipe, one session per contender connected to its target only:
//          create ephemeral-sequential LOCK/lock-, getChildren(LOCK); the lowest sequence holds the
//          lock; any other watches its predecessor with exists() and re-reads the children when it
//          goes; release = delete the own node.
// While holding, a contender checks and increments a counter in memory shared by all contenders:
// finding another holder there is an overlap, i.e. the lock failed to exclude. Overlaps are also
// counted from the records (an acquire before the previous holders' last release). Either check
// needs the lock held for a while: with --hold-us 0 a critical section lasts ~100 ns and three
// contenders on three separate files showed no overlap in the counter (23 of 3000 by time); with
// the default 100 us they overlap 2994 times of 3000, and on one file 0 times.
//
// Times are CLOCK_MONOTONIC (steady_clock), comparable across processes on one machine. All
// contenders' (acquire, release) records are merged and sorted by acquire time; a handoff is a pair
// of consecutive records of different contenders, its latency the next acquire minus the previous
// release. A contender taking the lock again right after its own release (possible with flock,
// which is not fair; not with the recipe, which queues) is a self-reacquire, counted apart.
// handoffs/s = handoffs / (last release - first acquire).

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/bench/children.h"

#ifdef QUORUMFS_LOCKBENCH_ZK
#include <zookeeper/zookeeper.h>

#include <condition_variable>
#include <mutex>
#endif

namespace {

using quorumfs::bench::now_ns;
using quorumfs::bench::read_all;
using quorumfs::bench::write_all;

enum class Mode { flock, zk };

struct Options {
  Mode mode = Mode::flock;
  std::vector<std::string> targets;  // lock-file paths, or ZooKeeper host:port
  int contenders = 0;                // 0: one per target
  int iterations = 100;
  int hold_us = 100;  // > 0, or a lock that does not exclude is rarely caught (see the top)
  std::string lock_path = "/locks/L";  // zk: the recipe's parent znode
  int session_timeout_ms = 10'000;     // zk
  std::string label;
  std::string json_path;  // also append the JSON line to this file
};

struct Record {
  int64_t acquire_ns = 0;
  int64_t release_ns = 0;
  uint32_t contender = 0;
};

// Lives in a MAP_SHARED page that every contender inherits.
struct SharedCheck {
  std::atomic<int32_t> holders{0};
  std::atomic<uint64_t> overlaps{0};
};
static_assert(std::atomic<int32_t>::is_always_lock_free && std::atomic<uint64_t>::is_always_lock_free,
              "the overlap check relies on lock-free atomics in shared memory");

// What a contender reports: once after setup (records = 0), once after its loop.
struct Report {
  bool ok = false;
  uint64_t records = 0;
  char error[240] = {};
};

// One way of taking an exclusive lock; each method returns an empty string or what went wrong.
class Contender {
 public:
  virtual ~Contender() = default;
  virtual std::string setup() = 0;  // before the start signal: connect, resolve paths
  virtual std::string acquire() = 0;
  virtual std::string release() = 0;
};

class FlockContender final : public Contender {
 public:
  explicit FlockContender(std::string path) : path_(std::move(path)) {}
  ~FlockContender() override {
    if (fd_ >= 0) close(fd_);
  }

  std::string setup() override { return {}; }

  std::string acquire() override {
    fd_ = open(path_.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (fd_ < 0) return "open " + path_ + ": " + std::strerror(errno);
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) return "flock " + path_ + ": " + std::strerror(errno);
    }
    return {};
  }

  std::string release() override {
    std::string error;
    if (::flock(fd_, LOCK_UN) != 0) error = "flock(LOCK_UN) " + path_ + ": " + std::strerror(errno);
    if (close(fd_) != 0 && error.empty()) error = "close " + path_ + ": " + std::strerror(errno);
    fd_ = -1;
    return error;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

#ifdef QUORUMFS_LOCKBENCH_ZK
// The recipe of ZooKeeper's documentation ("Recipes and Solutions: Locks"), without the herd
// effect: each waiter watches only the node just before its own.
class ZkContender final : public Contender {
 public:
  ZkContender(std::string server, std::string lock_path, int session_timeout_ms)
      : server_(std::move(server)),
        lock_path_(std::move(lock_path)),
        session_timeout_ms_(session_timeout_ms) {}
  ~ZkContender() override {
    if (handle_ != nullptr) zookeeper_close(handle_);
  }

  std::string setup() override {
    zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
    handle_ = zookeeper_init(server_.c_str(), on_session_event, session_timeout_ms_, nullptr, this, 0);
    if (handle_ == nullptr) return "zookeeper_init " + server_ + ": " + std::strerror(errno);
    {
      std::unique_lock lock(mutex_);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      if (!changed_.wait_until(lock, deadline, [this] { return connected_ || expired_; })) {
        return "no session with " + server_ + " within 30 s";
      }
      if (expired_) return "session with " + server_ + " expired while connecting";
    }
    return create_parents();
  }

  std::string acquire() override {
    char created[512];
    const std::string prefix = lock_path_ + "/lock-";
    int rc = zoo_create(handle_, prefix.c_str(), nullptr, -1, &ZOO_OPEN_ACL_UNSAFE,
                        ZOO_EPHEMERAL_SEQUENTIAL, created, sizeof(created));
    if (rc != ZOK) return "create " + prefix + ": " + zerror(rc);
    own_path_ = created;
    const int64_t own_sequence = sequence_of(own_path_);
    for (;;) {
      std::string predecessor;
      if (std::string error = find_predecessor(own_sequence, predecessor); !error.empty()) return error;
      if (predecessor.empty()) return {};  // lowest: we hold the lock
      const uint64_t events_seen = watch_events();
      struct Stat stat {};
      rc = zoo_wexists(handle_, predecessor.c_str(), on_predecessor_event, this, &stat);
      if (rc == ZNONODE) continue;  // gone between getChildren and exists(): look again
      if (rc != ZOK) return "exists " + predecessor + ": " + zerror(rc);
      if (std::string error = wait_event_after(events_seen); !error.empty()) return error;
    }
  }

  std::string release() override {
    const int rc = zoo_delete(handle_, own_path_.c_str(), -1);
    if (rc != ZOK) return "delete " + own_path_ + ": " + zerror(rc);
    return {};
  }

 private:
  // Trailing 10-digit counter that ZooKeeper appends to a sequential node's name.
  static int64_t sequence_of(const std::string& name) {
    const size_t dash = name.rfind('-');
    if (dash == std::string::npos) return -1;
    return std::strtoll(name.c_str() + dash + 1, nullptr, 10);
  }

  std::string create_parents() {
    for (size_t slash = 1; slash <= lock_path_.size(); ++slash) {
      if (slash != lock_path_.size() && lock_path_[slash] != '/') continue;
      const std::string path = lock_path_.substr(0, slash);
      const int rc = zoo_create(handle_, path.c_str(), nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, 0,
                                nullptr, 0);
      if (rc != ZOK && rc != ZNODEEXISTS) return "create " + path + ": " + zerror(rc);
    }
    return {};
  }

  // The child just before ours in sequence order, as a full path; empty if ours is the lowest.
  std::string find_predecessor(int64_t own_sequence, std::string& predecessor) {
    String_vector children{};
    const int rc = zoo_get_children(handle_, lock_path_.c_str(), 0, &children);
    if (rc != ZOK) return "getChildren " + lock_path_ + ": " + zerror(rc);
    int64_t best_sequence = -1;
    bool own_found = false;
    for (int32_t i = 0; i < children.count; ++i) {
      const std::string name = children.data[i];
      if (name.rfind("lock-", 0) != 0) continue;
      const int64_t sequence = sequence_of(name);
      own_found = own_found || sequence == own_sequence;
      if (sequence < own_sequence && sequence > best_sequence) {
        best_sequence = sequence;
        predecessor = lock_path_ + "/" + name;
      }
    }
    deallocate_String_vector(&children);
    // Only a lost session removes our node; without it, being "lowest" would prove nothing.
    if (!own_found) return own_path_ + " is gone (session lost?)";
    return {};
  }

  uint64_t watch_events() {
    std::lock_guard lock(mutex_);
    return watch_events_;
  }

  std::string wait_event_after(uint64_t events_seen) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return watch_events_ != events_seen || expired_; });
    if (expired_) return "session with " + server_ + " expired while waiting for the lock";
    return {};
  }

  // Runs on the client library's completion thread.
  static void on_session_event(zhandle_t* handle, int type, int state, const char*, void*) {
    if (type != ZOO_SESSION_EVENT) return;
    auto* self = static_cast<ZkContender*>(const_cast<void*>(zoo_get_context(handle)));
    std::lock_guard lock(self->mutex_);
    if (state == ZOO_CONNECTED_STATE) self->connected_ = true;
    if (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE) self->expired_ = true;
    self->changed_.notify_all();
  }

  // Any event on the watched predecessor (deleted, or the session event that drops the watch)
  // sends the waiter back to getChildren.
  static void on_predecessor_event(zhandle_t*, int, int, const char*, void* context) {
    auto* self = static_cast<ZkContender*>(context);
    std::lock_guard lock(self->mutex_);
    ++self->watch_events_;
    self->changed_.notify_all();
  }

  std::string server_;
  std::string lock_path_;
  int session_timeout_ms_;
  zhandle_t* handle_ = nullptr;
  std::string own_path_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool connected_ = false;
  bool expired_ = false;
  uint64_t watch_events_ = 0;
};
#endif

std::unique_ptr<Contender> make_contender([[maybe_unused]] const Options& options,
                                          const std::string& target) {
#ifdef QUORUMFS_LOCKBENCH_ZK
  if (options.mode == Mode::zk) {
    return std::make_unique<ZkContender>(target, options.lock_path, options.session_timeout_ms);
  }
#endif
  return std::make_unique<FlockContender>(target);
}

void copy_error(Report& report, const std::string& error) {
  std::snprintf(report.error, sizeof(report.error), "%s", error.c_str());
}

// The loop of one contender; fills `records` and returns an empty string or the first error.
std::string run_loop(const Options& options, uint32_t index, Contender& contender,
                     SharedCheck& check, std::vector<Record>& records) {
  for (int i = 0; i < options.iterations; ++i) {
    if (std::string error = contender.acquire(); !error.empty()) return error;
    Record& record = records.emplace_back();
    record.contender = index;
    record.acquire_ns = now_ns();
    if (check.holders.fetch_add(1) != 0) check.overlaps.fetch_add(1);
    if (options.hold_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(options.hold_us));
    check.holders.fetch_sub(1);
    record.release_ns = now_ns();
    if (std::string error = contender.release(); !error.empty()) return error;
  }
  return {};
}

[[noreturn]] void contender_main(const Options& options, uint32_t index, const std::string& target,
                                 SharedCheck& check, int go_fd, int result_fd) {
  std::vector<Record> records;
  records.reserve(size_t(options.iterations));  // no allocation inside the measured loop
  Report report;
  std::unique_ptr<Contender> contender = make_contender(options, target);
  const std::string setup_error = contender->setup();
  report.ok = setup_error.empty();
  copy_error(report, setup_error);
  if (!write_all(result_fd, &report, sizeof(report))) _exit(3);
  char go = 0;
  if (!report.ok || !read_all(go_fd, &go, 1)) _exit(2);
  const std::string error = run_loop(options, index, *contender, check, records);
  report.ok = error.empty();
  copy_error(report, error);
  report.records = records.size();
  contender.reset();  // a ZooKeeper session ends here, before the parent reads the results
  if (!write_all(result_fd, &report, sizeof(report)) ||
      !write_all(result_fd, records.data(), records.size() * sizeof(Record))) {
    _exit(3);
  }
  _exit(report.ok ? 0 : 1);
}

using Process = quorumfs::bench::Child;

bool spawn(const Options& options, SharedCheck& check, std::vector<Process>& processes) {
  for (int i = 0; i < options.contenders; ++i) {
    const std::string& target = options.targets[size_t(i) % options.targets.size()];
    const bool forked = quorumfs::bench::fork_child(processes, [&](int go_fd, int result_fd) {
      contender_main(options, uint32_t(i), target, check, go_fd, result_fd);
    });
    if (!forked) return false;
  }
  return true;
}

// Waits for every contender's setup, then starts them all at once.
bool start_all(std::vector<Process>& processes) {
  bool ok = true;
  for (size_t i = 0; i < processes.size(); ++i) {
    Report report;
    if (!read_all(processes[i].result_fd, &report, sizeof(report))) report.ok = false;
    if (!report.ok) {
      std::cerr << "lockbench: contender " << i << " setup failed: " << report.error << "\n";
      ok = false;
    }
  }
  if (!ok) return false;
  const char go = 1;
  for (Process& process : processes) {
    if (!write_all(process.go_fd, &go, 1)) return false;
  }
  return true;
}

bool gather(std::vector<Process>& processes, std::vector<Record>& records) {
  bool ok = true;
  for (size_t i = 0; i < processes.size(); ++i) {
    Report report;
    if (!read_all(processes[i].result_fd, &report, sizeof(report))) {
      std::cerr << "lockbench: contender " << i << " died without reporting\n";
      ok = false;
      continue;
    }
    const size_t offset = records.size();
    records.resize(offset + report.records);
    if (!read_all(processes[i].result_fd, records.data() + offset, report.records * sizeof(Record))) {
      ok = false;
    }
    if (!report.ok) {
      std::cerr << "lockbench: contender " << i << ": " << report.error << "\n";
      ok = false;
    }
  }
  return ok;
}


struct Summary {
  uint64_t acquisitions = 0;
  uint64_t handoffs = 0;
  uint64_t self_reacquires = 0;
  uint64_t overlaps = 0;          // the shared counter found another holder
  uint64_t overlaps_by_time = 0;  // an acquire before the previous holders' last release
  double span_s = 0;
  double handoffs_per_s = 0;
  double acquisitions_per_s = 0;
  double handoff_latency_ms_p50 = 0;
  double handoff_latency_ms_p99 = 0;
  double handoff_latency_ms_max = 0;
};

// Nearest-rank percentile of a sorted sample, in milliseconds.
double percentile_ms(const std::vector<int64_t>& sorted_ns, double fraction) {
  if (sorted_ns.empty()) return 0;
  const size_t rank = size_t(std::ceil(fraction * double(sorted_ns.size())));
  return double(sorted_ns[std::clamp<size_t>(rank, 1, sorted_ns.size()) - 1]) / 1e6;
}

Summary summarise(std::vector<Record>& records, uint64_t overlaps) {
  Summary summary;
  summary.acquisitions = records.size();
  summary.overlaps = overlaps;
  if (records.empty()) return summary;
  std::sort(records.begin(), records.end(),
            [](const Record& a, const Record& b) { return a.acquire_ns < b.acquire_ns; });
  std::vector<int64_t> handoff_ns;
  int64_t released_last_ns = records[0].release_ns;
  for (size_t i = 1; i < records.size(); ++i) {
    const Record& previous = records[i - 1];
    const Record& next = records[i];
    if (next.acquire_ns < released_last_ns) ++summary.overlaps_by_time;
    released_last_ns = std::max(released_last_ns, next.release_ns);
    if (next.contender == previous.contender) {
      ++summary.self_reacquires;
      continue;
    }
    ++summary.handoffs;
    handoff_ns.push_back(next.acquire_ns - previous.release_ns);
  }
  std::sort(handoff_ns.begin(), handoff_ns.end());
  summary.span_s = double(released_last_ns - records.front().acquire_ns) / 1e9;
  if (summary.span_s > 0) {
    summary.handoffs_per_s = double(summary.handoffs) / summary.span_s;
    summary.acquisitions_per_s = double(summary.acquisitions) / summary.span_s;
  }
  summary.handoff_latency_ms_p50 = percentile_ms(handoff_ns, 0.50);
  summary.handoff_latency_ms_p99 = percentile_ms(handoff_ns, 0.99);
  if (!handoff_ns.empty()) summary.handoff_latency_ms_max = double(handoff_ns.back()) / 1e6;
  return summary;
}

const char* name_of(Mode mode) { return mode == Mode::zk ? "zk" : "flock"; }

void print(const Options& options, const Summary& s, bool ok) {
  std::printf(
      "lockbench %s label=%s contenders=%d iterations=%d: %llu acquisitions, %llu handoffs in "
      "%.3f s = %.1f handoffs/s, handoff p50 %.3f ms p99 %.3f ms max %.3f ms, self-reacquires "
      "%llu, overlaps %llu (by time %llu)%s%s\n",
      name_of(options.mode), options.label.c_str(), options.contenders, options.iterations,
      static_cast<unsigned long long>(s.acquisitions), static_cast<unsigned long long>(s.handoffs),
      s.span_s, s.handoffs_per_s, s.handoff_latency_ms_p50, s.handoff_latency_ms_p99,
      s.handoff_latency_ms_max, static_cast<unsigned long long>(s.self_reacquires),
      static_cast<unsigned long long>(s.overlaps), static_cast<unsigned long long>(s.overlaps_by_time),
      s.overlaps + s.overlaps_by_time > 0 ? "  THE LOCK DID NOT EXCLUDE" : "",
      ok ? "" : "  (a contender failed)");
  const nlohmann::json line = {
      {"label", options.label},
      {"mode", name_of(options.mode)},
      {"targets", options.targets},
      {"contenders", options.contenders},
      {"iterations", options.iterations},
      {"hold_us", options.hold_us},
      {"ok", ok},
      {"acquisitions", s.acquisitions},
      {"handoffs", s.handoffs},
      {"self_reacquires", s.self_reacquires},
      {"overlaps", s.overlaps},
      {"overlaps_by_time", s.overlaps_by_time},
      {"span_s", s.span_s},
      {"handoffs_per_s", s.handoffs_per_s},
      {"acquisitions_per_s", s.acquisitions_per_s},
      {"handoff_latency_ms_p50", s.handoff_latency_ms_p50},
      {"handoff_latency_ms_p99", s.handoff_latency_ms_p99},
      {"handoff_latency_ms_max", s.handoff_latency_ms_max},
  };
  std::printf("%s\n", line.dump().c_str());
  std::fflush(stdout);
  if (!options.json_path.empty()) {
    std::ofstream out(options.json_path, std::ios::app);
    out << line.dump() << "\n";
    if (!out.flush()) std::cerr << "lockbench: cannot write " << options.json_path << "\n";
  }
}

int run(Options& options) {
#ifndef QUORUMFS_LOCKBENCH_ZK
  if (options.mode == Mode::zk) {
    std::cerr << "lockbench: built without libzookeeper_mt; install libzookeeper-mt-dev and "
                 "reconfigure to get the zk mode\n";
    return 2;
  }
#endif
  if (options.contenders == 0) options.contenders = int(options.targets.size());
  if (options.label.empty()) options.label = name_of(options.mode);

  void* page = mmap(nullptr, sizeof(SharedCheck), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                    -1, 0);
  if (page == MAP_FAILED) {
    std::cerr << "lockbench: mmap: " << std::strerror(errno) << "\n";
    return 1;
  }
  auto* check = new (page) SharedCheck;
  std::vector<Process> processes;
  std::vector<Record> records;
  bool ok = spawn(options, *check, processes) && start_all(processes);
  ok = ok && gather(processes, records);
  ok = quorumfs::bench::reap_children(processes, !ok) && ok;
  const Summary summary = summarise(records, check->overlaps.load());
  if (!records.empty() || ok) print(options, summary, ok);
  munmap(page, sizeof(SharedCheck));
  return ok ? 0 : 1;
}

void add_common_options(CLI::App& command, Options& options) {
  command.add_option("--contenders", options.contenders,
                     "Contender processes, cycling over the targets (default: one per target)")
      ->check(CLI::Range(1, 256));
  command.add_option("--iterations", options.iterations, "Acquisitions per contender")
      ->check(CLI::Range(1, 10'000'000));
  command.add_option("--hold-us", options.hold_us, "Time each holder keeps the lock (default 100)")
      ->check(CLI::Range(0, 10'000'000));
  command.add_option("--label", options.label, "Name of this run (default: the mode)");
  command.add_option("--json", options.json_path, "Also append the JSON line to this file");
}

}  // namespace

int main(int argc, char* argv[]) {
  Options options;
  CLI::App app{"lockbench: lock handoff latency and rate, flock() on files or ZooKeeper's recipe"};
  app.require_subcommand(1);
#ifdef QUORUMFS_LOCKBENCH_ZK
  app.footer("zk mode: built (ZooKeeper C client " ZOO_VERSION ")");
#else
  app.footer("zk mode: not built (no libzookeeper_mt when configured)");
#endif
  CLI::App* flock_mode = app.add_subcommand("flock", "flock(LOCK_EX) on each contender's file");
  flock_mode->add_option("paths", options.targets,
                         "Lock file per contender (the same file seen through different mounts)")
      ->required();
  add_common_options(*flock_mode, options);
  CLI::App* zk_mode = app.add_subcommand("zk", "ZooKeeper's lock recipe, one session per contender");
  zk_mode->add_option("servers", options.targets, "host:port each contender connects to")
      ->required();
  zk_mode->add_option("--lock", options.lock_path, "Parent znode of the lock (default /locks/L)");
  zk_mode->add_option("--session-timeout-ms", options.session_timeout_ms, "Session timeout")
      ->check(CLI::Range(1000, 600'000));
  add_common_options(*zk_mode, options);
  CLI11_PARSE(app, argc, argv);
  options.mode = zk_mode->parsed() ? Mode::zk : Mode::flock;
  return run(options);
}
