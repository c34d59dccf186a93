// The server's side of the admin endpoint (daemon/admin/): what it reads of this member, its
// ensemble and its configuration, on the event loop.
#include <spdlog/spdlog.h>

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
  admin::Endpoint endpoint([this]() -> const DataTree& { return store_->tree(); }, admin_sources());
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

}  // namespace quorumfs
