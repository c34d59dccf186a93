// quorumfs: one replica of the coordination service, mounted.
//
//   $ quorumfs --data /var/lib/quorumfs /mnt/quorumfs     # standalone, in the foreground
//   $ quorumfs --config /etc/quorumfs/zoo.cfg              # the same from a zoo.cfg-style file
//   $ echo hello > /mnt/quorumfs/greeting                   # durable when echo returns
//   $ fusermount3 -u /mnt/quorumfs                          # or SIGTERM: clean stop
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <sstream>
#include <filesystem>

#include "daemon/config.h"
#include "daemon/logging.h"
#include "daemon/server.h"

namespace {

// The shared secret's file: its whole content, one trailing newline dropped.
bool read_secret(const std::string& path, std::string* secret) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    spdlog::error("peerSecretFile {}: cannot read it", path);
    return false;
  }
  secret->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (!secret->empty() && secret->back() == '\n') secret->pop_back();
  if (secret->empty()) {
    spdlog::error("peerSecretFile {}: empty", path);
    return false;
  }
  return true;
}

// 4lw.commands.whitelist: comma-separated words, blanks ignored.
std::set<std::string> four_letter_words(const std::string& list) {
  std::set<std::string> words;
  std::stringstream in(list);
  for (std::string word; std::getline(in, word, ',');) {
    std::erase_if(word, [](unsigned char c) { return std::isspace(c); });
    if (!word.empty()) words.insert(word);
  }
  return words;
}

// Takes a configuration file's settings: this member's data, the ensemble and its timing.
bool apply_config(const std::string& path, quorumfs::ServerOptions* options) {
  std::string error;
  auto config = quorumfs::load_config(path, &error);
  if (!config) {
    spdlog::error("{}", error);
    return false;
  }
  for (const auto& warning : config->warnings) spdlog::warn("{}", warning);
  options->data_dir = config->data_dir;
  options->log_dir = config->data_log_dir;
  options->server_id = config->my_id;
  if (options->mount.mountpoint.empty()) options->mount.mountpoint = config->mount_point;
  if (config->servers.size() > 1) options->servers = config->servers;
  options->tick_time_ms = config->tick_time_ms;
  options->init_limit = config->init_limit_ticks;
  options->sync_limit = config->sync_limit_ticks;
  options->session_timeout = std::chrono::milliseconds(config->session_timeout_ms);
  options->write_wait = std::chrono::milliseconds(config->write_timeout_ms);
  options->extended_types_enabled = config->extended_types_enabled;
  options->container_check_interval = std::chrono::milliseconds(config->container_check_interval_ms);
  if (config->snap_count) options->snapshot_every_txns = *config->snap_count;
  if (config->snap_size_limit_kb) options->snapshot_every_log_bytes = *config->snap_size_limit_kb << 10;
  if (config->prealloc_kb) options->log_preallocate_bytes = *config->prealloc_kb << 10;
  if (config->client_port) {
    quorumfs::zk::ClientPortOptions port;
    port.port = *config->client_port;
    port.address = config->client_port_address;
    port.min_session_timeout_ms = config->min_session_timeout_ms.value_or(2 * config->tick_time_ms);
    port.max_session_timeout_ms = config->max_session_timeout_ms.value_or(20 * config->tick_time_ms);
    port.four_letter_words = four_letter_words(config->four_letter_words);
    port.max_connections_per_ip = config->max_client_connections;
    port.conf = config->settings;
    options->client_port = std::move(port);
  }
  options->admin.enabled = config->admin_enabled;
  options->admin.address = config->admin_address;
  options->admin.port = config->admin_port;
  if (config->servers.size() > 1 && config->peer_secret_file.empty()) {
    spdlog::warn("{}: no peerSecretFile: any process that can reach the peer ports can join the ensemble", path);
  }
  return config->peer_secret_file.empty() || read_secret(config->peer_secret_file, &options->peer_secret);
}

// Each peer connection holds a descriptor while it lasts, a stranger's too (up to the transport's
// handshakes_max), and the usual soft limit is 1024: take the hard limit, which needs no privilege.
void raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  const rlim_t soft = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    spdlog::warn("cannot raise the descriptor limit from {} to {}: {}", soft, limit.rlim_max, std::strerror(errno));
    return;
  }
  spdlog::info("descriptor limit raised from {} to {} (the hard limit)", soft, limit.rlim_max);
}

}  // namespace

