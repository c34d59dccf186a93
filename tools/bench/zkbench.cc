// zkbench: request rate and latency of a ZooKeeper server (Apache ZooKeeper, or a quorumfs member
// with `clientPort=`), through the C client's asynchronous calls (libzookeeper_mt).
//
//   $ zkbench --hosts 127.0.0.1:2181 --op set --clients 8 --outstanding 64 --ops 2000
//   {"label":"set","op":"set","clients":8,"outstanding":64,...,"ops_per_s":...,"p50_ms":...}
//
// Each client is its own session (zhandle, with the library's I/O and completion threads). Client
// i connects to the i-th server of --hosts (cycling), not to one the library picks at random, so a
// run names the member it measures. Every client keeps --outstanding requests in flight: each
// completion records its latency (issue -> completion callback, steady_clock) and issues the next.
//
// Nodes: all clients' nodes are children of one parent, --prefix (default /zkbench-PID), named
// c<client>-<i>, with --size bytes of data. --op create creates them (timed); set, get, exists and
// delete work on nodes a setup phase created first (not timed). Whatever is left is deleted at the
// end (not timed), then the parent. Setup and cleanup keep at least 64 requests in flight per client.
//   --ops M       M requests per client (create/delete: M nodes; set/get/exists: once each of M)
//   --seconds S   create for S seconds; set/get/exists cycle over --ops nodes for S seconds;
//                 delete removes the --ops nodes however long that takes
// ops/s = successful requests of all clients / (last completion - first issue). p50/p99/max are
// nearest-rank over every successful request. A failed request is counted, not timed; a get that
// returns other than --size bytes is a bad reply. Either makes "ok" false and the exit status 1.
// Output: one JSON line on stdout (also appended to --json FILE); progress and errors on stderr.
// The line's cdf_ms is the latency CDF as [fraction, ms] pairs (tools/bench/latency.h).

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <zookeeper/zookeeper.h>

#include "tools/bench/latency.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

enum class Op { create, set, get, exists, remove };

struct Options {
  std::vector<std::string> hosts;
  Op op = Op::create;
  int clients = 1;
  int outstanding = 1;
  int64_t ops = 1000;
  double seconds = 0;  // > 0: timed by duration instead of by count (see the top)
  int size = 100;
  std::string prefix;
  std::string label;
  std::string json_path;
  int session_timeout_ms = 10'000;
  int phase_timeout_s = 600;
};

