#include "daemon/admin/commands.h"

#include <fmt/format.h>

#include <array>
#include <utility>
#include <variant>

namespace quorumfs::admin {

namespace {

using nlohmann::json;

struct CommandAliases {
  const char* name;
  std::array<const char*, 2> aliases;  // ZooKeeper's other names (nullptr: none)
};

// ZooKeeper's AdminServer names (Commands.java) for the commands this endpoint answers.
constexpr std::array<CommandAliases, 9> kCommands{{
    {"ruok", {nullptr, nullptr}},
    {"srvr", {"server_stats", nullptr}},
    {"stat", {"stats", nullptr}},
    {"mntr", {"monitor", nullptr}},
    {"conf", {"configuration", "config"}},
    {"cons", {"connections", nullptr}},
    {"wchs", {"watch_summary", nullptr}},
    {"leader", {"lead", nullptr}},
    {"voting_view", {nullptr, nullptr}},
}};

json response(const std::string& name) { return json{{"command", name}, {"error", nullptr}}; }

const zk::ClientPort* port_of(const Sources& sources) { return sources.client_port ? sources.client_port() : nullptr; }

MemberView member_of(const Sources& sources) { return sources.member ? sources.member() : MemberView{}; }

json connections(const zk::ClientPort* port) {
  json list = json::array();
  if (port == nullptr) return list;
  for (const zk::ClientPort::ConnectionReport& connection : port->connection_reports()) {
    list.push_back(json{{"remote_socket_address", connection.peer},
                        {"outstanding_requests", connection.outstanding},
                        {"packets_received", connection.received},
                        {"packets_sent", connection.sent},
                        {"session_id", fmt::format("{:x}", connection.session_id)},
                        {"session_timeout", connection.timeout_ms}});
  }
  return list;
}

json srvr(const DataTree& tree, const Sources& sources, const std::string& name) {
  const MemberView member = member_of(sources);
  const zk::ClientPort* port = port_of(sources);
  const zk::ClientPort::Totals totals = port ? port->totals() : zk::ClientPort::Totals{};
  json out = response(name);
  out["version"] = zk::kServerVersion;
  out["read_only"] = !member.synced;
  out["server_stats"] = json{{"packets_sent", totals.sent},
                             {"packets_received", totals.received},
                             {"max_latency", totals.max_latency_ms},
                             {"min_latency", totals.min_latency_ms},
                             {"avg_latency", totals.average_latency_ms},
                             {"outstanding_requests", totals.outstanding},
                             {"server_state", member.report.mode},
                             {"last_processed_zxid", member.report.last_zxid},
                             {"num_alive_client_connections", port ? port->connection_count() : 0},
                             {"uptime", member.uptime.count()}};
  out["node_count"] = tree.node_count();
  return out;
}

json mntr(const DataTree& tree, const Sources& sources) {
  const MemberView member = member_of(sources);
  json out = response("mntr");
  for (zk::MonitorValue& line : zk::monitor_values(member.report, tree, port_of(sources))) {
    std::visit([&](auto& value) { out[line.key] = std::move(value); }, line.value);
  }
  out["uptime"] = member.uptime.count();
  // The leader's own, as ZooKeeper's: its learners and how many of them are in sync.
  if (member.report.mode == "leader" && sources.peers) {
    uint64_t learners = 0, synced_followers = 0, synced_observers = 0;
    for (const PeerView& peer : sources.peers()) {
      if (peer.this_member || peer.role == "unreachable") continue;
      ++learners;
      if (peer.role == "follower") ++synced_followers;
      if (peer.role == "observer") ++synced_observers;
    }
    out["learners"] = learners;
    out["synced_followers"] = synced_followers;
    out["synced_observers"] = synced_observers;
  }
  return out;
}

json wchs(const Sources& sources) {
  const zk::ClientPort* port = port_of(sources);
  json out = response("wchs");
  out["num_connections"] = port ? port->watches().watcher_count() : 0;
  out["num_paths"] = port ? port->watches().path_count() : 0;
  out["num_total_watches"] = port ? port->watches().size() : 0;
  return out;
}

json leader(const Sources& sources) {
  const MemberView member = member_of(sources);
  json out = response("leader");
  out["is_leader"] = member.leader_id != 0 && member.leader_id == member.server_id;
  out["leader_id"] = member.leader_id;
  out["leader_ip"] = member.leader_host;
  return out;
}

// ZooKeeper's current_config (voters only, "host:peerPort:electionPort:participant"), then every
// member with what this member knows of its role and lag.
json voting_view(const Sources& sources) {
  json out = response("voting_view");
  json config = json::object();
  json members = json::array();
  for (const PeerView& peer : sources.peers ? sources.peers() : std::vector<PeerView>{}) {
    if (!peer.observer) {
      config[std::to_string(peer.id)] = fmt::format("{}:{}:{}:participant", peer.host, peer.peer_port, peer.election_port);
    }
    json member{{"id", peer.id},
                {"address", fmt::format("{}:{}", peer.host, peer.peer_port)},
                {"type", peer.observer ? "observer" : "participant"},
                {"role", peer.role},
                {"this_member", peer.this_member},
                {"acked_zxid", peer.acked_zxid ? json(zxid_text(*peer.acked_zxid)) : json(nullptr)},
                {"lag_txns", peer.lag_txns ? json(*peer.lag_txns) : json(nullptr)}};
    members.push_back(std::move(member));
  }
  out["current_config"] = std::move(config);
  out["members"] = std::move(members);
  return out;
}

}  // namespace

std::string zxid_text(int64_t zxid) { return fmt::format("{:#x}", static_cast<uint64_t>(zxid)); }

const std::vector<std::string>& command_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> all;
    for (const CommandAliases& command : kCommands) all.emplace_back(command.name);
    return all;
  }();
  return names;
}

std::optional<std::string> command_name(std::string_view name_or_alias) {
  for (const CommandAliases& command : kCommands) {
    if (name_or_alias == command.name) return std::string(command.name);
    for (const char* alias : command.aliases) {
      if (alias != nullptr && name_or_alias == alias) return std::string(command.name);
    }
  }
  return std::nullopt;
}

json run_command(const std::string& name, const DataTree& tree, const Sources& sources) {
  if (name == "ruok") return response(name);
  if (name == "srvr") return srvr(tree, sources, name);
  if (name == "stat") {
    json out = srvr(tree, sources, name);
    out["connections"] = connections(port_of(sources));
    out["secure_connections"] = json::array();
    return out;
  }
  if (name == "mntr") return mntr(tree, sources);
  if (name == "conf") {
    json out = response(name);
    if (sources.conf) out.update(sources.conf());
    return out;
  }
  if (name == "cons") {
    json out = response(name);
    out["connections"] = connections(port_of(sources));
    out["secure_connections"] = json::array();
    return out;
  }
  if (name == "wchs") return wchs(sources);
  if (name == "leader") return leader(sources);
  if (name == "voting_view") return voting_view(sources);
  json out = response(name);
  out["error"] = "Unknown command: " + name;
  return out;
}

}  // namespace quorumfs::admin
