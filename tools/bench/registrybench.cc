// registrybench: the service registry and config center recipes (examples/registry.sh,
// examples/config-center.sh) at the speed of the mount, over the mounts of an ensemble's members:
//
//   $ registrybench /mnt/m1 /mnt/m2 /mnt/m3 --procs 6 --registrations 300 --seconds 5 --pushes 200
//   registrybench  mounts=3  procs=6  instances/query=10
//   phase             ops  errors   wall_s       ops/s   p50_us   p99_us
//   register         1800       0    2.101         857   6301.0  21050.2
//   discover        14022       0    5.000        2804   1803.4   6022.0   (70110 files read)
//   push              200       0   12.400          16   9021.0  30100.9   (to the last host)
//
// register  worker i, on mount i mod M, makes R instances in MOUNT0/services/bench-register (a
//           set-gid directory: ephemeral files), each as registry.sh does: open(O_CREAT|O_EXCL)
//           of IP:PORT, the JSON written and committed by the close of a dup of the descriptor
//           (the node lives on with the descriptor). Latency: open to that close. The instances
//           stay until every worker is done, then go with the workers' descriptors.
// discover  worker i, on mount i mod M, for --seconds: one query = list the directory of a
//           service of --instances instances (registered beforehand, held by the driver) and read
//           every instance's JSON, as `registry.sh list` does. ops/s = queries/s.
// push      the driver publishes config.json (one open(O_TRUNC), write, close) --pushes times, on
//           mount k mod M for push k; one thread per mount waits in inotify (IN_CLOSE_WRITE,
//           IN_MOVED_TO on the directory) and reads the file after each event, as
//           `config-center.sh subscribe` does. Latency: from before the publisher's open to the
//           moment the LAST mount's reader has read that push's content (the first mount's, and
//           the publisher's close, are in the JSON). Pushes are sequential: the next starts when
//           every mount has read the last.
//
// Processes, not threads, for the workers (FUSE sees one caller per process, as for real clients).

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/bench/children.h"
#include "tools/bench/latency.h"

namespace {

using quorumfs::bench::now_ns;
using quorumfs::bench::read_all;
using quorumfs::bench::write_all;

using quorumfs::bench::Child;

struct Options {
  std::vector<std::string> mounts;
  int procs = 6;
  int registrations = 300;  // per worker
  int instances = 10;       // per discovered service
  double seconds = 5;       // discover phase
  int pushes = 200;
  int push_timeout_ms = 10'000;  // one push not seen everywhere by then: counted as an error
  std::string json_path;
};

// What a worker sends back; `ops` latencies (ns) follow it on the pipe.
struct Report {
  uint64_t ops = 0;
  uint64_t errors = 0;
  uint64_t files_read = 0;
  int64_t start_ns = 0;  // steady_clock: CLOCK_MONOTONIC, comparable across processes
  int64_t end_ns = 0;
  int errno_first = 0;
};

struct PhaseResult {
  std::string name;
  Report total;
  std::vector<int64_t> latencies_ns;
  std::string note;
};

bool wait_go(int go_fd) {
  char byte = 0;
  return read_all(go_fd, &byte, 1);
}

void send_report(int result_fd, const Report& report, const std::vector<int64_t>& latencies) {
  write_all(result_fd, &report, sizeof report);
  write_all(result_fd, latencies.data(), latencies.size() * sizeof(int64_t));
}

std::string instance_json(const std::string& ip, int port, int weight) {
  return R"({"ip":")" + ip + R"(","port":)" + std::to_string(port) + R"(,"weight":)" +
         std::to_string(weight) + R"(,"healthy":true,"cluster":"DEFAULT","host":"bench","pid":)" +
         std::to_string(getpid()) + "}\n";
}

// register_instance: registry.sh's registration. Returns the descriptor that keeps the node, or
// -errno.
int register_instance(const std::string& dir, const std::string& ip, int port, int weight) {
  const std::string path = dir + "/" + ip + ":" + std::to_string(port);
  const int fd = open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) return -errno;
  // The JSON goes through a copy of the descriptor, whose close commits it (one setData).
  const int copy = dup(fd);
  const std::string json = instance_json(ip, port, weight);
  const bool written = copy >= 0 && write_all(copy, json.data(), json.size());
  if (copy < 0 || close(copy) != 0 || !written) {
    const int error = errno ? errno : EIO;
    close(fd);
    return -error;
  }
  return fd;
}

