// The ensemble's configuration file: ZooKeeper's zoo.cfg keys where they exist, plus quorumfs's own.
//
//   tickTime=2000
//   initLimit=10
//   syncLimit=5
//   dataDir=/var/lib/quorumfs          # myid is read from dataDir/myid
//   dataLogDir=/srv/log/quorumfs       # optional
//   server.1=10.0.0.1:2888:3888
//   server.2=10.0.0.2:2888:3888
//   server.3=10.0.0.3:2888:3888:participant
//   server.4=10.0.0.4:2888:3888:observer
//   mountPoint=/mnt/quorumfs           # optional: the command line's MOUNTPOINT wins
//   peerSecretFile=/etc/quorumfs/secret
//   sessionTimeout=10000               # ms: a silent host's ephemerals go after this
//   writeTimeout=10000                 # ms: a write waits this long for a leader, then fails
//   snapCount=100000                   # a snapshot after this many txns...
//   snapSizeLimitInKb=1048576          # ...or after this many KiB of log, whichever comes first
//   preAllocSize=65536                 # KiB: the log grows its files in steps of this
//   clientPort=2181                    # ZooKeeper's client protocol (docs/zk-protocol.md)
//   clientPortAddress=127.0.0.1        # default: every address
//   minSessionTimeout=4000             # ms, default 2 ticks; maxSessionTimeout: default 20 ticks
//   4lw.commands.whitelist=srvr,ruok   # four-letter words answered on the client port ("*": all)
//   maxClientCnxns=60                  # client connections from one address (0: no limit)
//   extendedTypesEnabled=false         # true: ZooKeeper clients may create TTL nodes
//   znode.container.checkIntervalMs=60000  # ms between removals of empty containers, expired TTLs
//   admin.enableServer=true            # the admin HTTP endpoint (docs/operations.md)...
//   admin.serverAddress=127.0.0.1      # ...on this address (loopback by default)...
//   admin.serverPort=8080              # ...and port
//
// '#' starts a comment; blank lines are skipped. Unknown keys are kept as warnings; a bad value
// refuses the whole file, with the file, the line and the reason.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace quorumfs {

// Server ids (server.N, myid) are 1..254: a session id carries its server's id in its top byte,
// where ZooKeeper's TTL nodes have 0xFF in their ephemeralOwner (docs/operations.md).
inline constexpr uint64_t kServerIdMax = 254;

struct ServerAddress {
  std::string host;
  uint16_t peer_port = 0;
  uint16_t election_port = 0;
  bool observer = false;
};

struct EnsembleConfig {
  uint32_t tick_time_ms = 2000;
  uint32_t init_limit_ticks = 10;
  uint32_t sync_limit_ticks = 5;
  uint32_t session_timeout_ms = 10000;
  uint32_t write_timeout_ms = 10000;
  bool extended_types_enabled = false;
  uint32_t container_check_interval_ms = 60000;
  // Unset: the command line's value (or its default) stands.
  std::optional<uint64_t> snap_count;
  std::optional<uint64_t> snap_size_limit_kb;
  std::optional<uint64_t> prealloc_kb;
  std::string data_dir;
  std::string data_log_dir;  // empty: dataDir/log
  std::string mount_point;
  std::string peer_secret_file;
  // The client port: unset = closed.
  std::optional<uint16_t> client_port;
  std::string client_port_address = "0.0.0.0";
  std::optional<uint32_t> min_session_timeout_ms;  // unset: 2 ticks
  std::optional<uint32_t> max_session_timeout_ms;  // unset: 20 ticks
  std::string four_letter_words = "srvr";
  uint32_t max_client_connections = 60;
  // The admin endpoint (daemon/admin/): ZooKeeper's keys, loopback by default.
  bool admin_enabled = true;
  std::string admin_address = "127.0.0.1";
  uint16_t admin_port = 8080;
  std::map<std::string, std::string> settings;  // every key=value as written, for the conf word
  std::map<uint64_t, ServerAddress> servers;  // by server id (myid)
  uint64_t my_id = 0;                         // set by load_config from dataDir/myid
  std::vector<std::string> warnings;          // "FILE:LINE: unknown key ..."

  size_t voter_count() const;
};

// Parses the text of a configuration file named file_name (for messages). On a bad line: nullopt
// and *error = "FILE:LINE: reason".
std::optional<EnsembleConfig> parse_config(std::string_view text, const std::string& file_name, std::string* error);

// Reads and parses path, then this member's id from dataDir/myid (a lone server needs none).
std::optional<EnsembleConfig> load_config(const std::string& path, std::string* error);

}  // namespace quorumfs
