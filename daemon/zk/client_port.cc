#include "daemon/zk/client_port.h"

#include <boost/asio/ip/host_name.hpp>
#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "daemon/zk/auth.h"
#include "daemon/zk/connection.h"

namespace quorumfs::zk {

namespace {

uint64_t directory_bytes(const std::string& path) {
  std::error_code error;
  uint64_t bytes = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(path, error);
       !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
    if (it->is_regular_file(error)) bytes += it->file_size(error);
  }
  return bytes;
}

}  // namespace

ClientPort::ClientPort(boost::asio::io_context& io, service::Service& service, ClientPortOptions options)
    : io_(io),
      service_(service),
      options_(std::move(options)),
      handler_(service, watches_, options_.handler),
      acceptor_(io),
      accept_timer_(io) {}

ClientPort::~ClientPort() { stop(); }

bool ClientPort::start(std::string* error) {
  boost::system::error_code failed;
  const auto address = boost::asio::ip::make_address(options_.address, failed);
  if (failed) {
    *error = "clientPortAddress '" + options_.address + "' is not an IP address";
    return false;
  }
  const boost::asio::ip::tcp::endpoint endpoint(address, options_.port);
  acceptor_.open(endpoint.protocol(), failed);
  if (!failed) acceptor_.set_option(boost::asio::ip::tcp::acceptor::reuse_address(true), failed);
  if (!failed) acceptor_.bind(endpoint, failed);
  if (!failed) acceptor_.listen(boost::asio::socket_base::max_listen_connections, failed);
  if (failed) {
    *error = fmt::format("client port {}:{}: {}", options_.address, options_.port, failed.message());
    return false;
  }
  subscription_ = service_.feed().subscribe([this](const service::Applied& applied) { on_applied(applied); });
  spdlog::info("client port: serving ZooKeeper clients on {}:{}", options_.address, bound_port());
  accept();
  return true;
}

void ClientPort::stop() {
  if (stopped_) return;
  stopped_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  accept_timer_.cancel();
  if (subscription_ != 0) service_.feed().unsubscribe(subscription_);
  close_all("", [](const Connection&) { return true; });
}

// Closing a connection makes the port forget it (forget): close a copy of the list.
void ClientPort::close_all(const std::string& why, const std::function<bool(const Connection&)>& which) {
  std::vector<std::shared_ptr<Connection>> closing;
  for (const auto& [id, connection] : connections_) {
    if (which(*connection)) closing.push_back(connection);
  }
  for (const auto& connection : closing) connection->close(why);
}

void ClientPort::on_quorum_lost() {
  close_all("this member lost its quorum: the client may move to another (read-only sessions stay)",
            [](const Connection& connection) { return !connection.read_only(); });
}

void ClientPort::on_tree_replaced() {
  close_all("this member's tree was replaced by a snapshot: the client sets its watches again elsewhere or here",
            [](const Connection&) { return true; });
}

void ClientPort::mount_backlog(size_t changes) {
  if (!writes_held_ && changes >= options_.echo_backlog_max) {
    writes_held_ = true;
    ++write_holds_;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_hold_log_ >= std::chrono::minutes(1)) {
      last_hold_log_ = now;
      spdlog::info("client port: holding writes while the mount is {} changes behind with their events "
                   "(--echo-backlog-max); quorumfs_zk_write_holds_total counts every hold",
                   changes);
    }
    return;
  }
  if (!writes_held_ || changes > options_.echo_backlog_max / 2) return;
  writes_held_ = false;
  // A connection may close while another resumes: resume a copy of the list.
  std::vector<std::shared_ptr<Connection>> held;
  held.reserve(connections_.size());
  for (const auto& [id, connection] : connections_) held.push_back(connection);
  for (const auto& connection : held) connection->resume();
}

uint16_t ClientPort::bound_port() const {
  boost::system::error_code error;
  const auto endpoint = acceptor_.local_endpoint(error);
  return error ? 0 : endpoint.port();
}

std::vector<uint64_t> ClientPort::live_sessions() const {
  std::vector<uint64_t> sessions;
  sessions.reserve(by_session_.size());
  for (const auto& [session, id] : by_session_) {
    const auto connection = connections_.find(id);
    if (connection != connections_.end() && !connection->second->read_only()) sessions.push_back(session);
  }
  return sessions;
}

void ClientPort::accept() {
  acceptor_.async_accept([this](const boost::system::error_code& error, boost::asio::ip::tcp::socket socket) {
    if (stopped_) return;
    if (error) {
      // Out of descriptors, most likely: try again a little later rather than spin.
      spdlog::warn("client port: accept failed: {}", error.message());
      accept_timer_.expires_after(std::chrono::milliseconds(100));
      accept_timer_.async_wait([this](const boost::system::error_code& cancelled) {
        if (!cancelled && !stopped_) accept();
      });
      return;
    }
    admit(std::move(socket));
    accept();
  });
}

