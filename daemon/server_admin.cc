// The server's side of the admin endpoint (daemon/admin/): what it reads of this member, its
// ensemble and its configuration, on the event loop.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <optional>

#include "daemon/admin/metrics.h"

#include "daemon/server.h"

namespace quorumfs {

namespace {

constexpr const char* kRoleNames[] = {"looking", "follower", "leader", "observer"};

uint32_t epoch_of(Zxid zxid) { return static_cast<uint32_t>(zxid >> 32); }

}  // namespace

// An admin port that cannot be bound (another member of this host has it, as is common in tests)
// is logged once and left closed: everything else is served, as ZooKeeper does.
void Server::start_admin() {
  if (!options_.admin.enabled) return;
  admin::Endpoint endpoint([this]() -> const DataTree& { return store_->tree(); }, admin_sources(),
                           [this] { return metrics_text(); });
  admin_server_ = std::make_unique<admin::AdminServer>(io_, std::move(endpoint), options_.admin);
  std::string error;
  if (admin_server_->start(&error)) return;
  spdlog::warn("{}: the admin endpoint is not served (everything else is)", error);
  admin_server_.reset();
}

admin::Sources Server::admin_sources() {
  admin::Sources sources;
  sources.member = [this] {
    admin::MemberView member;
    member.report = member_report();
    member.server_id = options_.server_id;
    member.leader_id = replica_->leader();
    if (const auto leader = options_.servers.find(member.leader_id); leader != options_.servers.end()) {
      member.leader_host = leader->second.host;
    }
    if (options_.servers.size() <= 1 && replica_->serving()) member.leader_host = options_.admin.address;
    member.last_committed_zxid = static_cast<int64_t>(replica_->last_committed_zxid());
    member.last_logged_zxid = static_cast<int64_t>(replica_->last_logged_zxid());
    member.synced = synced();
    member.uptime = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_at_);
    return member;
  };
  sources.peers = [this] {
    std::vector<admin::PeerView> peers;
    if (options_.servers.size() <= 1) return peers;
    const consensus::NodeId leader = replica_->leader();
    const bool leading = role_ == consensus::Role::kLeading;
    std::map<consensus::NodeId, consensus::LearnerStatus> learners;
    for (const consensus::LearnerStatus& learner : replica_->learners()) learners[learner.id] = learner;
    const Zxid last_logged = replica_->last_logged_zxid();
    for (const auto& [id, address] : options_.servers) {
      admin::PeerView peer;
      peer.id = id;
      peer.host = address.host;
      peer.peer_port = address.peer_port;
      peer.election_port = address.election_port;
      peer.observer = address.observer;
      peer.this_member = id == options_.server_id;
      if (peer.this_member) {
        peer.role = kRoleNames[static_cast<int>(role_)];
        if (leading) {
          peer.acked_zxid = static_cast<int64_t>(last_logged);
          peer.lag_txns = 0;
        }
      } else if (leading) {
        const auto learner = learners.find(id);
        if (learner == learners.end()) {
          peer.role = "unreachable";
        } else if (!learner->second.synced) {
          peer.role = "syncing";
        } else {
          peer.role = learner->second.observer ? "observer" : "follower";
          // An observer ACKs nothing past its sync: its lag is not known here.
          if (!learner->second.observer) {
            const Zxid acked = learner->second.acked;
            peer.acked_zxid = static_cast<int64_t>(acked);
            if (epoch_of(acked) == epoch_of(last_logged) && acked <= last_logged) peer.lag_txns = last_logged - acked;
          }
        }
      } else {
        peer.role = id == leader && leader != 0 ? "leader" : "unknown";
      }
      peers.push_back(std::move(peer));
    }
    return peers;
  };
  sources.client_port = [this]() -> const zk::ClientPort* { return client_port_.get(); };
  // ZooKeeper's conf fields (ZooKeeperServer.getConf, QuorumPeer's), then quorumfs's own.
  sources.conf = [this] {
    nlohmann::json conf{{"data_dir", options_.data_dir},
                        {"data_log_dir", options_.log_dir},
                        {"tick_time", options_.tick_time_ms},
                        {"init_limit", options_.init_limit},
                        {"sync_limit", options_.sync_limit},
                        {"server_id", options_.server_id},
                        {"session_timeout", options_.session_timeout.count()},
                        {"write_timeout", options_.write_wait.count()},
                        {"mount_point", options_.mount_enabled ? options_.mount.mountpoint : ""},
                        {"admin_server_address", options_.admin.address},
                        {"admin_server_port", admin_server_ ? admin_server_->bound_port() : options_.admin.port}};
    if (options_.client_port) {
      conf["client_port"] = options_.client_port->port;
      conf["client_port_address"] = options_.client_port->address;
      conf["max_client_cnxns"] = options_.client_port->max_connections_per_ip;
      conf["min_session_timeout"] = options_.client_port->min_session_timeout_ms;
      conf["max_session_timeout"] = options_.client_port->max_session_timeout_ms;
    }
    if (const auto self = options_.servers.find(options_.server_id); self != options_.servers.end()) {
      conf["peer_type"] = self->second.observer ? "observer" : "participant";
      conf["quorum_port"] = self->second.peer_port;
      conf["election_port"] = self->second.election_port;
    }
    return conf;
  };
  return sources;
}