int main(int argc, char** argv) {
  quorumfs::ServerOptions options;
  std::string log_level = "info";
  bool no_allow_other = false;
  bool no_auto_unmount = false;
  bool no_kernel_cache = false;
  bool unsafe_no_fsync = false;

  CLI::App app{"quorumfs: a ZooKeeper-style coordination service reached through a FUSE mount.\n"
               "Runs in the foreground; SIGINT/SIGTERM or `fusermount3 -u MOUNTPOINT` stops it."};
  std::string config_path;
  auto* data = app.add_option("--data", options.data_dir, "Data dir: snapshots, epochs (and the txn log)");
  app.add_option("--config", config_path, "zoo.cfg-style file (dataDir, server.N, mountPoint, ...)")
      ->check(CLI::ExistingFile)
      ->excludes(data);
  app.add_option("MOUNTPOINT", options.mount.mountpoint, "Where to mount the znode tree (or the config's mountPoint)");
  app.add_option("--data-log-dir", options.log_dir, "Txn log dir (default: DATA/log); a dedicated disk helps");
  app.add_option("--snapshot-every", options.snapshot_every_txns, "Take a snapshot after this many txns...")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--snapshot-every-bytes", options.snapshot_every_log_bytes, "...or this many bytes of log")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--diff-window", options.diff_window_txns,
                 "Committed txns a leader keeps in memory to catch a learner up by DIFF (older: SNAP)...")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--diff-window-bytes", options.diff_window_bytes, "...and at most this many bytes of them")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--data-max-bytes", options.data_bytes_max, "Largest znode data (a file's content)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, quorumfs::kDataBytesLimit));
  app.add_option("--buffered-bytes-max", options.mount.buffered_bytes_max,
                 "Bytes written to open files and not yet committed, all together (past it: ENOSPC)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--cache-timeout", options.mount.cache_timeout_s, "Kernel entry/attr cache seconds")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  uint16_t client_port = 0;
  app.add_option("--client-port", client_port, "Serve ZooKeeper clients on this port (the config's clientPort)");
  std::string client_port_address;
  app.add_option("--client-port-address", client_port_address, "...on this address (default: every address)");
  size_t echo_backlog_max = quorumfs::zk::ClientPortOptions{}.echo_backlog_max;
  app.add_option("--echo-backlog-max", echo_backlog_max,
                 "Changes the mount may be behind with their inotify events before the client port holds writes")
      ->capture_default_str()
      ->check(CLI::Range(size_t{64}, size_t{1} << 24));
  std::optional<uint16_t> admin_port;
  app.add_option("--admin-port", admin_port, "Admin HTTP endpoint's port (the config's admin.serverPort; default 8080)")
      ->check(CLI::Range(1, 65535));
  std::string admin_address;
  app.add_option("--admin-address", admin_address, "...on this address (admin.serverAddress; default 127.0.0.1)");
  bool no_admin = false;
  app.add_flag("--no-admin", no_admin, "No admin HTTP endpoint (admin.enableServer=false)");
  bool no_mount = false;
  app.add_flag("--no-mount", no_mount, "Serve the ensemble without a mount (a dedicated server host)");
  app.add_flag("--no-kernel-cache", no_kernel_cache, "Send every lookup, stat and read to the daemon");
  app.add_flag("--no-allow-other", no_allow_other, "Only the mounting user may use the mount");
  app.add_flag("--no-auto-unmount", no_auto_unmount, "Leave the mount behind if the daemon dies");
  app.add_flag("--unsafe-no-fsync", unsafe_no_fsync,
               "Acknowledge writes before they are on disk: a crash may lose acknowledged writes");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->capture_default_str()
      ->check(CLI::IsMember(std::vector<std::string>(std::begin(quorumfs::kLogLevels), std::end(quorumfs::kLogLevels))));
  std::string log_format = "text";
  app.add_option("--log-format", log_format, "text, or json: one object per line (time, level, pid, msg)")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  app.add_flag("--debug-fuse", options.mount.debug, "Print every FUSE request (libfuse -d)");
  CLI11_PARSE(app, argc, argv);

  quorumfs::configure_logging(log_level, log_format == "json" ? quorumfs::LogFormat::kJson : quorumfs::LogFormat::kText);
  raise_descriptor_limit();
  if (!config_path.empty() && !apply_config(config_path, &options)) return 1;
  if (client_port != 0) {
    if (!options.client_port) options.client_port.emplace();
    options.client_port->port = client_port;
  }
  if (!client_port_address.empty() && options.client_port) options.client_port->address = client_port_address;
  if (options.client_port) options.client_port->echo_backlog_max = echo_backlog_max;
  if (admin_port) options.admin.port = *admin_port;
  if (!admin_address.empty()) options.admin.address = admin_address;
  if (no_admin) options.admin.enabled = false;
  if (options.data_dir.empty()) {
    spdlog::error("give --data DIR or --config FILE (see --help)");
    return 1;
  }
  options.mount_enabled = !no_mount;
  if (options.mount_enabled &&
      (options.mount.mountpoint.empty() || !std::filesystem::is_directory(options.mount.mountpoint))) {
    spdlog::error("mount point '{}' is not a directory", options.mount.mountpoint);
    return 1;
  }
  options.mount.allow_other = !no_allow_other;
  options.mount.auto_unmount = !no_auto_unmount;
  options.mount.kernel_cache = !no_kernel_cache;
  options.mount.data_bytes_max = options.data_bytes_max;
  options.sync = !unsafe_no_fsync;
  if (options.mount_enabled) options.mount.mountpoint = std::filesystem::absolute(options.mount.mountpoint).string();
  if (!options.sync) spdlog::warn("--unsafe-no-fsync: acknowledged writes can be lost on a crash");
  try {
    quorumfs::Server server(options);
    return server.run();
  } catch (const std::exception& failure) {
    spdlog::critical("stopping: {}", failure.what());
    return 1;
  }
}