void ClientPort::admit(boost::asio::ip::tcp::socket socket) {
  boost::system::error_code failed;
  const auto remote = socket.remote_endpoint(failed);
  if (failed) return;  // already gone
  const std::string ip = remote.address().to_string();
  if (connections_.size() >= kClientConnectionsMax) {
    return refuse(fmt::format("{} refused: {} connections open (at most {})", ip, connections_.size(),
                              kClientConnectionsMax));
  }
  if (options_.max_connections_per_ip != 0 && per_ip_[ip] >= options_.max_connections_per_ip) {
    return refuse(fmt::format("{} refused: it has {} connections (maxClientCnxns)", ip, per_ip_[ip]));
  }
  const WatcherId id = next_id_++;
  auto connection = std::make_shared<Connection>(*this, std::move(socket), id, remote);
  ++per_ip_[ip];
  connections_.emplace(id, connection);
  connection->start();
}

// One warning per second at most: a client that reconnects in a loop must not flood the log.
void ClientPort::refuse(const std::string& line) {
  ++refused_;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_refusal_log_ < std::chrono::seconds(1)) return;
  last_refusal_log_ = now;
  spdlog::warn("client port: {} ({} refused in all)", line, refused_);
}

void ClientPort::forget(Connection& connection) {
  const auto found = connections_.find(connection.id());
  if (found == connections_.end()) return;
  const auto by_session = by_session_.find(connection.session_id());
  if (by_session != by_session_.end() && by_session->second == connection.id()) by_session_.erase(by_session);
  watches_.remove_watcher(connection.id());
  if (auto ip = per_ip_.find(connection.peer_ip()); ip != per_ip_.end() && --ip->second == 0) per_ip_.erase(ip);
  // The connection may be inside one of its own calls: it is destroyed once that has returned.
  boost::asio::post(io_, [keep = std::move(found->second)] {});
  connections_.erase(found);
}

void ClientPort::on_connect(const std::shared_ptr<Connection>& connection, const ConnectRequest& request) {
  if (stopped_) return connection->close("");
  const uint32_t shortest = std::max(options_.min_session_timeout_ms, kSessionTimeoutFloorMs);
  const uint32_t timeout_ms = std::clamp(static_cast<uint32_t>(std::max(request.timeout_ms, 0)), shortest,
                                         std::max(options_.max_session_timeout_ms, shortest));
  if (request.session_id == 0 && request.last_zxid_seen > service_.tree().last_applied_zxid() && service_.synced()) {
    return connection->close(fmt::format("the client has seen zxid {:#x}, past this member's {:#x}",
                                         request.last_zxid_seen, service_.tree().last_applied_zxid()));
  }
  if (request.session_id == 0) return open_session(connection, timeout_ms, request.read_only);
  resume_session(connection, request, timeout_ms);
}

// A new session is a txn, as in ZooKeeper: once applied, every member knows it and its timeout.
// Without a quorum, a client that allows it gets a read-only session of this member alone.
void ClientPort::open_session(const std::shared_ptr<Connection>& connection, uint32_t timeout_ms,
                              bool read_only_wanted) {
  const SessionId id = service_.sessions().create(service_.tree());
  if (!service_.synced()) {
    if (read_only_wanted) return attach(connection, id.value(), timeout_ms, true);
    return connection->close("no quorum: a new session needs one (the client may ask for read-only)");
  }
  proto::Txn txn;
  proto::CreateSessionOp* create = txn.add_ops()->mutable_create_session();
  create->set_session_id(id.value());
  create->set_timeout_ms(timeout_ms);
  service_.submit(std::move(txn), service::Submitter::kClients,
                  [this, weak = std::weak_ptr<Connection>(connection), id, timeout_ms](const ApplyResult& result) {
                    auto connection = weak.lock();
                    if (!connection) return;
                    if (result.code != Code::kOk) {
                      return connection->close(fmt::format("its new session was not opened: {}",
                                                           code_name(result.code)));
                    }
                    attach(connection, id.value(), timeout_ms, false);
                  });
}

