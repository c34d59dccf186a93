#include "daemon/config.h"

#include <charconv>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

namespace quorumfs {

namespace {

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t\r");
  return text.substr(first, last - first + 1);
}

template <typename Number>
bool parse_number(std::string_view text, Number min, Number max, Number* out) {
  Number value{};
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < min || value > max) return false;
  *out = value;
  return true;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    const size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

// "host:peerPort:electionPort[:participant|:observer]"; ZooKeeper 3.5's ";clientPort" suffix is
// accepted and ignored (clientPort= opens the client port: docs/zk-protocol.md). Empty string when
// it parses.
std::string parse_server(std::string_view value, ServerAddress* out) {
  const size_t client = value.find(';');
  if (client != std::string_view::npos) value = value.substr(0, client);
  const auto parts = split(value, ':');
  if (parts.size() < 3 || parts.size() > 4) return "expected host:peerPort:electionPort[:participant|:observer]";
  ServerAddress address;
  address.host = std::string(trim(parts[0]));
  if (address.host.empty()) return "empty host";
  if (!parse_number<uint16_t>(trim(parts[1]), 1, 65535, &address.peer_port)) return "bad peer port";
  if (!parse_number<uint16_t>(trim(parts[2]), 1, 65535, &address.election_port)) return "bad election port";
  if (address.peer_port == address.election_port) return "peer and election ports are the same";
  if (parts.size() == 4) {
    const std::string_view role = trim(parts[3]);
    if (role != "participant" && role != "observer") return "role must be participant or observer";
    address.observer = role == "observer";
  }
  *out = std::move(address);
  return "";
}

// Applies one key=value; empty string when it is fine.
std::string apply(std::string_view key, std::string_view value, EnsembleConfig* config, bool* known) {
  *known = true;
  constexpr uint32_t kTicksMax = 1000000;
  if (key == "tickTime") {
    return parse_number<uint32_t>(value, 1, 3600000, &config->tick_time_ms) ? "" : "tickTime must be 1..3600000 ms";
  }
  if (key == "initLimit") {
    return parse_number<uint32_t>(value, 1, kTicksMax, &config->init_limit_ticks) ? "" : "initLimit must be a positive tick count";
  }
  if (key == "syncLimit") {
    return parse_number<uint32_t>(value, 1, kTicksMax, &config->sync_limit_ticks) ? "" : "syncLimit must be a positive tick count";
  }
  // quorumfs's own: how long the leader waits before it expires a silent host's sessions, and
  // how long a write waits for a leader before it fails.
  if (key == "sessionTimeout") {
    return parse_number<uint32_t>(value, 1, 3600000, &config->session_timeout_ms) ? "" : "sessionTimeout must be 1..3600000 ms";
  }
  if (key == "writeTimeout") {
    return parse_number<uint32_t>(value, 1, 3600000, &config->write_timeout_ms) ? "" : "writeTimeout must be 1..3600000 ms";
  }
  // ZooKeeper's: whether its clients may create TTL nodes (the ZooKeeper front end refuses them
  // otherwise), and how often the leader removes the containers and TTL nodes that are due
  // (daemon/service/reaper.h).
  if (key == "extendedTypesEnabled") {
    if (value != "true" && value != "false") return "extendedTypesEnabled must be true or false";
    config->extended_types_enabled = value == "true";
    return "";
  }
  if (key == "znode.container.checkIntervalMs") {
    return parse_number<uint32_t>(value, 100, 86400000, &config->container_check_interval_ms)
               ? ""
               : "znode.container.checkIntervalMs must be 100..86400000 ms";
  }
  // ZooKeeper's: when to take a snapshot (so that the log, and the disk it takes, stay bounded)
  // and the log's preallocation step.
  auto optional_number = [&](uint64_t min, uint64_t max, std::optional<uint64_t>* field, const char* range) {
    uint64_t number = 0;
    if (!parse_number<uint64_t>(value, min, max, &number)) return std::string(key) + " must be " + range;
    *field = number;
    return std::string();
  };
  if (key == "snapCount") return optional_number(1, uint64_t{1} << 32, &config->snap_count, "1..2^32 txns");
  if (key == "snapSizeLimitInKb") {
    return optional_number(1, uint64_t{1} << 32, &config->snap_size_limit_kb, "1..2^32 KiB");
  }
  if (key == "preAllocSize") return optional_number(4, 1u << 20, &config->prealloc_kb, "4..1048576 KiB");
  auto path_value = [&](std::string* field) -> std::string {
    if (value.empty()) return std::string(key) + " is empty";
    *field = std::string(value);
    return "";
  };
  if (key == "dataDir") return path_value(&config->data_dir);
  if (key == "dataLogDir") return path_value(&config->data_log_dir);
  if (key == "mountPoint") return path_value(&config->mount_point);
  if (key == "peerSecretFile") return path_value(&config->peer_secret_file);
  if (key == "clientPort") {
    uint16_t port = 0;
    if (!parse_number<uint16_t>(value, 1, 65535, &port)) return "clientPort must be 1..65535";
    config->client_port = port;
    return "";
  }
  if (key == "clientPortAddress") return path_value(&config->client_port_address);
  if (key == "minSessionTimeout" || key == "maxSessionTimeout") {
    uint32_t ms = 0;
    if (!parse_number<uint32_t>(value, 1, 3600000, &ms)) return std::string(key) + " must be 1..3600000 ms";
    (key == "minSessionTimeout" ? config->min_session_timeout_ms : config->max_session_timeout_ms) = ms;
    return "";
  }
  if (key == "4lw.commands.whitelist") return path_value(&config->four_letter_words);
  if (key == "maxClientCnxns") {
    return parse_number<uint32_t>(value, 0, 1000000, &config->max_client_connections) ? ""
                                                                                       : "maxClientCnxns must be 0..1000000";
  }
  if (key == "admin.enableServer") {
    if (value != "true" && value != "false") return "admin.enableServer must be true or false";
    config->admin_enabled = value == "true";
    return "";
  }
  if (key == "admin.serverAddress") return path_value(&config->admin_address);
  if (key == "admin.serverPort") {
    return parse_number<uint16_t>(value, 1, 65535, &config->admin_port) ? "" : "admin.serverPort must be 1..65535";
  }
  if (key.starts_with("server.")) {
    uint64_t id = 0;
    // 255 is reserved: ZooKeeper marks TTL nodes with 0xFF where a session id has its server id.
    if (!parse_number<uint64_t>(key.substr(7), 1, kServerIdMax, &id)) return "server id must be 1..254";
    if (config->servers.contains(id)) return "server." + std::to_string(id) + " is defined twice";
    ServerAddress address;
    if (std::string reason = parse_server(value, &address); !reason.empty()) return reason;
    config->servers.emplace(id, std::move(address));
    return "";
  }
  *known = false;
  return "";
}

std::string check_whole(const EnsembleConfig& config) {
  if (config.data_dir.empty()) return "dataDir is missing";
  if (config.servers.empty()) return "no server.N line";
  if (config.voter_count() == 0) return "every server is an observer: the ensemble needs a participant";
  const uint32_t min_timeout = config.min_session_timeout_ms.value_or(2 * config.tick_time_ms);
  const uint32_t max_timeout = config.max_session_timeout_ms.value_or(20 * config.tick_time_ms);
  if (min_timeout > max_timeout) {
    return "minSessionTimeout (" + std::to_string(min_timeout) + " ms) is above maxSessionTimeout (" +
           std::to_string(max_timeout) + " ms)";
  }
  std::set<std::pair<std::string, uint16_t>> ports;
  for (const auto& [id, address] : config.servers) {
    for (uint16_t port : {address.peer_port, address.election_port}) {
      if (!ports.emplace(address.host, port).second) {
        return "server." + std::to_string(id) + " reuses " + address.host + ":" + std::to_string(port);
      }
    }
  }
  return "";
}

}  // namespace

