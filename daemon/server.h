// One replica process, as wiring: recovers its state from the data dir, runs the consensus core
// and the pipeline on one event-loop thread, talks to the other members, drives the service core
// (its sessions' keepalive and expiry, its change feed), takes snapshots in the background and
// serves the mount, a front end of the service core.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <memory>
#include <set>
#include <string>

#include "consensus/log_format.h"
#include "daemon/admin/admin_server.h"
#include "consensus/replica.h"
#include "daemon/config.h"
#include "daemon/pipeline.h"
#include "daemon/replica_store.h"
#include "daemon/service/service.h"
#include "daemon/zk/client_port.h"
#include "daemon/zk/control_socket.h"
#include "fusefs/filesystem.h"

namespace quorumfs {

namespace peer {
class PeerTransport;
}

// The largest data any replica accepts when it applies a txn. It is fixed, not configured: applying
// must give the same result on every replica and at every replay, whatever its options. The
// configurable limit (data_bytes_max, at most this) is the mount's, checked before a write is
// proposed. Half a log record: a txn carries its data once, with its paths and metadata beside.
inline constexpr size_t kDataBytesLimit = log_format::kPayloadBytesMax / 2;
// The consensus core's clock: every interval and timeout is a whole number of these.
inline constexpr std::chrono::milliseconds kCoreTick{10};
// A client request frame may carry data_bytes_max (at least 1 MiB, ZooKeeper's jute.maxbuffer) and
// this much beside: header, path, ACL.
inline constexpr size_t kClientFrameOverheadBytes = 64 * 1024;

struct ServerOptions {
  std::string data_dir;
  std::string log_dir;  // default: <data_dir>/log
  uint64_t server_id = 1;
  bool sync = true;     // false: acknowledged writes may be lost on a crash (documented)
  uint64_t snapshot_every_txns = 100000;
  uint64_t snapshot_every_log_bytes = uint64_t{1} << 30;  // also after this much log: the disk stays bounded
  uint64_t log_preallocate_bytes = 64u << 20;
  size_t data_bytes_max = 1 << 20;
  size_t diff_window_txns = 100000;  // committed txns a leader keeps to DIFF a learner...
  size_t diff_window_bytes = 256u << 20;  // ...and their bytes at most (memory stays bounded)
  bool mount_enabled = true;         // false: a dedicated server host (--no-mount)
  fusefs::MountOptions mount;
  // The ensemble: every member incl. this one (empty: the standalone ensemble of one).
  std::map<uint64_t, ServerAddress> servers;
  std::string peer_secret;
  uint32_t tick_time_ms = 2000;
  uint32_t init_limit = 10;
  uint32_t sync_limit = 5;
  std::chrono::milliseconds session_timeout{10000};
  std::chrono::milliseconds write_wait{10000};
  // ZooKeeper's client port (docs/zk-protocol.md); unset: closed. The server fills in the
  // secret, the frame bound and the member report.
  std::optional<zk::ClientPortOptions> client_port;
  // For the ZooKeeper front end: whether its clients may create TTL nodes (the tree takes any).
  bool extended_types_enabled = false;
  // How often the leader removes the containers and TTL nodes that are due (service/reaper.h).
  std::chrono::milliseconds container_check_interval{60000};
  // The admin HTTP endpoint (daemon/admin/, server_admin.cc).
  admin::AdminServerOptions admin;
};

class Server : public service::Replication {
 public:
  explicit Server(ServerOptions options);
  ~Server() override;

  // Recovers, joins the ensemble, mounts and serves until SIGINT/SIGTERM or unmount. Returns the
  // exit status.
  int run();
  void stop();

  // service::Replication
  const DataTree& tree() const override { return store_->tree(); }
  void submit(proto::Txn txn, service::Submitter submitter, Done done) override;
  void sync(std::function<void(Code)> done) override;
  bool synced() const override;

 private:
  consensus::Config core_config() const;
  bool start_peers(std::string* error);
  void schedule_tick();
  void on_tick();
  void on_role(consensus::Role role);
  void send_keepalive();
  void notice_quorum_loss();
  bool start_client_port();
  void start_control_socket();
  uint64_t client_sessions_report_ticks() const;
  zk::MemberReport member_report() const;
  // server_admin.cc: the admin endpoint and what it reads.
  void start_admin();
  admin::Sources admin_sources();
  std::string metrics_text() const;
  void remove_due_nodes();
  void unmount_and_finish();
  void serve_when_synced();
  void close_earlier_sessions_once_synced();
  void after_apply(const ApplyResult& result, bool own, service::Submitter submitter);
  void maybe_snapshot();
  void wait_for_snapshot_child();
  void finish_snapshot_child(bool block);
  void shutdown_storage();

  ServerOptions options_;
  boost::asio::io_context io_;
  boost::asio::signal_set stop_signals_;
  boost::asio::signal_set child_signals_;
  boost::asio::steady_timer tick_timer_{io_};
  boost::asio::steady_timer drain_timer_{io_};
  std::unique_ptr<ReplicaStore> store_;
  std::unique_ptr<consensus::Replica> replica_;
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<peer::PeerTransport> peers_;
  std::unique_ptr<service::Service> service_;
  std::unique_ptr<fusefs::Filesystem> filesystem_;
  std::unique_ptr<zk::ClientPort> client_port_;
  std::unique_ptr<zk::ControlSocket> control_socket_;
  std::unique_ptr<admin::AdminServer> admin_server_;
  std::chrono::steady_clock::time_point started_at_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point looking_since_ = started_at_;
  uint64_t elections_ = 0;
  metrics::LatencyHistogram election_latency_;
  uint64_t txns_since_snapshot_ = 0;
  uint64_t log_bytes_at_snapshot_ = 0;  // store_->appended_bytes() when the last one started
  pid_t snapshot_child_ = -1;
  bool stopping_ = false;
  int exit_status_ = 0;
  // Mounted (or, with --no-mount, serving) since; until then waiting for the first sync.
  bool serving_started_ = false;
  std::chrono::steady_clock::time_point serve_deadline_{};
  bool earlier_sessions_closed_ = false;
  bool was_serving_ = false;
  consensus::Role role_ = consensus::Role::kLooking;
  uint64_t ticks_ = 0;
  std::chrono::steady_clock::time_point next_removal_round_{};
  size_t removals_in_flight_ = 0;
};

}  // namespace quorumfs