const char* name_of(Op op) {
  switch (op) {
    case Op::create: return "create";
    case Op::set: return "set";
    case Op::get: return "get";
    case Op::exists: return "exists";
    case Op::remove: return "delete";
  }
  return "?";
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// One pass of requests by every client: which op, on which node indices, until when.
struct Phase {
  Op op = Op::create;
  int64_t count = 0;        // indices 0..count-1 (unbounded when deadline_ns is set and cycle is 0)
  int64_t deadline_ns = 0;  // 0: stop after count requests
  int64_t cycle = 0;        // > 0: index i works on node i % cycle (set/get/exists by duration)
};

// Wakes the main thread when a client connects, expires, or finishes a phase.
struct Signal {
  std::mutex mutex;
  std::condition_variable changed;
  void notify() {
    std::lock_guard lock(mutex);
    changed.notify_all();
  }
};

// In-flight requests per client in the untimed setup and cleanup phases, whatever --outstanding
// is: a 1x1 run would otherwise spend most of its time creating and deleting nodes one by one.
constexpr int kBulkOutstanding = 64;

class Client;

// One in-flight request position: a completion re-arms the same slot with the next request.
struct Slot {
  Client* client = nullptr;
  int64_t issued_ns = 0;
};

class Client {
 public:
  Client(int index, std::string host, const Options& options, Signal& signal)
      : index_(index), host_(std::move(host)), options_(options), signal_(signal),
        data_(size_t(options.size), 'x'),
        slots_(size_t(std::max(options.outstanding, kBulkOutstanding))) {
    for (Slot& slot : slots_) slot.client = this;
  }
  ~Client() {
    if (handle_ != nullptr) zookeeper_close(handle_);
  }

  bool connect() {
    handle_ = zookeeper_init(host_.c_str(), on_session_event, options_.session_timeout_ms, nullptr,
                             this, 0);
    return handle_ != nullptr;
  }
  bool connected() const { return state_.load() == ZOO_CONNECTED_STATE; }
  bool lost() const {
    const int state = state_.load();
    return state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE;
  }
  zhandle_t* handle() const { return handle_; }
  const std::string& host() const { return host_; }

  // Starts the phase on `in_flight` slots; finished() turns true after the last completion.
  void start(const Phase& phase, bool timed, int in_flight) {
    phase_ = phase;
    timed_ = timed;
    next_.store(0);
    active_.store(in_flight);
    latencies_ns_.clear();
    if (timed && phase.deadline_ns == 0) latencies_ns_.reserve(size_t(phase.count));
    for (int i = 0; i < in_flight; ++i) issue_next(slots_[size_t(i)]);
  }
  bool finished() const { return active_.load() == 0; }

  // After a phase (read by the main thread once finished()).
  const std::vector<int64_t>& latencies_ns() const { return latencies_ns_; }
  int64_t claimed() const { return next_.load(); }  // requests issued, plus one per slot at the end
  int64_t last_completion_ns() const { return last_completion_ns_.load(); }
  int64_t errors() const { return errors_.load(); }
  int64_t bad_replies() const { return bad_replies_.load(); }
  int first_error() const { return first_error_.load(); }
  void reset_counts() {
    errors_.store(0);
    bad_replies_.store(0);
    first_error_.store(ZOK);
  }

  std::string path_of(int64_t index) const {
    return options_.prefix + "/c" + std::to_string(index_) + "-" + std::to_string(index);
  }

 private:
  // The next index of the phase, or -1 when it is over.
  int64_t claim() {
    if (phase_.deadline_ns != 0 && now_ns() >= phase_.deadline_ns) return -1;
    const int64_t index = next_.fetch_add(1);
    if (phase_.deadline_ns == 0 && index >= phase_.count) return -1;
    return phase_.cycle > 0 ? index % phase_.cycle : index;
  }

  // Issues the slot's next request; a request the library refuses at once (no callback will come)
  // is counted as failed and the next one tried, so a dead session ends the phase instead of
  // hanging it.
  void issue_next(Slot& slot) {
    for (;;) {
      const int64_t index = claim();
      if (index < 0) {
        if (active_.fetch_sub(1) == 1) signal_.notify();
        return;
      }
      slot.issued_ns = now_ns();
      const int rc = submit(slot, path_of(index));
      if (rc == ZOK) return;
      count_error(rc);
    }
  }

  int submit(Slot& slot, const std::string& path) {
    switch (phase_.op) {
      case Op::create:
        return zoo_acreate(handle_, path.c_str(), data_.data(), int(data_.size()),
                           &ZOO_OPEN_ACL_UNSAFE, 0, on_string_done, &slot);
      case Op::set:
        return zoo_aset(handle_, path.c_str(), data_.data(), int(data_.size()), -1, on_stat_done,
                        &slot);
      case Op::get: return zoo_aget(handle_, path.c_str(), 0, on_data_done, &slot);
      case Op::exists: return zoo_aexists(handle_, path.c_str(), 0, on_stat_done, &slot);
      case Op::remove: return zoo_adelete(handle_, path.c_str(), -1, on_void_done, &slot);
    }
    return ZBADARGUMENTS;
  }

  void count_error(int rc) {
    errors_.fetch_add(1);
    int expected = ZOK;
    first_error_.compare_exchange_strong(expected, rc);
  }

  // Runs on the handle's completion thread (one per handle, so latencies_ns_ needs no lock).
  void complete(Slot& slot, int rc, bool bad_reply) {
    const int64_t done_ns = now_ns();
    if (rc != ZOK && !(phase_.op == Op::remove && !timed_ && rc == ZNONODE)) {
      count_error(rc);
    } else if (bad_reply) {
      bad_replies_.fetch_add(1);
    } else if (timed_) {
      latencies_ns_.push_back(done_ns - slot.issued_ns);
    }
    last_completion_ns_.store(done_ns);
    issue_next(slot);
  }

  static void on_string_done(int rc, const char*, const void* data) { done(data, rc, false); }
  static void on_stat_done(int rc, const Stat*, const void* data) { done(data, rc, false); }
  static void on_void_done(int rc, const void* data) { done(data, rc, false); }
  static void on_data_done(int rc, const char*, int length, const Stat*, const void* data) {
    const Slot& slot = *static_cast<const Slot*>(data);
    done(data, rc, rc == ZOK && length != int(slot.client->data_.size()));
  }
  static void done(const void* data, int rc, bool bad_reply) {
    auto& slot = *static_cast<Slot*>(const_cast<void*>(data));
    slot.client->complete(slot, rc, bad_reply);
  }

  static void on_session_event(zhandle_t* handle, int type, int state, const char*, void*) {
    if (type != ZOO_SESSION_EVENT) return;
    auto* self = static_cast<Client*>(const_cast<void*>(zoo_get_context(handle)));
    self->state_.store(state);
    self->signal_.notify();
  }

  const int index_;
  const std::string host_;
  const Options& options_;
  Signal& signal_;
  const std::string data_;
  std::vector<Slot> slots_;
  zhandle_t* handle_ = nullptr;
  std::atomic<int> state_{0};
  Phase phase_;
  bool timed_ = false;
  std::atomic<int64_t> next_{0};
  std::atomic<int> active_{0};
  std::atomic<int64_t> last_completion_ns_{0};
  std::atomic<int64_t> errors_{0};
  std::atomic<int64_t> bad_replies_{0};
  std::atomic<int> first_error_{ZOK};
  std::vector<int64_t> latencies_ns_;
};

using Clients = std::vector<std::unique_ptr<Client>>;

bool connect_all(const Options& options, Clients& clients, Signal& signal) {
  for (int i = 0; i < options.clients; ++i) {
    const std::string& host = options.hosts[size_t(i) % options.hosts.size()];
    clients.push_back(std::make_unique<Client>(i, host, options, signal));
    if (!clients.back()->connect()) {
      std::cerr << "zkbench: zookeeper_init " << host << " failed\n";
      return false;
    }
  }
  std::unique_lock lock(signal.mutex);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (auto& client : clients) {
    const bool settled = signal.changed.wait_until(lock, deadline, [&] {
      return client->connected() || client->lost();
    });
    if (!settled || client->lost()) {
      std::cerr << "zkbench: no session with " << client->host() << " within 30 s\n";
      return false;
    }
  }
  return true;
}

// Runs one phase on every client at once; false if it did not end within --phase-timeout.
bool run_phase(const Options& options, Clients& clients, Signal& signal, const Phase& phase,
               bool timed) {
  for (auto& client : clients) client->reset_counts();
  const int in_flight = timed ? options.outstanding : std::max(options.outstanding, kBulkOutstanding);
  for (auto& client : clients) client->start(phase, timed, in_flight);
  std::unique_lock lock(signal.mutex);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(options.phase_timeout_s);
  const bool ended = signal.changed.wait_until(lock, deadline, [&] {
    return std::all_of(clients.begin(), clients.end(), [](auto& c) { return c->finished(); });
  });
  if (!ended) std::cerr << "zkbench: " << name_of(phase.op) << " phase still running after "
                        << options.phase_timeout_s << " s\n";
  return ended;
}

struct Result {
  int64_t ops = 0;
  int64_t errors = 0;
  int64_t bad_replies = 0;
  int first_error = ZOK;
  double wall_s = 0;
  double ops_per_s = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
  std::vector<std::array<double, 2>> cdf_ms;
  bool completed = false;
};

Result summarise(const Clients& clients, int64_t started_ns, bool completed) {
  Result result;
  result.completed = completed;
  std::vector<int64_t> all_ns;
  int64_t end_ns = started_ns;
  for (const auto& client : clients) {
    all_ns.insert(all_ns.end(), client->latencies_ns().begin(), client->latencies_ns().end());
    result.errors += client->errors();
    result.bad_replies += client->bad_replies();
    if (result.first_error == ZOK) result.first_error = client->first_error();
    end_ns = std::max(end_ns, client->last_completion_ns());
  }
  std::sort(all_ns.begin(), all_ns.end());
  result.ops = int64_t(all_ns.size());
  result.wall_s = double(end_ns - started_ns) / 1e9;
  if (result.wall_s > 0) result.ops_per_s = double(result.ops) / result.wall_s;
  result.p50_ms = quorumfs::bench::percentile(all_ns, 0.50, 1e6);
  result.p99_ms = quorumfs::bench::percentile(all_ns, 0.99, 1e6);
  result.cdf_ms = quorumfs::bench::latency_cdf(all_ns, 1e6);
  if (!all_ns.empty()) result.max_ms = double(all_ns.back()) / 1e6;
  return result;
}

// The measured phase, and how many nodes per client exist after it (for the cleanup).
Result measure(const Options& options, Clients& clients, Signal& signal, int64_t& nodes_left) {
  const int64_t started_ns = now_ns();
  Phase phase{options.op, options.ops, 0, 0};
  const bool by_duration = options.seconds > 0 && options.op != Op::remove;
  if (by_duration) {
    phase.deadline_ns = started_ns + int64_t(options.seconds * 1e9);
    if (options.op != Op::create) phase.cycle = options.ops;
  }
  const bool completed = run_phase(options, clients, signal, phase, true);
  nodes_left = options.op == Op::remove ? 0 : options.ops;
  if (by_duration && options.op == Op::create) {
    // Indices claimed past the deadline were never issued; their deletes find nothing, which is fine.
    nodes_left = 0;
    for (const auto& client : clients) nodes_left = std::max(nodes_left, client->claimed());
  }
  return summarise(clients, started_ns, completed);
}

std::string error_text(int rc) { return rc == ZOK ? "" : zerror(rc); }

bool create_parent(const Options& options, Client& client) {
  const int rc = zoo_create(client.handle(), options.prefix.c_str(), nullptr, -1,
                            &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
  if (rc == ZOK) return true;
  std::cerr << "zkbench: create " << options.prefix << ": " << zerror(rc) << "\n";
  return false;
}

// Deletes nodes 0..nodes_left-1 of every client (missing ones are fine), then the parent.
bool clean_up(const Options& options, Clients& clients, Signal& signal, int64_t nodes_left) {
  bool ok = true;
  if (nodes_left > 0) {
    ok = run_phase(options, clients, signal, Phase{Op::remove, nodes_left, 0, 0}, false);
    for (const auto& client : clients) {
      if (client->errors() == 0) continue;
      std::cerr << "zkbench: cleanup: " << client->errors() << " deletes failed ("
                << error_text(client->first_error()) << ")\n";
      ok = false;
    }
  }
  const int rc = zoo_delete(clients.front()->handle(), options.prefix.c_str(), -1);
  if (rc != ZOK) {
    std::cerr << "zkbench: delete " << options.prefix << ": " << zerror(rc) << "\n";
    ok = false;
  }
  return ok;
}

void print(const Options& options, const Result& r, bool ok) {
  std::ostringstream hosts;
  for (size_t i = 0; i < options.hosts.size(); ++i) hosts << (i ? "," : "") << options.hosts[i];
  nlohmann::json line = {
      {"label", options.label},
      {"op", name_of(options.op)},
      {"hosts", hosts.str()},
      {"clients", options.clients},
      {"outstanding", options.outstanding},
      {"size", options.size},
      {"ok", ok},
      {"ops", r.ops},
      {"errors", r.errors},
      {"first_error", error_text(r.first_error)},
      {"bad_replies", r.bad_replies},
      {"wall_s", r.wall_s},
      {"ops_per_s", r.ops_per_s},
      {"p50_ms", r.p50_ms},
      {"p99_ms", r.p99_ms},
      {"max_ms", r.max_ms},
  };
  if (options.seconds > 0) line["seconds"] = options.seconds;
  else line["ops_per_client"] = options.ops;
  line["cdf_ms"] = r.cdf_ms;
  std::cout << line.dump() << std::endl;
  if (!options.json_path.empty()) {
    std::ofstream out(options.json_path, std::ios::app);
    out << line.dump() << "\n";
    if (!out.flush()) std::cerr << "zkbench: cannot write " << options.json_path << "\n";
  }
}

int run(const Options& options) {
  zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
  Signal signal;
  Clients clients;
  if (!connect_all(options, clients, signal) || !create_parent(options, *clients.front())) return 1;
  bool ok = true;
  if (options.op != Op::create) {
    ok = run_phase(options, clients, signal, Phase{Op::create, options.ops, 0, 0}, false) &&
         std::all_of(clients.begin(), clients.end(), [](auto& c) { return c->errors() == 0; });
    if (!ok) std::cerr << "zkbench: setup: creating " << options.ops << " nodes per client failed\n";
  }
  int64_t nodes_left = options.ops;
  if (ok) {
    const Result result = measure(options, clients, signal, nodes_left);
    ok = result.completed && result.errors == 0 && result.bad_replies == 0;
    print(options, result, ok);
    if (result.errors > 0) {
      std::cerr << "zkbench: " << result.errors << " " << name_of(options.op)
                << " requests failed, first: " << error_text(result.first_error) << "\n";
    }
  }
  ok = clean_up(options, clients, signal, nodes_left) && ok;
  clients.clear();  // closes the sessions before exit
  return ok ? 0 : 1;
}

std::vector<std::string> split_hosts(const std::string& list) {
  std::vector<std::string> hosts;
  std::stringstream stream(list);
  for (std::string host; std::getline(stream, host, ',');) {
    if (!host.empty()) hosts.push_back(host);
  }
  return hosts;
}

}  // namespace

int main(int argc, char* argv[]) {
  Options options;
  std::string hosts;
  CLI::App app{"zkbench: ZooKeeper request rate and latency through the C client's async calls;\n"
               "one JSON line per run, its latency CDF in cdf_ms"};
  app.footer("ZooKeeper C client " ZOO_VERSION);
  app.add_option("--hosts", hosts, "host:port[,host:port...]; client i uses the i-th (cycling)")
      ->required();
  const std::map<std::string, Op> ops{{"create", Op::create}, {"set", Op::set}, {"get", Op::get},
                                      {"exists", Op::exists}, {"delete", Op::remove}};
  app.add_option("--op", options.op, "create|set|get|exists|delete")
      ->required()
      ->transform(CLI::CheckedTransformer(ops));
  app.add_option("--clients", options.clients, "Sessions, one zhandle each")->check(CLI::Range(1, 1024));
  app.add_option("--outstanding", options.outstanding, "Requests in flight per client")
      ->check(CLI::Range(1, 100'000));
  app.add_option("--ops", options.ops, "Requests (nodes) per client; with --seconds, the nodes "
                                       "set/get/exists cycle over")
      ->check(CLI::Range(int64_t(1), int64_t(100'000'000)));
  app.add_option("--seconds", options.seconds, "Run the create/set/get/exists phase this long")
      ->check(CLI::PositiveNumber);
  app.add_option("--size", options.size, "Data bytes per node (default 100)")
      ->check(CLI::Range(0, 1 << 20));
  app.add_option("--prefix", options.prefix, "Parent znode of all nodes (default /zkbench-PID)");
  app.add_option("--label", options.label, "Name of this run (default: the op)");
  app.add_option("--json", options.json_path, "Also append the JSON line to this file");
  app.add_option("--session-timeout-ms", options.session_timeout_ms, "Session timeout")
      ->check(CLI::Range(1000, 600'000));
  app.add_option("--phase-timeout", options.phase_timeout_s, "Give up on a phase after S seconds")
      ->check(CLI::Range(1, 86'400));
  CLI11_PARSE(app, argc, argv);
  options.hosts = split_hosts(hosts);
  if (options.hosts.empty()) {
    std::cerr << "zkbench: --hosts names no server\n";
    return 2;
  }
  if (options.prefix.empty()) options.prefix = "/zkbench-" + std::to_string(getpid());
  if (options.label.empty()) options.label = name_of(options.op);
  return run(options);
}