namespace {

struct SnapshotFile {
  uint64_t bytes = 0;
  double age_seconds = 0;
};

// The newest finished snapshot in the data dir ("snapshot.<zxid>", not its ".tmp"): a few
// entries to list, once per scrape.
std::optional<SnapshotFile> newest_snapshot(const std::string& data_dir) {
  std::optional<SnapshotFile> newest;
  std::filesystem::file_time_type newest_time{};
  std::error_code error;
  for (auto it = std::filesystem::directory_iterator(data_dir, error);
       !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (!name.starts_with("snapshot.") || name.ends_with(".tmp")) continue;
    std::error_code failed;
    const auto time = it->last_write_time(failed);
    const uint64_t bytes = it->file_size(failed);
    if (failed || (newest && time <= newest_time)) continue;
    newest_time = time;
    const auto age = std::filesystem::file_time_type::clock::now() - time;
    newest = SnapshotFile{bytes, std::chrono::duration<double>(age).count()};
  }
  return newest;
}

uint64_t counter_difference(Zxid high, Zxid low) {
  return epoch_of(high) == epoch_of(low) && high >= low ? high - low : 0;
}

}  // namespace

// /metrics: the families docs/operations.md lists, read on the loop; histograms are recorded where
// the work is done (the pipeline, the log writer, the client port) without a lock.
std::string Server::metrics_text() const {
  admin::PrometheusText out;
  out.family("quorumfs_write_latency_seconds", "histogram",
             "Writes submitted on this member, from submit to answer (commit and apply, or failure), by txn kind");
  const auto& writes = pipeline_->write_latency();
  for (size_t kind = 0; kind < writes.size(); ++kind) {
    const auto counts = writes[kind].counts();
    if (counts.count > 0) out.histogram("quorumfs_write_latency_seconds", counts, admin::label("txn", kTxnKindNames[kind]));
  }
  if (client_port_) {
    out.family("quorumfs_zk_request_latency_seconds", "histogram",
               "ZooKeeper client requests on this member's client port, from read to reply, by op");
    const auto& ops = client_port_->op_latency();
    for (size_t op = 0; op < ops.size(); ++op) {
      const auto counts = ops[op].counts();
      if (counts.count > 0) out.histogram("quorumfs_zk_request_latency_seconds", counts, admin::label("op", zk::kOpLatencyNames[op]));
    }
  }
  if (filesystem_) {
    out.family("quorumfs_mount_read_latency_seconds", "histogram",
               "The mount's reads, the time of their handler on the event loop, by FUSE op");
    const auto& reads = filesystem_->read_latency();
    for (size_t read = 0; read < reads.size(); ++read) {
      out.histogram("quorumfs_mount_read_latency_seconds", reads[read].counts(),
                    admin::label("op", fusefs::kMountReadNames[read]));
    }
  }
  out.family("quorumfs_log_sync_seconds", "histogram", "Each group commit's durable write of the txn log (write and fdatasync)");
  // A log reopened by a cut or a snapshot from the leader starts its counts again.
  const TxnLog* log = store_->log_if_open();
  out.histogram("quorumfs_log_sync_seconds", log ? log->sync_latency().counts() : metrics::LatencyHistogram::Counts{});

  out.family("quorumfs_pending_writes", "gauge", "Writes submitted here and not answered yet");
  out.sample("quorumfs_pending_writes", uint64_t{pipeline_->pending_count()});
  out.family("quorumfs_log_appends_waiting", "gauge", "Log appends not durable yet (the log's queue)");
  out.sample("quorumfs_log_appends_waiting", log ? log->appends_waiting() : uint64_t{0});
  out.family("quorumfs_echo_backlog_changes", "gauge",
             "Changes applied here whose inotify events the mount has not raised yet (the echo's queue)");
  out.sample("quorumfs_echo_backlog_changes", uint64_t{filesystem_ ? filesystem_->echo_backlog() : 0});
  out.family("quorumfs_zk_outstanding_requests", "gauge", "ZooKeeper client requests read and not answered yet");
  out.sample("quorumfs_zk_outstanding_requests", uint64_t{client_port_ ? client_port_->totals().outstanding : 0});
  out.family("quorumfs_zk_writes_held", "gauge",
             "1 while the client port holds its clients' writes because the mount's echo backlog reached --echo-backlog-max");
  out.sample("quorumfs_zk_writes_held", uint64_t{client_port_ && client_port_->writes_held() ? 1u : 0u});
  out.family("quorumfs_zk_write_holds_total", "counter", "Times the client port began to hold writes for the mount's echo backlog");
  out.sample("quorumfs_zk_write_holds_total", client_port_ ? client_port_->write_holds() : uint64_t{0});

  const Zxid logged = replica_->last_logged_zxid();
  const Zxid committed = replica_->last_committed_zxid();
  const Zxid applied = store_->tree().last_applied_zxid();
  out.family("quorumfs_commit_lag_txns", "gauge", "Txns logged here and not known committed yet (same epoch)");
  out.sample("quorumfs_commit_lag_txns", counter_difference(logged, committed));
  out.family("quorumfs_apply_lag_txns", "gauge", "Txns known committed and not applied to this member's tree yet");
  out.sample("quorumfs_apply_lag_txns", counter_difference(committed, applied));
  out.family("quorumfs_last_zxid", "gauge", "The last zxid applied to this member's tree");
  out.sample("quorumfs_last_zxid", static_cast<uint64_t>(applied));
  if (role_ == consensus::Role::kLeading) {
    out.family("quorumfs_follower_lag_txns", "gauge", "On the leader: its last logged zxid minus what each synced follower acked");
    for (const consensus::LearnerStatus& learner : replica_->learners()) {
      if (learner.synced && !learner.observer) {
        out.sample("quorumfs_follower_lag_txns", counter_difference(logged, learner.acked),
                   admin::label("server", std::to_string(learner.id)));
      }
    }
  }

  out.family("quorumfs_sessions", "gauge", "Open sessions in the tree (every host's mount sessions and ZooKeeper clients)");
  out.sample("quorumfs_sessions", uint64_t{store_->tree().open_session_count()});
  out.family("quorumfs_zk_connections", "gauge", "ZooKeeper client connections to this member");
  out.sample("quorumfs_zk_connections", uint64_t{client_port_ ? client_port_->connection_count() : 0});
  out.family("quorumfs_watches", "gauge", "ZooKeeper client watches set on this member");
  out.sample("quorumfs_watches", uint64_t{client_port_ ? client_port_->watches().size() : 0});
  out.family("quorumfs_znodes", "gauge", "Znodes in this member's tree");
  out.sample("quorumfs_znodes", uint64_t{store_->tree().node_count()});
  out.family("quorumfs_znode_data_bytes", "gauge", "Bytes of znode data in this member's tree");
  out.sample("quorumfs_znode_data_bytes", uint64_t{store_->tree().data_bytes()});

  if (const auto snapshot = newest_snapshot(options_.data_dir)) {
    out.family("quorumfs_snapshot_age_seconds", "gauge", "Age of the newest snapshot in the data dir");
    out.sample("quorumfs_snapshot_age_seconds", snapshot->age_seconds);
    out.family("quorumfs_snapshot_bytes", "gauge", "Size of the newest snapshot in the data dir");
    out.sample("quorumfs_snapshot_bytes", snapshot->bytes);
  }
  out.family("quorumfs_elections_total", "counter", "Elections this member took part in and ended (looking to a role)");
  out.sample("quorumfs_elections_total", elections_);
  out.family("quorumfs_election_seconds", "histogram", "How long each election took, from looking to a role");
  out.histogram("quorumfs_election_seconds", election_latency_.counts());
  out.family("quorumfs_server_state", "gauge", "This member's state: 1 for the one it is in");
  const std::string mode = member_report().mode;
  for (const char* state : {"leader", "follower", "observer", "looking", "standalone", "read-only"}) {
    out.sample("quorumfs_server_state", uint64_t{mode == state}, admin::label("state", state));
  }
  out.family("quorumfs_uptime_seconds", "gauge", "Seconds since this member started");
  out.sample("quorumfs_uptime_seconds",
             std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at_).count());
  return out.text();
}

}  // namespace quorumfs
