// fsbench: small-file latency and throughput of any mounted directory, with N worker processes.
//
//   $ fsbench /tmp/x --procs 8 --ops 2000 --label floor --json /tmp/floor-p8.json
//   fsbench  label=floor  dir=/tmp/x  procs=8  ops/proc/phase=2000
//   op             ops  errors   wall_s       ops/s   p50_us   p99_us
//   create       16000       0    0.485       32984    221.0    424.2
//   set          16000       0    0.305       52417    149.6    231.6
//   get          16000       0    0.364       43986    180.5    252.7
//   stat         16000       0    0.103      155315     53.0     83.3
//   delete       16000       0    0.247       64792    116.1    363.7
//
// Each worker gets its own subdirectory (unless --shared-dir, below) and runs five phases in order
// over the same files:
//   create  open(O_CREAT|O_EXCL|O_WRONLY) + write 100 B + close
//           (--create-flags trunc: open(O_CREAT|O_TRUNC|O_WRONLY), as the shell's `echo x >new`)
//   set     open(O_WRONLY|O_TRUNC) + write 100 B + close
//   get     open(O_RDONLY) + read + close
//   stat    stat()
//   delete  unlink()
// With --ops K each phase does K ops per worker (one per file). With --seconds S, create runs for S
// seconds, set/get/stat cycle over the created files for S seconds, and delete removes every file
// however long that takes. Workers are processes, not threads, because the product's clients are
// processes: FUSE sees one caller per process and the kernel serialises per-inode work accordingly.
// With --shared-dir all workers work in one directory (DIR/fsbench.PID), worker i on files
// wI-f00000000...: their creates and deletes then contend for one parent (one directory inode in
// the kernel, one znode's children and cversion in quorumfs), as clients of one lock or queue do.
//
// ops/s is the total across workers divided by the phase's wall time (first worker start to last
// worker end); p50/p99 are over every op of every worker. --json also gives each phase's latency
// CDF (cdf_us: [fraction, µs] pairs, tools/bench/latency.h) and its start and end (start_ns,
// end_ns: CLOCK_MONOTONIC, as `perf record -k mono` stamps events). --pause S waits S seconds
// after each phase, so that what the phase left a mount doing in the background (quorumfs's
// echoes on the other members, docs/kernel.md) ends before the next phase starts; it is not
// counted in the phase's wall time (tools/bench/fuse-requests.sh uses both).

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/bench/children.h"
#include "tools/bench/latency.h"

