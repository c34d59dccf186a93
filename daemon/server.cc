#include "daemon/server.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <chrono>
#include <csignal>
#include <filesystem>

#include "daemon/storage/epoch_file.h"

namespace quorumfs {

namespace {
std::string accepted_epoch_path(const std::string& dir) { return dir + "/acceptedEpoch"; }
std::string current_epoch_path(const std::string& dir) { return dir + "/currentEpoch"; }
}  // namespace

Server::Server(ServerOptions options)
    : options_(std::move(options)), stop_signals_(io_, SIGINT, SIGTERM), child_signals_(io_, SIGCHLD) {
  if (options_.log_dir.empty()) options_.log_dir = options_.data_dir + "/log";
  // ZooKeeper's session id layout: server id in the top byte, then the start time, then a
  // counter, so ids stay unique across restarts and hosts.
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  next_session_id_ = ((static_cast<uint64_t>(now_ms) << 24) >> 8) | (options_.server_id << 56);
}

Server::~Server() {
  if (lock_fd_ >= 0) close(lock_fd_);
}

int Server::run() {
  std::string error;
  if (!recover(&error)) {
    spdlog::error("cannot start: {}", error);
    return 1;
  }
  filesystem_ = std::make_unique<fusefs::Filesystem>(io_, *this, options_.mount);
  if (!filesystem_->mount([this] { stop(); }, &error)) {
    spdlog::error("{}", error);
    shutdown_storage();
    return 1;
  }
  spdlog::info("mounted {} (data {}, last zxid {:#x}, {} nodes)", options_.mount.mountpoint,
               options_.data_dir, tree_->last_applied_zxid(), tree_->node_count());
  close_own_sessions(nullptr);
  stop_signals_.async_wait([this](const boost::system::error_code& failed, int signal) {
    if (!failed) {
      spdlog::info("signal {}: stopping", signal);
      stop();
    }
  });
  wait_for_snapshot_child();
  io_.run();
  return 0;
}

void Server::stop() {
  if (stopping_) return;
  stopping_ = true;  // new writes are refused from here on
  // This host's sessions end with it (contract §8): their ephemerals go while the log still
  // takes txns. Then unmount, then make everything logged durable.
  close_own_sessions([this] { unmount_and_finish(); });
}

// Writes already proposed are committed and answered before the mount goes (new ones are refused).
void Server::unmount_and_finish() {
  if (!pipeline_->idle()) {
    drain_timer_.expires_after(std::chrono::milliseconds(1));
    drain_timer_.async_wait([this](const boost::system::error_code&) { unmount_and_finish(); });
    return;
  }
  auto finish = [this] {
    shutdown_storage();
    stop_signals_.cancel();
    child_signals_.cancel();
    io_.stop();
  };
  if (filesystem_) {
    filesystem_->unmount(finish);
  } else {
    finish();
  }
}

void Server::shutdown_storage() {
  if (!log_) return;
  log_->flush();
  if (pipeline_) {
    spdlog::info("stopped: {} txns applied this run, {} log syncs (group commit)",
                 pipeline_->applied_count(), log_->sync_count());
  }
}

bool Server::lock_data_dir(std::string* error) {
  std::string path = options_.data_dir + "/lock";
  lock_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0 || flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    *error = "data dir " + options_.data_dir + " is in use by another quorumfs (" + path + ")";
    return false;
  }
  return true;
}

// Latest snapshot + log replay (ZAB-NOTES §1: lastZxid covers the whole log).
bool Server::recover(std::string* error) {
  std::error_code fs_error;
  std::filesystem::create_directories(options_.data_dir, fs_error);
  if (fs_error) {
    *error = "cannot create data dir " + options_.data_dir + ": " + fs_error.message();
    return false;
  }
  if (!lock_data_dir(error)) return false;
  auto accepted = read_epoch_file(accepted_epoch_path(options_.data_dir), error);
  auto current = read_epoch_file(current_epoch_path(options_.data_dir), error);
  if (!accepted || !current) return false;

  snapshots_ = std::make_unique<SnapshotStore>(options_.data_dir);
  tree_ = snapshots_->load_latest(error);
  if (!tree_) return false;
  tree_->set_data_bytes_max(kDataBytesLimit);

  TxnLogOptions log_options;
  log_options.dir = options_.log_dir;
  log_options.sync = options_.sync;
  log_ = TxnLog::open(log_options, error);
  if (!log_) return false;
  uint64_t replayed = 0;
  bool parsed = true;
  proto::Txn txn;
  bool ok = log_->replay(tree_->last_applied_zxid(), [&](Zxid zxid, std::string_view payload) {
    if (!parsed) return;
    if (!txn.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
      parsed = false;
      *error = "txn " + std::to_string(zxid) + " in the log does not parse";
      return;
    }
    tree_->apply(zxid, txn);
    ++replayed;
  }, error);
  if (!ok || !parsed) return false;
  spdlog::info("recovered {} nodes at zxid {:#x} ({} txns replayed)", tree_->node_count(),
               tree_->last_applied_zxid(), replayed);
  txns_since_snapshot_ = replayed;

  consensus::DurableState durable{*accepted, *current, std::max(log_->last_zxid(), tree_->last_applied_zxid())};
  try {
    replica_ = std::make_unique<consensus::Replica>(options_.server_id, durable);
  } catch (const std::exception& refused) {
    *error = refused.what();
    return false;
  }
  pipeline_ = std::make_unique<Pipeline>(io_, *tree_, *log_, *replica_,
                                         [this](const consensus::HardState& state) { persist_hard_state(state); });
  pipeline_->set_on_applied([this](const ApplyResult& result) { after_apply(result); });
  pipeline_->drain();
  return true;
}

