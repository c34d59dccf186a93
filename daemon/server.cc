#include "daemon/server.h"

#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <csignal>
#include <utility>

#include "daemon/peer/transport.h"
#include "daemon/service/reaper.h"
#include "daemon/systemd_notify.h"
#include "fusefs/xattrs.h"

namespace quorumfs {

namespace {
int ticks_of(std::chrono::milliseconds duration) {
  return std::max<int>(1, static_cast<int>(duration / kCoreTick));
}

int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Server::Server(ServerOptions options)
    : options_(std::move(options)), stop_signals_(io_, SIGINT, SIGTERM), child_signals_(io_, SIGCHLD) {
  if (options_.log_dir.empty()) options_.log_dir = options_.data_dir + "/log";
}

Server::~Server() = default;

// zoo.cfg's limits are in tickTime units; the core counts kCoreTick steps.
consensus::Config Server::core_config() const {
  consensus::Config config;
  config.my_id = options_.server_id;
  config.voters = {options_.server_id};
  if (!options_.servers.empty()) {
    config.voters.clear();
    for (const auto& [id, address] : options_.servers) {
      (address.observer ? config.observers : config.voters).insert(id);
    }
  }
  const std::chrono::milliseconds tick_time(options_.tick_time_ms);
  config.init_limit_ticks = ticks_of(tick_time * options_.init_limit);
  config.sync_limit_ticks = ticks_of(tick_time * options_.sync_limit);
  config.ping_ticks = ticks_of(tick_time / 2);
  config.diff_window = options_.diff_window_txns;
  config.diff_window_bytes = options_.diff_window_bytes;
  return config;
}

int Server::run() {
  std::string error;
  StoreOptions store_options;
  store_options.data_dir = options_.data_dir;
  store_options.log_dir = options_.log_dir;
  store_options.sync = options_.sync;
  store_options.tree_data_bytes_max = kDataBytesLimit;
  store_options.recent_entries_max = options_.diff_window_txns;
  store_options.recent_bytes_max = options_.diff_window_bytes;
  store_options.log_preallocate_bytes = options_.log_preallocate_bytes;
  store_ = std::make_unique<ReplicaStore>(io_, store_options);
  if (!store_->recover(&error)) {
    spdlog::error("cannot start: {}", error);
    return 1;
  }
  txns_since_snapshot_ = store_->replayed_count();
  try {
    replica_ = std::make_unique<consensus::Replica>(core_config(), store_->durable_state());
    store_->forget_recovered_records();
  } catch (const std::exception& refused) {
    spdlog::error("cannot start: {}", refused.what());
    return 1;
  }
  pipeline_ = std::make_unique<Pipeline>(*store_, *replica_, options_.server_id, options_.write_wait);
  service_ = std::make_unique<service::Service>(*this, static_cast<uint32_t>(options_.server_id),
                                                options_.session_timeout);
  pipeline_->set_on_applied([this](const ApplyResult& result, bool own, service::Submitter submitter) {
    after_apply(result, own, submitter);
  });
  pipeline_->set_before_reload([this] { finish_snapshot_child(true); });
  pipeline_->set_after_reload([this] {
    if (filesystem_) filesystem_->on_tree_replaced();
    if (client_port_) client_port_->on_tree_replaced();
  });
  if (!start_peers(&error)) {
    spdlog::error("cannot start: {}", error);
    return 1;
  }
  start_admin();
  pipeline_->drain();
  stop_signals_.async_wait([this](const boost::system::error_code& failed, int signal) {
    if (!failed) {
      spdlog::info("signal {}: stopping", signal);
      stop();
    }
  });
  wait_for_snapshot_child();
  schedule_tick();
  serve_when_synced();
  io_.run();
  return exit_status_;
}

// A member mounts once it is in sync with a leader (its tree then holds what the ensemble
// committed before it restarted), or, without a quorum, after the write wait: then it serves its
// own tree, which may be behind, and its root says user.zk.state=unsynced (docs/mount.md).
void Server::serve_when_synced() {
  if (serving_started_ || stopping_) return;
  if (serve_deadline_ == std::chrono::steady_clock::time_point{}) serve_deadline_ = std::chrono::steady_clock::now() + options_.write_wait;
  if (!replica_->serving() && std::chrono::steady_clock::now() < serve_deadline_) return;
  serving_started_ = true;
  service_->sessions().start(store_->tree(), wall_clock_ms());
  if (!replica_->serving()) {
    spdlog::warn("no leader within {} ms: serving the local tree at zxid {:#x}, which may be behind "
                 "(user.zk.state=unsynced)", options_.write_wait.count(), store_->tree().last_applied_zxid());
  }
  if (!start_client_port()) return;
  if (!options_.mount_enabled) {
    notify_systemd("READY=1");
    return;
  }
  start_control_socket();
  std::string error;
  filesystem_ = std::make_unique<fusefs::Filesystem>(io_, *service_, options_.mount);
  if (!filesystem_->mount([this] { stop(); }, &error)) {
    spdlog::error("{}", error);
    filesystem_.reset();
    exit_status_ = 1;
    stopping_ = true;
    unmount_and_finish();  // nothing was served: no sessions of this run to close
    return;
  }
  // The client port's writes are what the mount's echo can fall behind with (docs/zk-protocol.md,
  // "Limits"); the mount's own writes wait for their FUSE requests, the control socket's for their
  // echoes.
  if (client_port_) {
    filesystem_->set_echo_backlog_observer([this](size_t backlog) {
      if (client_port_) client_port_->mount_backlog(backlog);
    });
  }
  spdlog::info("mounted {} (data {}, zxid {:#x}, {} nodes, {})", options_.mount.mountpoint, options_.data_dir,
               store_->tree().last_applied_zxid(), store_->tree().node_count(),
               fusefs::state_xattr(replica_->serving()));
  notify_systemd("READY=1");
}

// Sessions an earlier run of this host left in the tree are closed once the replica serves: by
// then its tree holds what that run had committed.
void Server::close_earlier_sessions_once_synced() {
  if (earlier_sessions_closed_ || !serving_started_ || !replica_->serving()) return;
  earlier_sessions_closed_ = true;
  service_->sessions().close_all(service_->sessions().own(store_->tree(), true), true, nullptr);
}

bool Server::start_peers(std::string* error) {
  if (options_.servers.size() <= 1) return true;  // the ensemble of one has nobody to talk to
  peer::PeerTransportOptions transport_options;
  transport_options.my_id = options_.server_id;
  for (const auto& [id, address] : options_.servers) {
    transport_options.members[id] = peer::PeerEndpoint{address.host, address.peer_port};
  }
  transport_options.secret = options_.peer_secret;
  peer::PeerCallbacks callbacks;
  callbacks.on_message = [this](consensus::NodeId from, consensus::Message message) {
    service_->sessions().heard_from(static_cast<uint32_t>(from), std::chrono::steady_clock::now());
    spdlog::trace("from {}: type {} epoch {} zxid {:#x}", from, static_cast<int>(message.type), message.epoch,
                 message.zxid);
    pipeline_->step(message);
  };
  callbacks.on_keepalive = [this](consensus::NodeId from, std::vector<uint64_t> client_sessions) {
    const auto now = std::chrono::steady_clock::now();
    service_->sessions().heard_from(static_cast<uint32_t>(from), now);
    for (uint64_t session : client_sessions) service_->sessions().touch(session, now);
  };
  // (The transport logs connections and their loss.)
  callbacks.on_down = [this](consensus::NodeId peer) { pipeline_->peer_down(peer); };
  peers_ = std::make_unique<peer::PeerTransport>(io_, std::move(transport_options), std::move(callbacks));
  pipeline_->set_send([this](const consensus::Message& message) {
    spdlog::trace("to {}: type {} epoch {} zxid {:#x}", message.to, static_cast<int>(message.type), message.epoch,
                 message.zxid);
    peers_->send(message.to, message);
  });
  return peers_->start(error);
}

void Server::schedule_tick() {
  tick_timer_.expires_after(kCoreTick);
  tick_timer_.async_wait([this](const boost::system::error_code& failed) {
    if (failed) return;
    on_tick();
    schedule_tick();
  });
}

void Server::on_tick() {
  pipeline_->tick();
  ++ticks_;
  if (replica_->role() != role_) on_role(replica_->role());
  serve_when_synced();
  close_earlier_sessions_once_synced();
  notice_quorum_loss();
  if (ticks_ % 10 != 0) return;  // every 100 ms
  store_->record_applied();
  // The leader owns session expiry (session_table.h) and the removal of due nodes (reaper.h).
  if (role_ == consensus::Role::kLeading && replica_->serving()) {
    const auto now = std::chrono::steady_clock::now();
    // The ZooKeeper sessions connected here need no keepalive frame to reach the leader.
    if (client_port_) {
      for (uint64_t session : client_port_->live_sessions()) service_->sessions().touch(session, now);
    }
    service_->sessions().expire_silent(store_->tree(), now);
    remove_due_nodes();
  }
  if (role_ == consensus::Role::kFollowing || role_ == consensus::Role::kObserving) send_keepalive();
  if (replica_->serving()) service_->sessions().retry_closes();
}

void Server::on_role(consensus::Role role) {
  static constexpr const char* kNames[] = {"looking", "following", "leading", "observing"};
  spdlog::info("now {} (leader {}, epoch {}, last zxid {:#x})", kNames[static_cast<int>(role)], replica_->leader(),
               replica_->epoch(), replica_->last_logged_zxid());
  const auto now = std::chrono::steady_clock::now();
  if (role == consensus::Role::kLooking) {
    looking_since_ = now;
  } else if (role_ == consensus::Role::kLooking) {
    ++elections_;
    election_latency_.record(now - looking_since_);
  }
  role_ = role;
  if (role == consensus::Role::kLeading) {
    // Every host gets a whole session timeout from the moment this replica leads.
    service_->sessions().start_leading();
  }
}

// A member that stops serving sends its read-write ZooKeeper clients away: its sessions are no
// longer reported, and a client kept here would not see them expire (docs/zk-protocol.md).
void Server::notice_quorum_loss() {
  const bool serving = replica_->serving();
  if (client_port_ && was_serving_ && !serving) client_port_->on_quorum_lost();
  was_serving_ = serving;
}

// The leader expires the mount's sessions by host (session_table.h): the frame itself keeps them
// alive. It names only the ZooKeeper sessions connected here, each expired on its own timeout,
// and those every client_sessions_report_ticks() (a third of the shortest timeout at most).
void Server::send_keepalive() {
  const consensus::NodeId leader = replica_->leader();
  if (!peers_ || leader == 0) return;
  const bool report_sessions = client_port_ && ticks_ % client_sessions_report_ticks() == 0;
  peers_->send_keepalive(leader, report_sessions ? client_port_->live_sessions() : std::vector<uint64_t>{});
}

// Keepalives go every 10 ticks (100 ms): a whole number of those, at most a third of the
// shortest timeout (zk::kSessionTimeoutFloorMs keeps that at 300 ms or more), at most 1 s.
uint64_t Server::client_sessions_report_ticks() const {
  if (!options_.client_port) return 10;
  const uint32_t shortest = std::max(options_.client_port->min_session_timeout_ms, zk::kSessionTimeoutFloorMs);
  const uint64_t ticks = std::chrono::milliseconds(shortest / 3) / kCoreTick;
  return std::clamp<uint64_t>(ticks / 10 * 10, 10, 100);
}

bool Server::start_client_port() {
  if (!options_.client_port) return true;
  zk::ClientPortOptions port = *options_.client_port;
  // Without a peer secret (a lone member, or an ensemble that trusts its network), passwords
  // are as guessable as ZooKeeper's own (docs/zk-protocol.md, "Sessions").
  port.secret = options_.peer_secret.empty() ? "quorumfs client sessions" : options_.peer_secret;
  port.frame_bytes_max = std::max<size_t>(options_.data_bytes_max, 1 << 20) + kClientFrameOverheadBytes;
  port.report = [this] { return member_report(); };
  port.handler.extended_types = options_.extended_types_enabled;
  port.handler.data_bytes_max = options_.data_bytes_max;
  client_port_ = std::make_unique<zk::ClientPort>(io_, *service_, std::move(port));
  std::string error;
  if (client_port_->start(&error)) return true;
  spdlog::error("{}", error);
  client_port_.reset();
  exit_status_ = 1;
  stopping_ = true;
  unmount_and_finish();
  return false;
}

// quorumctl's way to what the mount cannot express (docs/quorumctl.md). A daemon that cannot
// bind it still mounts: quorumctl then says the daemon is unreachable for those commands.
void Server::start_control_socket() {
  zk::ControlSocketOptions control;
  control.name = "quorumfs-" + std::to_string(getpid());
  control.frame_bytes_max = std::max<size_t>(options_.data_bytes_max, 1 << 20) + kClientFrameOverheadBytes;
  control.report = [this] { return member_report(); };
  control.handler.data_bytes_max = options_.data_bytes_max;
  control.after_mount_shows = [this](std::function<void()> answer) {
    if (!filesystem_) return answer();
    filesystem_->after_echoes(std::move(answer));
  };
  control_socket_ = std::make_unique<zk::ControlSocket>(io_, *service_, std::move(control));
  std::string error;
  if (!control_socket_->start(&error)) {
    spdlog::warn("{}: quorumctl's set --version, delete --version, multi and status will not work", error);
    control_socket_.reset();
    return;
  }
  options_.mount.control_socket = control_socket_->published_name();
}

zk::MemberReport Server::member_report() const {
  zk::MemberReport report;
  report.epoch = replica_->epoch();
  report.last_zxid = store_->tree().last_applied_zxid();
  report.server_id = options_.server_id;
  const Zxid logged = replica_->last_logged_zxid();
  for (const consensus::LearnerStatus& learner : replica_->learners()) {
    zk::MemberReport::Peer peer;
    peer.id = learner.id;
    peer.observer = learner.observer;
    peer.synced = learner.synced;
    peer.acked_zxid = static_cast<int64_t>(learner.acked);
    // A zxid's high 32 bits are its epoch, the low ones count its txns.
    const int64_t behind = static_cast<int64_t>(logged & 0xffffffffu) - static_cast<int64_t>(learner.acked & 0xffffffffu);
    peer.lag_txns = (learner.acked >> 32) == (logged >> 32) ? std::max<int64_t>(behind, 0) : -1;
    report.peers.push_back(peer);
  }
  if (!replica_->serving()) {
    report.mode = "read-only";
  } else if (options_.servers.size() <= 1) {
    report.mode = "standalone";
  } else {
    static constexpr const char* kModes[] = {"looking", "follower", "leader", "observer"};
    report.mode = kModes[static_cast<int>(role_)];
  }
  return report;
}

// One round every container check interval, and none while the last one's deletes are under way
// (the same nodes would still look due).
void Server::remove_due_nodes() {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_removal_round_ || removals_in_flight_ > 0) return;
  next_removal_round_ = now + options_.container_check_interval;
  std::vector<proto::Txn> txns = service::due_for_removal(store_->tree(), wall_clock_ms(), service::kReapedPerRoundMax);
  if (txns.empty()) return;
  spdlog::debug("removing {} due container or TTL node(s)", txns.size());
  for (proto::Txn& txn : txns) {
    ++removals_in_flight_;
    submit(std::move(txn), service::Submitter::kReaper, [this](const ApplyResult&) { --removals_in_flight_; });
  }
}

void Server::stop() {
  if (stopping_) return;
  stopping_ = true;  // new writes are refused from here on
  notify_systemd("STOPPING=1");
  // This host's sessions end with it (docs/guarantees.md §8): their ephemerals go while the log
  // still takes txns. Then unmount, then make everything logged durable.
  // ZooKeeper sessions are not this host's: their clients move to another member.
  if (client_port_) client_port_->stop();
  if (control_socket_) control_socket_->stop();
  if (admin_server_) admin_server_->stop();
  if (filesystem_) filesystem_->stop_locks();
  service_->sessions().stop_retrying();
  service_->sessions().close_all(service_->sessions().own(store_->tree(), false), false,
                                 [this] { unmount_and_finish(); });
}

// Writes already submitted are committed (or failed) and answered before the mount goes.
void Server::unmount_and_finish() {
  if (!pipeline_->idle()) {
    drain_timer_.expires_after(std::chrono::milliseconds(1));
    drain_timer_.async_wait([this](const boost::system::error_code&) { unmount_and_finish(); });
    return;
  }
  auto finish = [this] {
    tick_timer_.cancel();
    if (peers_) peers_->stop();
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
  if (!store_) return;
  finish_snapshot_child(true);  // a snapshot finishing after this run must not outlive a later cut
  store_->record_applied();
  if (!store_->flush()) spdlog::error("stopping with log records that the failing disk did not take");
  if (pipeline_) {
    spdlog::info("stopped: {} txns applied this run, {} log syncs (group commit; {} of them on the loop)",
                 pipeline_->applied_count(), store_->log_sync_count(), store_->log_loop_sync_count());
  }
}

// Once stopping, only this host's closeSessions go through (its ephemerals go while the log
// still takes txns).
void Server::submit(proto::Txn txn, service::Submitter submitter, Done done) {
  if (stopping_ && submitter != service::Submitter::kSessions) {
    ApplyResult refused;
    refused.code = Code::kNotApplied;
    done(refused);
    return;
  }
  pipeline_->submit(std::move(txn), std::move(done), submitter);
}

void Server::sync(std::function<void(Code)> done) { pipeline_->sync(std::move(done)); }

// A replica whose storage fails stays out of the ensemble, even if its core still thinks it serves.
bool Server::synced() const { return replica_->serving() && !pipeline_->blocked(); }

void Server::after_apply(const ApplyResult& result, bool own, service::Submitter submitter) {
  service_->feed().publish(result, own, submitter);
  ++txns_since_snapshot_;
  maybe_snapshot();
}

// ZooKeeper takes a snapshot every snapCount txns or snapSizeLimitInKb of log; so do we, in a
// forked child, rolling the log so that segments covered by the snapshot can be deleted: the log
// on disk stays within a few times that size.
void Server::maybe_snapshot() {
  const bool due = txns_since_snapshot_ >= options_.snapshot_every_txns ||
                   store_->appended_bytes() - log_bytes_at_snapshot_ >= options_.snapshot_every_log_bytes;
  if (!due || snapshot_child_ > 0 || pipeline_->blocked()) return;
  store_->log().roll();
  snapshot_child_ = store_->snapshots().start_background(store_->tree());
  if (snapshot_child_ < 0) {
    spdlog::warn("cannot fork a snapshot writer; will retry");
    return;
  }
  txns_since_snapshot_ = 0;
  log_bytes_at_snapshot_ = store_->appended_bytes();
}

void Server::wait_for_snapshot_child() {
  child_signals_.async_wait([this](const boost::system::error_code& failed, int) {
    if (failed) return;
    finish_snapshot_child(false);
    wait_for_snapshot_child();
  });
}

// Reaps the snapshot writer when it has exited (block: waits for it) and purges the log it covers.
void Server::finish_snapshot_child(bool block) {
  if (snapshot_child_ <= 0) return;
  siginfo_t info{};
  // Peek without reaping: the SIGCHLD may be another child's (libfuse's auto_unmount helper).
  const int options = WEXITED | WNOWAIT | (block ? 0 : WNOHANG);
  if (waitid(P_PID, snapshot_child_, &info, options) != 0 || info.si_pid != snapshot_child_) return;
  Zxid oldest_kept = 0;
  std::string error;
  if (store_->snapshots().finish_background(snapshot_child_, &oldest_kept, &error)) {
    if (!pipeline_->blocked()) store_->log().purge_through(oldest_kept);  // else at the next snapshot
  } else {
    spdlog::error("snapshot failed: {}", error);
  }
  snapshot_child_ = -1;
}

}  // namespace quorumfs
