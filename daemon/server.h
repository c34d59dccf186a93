// One replica process: recovers the tree from the data dir, drives the pipeline on one
// event-loop thread, takes snapshots in the background and serves the mount.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "consensus/replica.h"
#include "daemon/pipeline.h"
#include "daemon/storage/snapshot_store.h"
#include "daemon/storage/txn_log.h"
#include "fusefs/backend.h"
#include "fusefs/filesystem.h"

namespace quorumfs {

// The largest data any replica accepts when it applies a txn. It is fixed, not configured: applying
// must give the same result on every replica and at every replay, whatever its options. The
// configurable limit (data_bytes_max) is the mount's, checked before a write is proposed.
inline constexpr size_t kDataBytesLimit = 64 << 20;

struct ServerOptions {
  std::string data_dir;
  std::string log_dir;  // default: <data_dir>/log
  uint64_t server_id = 1;
  bool sync = true;     // false: acknowledged writes may be lost on a crash (documented)
  uint64_t snapshot_every_txns = 100000;
  size_t data_bytes_max = 1 << 20;
  fusefs::MountOptions mount;
};

class Server : public fusefs::Backend {
 public:
  explicit Server(ServerOptions options);
  ~Server() override;

  // Recovers, mounts and serves until SIGINT/SIGTERM or unmount. Returns the exit status.
  int run();
  void stop();

  // fusefs::Backend
  const DataTree& tree() const override { return *tree_; }
  void submit(proto::Txn txn, Done done) override;
  uint64_t new_session_id() override;
  void sync(std::function<void()> done) override;

 private:
  bool recover(std::string* error);
  bool lock_data_dir(std::string* error);
  void persist_hard_state(const consensus::HardState& state);
  void close_own_sessions(std::function<void()> then);
  void unmount_and_finish();
  void after_apply(const ApplyResult& result);
  void maybe_snapshot();
  void wait_for_snapshot_child();
  void shutdown_storage();

  ServerOptions options_;
  boost::asio::io_context io_;
  boost::asio::signal_set stop_signals_;
  boost::asio::signal_set child_signals_;
  boost::asio::steady_timer drain_timer_{io_};
  std::unique_ptr<DataTree> tree_;
  std::unique_ptr<SnapshotStore> snapshots_;
  std::unique_ptr<TxnLog> log_;
  std::unique_ptr<consensus::Replica> replica_;
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<fusefs::Filesystem> filesystem_;
  int lock_fd_ = -1;
  uint64_t next_session_id_ = 0;
  uint64_t txns_since_snapshot_ = 0;
  pid_t snapshot_child_ = -1;
  bool stopping_ = false;
};

}  // namespace quorumfs
