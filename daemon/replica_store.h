// What one replica keeps on disk and in memory: the epochs, the txn log, the snapshots and the
// tree they rebuild. It does the storage side of the consensus core's Ready (consensus/replica.h):
// epochs, log appends, TRUNC and SNAP, each durable before the caller goes on; everything runs on
// the event-loop thread except the log's writer.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "consensus/replica.h"
#include "daemon/storage/snapshot_store.h"
#include "daemon/storage/txn_log.h"
#include "daemon/tree/data_tree.h"

namespace quorumfs {

struct StoreOptions {
  std::string data_dir;
  std::string log_dir;        // default: <data_dir>/log
  bool sync = true;
  size_t tree_data_bytes_max = 64 << 20;
  size_t recent_entries_max = 100000;  // log records kept in memory for DIFFs...
  size_t recent_bytes_max = 256u << 20;  // ...and their bytes (beyond both: those not yet applied)
  uint64_t log_preallocate_bytes = 64u << 20;
  TxnLogOptions::InlineCommit log_inline_commit;  // when the loop writes a batch itself
};

class ReplicaStore {
 public:
  ReplicaStore(boost::asio::io_context& io, StoreOptions options);
  ~ReplicaStore();

  // Locks the data dir, reads the epochs, loads the newest snapshot and replays the log through
  // the applied mark it recorded.
  bool recover(std::string* error);
  // The core's view of the disk (epochs, last logged zxid, the log's recent records).
  consensus::DurableState durable_state() const;
  // Once the core holds the recovered records, the store lets go of them (up to the DIFF window's
  // bytes would otherwise stay in memory for the life of the process).
  void forget_recovered_records() { recent_ = {}; }

  DataTree& tree() { return *tree_; }
  const DataTree& tree() const { return *tree_; }
  TxnLog& log() { return *log_; }  // not while a Ready's log cut or snapshot install fails
  // The log's group commits so far (0 while a failed cut or install left it closed).
  uint64_t log_sync_count() const { return log_ ? log_->sync_count() : 0; }
  // The log, or null while a failed cut or snapshot install has it closed (reports: /metrics).
  const TxnLog* log_if_open() const { return log_.get(); }
  uint64_t log_loop_sync_count() const { return log_ ? log_->caller_sync_count() : 0; }  // of those, on the loop
  SnapshotStore& snapshots() { return *snapshots_; }

  // Runs on the loop thread when the log is durable through a zxid. Reports from before a
  // truncation or snapshot install never arrive (they belong to a log that no longer exists).
  // A report comes from a handler of its own, never from inside append().
  void set_on_durable(std::function<void(Zxid)> on_durable) { on_durable_ = std::move(on_durable); }

  // The Ready's storage steps, each durable when it returns; a failure throws (the replica cannot
  // go on with a disk it cannot trust).
  void persist_hard_state(const consensus::HardState& state);
  void truncate_after(Zxid zxid);                             // the tree stays as it is
  void install_snapshot(Zxid zxid, const std::string& bytes);  // tree replaced
  void append(const std::vector<consensus::Entry>& entries);
  // The log writer cannot write or sync: it retries, and nothing new becomes durable meanwhile.
  bool log_failing() const { return log_ && log_->failing(); }
  // Waits until what was appended is durable: false if the log fails (or is being replaced).
  bool flush() { return log_ && log_->flush(); }
  // Makes the tree's applied zxid durable in the log when no append has carried it yet (a
  // restart rebuilds the tree through it). Called when the replica is idle and at shutdown.
  void record_applied();
  // The tree's snapshot bytes as of now (for a learner's SNAP).
  std::shared_ptr<const std::string> encode_snapshot() const;

  // Counted since recovery: txns replayed into the tree at start; bytes of txns appended.
  uint64_t replayed_count() const { return replayed_; }
  uint64_t appended_bytes() const { return appended_bytes_; }

 private:
  bool lock_data_dir(std::string* error);
  TxnLogOptions log_options() const;
  bool open_log(std::string* error);
  void close_log_after_its_appends();
  void commit_at_end_of_turn();
  bool load_tree(std::string* error);

  boost::asio::io_context& io_;
  StoreOptions options_;
  int lock_fd_ = -1;
  uint32_t accepted_epoch_ = 0;
  uint32_t current_epoch_ = 0;
  std::unique_ptr<SnapshotStore> snapshots_;
  std::unique_ptr<DataTree> tree_;
  std::unique_ptr<TxnLog> log_;
  Zxid snapshot_zxid_ = 0;                // the newest snapshot's (0: none)
  // The log's last records (every one not applied), filled by recovery and handed to the core
  // once; recent_after_ is the zxid just before them.
  std::vector<consensus::Entry> recent_;
  Zxid recent_after_ = 0;
  uint64_t replayed_ = 0;
  uint64_t appended_bytes_ = 0;
  uint64_t log_generation_ = 0;  // bumped whenever the log is reopened
  Zxid applied_recorded_ = 0;    // the applied zxid last handed to the log
  std::function<void(Zxid)> on_durable_;
  bool commit_scheduled_ = false;  // a commit of the log's queue is due at the end of this turn
  std::shared_ptr<const int> lifetime_ = std::make_shared<const int>(0);  // expires with this store
};

}  // namespace quorumfs