// A client comes back (here, or from another member) with its session's id and password. The
// session must still be open, which this member may not know yet: a sync first, when the tree
// does not show it or is behind what the client saw.
void ClientPort::resume_session(const std::shared_ptr<Connection>& connection, const ConnectRequest& request,
                                uint32_t timeout_ms) {
  const uint64_t id = static_cast<uint64_t>(request.session_id);
  if (!password_matches(options_.secret, id, request.password)) {
    spdlog::info("client port: {} session {:#x}: wrong password", connection->peer(), id);
    return connection->refuse_expired();
  }
  if (!service_.synced()) {
    if (request.read_only) return attach(connection, id, timeout_ms, true);
    return connection->close("no quorum: the session cannot be checked (the client may ask for read-only)");
  }
  const int64_t seen = request.last_zxid_seen;
  auto check = [this, weak = std::weak_ptr<Connection>(connection), id, timeout_ms, seen] {
    auto connection = weak.lock();
    if (!connection) return;
    if (seen > service_.tree().last_applied_zxid()) {
      return connection->close(fmt::format("the client has seen zxid {:#x}, past this member's {:#x}", seen,
                                           service_.tree().last_applied_zxid()));
    }
    // A mount's session (timeout 0) is its host's: no client may take it over.
    const std::optional<uint32_t> timeout = service_.tree().session_timeout_ms(id);
    if (!timeout || *timeout == 0) return connection->refuse_expired();
    // The leader expires it by the timeout it was opened with.
    attach(connection, id, *timeout, false);
  };
  if (service_.tree().session_timeout_ms(id).value_or(0) > 0 && seen <= service_.tree().last_applied_zxid()) {
    return check();
  }
  service_.sync([check, weak = std::weak_ptr<Connection>(connection)](Code code) {
    auto connection = weak.lock();
    if (!connection) return;
    if (code != Code::kOk) return connection->close("no quorum to check the session against");
    check();
  });
}

void ClientPort::attach(const std::shared_ptr<Connection>& connection, uint64_t session_id, uint32_t timeout_ms,
                        bool read_only) {
  if (connection->closed()) return;
  if (const auto other = by_session_.find(session_id); other != by_session_.end()) {
    if (const auto old = connections_.find(other->second); old != connections_.end()) {
      old->second->close("its session moved to a new connection");
    }
  }
  by_session_[session_id] = connection->id();
  connection->connected(session_id, timeout_ms, read_only, session_password(options_.secret, session_id));
}

void ClientPort::on_applied(const service::Applied& applied) {
  const ApplyResult& result = applied.result;
  for (uint64_t session : result.closed_sessions) {
    const auto found = by_session_.find(session);
    if (found == by_session_.end()) continue;
    // After the reply of the closeSession that may have closed it, which comes right after this.
    boost::asio::post(io_, [this, id = found->second] {
      if (const auto connection = connections_.find(id); connection != connections_.end()) {
        connection->second->session_ended();
      }
    });
  }
  if (!watches_.empty() && !result.changes.empty()) fire_watches(result);
}

void ClientPort::fire_watches(const ApplyResult& result) {
  std::vector<FiredEvent> events;
  handler_.fire_watches(result, &events);
  for (const FiredEvent& event : events) {
    if (const auto connection = connections_.find(event.watcher); connection != connections_.end()) {
      if (event.below_watch && !handler_.may_read(connection->second->session(), event.path)) continue;
      connection->second->send_event(RequestHandler::event_frame(event.type, event.path));
    }
  }
}

size_t op_latency_index(int32_t op) {
  switch (op) {
    case kCreate: case kCreate2: case kCreateContainer: case kCreateTtl: return 0;
    case kDelete: case kDeleteContainer: return 1;
    case kExists: return 2;
    case kGetData: return 3;
    case kSetData: return 4;
    case kGetAcl: return 5;
    case kSetAcl: return 6;
    case kGetChildren: case kGetChildren2: return 7;
    case kSync: return 8;
    case kMulti: case kMultiRead: return 9;
    default: return kOpLatencyNames.size() - 1;
  }
}

void ClientPort::record_reply(int32_t op, std::chrono::nanoseconds latency) {
  if (op == kPing) return;
  op_latency_[op_latency_index(op)].record(latency);
  ++replies_;
  const uint64_t us = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(latency).count());
  latency_us_total_ += us;
  latency_us_min_ = replies_ == 1 ? us : std::min(latency_us_min_, us);
  latency_us_max_ = std::max(latency_us_max_, us);
}

std::string ClientPort::four_letter_word(const std::string& word) {
  const bool allowed = options_.four_letter_words.contains("*") || options_.four_letter_words.contains(word);
  if (!allowed) return word + " is not executed because it is not in the whitelist.\n";
  if (word == "ruok") return "imok";
  if (word == "srvr") return srvr(false);
  if (word == "stat") return srvr(true);
  if (word == "mntr") return mntr();
  if (word == "cons") return cons();
  if (word == "wchs") return wchs();
  if (word == "isro") return service_.synced() ? "rw" : "ro";
  if (word == "conf") {
    std::string text;
    for (const auto& [key, value] : options_.conf) text += key + "=" + value + "\n";
    return text;
  }
  if (word == "envi") {
    return fmt::format("Environment:\nzookeeper.version={}\nhost.name={}\nos.name=Linux\n", kServerVersion,
                       boost::asio::ip::host_name());
  }
  if (word == "dirs") {
    const auto dir = [&](const char* key) {
      const auto found = options_.conf.find(key);
      return found == options_.conf.end() ? uint64_t{0} : directory_bytes(found->second);
    };
    return fmt::format("datadir_size: {}\nlogdir_size: {}\n", dir("dataDir"), dir("dataLogDir"));
  }
  return word + " is not supported by this server.\n";
}