namespace {

using quorumfs::bench::now_ns;
using quorumfs::bench::read_all;
using quorumfs::bench::write_all;

enum class Phase { create, set, get, stat, remove };
constexpr std::array kPhases{Phase::create, Phase::set, Phase::get, Phase::stat, Phase::remove};
constexpr std::array kPhaseNames{"create", "set", "get", "stat", "delete"};
constexpr size_t kPayload_bytes = 100;

const char* name_of(Phase phase) { return kPhaseNames[static_cast<size_t>(phase)]; }

enum class CreateFlags { excl, trunc };

struct Options {
  std::string dir;
  int procs = 1;
  bool shared_dir = false;  // every worker in one directory (names wI-f...) instead of its own
  CreateFlags create_flags = CreateFlags::excl;
  double seconds = 0;       // > 0: time-bounded phases
  uint64_t ops = 0;         // > 0: count-bounded phases
  uint64_t ops_max = 1'000'000;  // per worker and phase in --seconds mode: the preallocated size
  double pause_s = 0;       // idle time after each phase
  std::string label;
  std::string json_path;
};

// What a worker sends back after each phase; `ops` latencies (ns) follow it on the pipe.
struct PhaseHeader {
  uint64_t ops = 0;
  uint64_t errors = 0;
  int64_t start_ns = 0;  // steady_clock is CLOCK_MONOTONIC: comparable across processes
  int64_t end_ns = 0;
  int errno_first = 0;
};

// One file operation as the benchmark defines it; returns 0 or the errno that failed it.
int run_op(Phase phase, CreateFlags create_flags, const char* path) {
  static const std::string payload(kPayload_bytes, 'q');
  char buf[4096];
  int fd = -1;
  switch (phase) {
    case Phase::create:
    case Phase::set: {
      int flags = O_WRONLY | O_TRUNC;
      if (phase == Phase::create) {
        flags = create_flags == CreateFlags::excl ? O_CREAT | O_EXCL | O_WRONLY
                                                  : O_CREAT | O_TRUNC | O_WRONLY;
      }
      fd = open(path, flags, 0644);
      if (fd < 0) return errno;
      const bool ok = write(fd, payload.data(), payload.size()) == ssize_t(payload.size());
      const int err = ok ? 0 : (errno ? errno : EIO);
      return close(fd) == 0 ? err : errno;
    }
    case Phase::get: {
      fd = open(path, O_RDONLY);
      if (fd < 0) return errno;
      const ssize_t n = read(fd, buf, sizeof(buf));
      const int err = n == ssize_t(kPayload_bytes) ? 0 : (n < 0 ? errno : EIO);
      return close(fd) == 0 ? err : errno;
    }
    case Phase::stat: {
      struct stat st {};
      return ::stat(path, &st) == 0 ? 0 : errno;
    }
    case Phase::remove:
      return unlink(path) == 0 ? 0 : errno;
  }
  return EINVAL;
}

using Worker = quorumfs::bench::Child;

// Runs one phase in a worker on the files `file_prefix`00000000...; `files` is how many names the
// create phase tried.
PhaseHeader run_phase(const Options& options, Phase phase, const std::string& file_prefix,
                      uint64_t& files, std::vector<uint64_t>& latencies_ns) {
  PhaseHeader header;
  const bool timed = options.seconds > 0 && phase != Phase::remove;
  // Timed phases and create stop at the buffer's end; the others visit each created file once.
  const uint64_t ops_limit = (phase == Phase::create || timed) ? latencies_ns.size() : files;
  if (phase != Phase::create && files == 0) return header;
  header.start_ns = now_ns();
  const int64_t deadline_ns = header.start_ns + int64_t(options.seconds * 1e9);
  char path[4096];
  int64_t t_ns = header.start_ns;
  for (uint64_t i = 0; i < ops_limit && !(timed && t_ns >= deadline_ns); ++i) {
    std::snprintf(path, sizeof(path), "%s%08llu", file_prefix.c_str(),
                  static_cast<unsigned long long>(phase == Phase::create ? i : i % files));
    const int64_t t0_ns = now_ns();
    const int err = run_op(phase, options.create_flags, path);
    t_ns = now_ns();
    if (phase == Phase::create) files = i + 1;
    if (err != 0) {
      if (header.errors++ == 0) header.errno_first = err;
      continue;
    }
    latencies_ns[header.ops++] = uint64_t(t_ns - t0_ns);
  }
  header.end_ns = t_ns;
  return header;
}

[[noreturn]] void worker_main(const Options& options, const std::string& file_prefix, int go_fd,
                              int result_fd) {
  // Touch the whole buffer now so page faults do not land inside the measured ops.
  std::vector<uint64_t> latencies_ns(options.seconds > 0 ? options.ops_max : options.ops, 0);
  uint64_t files = 0;
  for (Phase phase : kPhases) {
    char go = 0;
    if (!read_all(go_fd, &go, 1)) _exit(2);  // parent gone: stop quietly
    const PhaseHeader header = run_phase(options, phase, file_prefix, files, latencies_ns);
    if (!write_all(result_fd, &header, sizeof(header)) ||
        !write_all(result_fd, latencies_ns.data(), header.ops * sizeof(uint64_t))) {
      _exit(3);
    }
  }
  _exit(0);
}

struct PhaseResult {
  Phase phase;
  uint64_t ops = 0;
  uint64_t errors = 0;
  int errno_first = 0;
  double wall_s = 0;
  int64_t start_ns = 0;  // CLOCK_MONOTONIC, first worker start to last worker end
  int64_t end_ns = 0;
  double ops_per_s = 0;
  double latency_us_p50 = 0;
  double latency_us_p99 = 0;
  std::vector<std::array<double, 2>> latency_us_cdf;
};

bool gather_phase(Phase phase, std::vector<Worker>& workers, PhaseResult& result) {
  result.phase = phase;
  const char go = 1;
  for (Worker& worker : workers) {
    if (!write_all(worker.go_fd, &go, 1)) return false;
  }
  std::vector<uint64_t> all_ns;
  int64_t start_ns = INT64_MAX;
  int64_t end_ns = INT64_MIN;
  for (Worker& worker : workers) {
    PhaseHeader header;
    if (!read_all(worker.result_fd, &header, sizeof(header))) return false;
    const size_t offset = all_ns.size();
    all_ns.resize(offset + header.ops);
    if (!read_all(worker.result_fd, all_ns.data() + offset, header.ops * sizeof(uint64_t))) {
      return false;
    }
    result.ops += header.ops;
    if (header.errors && !result.errors) result.errno_first = header.errno_first;
    result.errors += header.errors;
    if (header.end_ns == 0) continue;  // nothing to do in this phase
    start_ns = std::min(start_ns, header.start_ns);
    end_ns = std::max(end_ns, header.end_ns);
  }
  std::sort(all_ns.begin(), all_ns.end());
  if (end_ns > start_ns) {
    result.start_ns = start_ns;
    result.end_ns = end_ns;
    result.wall_s = double(end_ns - start_ns) / 1e9;
  }
  result.ops_per_s = result.wall_s > 0 ? double(result.ops) / result.wall_s : 0;
  result.latency_us_p50 = quorumfs::bench::percentile(all_ns, 0.50, 1e3);
  result.latency_us_p99 = quorumfs::bench::percentile(all_ns, 0.99, 1e3);
  result.latency_us_cdf = quorumfs::bench::latency_cdf(all_ns, 1e3);
  return true;
}

bool spawn_workers(const Options& options, const std::string& run_dir,
                   std::vector<Worker>& workers) {
  for (int i = 0; i < options.procs; ++i) {
    const std::string worker = "w" + std::to_string(i);
    std::string file_prefix = run_dir + "/" + worker + "-f";
    if (!options.shared_dir) {
      const std::string dir = run_dir + "/" + worker;
      if (mkdir(dir.c_str(), 0755) != 0) {
        std::cerr << "fsbench: mkdir " << dir << ": " << std::strerror(errno) << "\n";
        return false;
      }
      file_prefix = dir + "/f";
    }
    const bool forked = quorumfs::bench::fork_child(workers, [&](int go_fd, int result_fd) {
      worker_main(options, file_prefix, go_fd, result_fd);
    });
    if (!forked) return false;
  }
  return true;
}


void print_table(const Options& options, const std::vector<PhaseResult>& results) {
  std::printf("fsbench  label=%s  dir=%s  procs=%d  ", options.label.c_str(), options.dir.c_str(),
              options.procs);
  if (options.shared_dir) std::printf("shared-dir  ");
  if (options.create_flags == CreateFlags::trunc) std::printf("create=O_TRUNC  ");
  if (options.seconds > 0) {
    std::printf("seconds/phase=%g\n", options.seconds);
  } else {
    std::printf("ops/proc/phase=%llu\n", static_cast<unsigned long long>(options.ops));
  }
  std::printf("%-7s %10s %7s %8s %11s %8s %8s\n", "op", "ops", "errors", "wall_s", "ops/s",
              "p50_us", "p99_us");
  for (const PhaseResult& r : results) {
    std::printf("%-7s %10llu %7llu %8.3f %11.0f %8.1f %8.1f", name_of(r.phase),
                static_cast<unsigned long long>(r.ops), static_cast<unsigned long long>(r.errors),
                r.wall_s, r.ops_per_s, r.latency_us_p50, r.latency_us_p99);
    if (r.errors) std::printf("  first error: %s", std::strerror(r.errno_first));
    std::printf("\n");
  }
}

bool write_json(const Options& options, const std::vector<PhaseResult>& results) {
  nlohmann::json doc = {
      {"label", options.label},
      {"dir", options.dir},
      {"procs", options.procs},
      {"shared_dir", options.shared_dir},
      {"create_flags", options.create_flags == CreateFlags::excl ? "excl" : "trunc"},
  };
  if (options.seconds > 0) {
    doc["seconds_per_phase"] = options.seconds;
  } else {
    doc["ops_per_proc"] = options.ops;
  }
  for (const PhaseResult& r : results) {
    doc["results"][name_of(r.phase)] = {
        {"ops", r.ops},         {"errors", r.errors},
        {"wall_s", r.wall_s},   {"ops_per_s", r.ops_per_s},
        {"p50_us", r.latency_us_p50}, {"p99_us", r.latency_us_p99},
        {"cdf_us", r.latency_us_cdf}, {"start_ns", r.start_ns},
        {"end_ns", r.end_ns},
    };
  }
  std::ofstream out(options.json_path);
  out << doc.dump(2) << "\n";
  return bool(out.flush());
}

}  // namespace

