// ZooKeeper's client port on a member (docs/zk-protocol.md): ZooKeeper clients (kazoo, Curator,
// zkCli, the C client) use the ensemble through the service core, on the same tree the mounts
// show. The port owns the connections, the ZooKeeper sessions connected here and their watches;
// the sessions themselves are the tree's (created by a txn, closed by a txn, expired by the
// leader when no member has reported them for their own timeout).
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "daemon/metrics/histogram.h"
#include "daemon/service/service.h"
#include "daemon/zk/protocol.h"
#include "daemon/zk/requests.h"
#include "daemon/zk/watch_table.h"

namespace quorumfs::zk {

class Connection;

// What srvr, stat, mntr and envi report as the server's version: ZooKeeper's protocol level, then ours.
inline constexpr const char* kServerVersion = "3.8.0-quorumfs";

// What the member is, for four-letter words.
struct MemberReport {
  std::string mode;  // leader, follower, observer, standalone, read-only
  uint32_t epoch = 0;
  int64_t last_zxid = 0;
  uint64_t server_id = 0;
  // On the leader: each connected learner, how far its ACKs reach and how many txns of this
  // epoch it is behind the leader's log (-1: it acked nothing of this epoch yet). Empty elsewhere.
  struct Peer {
    uint64_t id = 0;
    bool observer = false;
    bool synced = false;  // past NEWLEADER: it takes proposals
    int64_t acked_zxid = 0;
    int64_t lag_txns = 0;
  };
  std::vector<Peer> peers;
};

// One line of mntr (ZooKeeper's key without its "zk_" prefix): the client port's text and the
// admin endpoint's JSON are made from the same list.
struct MonitorValue {
  std::string key;
  std::variant<uint64_t, double, std::string> value;
};

struct ClientPortOptions {
  std::string address = "0.0.0.0";  // clientPortAddress
  uint16_t port = 0;                // clientPort
  uint32_t min_session_timeout_ms = 4000;
  uint32_t max_session_timeout_ms = 40000;
  std::set<std::string> four_letter_words{"srvr"};  // 4lw.commands.whitelist; "*" = all
  uint32_t max_connections_per_ip = 60;             // maxClientCnxns; 0 = no limit
  // Changes this member's mount may be behind with their inotify events (its echo backlog)
  // before the port holds its clients' writes, until the backlog is down to half of it.
  size_t echo_backlog_max = 50000;
  std::string secret;               // session passwords (auth.h)
  size_t frame_bytes_max = 0;       // a request frame, incl. its data (jute.maxbuffer)
  HandlerOptions handler;
  std::function<MemberReport()> report;
  std::map<std::string, std::string> conf;  // the conf word's lines
};

// Request latencies are kept by these names (ZooKeeper's op names; createContainer and createTTL
// count as create, getChildren2 as getChildren, multiRead as multi).
inline constexpr std::array<const char*, 11> kOpLatencyNames{
    "create", "delete", "exists", "getData", "setData", "getACL", "setACL", "getChildren", "sync", "multi", "other"};
size_t op_latency_index(int32_t op);

// The shortest session timeout a client gets, whatever minSessionTimeout says: members report
// their sessions to the leader every 100 ms at best and the leader looks every 100 ms, so a
// shorter one would expire sessions that are alive.
inline constexpr uint32_t kSessionTimeoutFloorMs = 1000;

// The most connections the port holds at once, whatever their addresses.
inline constexpr size_t kClientConnectionsMax = 10000;

class ClientPort;
// mntr's values; port: null when the client port is closed (no connections, no watches).
std::vector<MonitorValue> monitor_values(const MemberReport& member, const DataTree& tree, const ClientPort* port);

class ClientPort {
 public:
  ClientPort(boost::asio::io_context& io, service::Service& service, ClientPortOptions options);
  ~ClientPort();

  bool start(std::string* error);
  // Closes the listener and every connection (their sessions live on until expired or the
  // clients come back elsewhere).
  void stop();
  uint16_t bound_port() const;