size_t EnsembleConfig::voter_count() const {
  size_t voters = 0;
  for (const auto& [id, address] : servers) voters += !address.observer;
  return voters;
}

std::optional<EnsembleConfig> parse_config(std::string_view text, const std::string& file_name, std::string* error) {
  EnsembleConfig config;
  int line_number = 0;
  for (std::string_view line : split(text, '\n')) {
    ++line_number;
    const std::string where = file_name + ":" + std::to_string(line_number) + ": ";
    line = trim(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    const size_t equals = line.find('=');
    if (equals == std::string_view::npos) {
      *error = where + "expected key=value";
      return std::nullopt;
    }
    const std::string_view key = trim(line.substr(0, equals));
    const std::string_view value = trim(line.substr(equals + 1));
    bool known = false;
    config.settings[std::string(key)] = std::string(value);
    if (std::string reason = apply(key, value, &config, &known); !reason.empty()) {
      *error = where + reason;
      return std::nullopt;
    }
    if (!known) config.warnings.push_back(where + "unknown key " + std::string(key) + " (ignored)");
  }
  if (std::string reason = check_whole(config); !reason.empty()) {
    *error = file_name + ": " + reason;
    return std::nullopt;
  }
  return config;
}

std::optional<EnsembleConfig> load_config(const std::string& path, std::string* error) {
  std::ifstream file(path);
  if (!file) {
    *error = path + ": cannot read";
    return std::nullopt;
  }
  std::stringstream text;
  text << file.rdbuf();
  auto config = parse_config(text.str(), path, error);
  if (!config) return std::nullopt;
  const std::string myid_path = config->data_dir + "/myid";
  std::ifstream myid_file(myid_path);
  if (!myid_file) {
    if (config->servers.size() == 1) {  // a lone member needs no myid file
      config->my_id = config->servers.begin()->first;
      return config;
    }
    *error = myid_path + ": cannot read this member's id (the file holds its N of server.N)";
    return std::nullopt;
  }
  std::string myid;
  std::getline(myid_file, myid);
  if (!parse_number<uint64_t>(trim(myid), 1, kServerIdMax, &config->my_id) || !config->servers.contains(config->my_id)) {
    *error = myid_path + ": '" + myid + "' is not the id of a server.N line in " + path;
    return std::nullopt;
  }
  return config;
}

}  // namespace quorumfs
