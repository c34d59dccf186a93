#include "daemon/replica_store.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <boost/asio/defer.hpp>
#include <boost/asio/post.hpp>
#include <deque>
#include <filesystem>
#include <stdexcept>

#include "consensus/check.h"
#include "daemon/proto/txn.pb.h"
#include "daemon/storage/epoch_file.h"
#include "daemon/storage/file_util.h"

namespace quorumfs {

namespace {
std::string accepted_epoch_path(const std::string& dir) { return dir + "/acceptedEpoch"; }
std::string current_epoch_path(const std::string& dir) { return dir + "/currentEpoch"; }
}  // namespace

ReplicaStore::ReplicaStore(boost::asio::io_context& io, StoreOptions options)
    : io_(io), options_(std::move(options)) {
  if (options_.log_dir.empty()) options_.log_dir = options_.data_dir + "/log";
}

ReplicaStore::~ReplicaStore() {
  lifetime_.reset();  // reports still on their way to the loop find this store gone
  log_.reset();       // syncs what is queued
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

bool ReplicaStore::lock_data_dir(std::string* error) {
  std::string path = options_.data_dir + "/lock";
  lock_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, storage::kFileMode);
  if (lock_fd_ < 0 || flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    *error = "data dir " + options_.data_dir + " is in use by another quorumfs (" + path + ")";
    return false;
  }
  return true;
}

// Latest snapshot + log replay (docs/zab.md §1: lastZxid covers the whole log).
bool ReplicaStore::recover(std::string* error) {
  if (!storage::make_directories(options_.data_dir, error)) {
    *error = "cannot create data dir: " + *error;
    return false;
  }
  for (const std::string& dir : {options_.data_dir, options_.log_dir}) {
    if (std::string warning = storage::readable_by_others_warning(dir); !warning.empty()) spdlog::warn("{}", warning);
  }
  if (!lock_data_dir(error)) return false;
  auto accepted = read_epoch_file(accepted_epoch_path(options_.data_dir), error);
  auto current = read_epoch_file(current_epoch_path(options_.data_dir), error);
  if (!accepted || !current) return false;
  accepted_epoch_ = *accepted;
  current_epoch_ = *current;
  snapshots_ = std::make_unique<SnapshotStore>(options_.data_dir);
  if (!open_log(error) || !load_tree(error)) return false;
  spdlog::info("recovered {} nodes at zxid {:#x} ({} txns replayed)", tree_->node_count(),
               tree_->last_applied_zxid(), replayed_);
  return true;
}

TxnLogOptions ReplicaStore::log_options() const {
  TxnLogOptions log_options;
  log_options.dir = options_.log_dir;
  log_options.sync = options_.sync;
  log_options.preallocate_bytes = options_.log_preallocate_bytes;
  log_options.inline_commit = options_.log_inline_commit;
  return log_options;
}

// The newest snapshot, then the log after it through the applied mark: the tree holds only what
// this replica had applied, so committed (docs/architecture.md, "What a restart shows"). The
// records after the mark wait in recent_ for a leader to commit them; with them, the last
// records are kept for DIFFs.
bool ReplicaStore::load_tree(std::string* error) {
  tree_ = snapshots_->load_latest(error);
  if (!tree_) return false;
  tree_->set_data_bytes_max(options_.tree_data_bytes_max);
  snapshot_zxid_ = tree_->last_applied_zxid();
  const Zxid apply_through = std::max(log_->applied_mark(), snapshot_zxid_);
  std::deque<consensus::Entry> recent;
  size_t recent_bytes = 0;
  recent_after_ = snapshot_zxid_;
  replayed_ = 0;
  proto::Txn txn;
  bool ok = log_->replay(snapshot_zxid_, [&](Zxid zxid, std::string_view payload) {
    if (zxid <= apply_through) {
      // As when it was first applied: a txn that does not parse is a failed txn, never a reason
      // not to start.
      if (txn.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
        tree_->apply(zxid, txn);
      } else {
        tree_->apply_unparsable(zxid);
      }
      ++replayed_;
    }
    recent.push_back({zxid, std::make_shared<const std::string>(payload)});
    recent_bytes += payload.size();
    while ((recent.size() > options_.recent_entries_max || recent_bytes > options_.recent_bytes_max) &&
           recent.front().zxid <= apply_through) {
      recent_after_ = recent.front().zxid;
      recent_bytes -= recent.front().payload->size();
      recent.pop_front();
    }
  }, error);
  if (!ok) return false;
  recent_.assign(std::make_move_iterator(recent.begin()), std::make_move_iterator(recent.end()));
  return true;
}

bool ReplicaStore::open_log(std::string* error) {
  log_ = TxnLog::open(log_options(), error);
  if (!log_) return false;
  const uint64_t generation = ++log_generation_;
  // The writer thread reports durability; hop to the loop thread, which owns everything here
  // (unless this store is gone by then).
  std::weak_ptr<const int> alive = lifetime_;
  log_->set_on_durable([this, alive, generation](Zxid zxid) {
    boost::asio::post(io_, [this, alive, generation, zxid] {
      if (!alive.expired() && generation == log_generation_ && on_durable_) on_durable_(zxid);
    });
  });
  return true;
}

consensus::DurableState ReplicaStore::durable_state() const {
  consensus::DurableState state;
  state.accepted_epoch = accepted_epoch_;
  state.current_epoch = current_epoch_;
  state.last_logged_zxid = std::max(log_->last_zxid(), snapshot_zxid_);
  state.applied_zxid = tree_->last_applied_zxid();
  state.snapshot_zxid = snapshot_zxid_;
  state.recent = recent_;
  state.recent_after = recent_after_;
  return state;
}

void ReplicaStore::persist_hard_state(const consensus::HardState& state) {
  std::string error;
  // acceptedEpoch before currentEpoch, each durable before anything of the new epoch is sent.
  if (state.accepted_epoch != accepted_epoch_ &&
      !write_epoch_file(accepted_epoch_path(options_.data_dir), state.accepted_epoch, &error)) {
    throw std::runtime_error("cannot persist acceptedEpoch: " + error);
  }
  accepted_epoch_ = state.accepted_epoch;
  if (state.current_epoch != current_epoch_ &&
      !write_epoch_file(current_epoch_path(options_.data_dir), state.current_epoch, &error)) {
    throw std::runtime_error("cannot persist currentEpoch: " + error);
  }
  current_epoch_ = state.current_epoch;
}

void ReplicaStore::append(const std::vector<consensus::Entry>& entries) {
  if (entries.empty()) return;
  std::vector<LogEntry> records;
  records.reserve(entries.size());
  for (const auto& entry : entries) {
    records.emplace_back(entry.zxid, entry.payload);
    appended_bytes_ += entry.payload->size();
  }
  applied_recorded_ = tree_->last_applied_zxid();
  log_->append(std::move(records), applied_recorded_, TxnLog::Committer::kCaller);
  commit_at_end_of_turn();
}

// The commit runs once the loop has handled what was already due (a deferred handler goes after
// them), so the messages sent with the append (a leader's PROPOSALs) are on their way before this
// thread waits for the disk. The log writes a lone write here (no thread hop: the ACK or the
// reply follows at once); anything else its writer thread has taken already, or takes now
// (docs/architecture.md, "Threads").
void ReplicaStore::commit_at_end_of_turn() {
  if (commit_scheduled_) return;
  commit_scheduled_ = true;
  std::weak_ptr<const int> alive = lifetime_;
  boost::asio::defer(io_, [this, alive] {
    if (alive.expired()) return;
    commit_scheduled_ = false;
    // No log: a failed cut or install closed it after its appends were made durable.
    if (!log_) return;
    const std::optional<Zxid> durable = log_->commit_queued();
    if (durable && *durable != 0 && on_durable_) on_durable_(*durable);
  });
}

void ReplicaStore::record_applied() {
  if (!log_ || tree_->last_applied_zxid() <= applied_recorded_) return;
  applied_recorded_ = tree_->last_applied_zxid();
  log_->record_applied(applied_recorded_);
}

// Zab's TRUNC: the log loses everything after zxid, and snapshots that might hold any of it go.
// The tree holds only applied txns, none beyond zxid (the core checks it): it stays.
void ReplicaStore::truncate_after(Zxid zxid) {
  QFS_CHECK(tree_->last_applied_zxid() <= zxid, "a log cut keeps every applied txn");
  close_log_after_its_appends();
  std::string error;
  if (!TxnLog::truncate_after(log_options(), zxid, &error) || !snapshots_->remove_newer_than(zxid, &error) ||
      !open_log(&error)) {
    throw std::runtime_error("cannot cut the log after " + std::to_string(zxid) + ": " + error);
  }
  recent_.clear();
  applied_recorded_ = 0;  // the cut may have dropped the marker that recorded it
  spdlog::info("log cut after {:#x}; the tree stays at zxid {:#x}", zxid, tree_->last_applied_zxid());
}

// The core counts the appends handed over before a cut or a snapshot as durable once the cut is
// done: they must be on disk before the log closes (a failing writer would drop them at close).
// If they cannot be, the step fails and is retried (Pipeline), the log still open.
void ReplicaStore::close_log_after_its_appends() {
  if (log_ && !log_->flush()) {
    throw std::runtime_error("the log cannot finish its earlier appends: " + log_->failure());
  }
  log_.reset();  // stops the writer; its late reports are dropped by generation
}

// Zab's SNAP: what the log holds beyond the snapshot is not the leader's history and goes first
// (a crash then leaves a prefix, which the next sync repairs); the snapshot is written durably,
// and becomes the tree.
void ReplicaStore::install_snapshot(Zxid zxid, const std::string& bytes) {
  close_log_after_its_appends();
  std::string error;
  if (!TxnLog::truncate_after(log_options(), zxid, &error) || !snapshots_->remove_newer_than(zxid, &error)) {
    throw std::runtime_error("cannot cut the log for a snapshot at " + std::to_string(zxid) + ": " + error);
  }
  std::unique_ptr<DataTree> tree = snapshots_->install(zxid, bytes, &error);
  if (!tree) throw std::runtime_error("snapshot from the leader refused: " + error);
  // The snapshot is durable: what the log still holds (at or below its zxid) may be of another
  // history, and would be replayed if this snapshot were ever lost. It goes.
  if (!TxnLog::truncate_after(log_options(), 0, &error)) {
    throw std::runtime_error("cannot drop the log under a snapshot at " + std::to_string(zxid) + ": " + error);
  }
  tree_ = std::move(tree);
  tree_->set_data_bytes_max(options_.tree_data_bytes_max);
  snapshot_zxid_ = zxid;
  recent_.clear();
  applied_recorded_ = 0;
  if (!open_log(&error)) throw std::runtime_error("cannot reopen the log after a snapshot: " + error);
  spdlog::info("snapshot {:#x} from the leader installed: {} nodes", zxid, tree_->node_count());
}

std::shared_ptr<const std::string> ReplicaStore::encode_snapshot() const {
  auto bytes = std::make_shared<std::string>();
  std::string error;
  if (!SnapshotStore::encode(*tree_, bytes.get(), &error)) throw std::runtime_error("cannot encode a snapshot: " + error);
  return bytes;
}

}  // namespace quorumfs
