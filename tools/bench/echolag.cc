// echolag: how long after another host's change is applied here its inotify event arrives (the
// echo's window), and how often a local change made right after it is announced first.
// tools/bench/echolag.sh starts the ensemble and runs it; see docs/benchmarks.md, "Echo lag".
//
//   $ echolag lag --remote B/mnt/d --local A/mnt/d --writers 8 --seconds 5 --log A/log
//   lag  writers=8  creates=... events=... missing=0
//   from                      n    p50_ms    p99_ms    max_ms
//   applied on A (log)     ...
//   close() on B           ...
//
//   $ echolag overtake --remote B/mnt/d --local A/mnt/d --trials 200
//
// lag: N writer processes create files (open(O_CREAT|O_EXCL) + close) in --remote, a directory on
// one member, for --seconds; a watcher thread here reads IN_CREATE from --local, the same
// directory on another member. Each event is compared with the end of the writer's close() (the
// same machine: CLOCK_MONOTONIC is shared) and, with --log, with the "echo step N queued:" line
// the applying member writes at --log-level debug (its steady clock at the apply).
//
// overtake: per trial, this process creates x-I through --remote; a thread stats x-I through
// --local in a loop (every 50 us) and, as soon as it is there (the txn was applied on that member), creates y-I
// there; the watcher records the order of the two IN_CREATE events. The zxid order is x-I then
// y-I; a trial where y-I comes first is an overtake.
#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

bool create_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  return ::close(fd) == 0;
}

// Reads IN_CREATE events of one directory: the time each name was first announced and its rank.
class Watcher {
 public:
  explicit Watcher(const std::string& dir) {
    fd_ = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (fd_ < 0 || inotify_add_watch(fd_, dir.c_str(), IN_CREATE) < 0) {
      std::perror("inotify");
      std::exit(1);
    }
    thread_ = std::thread([this] { run(); });
  }
  ~Watcher() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  struct Seen {
    int64_t ns;
    uint64_t rank;
  };
  bool seen(const std::string& name, Seen* out = nullptr) {
    std::lock_guard lock(mutex_);
    auto it = seen_.find(name);
    if (it == seen_.end()) return false;
    if (out) *out = it->second;
    return true;
  }
  size_t count() {
    std::lock_guard lock(mutex_);
    return seen_.size();
  }
  bool overflowed() const { return overflow_; }

 private:
  void run() {
    alignas(inotify_event) char buffer[64 * 1024];
    while (!stop_) {
      ssize_t n = ::read(fd_, buffer, sizeof buffer);
      int64_t at = now_ns();
      if (n <= 0) {
        std::this_thread::sleep_for(std::chrono::microseconds(50));
        continue;
      }
      std::lock_guard lock(mutex_);
      for (char* p = buffer; p < buffer + n;) {
        auto* event = reinterpret_cast<inotify_event*>(p);
        if (event->mask & IN_Q_OVERFLOW) overflow_ = true;
        if ((event->mask & IN_CREATE) && event->len > 0) seen_.emplace(event->name, Seen{at, rank_++});
        p += sizeof(inotify_event) + event->len;
      }
    }
  }
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<bool> overflow_{false};
  std::mutex mutex_;
  std::map<std::string, Seen> seen_;
  uint64_t rank_ = 0;
  std::thread thread_;
};

struct Stats {
  size_t n = 0;
  double p50 = 0, p99 = 0, max = 0;
};
Stats stats_of(std::vector<double> v) {
  Stats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.n = v.size();
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5))]; };
  s.p50 = at(0.5);
  s.p99 = at(0.99);
  s.max = v.back();
  return s;
}
void print_row(const char* label, const Stats& s) {
  std::printf("%-24s %7zu %9.2f %9.2f %9.2f\n", label, s.n, s.p50, s.p99, s.max);
}

// "echo step N queued: creation /a/b at T ns" -> b -> T (the first such line per name).
std::map<std::string, int64_t> applied_from_log(const std::string& log) {
  std::map<std::string, int64_t> applied;
  std::ifstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    auto queued = line.find("queued: creation ");
    if (queued == std::string::npos) continue;
    auto path_start = queued + std::strlen("queued: creation ");
    auto at = line.find(" at ", path_start);
    if (at == std::string::npos) continue;
    std::string path = line.substr(path_start, at - path_start);
    std::string name = path.substr(path.rfind('/') + 1);
    applied.emplace(name, std::stoll(line.substr(at + 4)));
  }
  return applied;
}