void Server::persist_hard_state(const consensus::HardState& state) {
  std::string error;
  // acceptedEpoch before currentEpoch, each durable before anything of the new epoch is sent.
  if (!write_epoch_file(accepted_epoch_path(options_.data_dir), state.accepted_epoch, &error) ||
      !write_epoch_file(current_epoch_path(options_.data_dir), state.current_epoch, &error)) {
    throw std::runtime_error("cannot persist the epoch: " + error);
  }
}

// Closes every session this server id owns (its top byte; ZooKeeper's layout). At start-up they
// belonged to descriptors of an earlier run; at stop, to descriptors that are about to go.
void Server::close_own_sessions(std::function<void()> then) {
  std::vector<uint64_t> own;
  for (uint64_t session_id : tree_->sessions()) {
    if (session_id >> 56 == options_.server_id) own.push_back(session_id);
  }
  if (own.empty()) {
    if (then) then();
    return;
  }
  // Counted before any submit: a refused submit answers at once.
  auto remaining = std::make_shared<size_t>(own.size());
  auto finished = std::make_shared<std::function<void()>>(std::move(then));
  for (uint64_t session_id : own) {
    proto::Txn txn;
    txn.add_ops()->mutable_close_session()->set_session_id(session_id);
    pipeline_->submit(std::move(txn), [this, remaining, finished](const ApplyResult& result) {
      if (filesystem_) filesystem_->on_foreign_change(result);
      if (--*remaining == 0 && *finished) (*finished)();
    });
  }
}

void Server::submit(proto::Txn txn, Done done) {
  if (stopping_) {
    ApplyResult refused;
    refused.code = Code::kNotApplied;
    done(refused);
    return;
  }
  pipeline_->submit(std::move(txn), std::move(done));
}

uint64_t Server::new_session_id() { return next_session_id_++; }

void Server::sync(std::function<void()> done) {
  // One replica: everything committed is applied before this runs on the loop.
  boost::asio::post(io_, std::move(done));
}

void Server::after_apply(const ApplyResult&) {
  ++txns_since_snapshot_;
  maybe_snapshot();
}

// ZooKeeper takes a snapshot every snapCount txns; so do we, in a forked child, rolling the log
// so that segments covered by the snapshot can be deleted.
void Server::maybe_snapshot() {
  if (txns_since_snapshot_ < options_.snapshot_every_txns || snapshot_child_ > 0) return;
  log_->roll();
  snapshot_child_ = snapshots_->start_background(*tree_);
  if (snapshot_child_ < 0) {
    spdlog::warn("cannot fork a snapshot writer; will retry");
    return;
  }
  txns_since_snapshot_ = 0;
}

void Server::wait_for_snapshot_child() {
  child_signals_.async_wait([this](const boost::system::error_code& failed, int) {
    if (failed) return;
    siginfo_t info{};
    // Peek without reaping: the SIGCHLD may be another child's (libfuse's auto_unmount helper).
    bool snapshot_done = snapshot_child_ > 0 &&
                         waitid(P_PID, snapshot_child_, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
                         info.si_pid == snapshot_child_;
    if (snapshot_done) {
      Zxid oldest_kept = 0;
      std::string error;
      if (snapshots_->finish_background(snapshot_child_, &oldest_kept, &error)) {
        log_->purge_through(oldest_kept);
      } else {
        spdlog::error("snapshot failed: {}", error);
      }
      snapshot_child_ = -1;
    }
    wait_for_snapshot_child();
  });
}

}  // namespace quorumfs
