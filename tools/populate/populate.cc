// Fills a tree with N znodes of B bytes each, for the memory and restart benchmarks.
//
//   $ populate --mount /mnt/q --count 100000 --procs 8        # through the mount (real path)
//   $ populate --data /var/lib/qfs --count 1000000            # straight into a snapshot
//
// With --data, the txns are applied to a DataTree in this process and written as the data dir's
// snapshot (with its epoch files), exactly what a daemon would have after those creates; the daemon
// then starts from it. Nodes go under /bench/dNNN/nNNNNNNN, 1000 per directory.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <string>

#include "daemon/storage/epoch_file.h"
#include "daemon/storage/snapshot_store.h"
#include "daemon/tree/data_tree.h"

namespace {

constexpr uint64_t kPerDirectory = 1000;

std::string directory_name(uint64_t index) { return "d" + std::to_string(index / kPerDirectory); }
std::string node_name(uint64_t index) { return "n" + std::to_string(index); }

int fill_mount(const std::string& mount, uint64_t count, int procs, size_t bytes) {
  std::string base = mount + "/bench";
  ::mkdir(base.c_str(), 0755);
  for (uint64_t d = 0; d * kPerDirectory < count; ++d) {
    ::mkdir((base + "/" + directory_name(d * kPerDirectory)).c_str(), 0755);
  }
  std::string payload(bytes, 'x');
  for (int worker = 0; worker < procs; ++worker) {
    if (fork() != 0) continue;
    for (uint64_t i = worker; i < count; i += procs) {
      std::string path = base + "/" + directory_name(i) + "/" + node_name(i);
      int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
      if (fd < 0 || ::write(fd, payload.data(), payload.size()) != static_cast<ssize_t>(payload.size()) ||
          ::close(fd) != 0) {
        std::perror(path.c_str());
        _exit(1);
      }
    }
    _exit(0);
  }
  int failures = 0;
  for (int worker = 0; worker < procs; ++worker) {
    int status = 0;
    wait(&status);
    failures += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  return failures == 0 ? 0 : 1;
}

quorumfs::proto::Txn create_txn(const std::string& path, bool directory, std::string data) {
  quorumfs::proto::Txn txn;
  txn.set_time_ns(1'700'000'000'000'000'000);
  auto* create = txn.add_ops()->mutable_create();
  create->set_path(path);
  create->set_directory(directory);
  create->set_data(std::move(data));
  create->mutable_meta()->set_uid(0);
  create->mutable_meta()->set_gid(0);
  create->mutable_meta()->set_mode(directory ? 0755 : 0644);
  return txn;
}

int fill_snapshot(const std::string& data_dir, uint64_t count, size_t bytes) {
  using namespace quorumfs;
  std::filesystem::create_directories(data_dir);
  DataTree tree;
  uint32_t counter = 0;
  auto apply = [&](const proto::Txn& txn) {
    ApplyResult result = tree.apply(make_zxid(1, ++counter), txn);
    if (result.code != Code::kOk) {
      std::fprintf(stderr, "create failed: %s\n", code_name(result.code));
      std::exit(1);
    }
  };
  apply(create_txn("/bench", true, ""));
  std::string payload(bytes, 'x');
  for (uint64_t i = 0; i < count; ++i) {
    std::string directory = "/bench/" + directory_name(i);
    if (i % kPerDirectory == 0) apply(create_txn(directory, true, ""));
    apply(create_txn(directory + "/" + node_name(i), false, payload));
  }
  std::string error;
  if (!write_epoch_file(data_dir + "/acceptedEpoch", 1, &error) ||
      !write_epoch_file(data_dir + "/currentEpoch", 1, &error) ||
      !SnapshotStore(data_dir).write(tree, &error)) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  std::printf("snapshot of %zu nodes at zxid %#llx written to %s\n", tree.node_count(),
              static_cast<unsigned long long>(tree.last_applied_zxid()), data_dir.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mount;
  std::string data_dir;
  uint64_t count = 100000;
  size_t bytes = 100;
  int procs = 8;
  CLI::App app{"Fill a quorumfs tree with N znodes (memory and restart benchmarks)"};
  auto* by_mount = app.add_option("--mount", mount, "Create through this mounted quorumfs");
  app.add_option("--data", data_dir, "Write a snapshot into this (new) data dir instead")->excludes(by_mount);
  app.add_option("--count", count, "Number of znodes")->capture_default_str();
  app.add_option("--bytes", bytes, "Data bytes per znode")->capture_default_str();
  app.add_option("--procs", procs, "Writer processes (with --mount)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (!mount.empty()) return fill_mount(mount, count, procs, bytes);
  if (!data_dir.empty()) return fill_snapshot(data_dir, count, bytes);
  std::fprintf(stderr, "give --mount or --data\n");
  return 2;
}
