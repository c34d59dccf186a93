// ZooKeeper's AdminServer commands, as JSON (docs/operations.md, "Admin endpoint and metrics"):
//
//   $ curl -s http://127.0.0.1:8080/commands/leader
//   {"command":"leader","error":null,"is_leader":true,"leader_id":2,"leader_ip":"127.0.0.1"}
//
// Field names are ZooKeeper's where a field means the same; quorumfs's additions (voting_view's
// "members" with each member's role and lag) come beside them. The values come from the same
// places as the client port's four-letter words (daemon/zk/client_port.h). Everything here runs on
// the event loop, which owns the tree.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/tree/data_tree.h"
#include "daemon/zk/client_port.h"

namespace quorumfs::admin {

// This member, beyond what the four-letter words report.
struct MemberView {
  zk::MemberReport report;  // mode, epoch, last applied zxid
  uint64_t server_id = 0;
  uint64_t leader_id = 0;  // 0: none known
  std::string leader_host;
  int64_t last_committed_zxid = 0;
  int64_t last_logged_zxid = 0;
  bool synced = false;  // serving with a quorum (else read-only)
  std::chrono::milliseconds uptime{0};
};

// One member of the ensemble (this one included).
struct PeerView {
  uint64_t id = 0;
  std::string host;
  uint16_t peer_port = 0;
  uint16_t election_port = 0;
  bool observer = false;
  bool this_member = false;
  // leader, follower, observer, looking (this member), syncing (a learner the leader is
  // synchronizing), unreachable (the leader has not heard it this epoch), unknown (asked a learner)
  std::string role;
  std::optional<int64_t> acked_zxid;  // known to the leader only
  std::optional<uint64_t> lag_txns;   // the leader's last logged zxid minus acked_zxid, same epoch
};

// What the endpoint reads; each is called on the event loop.
struct Sources {
  std::function<MemberView()> member;
  std::function<std::vector<PeerView>()> peers;          // empty: a standalone member
  std::function<const zk::ClientPort*()> client_port;    // null while the client port is closed
  std::function<nlohmann::json()> conf;                  // conf's fields
};

// The commands answered at /commands/NAME, by primary name (ZooKeeper's aliases are accepted).
const std::vector<std::string>& command_names();
// The primary name of a command or of one of its aliases; nullopt when unknown.
std::optional<std::string> command_name(std::string_view name_or_alias);

// Runs a command named by its primary name: an object with "command" and "error" (null) as
// ZooKeeper's, then its fields.
nlohmann::json run_command(const std::string& name, const DataTree& tree, const Sources& sources);

// The zxid as ZooKeeper prints it in JSON: "0x" and lowercase hex.
std::string zxid_text(int64_t zxid);

}  // namespace quorumfs::admin