  // Sessions with a live connection here: the leader hears of them in this member's keepalive.
  std::vector<uint64_t> live_sessions() const;
  // This member stopped serving (no quorum): its read-write clients must move to a member that
  // has one, as ZooKeeper's would (a session here would expire unseen). Read-only ones stay.
  void on_quorum_lost();
  // A snapshot replaced the tree: watches may have missed changes, sessions may have ended. Every
  // client reconnects and sets its watches again with the last zxid it saw.
  void on_tree_replaced();
  // The mount's echo backlog (changes applied here whose inotify events it has not raised yet).
  // From echo_backlog_max on, writes wait unstarted (in each connection's order; reads of other
  // connections go on), until it is down to half: every write here is a change the mount must
  // echo, and the mount cannot drop one, so this is where its memory and event lag are bounded
  // (docs/zk-protocol.md, "Limits").
  void mount_backlog(size_t changes);
  bool writes_held() const { return writes_held_; }
  uint64_t write_holds() const { return write_holds_; }  // times writes began to be held

  // For connections.
  const ClientPortOptions& options() const { return options_; }
  RequestHandler& handler() { return handler_; }
  size_t frame_bytes_max() const { return options_.frame_bytes_max; }
  const DecodeLimits& decode_limits() const { return decode_limits_; }
  void on_connect(const std::shared_ptr<Connection>& connection, const ConnectRequest& request);
  void forget(Connection& connection);
  std::string four_letter_word(const std::string& word);
  void record_reply(int32_t op, std::chrono::nanoseconds latency);

  // What the four-letter words report, for the admin endpoint's JSON too (daemon/admin/).
  struct Totals {
    size_t outstanding = 0;
    uint64_t received = 0;
    uint64_t sent = 0;
    double average_latency_ms = 0;
    uint64_t min_latency_ms = 0;
    uint64_t max_latency_ms = 0;
  };
  Totals totals() const;
  struct ConnectionReport {
    std::string peer;  // "ip:port"
    size_t outstanding = 0;
    uint64_t received = 0;
    uint64_t sent = 0;
    uint64_t session_id = 0;
    uint32_t timeout_ms = 0;
  };
  std::vector<ConnectionReport> connection_reports() const;
  size_t connection_count() const { return connections_.size(); }
  const WatchTable& watches() const { return watches_; }
  std::vector<MonitorValue> monitor_values() const;
  // Each reply's latency (pings left out), by kOpLatencyNames.
  const std::array<metrics::LatencyHistogram, kOpLatencyNames.size()>& op_latency() const { return op_latency_; }

 private:
  void accept();
  void admit(boost::asio::ip::tcp::socket socket);
  void refuse(const std::string& line);
  void close_all(const std::string& why, const std::function<bool(const Connection&)>& which);
  void on_applied(const service::Applied& applied);
  void fire_watches(const ApplyResult& result);
  void open_session(const std::shared_ptr<Connection>& connection, uint32_t timeout_ms, bool read_only_wanted);
  void resume_session(const std::shared_ptr<Connection>& connection, const ConnectRequest& request,
                      uint32_t timeout_ms);
  void attach(const std::shared_ptr<Connection>& connection, uint64_t session_id, uint32_t timeout_ms,
              bool read_only);
  std::string srvr(bool with_connections) const;
  std::string mntr() const;
  std::string cons() const;
  std::string wchs() const;

  boost::asio::io_context& io_;
  service::Service& service_;
  ClientPortOptions options_;
  DecodeLimits decode_limits_;
  WatchTable watches_;
  RequestHandler handler_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer accept_timer_;
  uint64_t refused_ = 0;
  std::chrono::steady_clock::time_point last_refusal_log_{};
  service::ChangeFeed::Subscription subscription_ = 0;
  bool stopped_ = false;
  bool writes_held_ = false;
  uint64_t write_holds_ = 0;
  std::chrono::steady_clock::time_point last_hold_log_{};
  WatcherId next_id_ = 1;
  std::unordered_map<WatcherId, std::shared_ptr<Connection>> connections_;
  std::unordered_map<uint64_t, WatcherId> by_session_;
  std::map<std::string, size_t> per_ip_;
  uint64_t replies_ = 0;  // latency figures of four-letter words, pings left out
  uint64_t latency_us_total_ = 0;
  uint64_t latency_us_min_ = 0;
  uint64_t latency_us_max_ = 0;
  std::array<metrics::LatencyHistogram, kOpLatencyNames.size()> op_latency_;
};

}  // namespace quorumfs::zk