int run_lag(const std::string& remote, const std::string& local, int writers, double seconds,
            const std::string& log, const std::string& tag) {
  Watcher watcher(local);
  char stamps_template[] = "/tmp/echolag.XXXXXX";
  if (!mkdtemp(stamps_template)) return std::perror("mkdtemp"), 1;
  std::string stamps_dir = stamps_template;
  std::vector<pid_t> children;
  for (int w = 0; w < writers; ++w) {
    pid_t pid = fork();
    if (pid == 0) {
      std::FILE* out = std::fopen((stamps_dir + "/" + std::to_string(w)).c_str(), "w");
      int64_t end = now_ns() + static_cast<int64_t>(seconds * 1e9);
      for (int i = 0; now_ns() < end; ++i) {
        std::string name = tag + "w" + std::to_string(w) + "-" + std::to_string(i);
        if (create_file(remote + "/" + name)) std::fprintf(out, "%s %" PRId64 "\n", name.c_str(), now_ns());
      }
      std::fclose(out);
      _exit(0);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) waitpid(pid, nullptr, 0);
  std::map<std::string, int64_t> closed;
  for (int w = 0; w < writers; ++w) {
    std::string file = stamps_dir + "/" + std::to_string(w);
    std::ifstream in(file);
    std::string name;
    int64_t ns = 0;
    while (in >> name >> ns) closed.emplace(name, ns);
    std::remove(file.c_str());
  }
  ::rmdir(stamps_dir.c_str());
  // Wait for the last events (the echo may run behind).
  int64_t deadline = now_ns() + 60'000'000'000;
  while (watcher.count() < closed.size() && now_ns() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  int64_t all_in = now_ns();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the log line is written by then
  std::map<std::string, int64_t> applied = log.empty() ? std::map<std::string, int64_t>{} : applied_from_log(log);
  std::vector<double> from_close, from_apply;
  size_t missing = 0;
  int64_t last_close = 0;
  for (const auto& [name, ns] : closed) {
    last_close = std::max(last_close, ns);
    Watcher::Seen seen{};
    if (!watcher.seen(name, &seen)) {
      ++missing;
      continue;
    }
    from_close.push_back((seen.ns - ns) / 1e6);
    if (auto it = applied.find(name); it != applied.end()) from_apply.push_back((seen.ns - it->second) / 1e6);
  }
  std::printf("lag  writers=%d  seconds=%.1f  creates=%zu (%.0f/s)  events=%zu  missing=%zu%s  last event %.1f ms after the last close\n",
              writers, seconds, closed.size(), closed.size() / seconds, closed.size() - missing, missing,
              watcher.overflowed() ? "  INOTIFY QUEUE OVERFLOW" : "", (all_in - last_close) / 1e6);
  std::printf("%-24s %7s %9s %9s %9s\n", "event after", "n", "p50_ms", "p99_ms", "max_ms");
  if (!log.empty()) print_row("apply on the watcher's", stats_of(from_apply));
  print_row("close() on the writer's", stats_of(from_close));
  return missing == 0 ? 0 : 1;
}

int run_overtake(const std::string& remote, const std::string& local, int trials, const std::string& tag) {
  Watcher watcher(local);
  std::atomic<int> trial{-1};
  std::atomic<bool> stop{false};
  std::vector<int64_t> seen_by_stat(trials, 0);
  std::thread poller([&] {
    int last = -1;
    while (!stop) {
      int i = trial.load();
      if (i == last) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
        continue;
      }
      struct stat st {};
      std::string x = local + "/" + tag + "x-" + std::to_string(i);
      if (::stat(x.c_str(), &st) != 0) {
        std::this_thread::sleep_for(std::chrono::microseconds(50));  // a reader that polls
        continue;
      }
      seen_by_stat[i] = now_ns();
      if (!create_file(local + "/" + tag + "y-" + std::to_string(i))) std::perror("create y");
      last = i;
    }
  });
  int overtaken = 0, incomplete = 0, x_event_first_by_stat = 0;
  std::vector<double> stat_to_event;
  for (int i = 0; i < trials; ++i) {
    std::string x = tag + "x-" + std::to_string(i), y = tag + "y-" + std::to_string(i);
    trial = i;
    if (!create_file(remote + "/" + x)) std::perror("create x");
    int64_t deadline = now_ns() + 10'000'000'000;
    Watcher::Seen sx{}, sy{};
    while (!(watcher.seen(x, &sx) && watcher.seen(y, &sy)) && now_ns() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    if (!watcher.seen(x, &sx) || !watcher.seen(y, &sy)) {
      ++incomplete;
      continue;
    }
    if (sy.rank < sx.rank) ++overtaken;
    if (sx.ns <= seen_by_stat[i]) ++x_event_first_by_stat;
    stat_to_event.push_back((sx.ns - seen_by_stat[i]) / 1e6);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop = true;
  poller.join();
  Stats s = stats_of(stat_to_event);
  std::printf("overtake  trials=%d  y before x: %d (%.1f%%)  incomplete: %d  x's event in before stat saw x: %d\n",
              trials, overtaken, 100.0 * overtaken / std::max(1, trials - incomplete), incomplete, x_event_first_by_stat);
  std::printf("x's event after stat saw x: p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", s.p50, s.p99, s.max);
  return incomplete == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"echolag: the echo's window (docs/benchmarks.md, \"Echo lag\")"};
  app.require_subcommand(1);
  std::string remote, local, log, tag;
  int writers = 1, trials = 200;
  double seconds = 5;
  auto* lag = app.add_subcommand("lag", "event lag of creates made through another member");
  lag->add_option("--remote", remote, "directory on the writers' member")->required();
  lag->add_option("--local", local, "the same directory on the watcher's member")->required();
  lag->add_option("--writers", writers, "writer processes")->capture_default_str();
  lag->add_option("--seconds", seconds, "how long they write")->capture_default_str();
  lag->add_option("--log", log, "the watcher's member's log, written with --log-level debug");
  lag->add_option("--tag", tag, "prefix of the file names");
  auto* overtake = app.add_subcommand("overtake", "does a local create right after a foreign one overtake it");
  overtake->add_option("--remote", remote, "directory on the member that makes x")->required();
  overtake->add_option("--local", local, "the same directory on the member that makes y and watches")->required();
  overtake->add_option("--trials", trials, "trials")->capture_default_str();
  overtake->add_option("--tag", tag, "prefix of the file names");
  CLI11_PARSE(app, argc, argv);
  if (lag->parsed()) return run_lag(remote, local, writers, seconds, log, tag);
  return run_overtake(remote, local, trials, tag);
}