// One discovery query: list DIR and read every instance. Returns the files read, or -errno.
long discover_once(const std::string& dir, std::string& buffer) {
  DIR* listing = opendir(dir.c_str());
  if (!listing) return -errno;
  long files = 0;
  while (const dirent* entry = readdir(listing)) {
    if (entry->d_name[0] == '.') continue;
    const int fd = openat(dirfd(listing), entry->d_name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;  // gone meanwhile: as registry.sh, not an error
    buffer.resize(4096);
    const ssize_t n = read(fd, buffer.data(), buffer.size());
    close(fd);
    if (n > 0) ++files;
  }
  closedir(listing);
  return files;
}

[[noreturn]] void register_worker(const Options& options, int index, const std::string& dir,
                                  int go_fd, int result_fd) {
  std::vector<int> held;
  std::vector<int64_t> latencies;
  latencies.reserve(size_t(options.registrations));
  Report report;
  if (!wait_go(go_fd)) _exit(1);
  report.start_ns = now_ns();
  for (int k = 0; k < options.registrations; ++k) {
    const std::string ip = "10." + std::to_string(index) + "." + std::to_string(k / 256) + "." +
                           std::to_string(k % 256);
    const int64_t begin = now_ns();
    const int fd = register_instance(dir, ip, 8080, 1 + k % 5);
    if (fd < 0) {
      if (!report.errno_first) report.errno_first = -fd;
      ++report.errors;
      continue;
    }
    latencies.push_back(now_ns() - begin);
    held.push_back(fd);
  }
  report.end_ns = now_ns();
  report.ops = latencies.size();
  send_report(result_fd, report, latencies);
  wait_go(go_fd);  // hold the instances until every worker is done (EOF is fine)
  _exit(0);
}

[[noreturn]] void discover_worker(const Options& options, const std::string& dir, int go_fd,
                                  int result_fd) {
  std::vector<int64_t> latencies;
  latencies.reserve(1 << 20);
  std::string buffer;
  Report report;
  if (!wait_go(go_fd)) _exit(1);
  report.start_ns = now_ns();
  const int64_t deadline = report.start_ns + int64_t(options.seconds * 1e9);
  while (now_ns() < deadline && latencies.size() < latencies.capacity()) {
    const int64_t begin = now_ns();
    const long files = discover_once(dir, buffer);
    if (files < 0) {
      if (!report.errno_first) report.errno_first = int(-files);
      ++report.errors;
      continue;
    }
    latencies.push_back(now_ns() - begin);
    report.files_read += uint64_t(files);
  }
  report.end_ns = now_ns();
  report.ops = latencies.size();
  send_report(result_fd, report, latencies);
  _exit(0);
}

// Collects every child's report into one phase.
PhaseResult collect(const std::string& name, std::vector<Child>& children) {
  PhaseResult phase{name, {}, {}, {}};
  phase.total.start_ns = INT64_MAX;
  for (const Child& child : children) {
    Report report;
    if (!read_all(child.result_fd, &report, sizeof report)) {
      std::cerr << "registrybench: a " << name << " worker died\n";
      ++phase.total.errors;
      continue;
    }
    std::vector<int64_t> latencies(report.ops);
    read_all(child.result_fd, latencies.data(), latencies.size() * sizeof(int64_t));
    phase.latencies_ns.insert(phase.latencies_ns.end(), latencies.begin(), latencies.end());
    phase.total.ops += report.ops;
    phase.total.errors += report.errors;
    phase.total.files_read += report.files_read;
    phase.total.start_ns = std::min(phase.total.start_ns, report.start_ns);
    phase.total.end_ns = std::max(phase.total.end_ns, report.end_ns);
    if (!phase.total.errno_first) phase.total.errno_first = report.errno_first;
  }
  std::sort(phase.latencies_ns.begin(), phase.latencies_ns.end());
  return phase;
}

void go_all(std::vector<Child>& children) {
  for (const Child& child : children) write_all(child.go_fd, "g", 1);
}

// make_set_gid_dir: DIR with the set-gid bit (mkdir cannot set it: chmod after), seen as such
// on every mount within 10 s.
bool make_set_gid_dir(const Options& options, const std::string& relative) {
  const std::string dir = options.mounts[0] + "/" + relative;
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return false;
  if (chmod(dir.c_str(), 02755) != 0) return false;
  for (int tries = 0; tries < 200; ++tries) {
    bool everywhere = true;
    for (const std::string& mount : options.mounts) {
      struct stat st{};
      everywhere = everywhere && stat((mount + "/" + relative).c_str(), &st) == 0 &&
                   (st.st_mode & S_ISGID);
    }
    if (everywhere) return true;
    usleep(50'000);
  }
  return false;
}

PhaseResult run_register(const Options& options) {
  std::vector<Child> children;
  for (int index = 0; index < options.procs; ++index) {
    const std::string dir = options.mounts[size_t(index) % options.mounts.size()] +
                            "/services/bench-register";
    if (!quorumfs::bench::fork_child(children, [&](int go_fd, int result_fd) {
          register_worker(options, index, dir, go_fd, result_fd);
        })) {
      std::perror("registrybench: fork");
      std::exit(1);
    }
  }
  go_all(children);
  PhaseResult phase = collect("register", children);
  quorumfs::bench::reap_children(children, false);  // their close ends the instances
  return phase;
}

PhaseResult run_discover(const Options& options) {
  // The service's instances, held by the driver for the phase.
  std::vector<int> held;
  const std::string service_dir = options.mounts[0] + "/services/bench-discover";
  for (int k = 0; k < options.instances; ++k) {
    const int fd = register_instance(service_dir, "10.255.0." + std::to_string(k), 8080, 1);
    if (fd < 0) {
      std::cerr << "registrybench: cannot register in " << service_dir << ": "
                << std::strerror(-fd) << "\n";
      std::exit(1);
    }
    held.push_back(fd);
  }
  // Every member lists them all before the queries start (<= 10 s).
  for (const std::string& mount : options.mounts) {
    for (int tries = 0; tries < 200; ++tries) {
      std::string buffer;
      if (discover_once(mount + "/services/bench-discover", buffer) == options.instances) break;
      usleep(50'000);
    }
  }
  std::vector<Child> children;
  for (int index = 0; index < options.procs; ++index) {
    const std::string dir = options.mounts[size_t(index) % options.mounts.size()] +
                            "/services/bench-discover";
    if (!quorumfs::bench::fork_child(children, [&](int go_fd, int result_fd) {
          discover_worker(options, dir, go_fd, result_fd);
        })) {
      std::perror("registrybench: fork");
      std::exit(1);
    }
  }
  go_all(children);
  PhaseResult phase = collect("discover", children);
  quorumfs::bench::reap_children(children, false);
  for (const int fd : held) close(fd);
  phase.note = "(" + std::to_string(phase.total.files_read) + " files read)";
  return phase;
}

// One subscriber per mount: inotify on MOUNT/app, the content read after each event; the push
// number it carries ("push=K ...") recorded with the time it was first read.
class Subscriber {
 public:
  Subscriber(std::string app_dir, int pushes) : app_dir_(std::move(app_dir)), seen_ns_(size_t(pushes)) {
    for (auto& seen : seen_ns_) seen.store(0);
  }
  bool start() {
    inotify_fd_ = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (inotify_fd_ < 0 ||
        inotify_add_watch(inotify_fd_, app_dir_.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
      return false;
    }
    thread_ = std::thread([this] { loop(); });
    return true;
  }
  void stop() {
    stopping_.store(true);
    if (thread_.joinable()) thread_.join();
    if (inotify_fd_ >= 0) close(inotify_fd_);
  }
  int64_t seen_ns(int push) const { return seen_ns_[size_t(push)].load(); }

 private:
  void loop() {
    alignas(inotify_event) char events[8192];
    std::string buffer(4096, '\0');
    while (!stopping_.load()) {
      pollfd ready{inotify_fd_, POLLIN, 0};
      if (poll(&ready, 1, 100) <= 0) continue;
      const ssize_t n = read(inotify_fd_, events, sizeof events);
      bool config_changed = false;
      for (ssize_t offset = 0; offset < n;) {
        const auto* event = reinterpret_cast<const inotify_event*>(events + offset);
        if (event->len > 0 && std::strcmp(event->name, "config.json") == 0) config_changed = true;
        offset += ssize_t(sizeof(inotify_event) + event->len);
      }
      if (config_changed) reload(buffer);
    }
  }
  void reload(std::string& buffer) {
    const int fd = open((app_dir_ + "/config.json").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    const ssize_t n = read(fd, buffer.data(), buffer.size() - 1);
    close(fd);
    if (n <= 0) return;
    buffer[size_t(n)] = '\0';
    int push = -1;
    if (std::sscanf(buffer.c_str(), "{\"push\":%d", &push) != 1) return;
    if (push < 0 || size_t(push) >= seen_ns_.size()) return;
    int64_t expected = 0;
    seen_ns_[size_t(push)].compare_exchange_strong(expected, now_ns());
  }

  std::string app_dir_;
  std::vector<std::atomic<int64_t>> seen_ns_;
  int inotify_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

bool publish(const std::string& file, int push) {
  char content[256];
  const int length = std::snprintf(content, sizeof content,
                                   "{\"push\":%d,\"db\":\"primary\",\"pool\":32,\"timeout_ms\":500}\n", push);
  const int fd = open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  const bool written = write_all(fd, content, size_t(length));
  return close(fd) == 0 && written;
}

std::vector<PhaseResult> run_push(const Options& options) {
  mkdir((options.mounts[0] + "/app").c_str(), 0755);
  std::vector<std::unique_ptr<Subscriber>> subscribers;
  for (const std::string& mount : options.mounts) {
    // (each mount's app/ may take a moment to appear there)
    for (int tries = 0; tries < 200 && access((mount + "/app").c_str(), F_OK) != 0; ++tries) {
      usleep(50'000);
    }
    subscribers.push_back(std::make_unique<Subscriber>(mount + "/app", options.pushes));
    if (!subscribers.back()->start()) {
      std::perror(("registrybench: inotify on " + mount + "/app").c_str());
      std::exit(1);
    }
  }
  PhaseResult last{"push", {}, {}, "(to the last mount's read)"};
  PhaseResult first{"push_first", {}, {}, "(to the first mount's read)"};
  PhaseResult close_phase{"push_close", {}, {}, "(the publisher's open..close)"};
  last.total.start_ns = now_ns();
  for (int push = 0; push < options.pushes; ++push) {
    const std::string& mount = options.mounts[size_t(push) % options.mounts.size()];
    const int64_t begin = now_ns();
    if (!publish(mount + "/app/config.json", push)) {
      if (!last.total.errno_first) last.total.errno_first = errno;
      ++last.total.errors;
      continue;
    }
    close_phase.latencies_ns.push_back(now_ns() - begin);
    const int64_t deadline = begin + int64_t(options.push_timeout_ms) * 1'000'000;
    int64_t latest = 0, earliest = INT64_MAX;
    bool everywhere = false;
    while (!everywhere && now_ns() < deadline) {
      everywhere = true;
      latest = 0;
      earliest = INT64_MAX;
      for (const auto& subscriber : subscribers) {
        const int64_t seen = subscriber->seen_ns(push);
        everywhere = everywhere && seen != 0;
        latest = std::max(latest, seen);
        if (seen) earliest = std::min(earliest, seen);
      }
      if (!everywhere) usleep(100);
    }
    if (!everywhere) {
      ++last.total.errors;
      continue;
    }
    last.latencies_ns.push_back(latest - begin);
    first.latencies_ns.push_back(earliest - begin);
  }
  last.total.end_ns = now_ns();
  for (auto& subscriber : subscribers) subscriber->stop();
  last.total.ops = last.latencies_ns.size();
  for (PhaseResult* phase : {&last, &first, &close_phase}) {
    std::sort(phase->latencies_ns.begin(), phase->latencies_ns.end());
    phase->total.ops = phase->latencies_ns.size();
    phase->total.start_ns = last.total.start_ns;
    phase->total.end_ns = last.total.end_ns;
  }
  return {last, first, close_phase};
}

void print_row(const PhaseResult& phase) {
  using quorumfs::bench::percentile;
  const double wall_s = double(phase.total.end_ns - phase.total.start_ns) / 1e9;
  std::printf("%-12s %8llu %7llu %8.3f %11.0f %9.1f %9.1f %9.1f  %s\n", phase.name.c_str(),
              static_cast<unsigned long long>(phase.total.ops),
              static_cast<unsigned long long>(phase.total.errors), wall_s,
              wall_s > 0 ? double(phase.total.ops) / wall_s : 0.0,
              percentile(phase.latencies_ns, 0.5, 1e3), percentile(phase.latencies_ns, 0.99, 1e3),
              percentile(phase.latencies_ns, 1.0, 1e3), phase.note.c_str());
  if (phase.total.errno_first) {
    std::printf("             first error: %s\n", std::strerror(phase.total.errno_first));
  }
}

nlohmann::json to_json(const PhaseResult& phase) {
  using quorumfs::bench::percentile;
  const double wall_s = double(phase.total.end_ns - phase.total.start_ns) / 1e9;
  return {{"ops", phase.total.ops},
          {"errors", phase.total.errors},
          {"files_read", phase.total.files_read},
          {"wall_s", wall_s},
          {"ops_per_s", wall_s > 0 ? double(phase.total.ops) / wall_s : 0.0},
          {"p50_us", percentile(phase.latencies_ns, 0.5, 1e3)},
          {"p99_us", percentile(phase.latencies_ns, 0.99, 1e3)},
          {"max_us", percentile(phase.latencies_ns, 1.0, 1e3)},
          {"cdf_us", quorumfs::bench::latency_cdf(phase.latencies_ns, 1e3)}};
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  std::string phases = "register,discover,push";
  CLI::App app{"registrybench: registrations/s, discovery reads/s and config push latency "
               "through the mounts of an ensemble (docs/benchmarks.md)"};
  app.add_option("mounts", options.mounts, "the members' mount points")->required()->check(CLI::ExistingDirectory);
  app.add_option("--procs", options.procs, "worker processes, spread over the mounts")->check(CLI::Range(1, 256));
  app.add_option("--registrations", options.registrations, "registrations per worker")->check(CLI::Range(1, 900));
  app.add_option("--instances", options.instances, "instances of the discovered service")->check(CLI::Range(1, 10000));
  app.add_option("--seconds", options.seconds, "length of the discover phase")->check(CLI::Range(0.1, 3600.0));
  app.add_option("--pushes", options.pushes, "config pushes")->check(CLI::Range(1, 100000));
  app.add_option("--phases", phases, "which phases, comma-separated");
  app.add_option("--json", options.json_path, "write the figures as JSON here");
  CLI11_PARSE(app, argc, argv);

  const std::string services = options.mounts[0] + "/services";
  if (mkdir(services.c_str(), 0755) != 0 && errno != EEXIST) {
    std::perror(("registrybench: mkdir " + services).c_str());
    return 1;
  }
  for (const char* service : {"services/bench-register", "services/bench-discover"}) {
    if (!make_set_gid_dir(options, service)) {
      std::cerr << "registrybench: cannot make " << service << " a set-gid directory on every mount\n";
      return 1;
    }
  }
  std::printf("registrybench  mounts=%zu  procs=%d  registrations/proc=%d  instances/query=%d\n",
              options.mounts.size(), options.procs, options.registrations, options.instances);
  std::printf("%-12s %8s %7s %8s %11s %9s %9s %9s\n", "phase", "ops", "errors", "wall_s", "ops/s",
              "p50_us", "p99_us", "max_us");
  nlohmann::json report = {{"mounts", options.mounts.size()},
                           {"procs", options.procs},
                           {"registrations_per_proc", options.registrations},
                           {"instances", options.instances}};
  bool errors = false;
  auto record = [&](const PhaseResult& phase) {
    print_row(phase);
    std::fflush(stdout);
    report[phase.name] = to_json(phase);
    errors = errors || phase.total.errors > 0;
  };
  if (phases.find("register") != std::string::npos) record(run_register(options));
  if (phases.find("discover") != std::string::npos) record(run_discover(options));
  if (phases.find("push") != std::string::npos) {
    for (const PhaseResult& phase : run_push(options)) record(phase);
  }
  if (!options.json_path.empty()) std::ofstream(options.json_path) << report.dump(2) << "\n";
  return errors ? 1 : 0;
}