// What the four-letter words report of the connections and replies, summed once.
ClientPort::Totals ClientPort::totals() const {
  Totals totals;
  for (const auto& [id, connection] : connections_) {
    totals.outstanding += connection->outstanding();
    totals.received += connection->received();
    totals.sent += connection->sent();
  }
  totals.average_latency_ms = replies_ == 0 ? 0.0 : static_cast<double>(latency_us_total_) / replies_ / 1000.0;
  totals.min_latency_ms = latency_us_min_ / 1000;
  totals.max_latency_ms = latency_us_max_ / 1000;
  return totals;
}

std::string ClientPort::srvr(bool with_connections) const {
  const MemberReport member = options_.report ? options_.report() : MemberReport{};
  const Totals totals = this->totals();
  std::string text = fmt::format("Zookeeper version: {}, built on unknown\n", kServerVersion);
  if (with_connections) text += "Clients:\n" + cons() + "\n";
  text += fmt::format("Latency min/avg/max: {}/{:.4f}/{}\n", totals.min_latency_ms, totals.average_latency_ms,
                      totals.max_latency_ms);
  text += fmt::format("Received: {}\nSent: {}\nConnections: {}\nOutstanding: {}\nZxid: {:#x}\nMode: {}\nNode count: {}\n",
                      totals.received, totals.sent, connections_.size(), totals.outstanding, member.last_zxid,
                      member.mode, service_.tree().node_count());
  return text;
}

std::vector<MonitorValue> monitor_values(const MemberReport& member, const DataTree& tree, const ClientPort* port) {
  const ClientPort::Totals totals = port ? port->totals() : ClientPort::Totals{};
  return {
      {"version", std::string(kServerVersion)},
      {"server_state", member.mode},
      {"avg_latency", totals.average_latency_ms},
      {"max_latency", totals.max_latency_ms},
      {"min_latency", totals.min_latency_ms},
      {"packets_received", totals.received},
      {"packets_sent", totals.sent},
      {"num_alive_connections", uint64_t{port ? port->connection_count() : 0}},
      {"outstanding_requests", uint64_t{totals.outstanding}},
      {"znode_count", uint64_t{tree.node_count()}},
      {"watch_count", uint64_t{port ? port->watches().size() : 0}},
      {"ephemerals_count", uint64_t{tree.ephemeral_count()}},
      {"open_sessions", uint64_t{tree.open_session_count()}},
      {"last_zxid", fmt::format("{:#x}", member.last_zxid)},
      {"epoch", uint64_t{member.epoch}},
  };
}

std::vector<MonitorValue> ClientPort::monitor_values() const {
  return zk::monitor_values(options_.report ? options_.report() : MemberReport{}, service_.tree(), this);
}

std::string ClientPort::mntr() const {
  std::string text;
  for (const MonitorValue& line : monitor_values()) {
    if (const double* number = std::get_if<double>(&line.value)) {
      text += fmt::format("zk_{}\t{:.4f}\n", line.key, *number);
    } else {
      std::visit([&](const auto& value) { text += fmt::format("zk_{}\t{}\n", line.key, value); }, line.value);
    }
  }
  return text;
}

std::vector<ClientPort::ConnectionReport> ClientPort::connection_reports() const {
  std::vector<ConnectionReport> reports;
  reports.reserve(connections_.size());
  for (const auto& [id, connection] : connections_) {
    reports.push_back(ConnectionReport{connection->peer(), connection->outstanding(), connection->received(),
                                       connection->sent(), connection->session_id(), connection->timeout_ms()});
  }
  return reports;
}

std::string ClientPort::cons() const {
  std::string text;
  for (const ConnectionReport& connection : connection_reports()) {
    text += fmt::format(" /{}[1](queued={},recved={},sent={},sid={:#x},to={})\n", connection.peer,
                        connection.outstanding, connection.received, connection.sent, connection.session_id,
                        connection.timeout_ms);
  }
  return text;
}

std::string ClientPort::wchs() const {
  return fmt::format("{} connections watching {} paths\nTotal watches:{}\n", watches_.watcher_count(),
                     watches_.path_count(), watches_.size());
}

}  // namespace quorumfs::zk