int main(int argc, char* argv[]) {
  Options options;
  CLI::App app{"fsbench: small-file create/set/get/stat/delete benchmark of a mounted directory"};
  app.add_option("dir", options.dir, "Directory to benchmark (e.g. a FUSE mount)")
      ->required()
      ->check(CLI::ExistingDirectory);
  app.add_option("--procs", options.procs, "Worker processes")->check(CLI::Range(1, 1024));
  auto* seconds = app.add_option("--seconds", options.seconds, "Seconds per phase")
                      ->check(CLI::PositiveNumber);
  auto* ops = app.add_option("--ops", options.ops, "Ops per worker per phase (default 1000)")
                  ->check(CLI::PositiveNumber);
  seconds->excludes(ops);
  app.add_option("--ops-max", options.ops_max,
                 "With --seconds: most ops a worker records per phase")
      ->check(CLI::PositiveNumber);
  app.add_flag("--shared-dir", options.shared_dir,
               "All workers in one directory (files wI-f...) instead of one directory each");
  std::string create_flags = "excl";
  app.add_option("--create-flags", create_flags,
                 "create phase's open: excl = O_CREAT|O_EXCL (default), trunc = O_CREAT|O_TRUNC")
      ->check(CLI::IsMember({"excl", "trunc"}));
  app.add_option("--pause", options.pause_s, "Seconds to wait after each phase (not timed)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--label", options.label, "Name of this run (default: the directory)");
  app.add_option("--json", options.json_path, "Also write the results as JSON to this file");
  CLI11_PARSE(app, argc, argv);
  if (create_flags == "trunc") options.create_flags = CreateFlags::trunc;
  if (options.seconds <= 0 && options.ops == 0) options.ops = 1000;
  if (options.label.empty()) options.label = options.dir;

  const std::string run_dir = options.dir + "/fsbench." + std::to_string(getpid());
  if (mkdir(run_dir.c_str(), 0755) != 0) {
    std::cerr << "fsbench: mkdir " << run_dir << ": " << std::strerror(errno) << "\n";
    return 1;
  }
  std::vector<Worker> workers;
  std::vector<PhaseResult> results;
  bool ok = spawn_workers(options, run_dir, workers);
  for (Phase phase : kPhases) {
    if (!ok) break;
    ok = gather_phase(phase, workers, results.emplace_back());
    if (options.pause_s > 0) std::this_thread::sleep_for(std::chrono::duration<double>(options.pause_s));
  }
  ok = quorumfs::bench::reap_children(workers, !ok) && ok;
  if (!ok) {
    std::cerr << "fsbench: a worker failed; leaving " << run_dir << " for inspection\n";
    return 1;
  }

  std::error_code error;
  std::filesystem::remove_all(run_dir, error);
  if (error) std::cerr << "fsbench: cleaning " << run_dir << ": " << error.message() << "\n";
  print_table(options, results);
  if (!options.json_path.empty() && !write_json(options, results)) {
    std::cerr << "fsbench: cannot write " << options.json_path << "\n";
    return 1;
  }
  uint64_t errors = 0;
  for (const PhaseResult& r : results) errors += r.errors;
  return errors == 0 ? 0 : 1;
}
