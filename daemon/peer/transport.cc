#include "daemon/peer/transport.h"

#include <algorithm>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "consensus/check.h"
#include "daemon/peer/codec.h"
#include "daemon/peer/connection.h"
#include "daemon/peer/limits.h"

namespace quorumfs::peer {

using boost::asio::ip::tcp;

namespace {

// Addresses the stranger log keeps apart per interval; beyond, they share one line.
constexpr size_t kStrangerLogAddressesMax = 256;
// After accept() fails: short, so that a member gets in soon after descriptors are back; long
// enough not to spin on an error that will not go away at once.
constexpr std::chrono::milliseconds kAcceptRetryDelay{100};

}  // namespace

// Shared with every pending handler and live connection, so that a handler that runs after the
// PeerTransport is gone finds a stopped core rather than freed memory.
class PeerTransport::Core : public ConnectionOwner, public std::enable_shared_from_this<Core> {
 public:
  Core(boost::asio::io_context& io, PeerTransportOptions options, PeerCallbacks callbacks);

  bool start(std::string* error);
  void stop();
  // fill builds the frame, only when there is a connection to send it on.
  void send(NodeId to, const std::function<void(proto::PeerFrame*)>& fill);
  bool connected(NodeId peer) const;
  PeerCounters counters(NodeId peer) const;
  ListenerCounters listener_counters() const;
  uint16_t listen_port() const { return listen_port_; }

  // ConnectionOwner
  std::string refusal_for(NodeId claimed_id) const override;
  void connection_up(const std::shared_ptr<Connection>& connection) override;
  void message_received(const std::shared_ptr<Connection>& connection, consensus::Message message) override;
  void keepalive_received(const std::shared_ptr<Connection>& connection, std::vector<uint64_t> ids) override;
  void connection_closed(const std::shared_ptr<Connection>& connection, bool was_up) override;
  void stranger_warning(const Connection& connection, const std::string& line) override;

 private:
  struct Peer {
    Peer(boost::asio::io_context& io, PeerEndpoint endpoint, std::chrono::milliseconds redial_delay)
        : endpoint(std::move(endpoint)), redial(io), redial_delay(redial_delay) {}
    PeerEndpoint endpoint;
    std::shared_ptr<Connection> live;     // authenticated
    std::shared_ptr<Connection> dialing;  // our attempt under way (we dial lower ids only)
    boost::asio::steady_timer redial;
    std::chrono::milliseconds redial_delay;  // after the next failed attempt
    PeerCounters counters;
  };
  // An accepted connection until it authenticates or closes.
  struct Handshake {
    std::shared_ptr<Connection> connection;
    std::string address;  // address_group() of its peer
  };

  bool we_dial(NodeId peer) const { return peer < options_.my_id; }
  Peer* find(NodeId id);
  const Peer* find(NodeId id) const;
  bool listen(std::string* error);
  void accept();
  void admit(tcp::socket socket);
  void accept_failed(const boost::system::error_code& error);
  std::string cap_reached(const std::string& address) const;
  void forget_handshake(const Connection& connection);
  void dial(NodeId id);
  void schedule_redial(NodeId id, Peer& peer, std::chrono::milliseconds delay);

  boost::asio::io_context& io_;
  const PeerTransportOptions options_;
  const PeerCallbacks callbacks_;
  const ConnectionSettings settings_;
  std::map<NodeId, Peer> peers_;  // every member but this one
  tcp::acceptor acceptor_;
  boost::asio::steady_timer accept_retry_;
  uint16_t listen_port_ = 0;
  std::map<const Connection*, Handshake> handshakes_;  // accepted, not yet authenticated
  std::map<std::string, size_t> handshakes_by_address_;  // the same, counted by address_group()
  std::set<std::string> member_addresses_;  // address_group() of the members given by address
  uint64_t handshakes_refused_ = 0;
  uint64_t accept_failures_ = 0;
  LogLimiter stranger_log_;
  LogLimiter accept_log_;  // by error
  bool started_ = false;
  bool stopped_ = false;
};

PeerTransport::Core::Core(boost::asio::io_context& io, PeerTransportOptions options, PeerCallbacks callbacks)
    : io_(io),
      options_(std::move(options)),
      callbacks_(std::move(callbacks)),
      settings_{options_.my_id,          options_.secret,         options_.protocol_version,
                options_.handshake_timeout, options_.frame_bytes_max, options_.send_queue_bytes_max},
      acceptor_(io),
      accept_retry_(io),
      stranger_log_(options_.stranger_log_interval, kStrangerLogAddressesMax),
      accept_log_(options_.stranger_log_interval, /*keys_max=*/8) {
  for (const auto& [id, endpoint] : options_.members) {
    if (id == options_.my_id) continue;
    peers_.try_emplace(id, io, endpoint, options_.redial_delay_min);
    boost::system::error_code not_an_address;
    const auto address = boost::asio::ip::make_address(endpoint.host, not_an_address);
    if (!not_an_address) member_addresses_.insert(address_group(address));
  }
}

bool PeerTransport::Core::start(std::string* error) {
  QFS_CHECK(!started_ && !stopped_, "a transport starts once");
  started_ = true;
  if (!listen(error)) return false;
  accept();
  for (const auto& [id, peer] : peers_) {
    if (we_dial(id)) dial(id);
  }
  return true;
}

bool PeerTransport::Core::listen(std::string* error) {
  const auto me = options_.members.find(options_.my_id);
  if (me == options_.members.end()) {
    *error = fmt::format("server {} is not among the members", options_.my_id);
    return false;
  }
  const PeerEndpoint& endpoint = me->second;
  const std::string where = fmt::format("{}:{}", endpoint.host, endpoint.port);
  boost::system::error_code failure;
  const auto resolved = tcp::resolver(io_).resolve(endpoint.host, std::to_string(endpoint.port), failure);
  if (!failure && resolved.empty()) failure = boost::asio::error::host_not_found;
  if (!failure) acceptor_.open(resolved.begin()->endpoint().protocol(), failure);
  if (!failure) acceptor_.set_option(tcp::acceptor::reuse_address(true), failure);
  if (!failure) acceptor_.bind(resolved.begin()->endpoint(), failure);
  if (!failure) acceptor_.listen(tcp::socket::max_listen_connections, failure);
  if (!failure) listen_port_ = acceptor_.local_endpoint(failure).port();
  if (failure) {
    *error = fmt::format("cannot listen on {}: {}", where, failure.message());
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    return false;
  }
  spdlog::info("peer: server {} listening on {} (port {})", options_.my_id, where, listen_port_);
  return true;
}

void PeerTransport::Core::accept() {
  acceptor_.async_accept([core = shared_from_this()](const boost::system::error_code& error, tcp::socket socket) {
    if (core->stopped_) return;
    if (error) return core->accept_failed(error);
    core->admit(std::move(socket));
    core->accept();
  });
}

// Out of descriptors (EMFILE, ENFILE) or of kernel memory (ENOBUFS, ENOMEM), say. The connections
// waiting stay in the kernel's queue; the listener waits a little and accepts again, for as long as
// it takes: a stranger that used up the descriptors must not stop members from ever getting in.
void PeerTransport::Core::accept_failed(const boost::system::error_code& error) {
  ++accept_failures_;
  if (std::optional<std::string> note = accept_log_.admit(error.message(), std::chrono::steady_clock::now())) {
    spdlog::warn("peer: accepting a connection failed: {}; trying again every {} ms{}", error.message(),
                 kAcceptRetryDelay.count(), *note);
  }
  accept_retry_.expires_after(kAcceptRetryDelay);
  accept_retry_.async_wait([core = shared_from_this()](const boost::system::error_code& error) {
    if (!error && !core->stopped_) core->accept();
  });
}

// A stranger until it proves the secret: it gets a connection only within the caps.
void PeerTransport::Core::admit(tcp::socket socket) {
  boost::system::error_code error;
  const tcp::endpoint remote = socket.remote_endpoint(error);
  if (error) return;  // it left already; the socket closes here
  std::string address = address_group(remote.address());
  if (const std::string cap = cap_reached(address); !cap.empty()) {
    ++handshakes_refused_;
    socket.close(error);
    if (std::optional<std::string> note = stranger_log_.admit(address, std::chrono::steady_clock::now())) {
      spdlog::warn("peer: closing a connection from {} at once: {}{}", address, cap, *note);
    }
    return;
  }
  std::shared_ptr<Connection> connection = Connection::accept(settings_, shared_from_this(), std::move(socket));
  if (connection->closed()) return;  // failed at once, and told us before it was counted
  ++handshakes_by_address_[address];
  const Connection* key = connection.get();
  handshakes_.emplace(key, Handshake{std::move(connection), std::move(address)});
}

// Why a new connection from address is not accepted ("" = it is). The total cap does not hold
// for the addresses of the members (those written as addresses in the configuration): strangers
// holding every slot must not keep a member out. Their per-address cap still holds.
std::string PeerTransport::Core::cap_reached(const std::string& address) const {
  if (handshakes_.size() >= options_.handshakes_max && !member_addresses_.count(address)) {
    return fmt::format("{} connections are in their handshake (handshakes_max)", handshakes_.size());
  }
  const auto from_address = handshakes_by_address_.find(address);
  if (from_address != handshakes_by_address_.end() && from_address->second >= options_.handshakes_per_address_max) {
    return fmt::format("{} connections from it are in their handshake (handshakes_per_address_max)",
                       from_address->second);
  }
  return "";
}

void PeerTransport::Core::forget_handshake(const Connection& connection) {
  const auto handshake = handshakes_.find(&connection);
  if (handshake == handshakes_.end()) return;
  const auto from_address = handshakes_by_address_.find(handshake->second.address);
  QFS_CHECK(from_address != handshakes_by_address_.end() && from_address->second > 0,
            "every handshake is counted under its address");
  if (--from_address->second == 0) handshakes_by_address_.erase(from_address);
  handshakes_.erase(handshake);
}

void PeerTransport::Core::dial(NodeId id) {
  Peer& peer = peers_.at(id);
  QFS_CHECK(!peer.live && !peer.dialing, "one dial per peer at a time");
  peer.dialing = Connection::dial(io_, settings_, shared_from_this(), id, peer.endpoint.host, peer.endpoint.port);
}

void PeerTransport::Core::schedule_redial(NodeId id, Peer& peer, std::chrono::milliseconds delay) {
  peer.redial.expires_after(delay);
  peer.redial.async_wait([core = shared_from_this(), id](const boost::system::error_code& error) {
    if (error || core->stopped_) return;
    const Peer& peer = core->peers_.at(id);
    if (!peer.live && !peer.dialing) core->dial(id);
  });
}

void PeerTransport::Core::stop() {
  if (stopped_) return;
  stopped_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  accept_retry_.cancel();
  for (auto& [id, peer] : peers_) {
    peer.redial.cancel();
    if (peer.live) peer.live->abandon();
    if (peer.dialing) peer.dialing->abandon();
    peer.live.reset();
    peer.dialing.reset();
  }
  for (const auto& [unused, handshake] : handshakes_) handshake.connection->abandon();
  handshakes_.clear();
  handshakes_by_address_.clear();
}

PeerTransport::Core::Peer* PeerTransport::Core::find(NodeId id) {
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : &it->second;
}

const PeerTransport::Core::Peer* PeerTransport::Core::find(NodeId id) const {
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : &it->second;
}

void PeerTransport::Core::send(NodeId to, const std::function<void(proto::PeerFrame*)>& fill) {
  Peer* peer = find(to);
  if (!peer) {
    spdlog::error("peer: not sending to server {}: not a member (or this server)", to);
    return;
  }
  if (!peer->live) {
    ++peer->counters.frames_dropped;
    return;
  }
  proto::PeerFrame frame;
  fill(&frame);
  // Held here: a send that overflows the queue closes the connection, which resets peer->live.
  const std::shared_ptr<Connection> live = peer->live;
  ++(live->send(frame) ? peer->counters.frames_sent : peer->counters.frames_dropped);
}

bool PeerTransport::Core::connected(NodeId id) const {
  const Peer* peer = find(id);
  return peer && peer->live;
}

PeerCounters PeerTransport::Core::counters(NodeId id) const {
  const Peer* peer = find(id);
  return peer ? peer->counters : PeerCounters{};
}

ListenerCounters PeerTransport::Core::listener_counters() const {
  ListenerCounters counters{.handshakes = handshakes_.size(),
                            .handshakes_refused = handshakes_refused_,
                            .accept_failures = accept_failures_};
  for (const auto& [connection, unused] : handshakes_) counters.handshake_buffer_bytes += connection->buffer_bytes();
  return counters;
}

// --- ConnectionOwner

std::string PeerTransport::Core::refusal_for(NodeId claimed_id) const {
  if (claimed_id == options_.my_id) return fmt::format("it claims this server's own id {}", claimed_id);
  if (!find(claimed_id)) return fmt::format("server {} is not a configured member", claimed_id);
  if (we_dial(claimed_id)) {
    return fmt::format("server {} has the lower id: this server dials it, not the other way", claimed_id);
  }
  return "";
}

void PeerTransport::Core::connection_up(const std::shared_ptr<Connection>& connection) {
  const NodeId id = connection->peer_id();
  Peer& peer = peers_.at(id);
  if (connection->dialer()) {
    QFS_CHECK(peer.dialing == connection, "the dial that finished is the peer's");
    peer.dialing.reset();
    peer.redial_delay = options_.redial_delay_min;
  } else {
    forget_handshake(*connection);
  }
  // The dialer restarted before we noticed the old connection break: the new one wins.
  if (const std::shared_ptr<Connection> old = peer.live) old->close("replaced by a newer connection from the same server");
  if (stopped_) return;  // on_down stopped the transport
  peer.live = connection;
  ++peer.counters.connections;
  spdlog::info("peer: connected to {}", connection->describe());
  if (callbacks_.on_up) callbacks_.on_up(id);
}

void PeerTransport::Core::message_received(const std::shared_ptr<Connection>& connection, consensus::Message message) {
  ++peers_.at(connection->peer_id()).counters.frames_received;
  if (callbacks_.on_message) callbacks_.on_message(connection->peer_id(), std::move(message));
}

void PeerTransport::Core::keepalive_received(const std::shared_ptr<Connection>& connection,
                                             std::vector<uint64_t> ids) {
  ++peers_.at(connection->peer_id()).counters.frames_received;
  if (callbacks_.on_keepalive) callbacks_.on_keepalive(connection->peer_id(), std::move(ids));
}

void PeerTransport::Core::connection_closed(const std::shared_ptr<Connection>& connection, bool was_up) {
  if (stopped_) return;
  if (!connection->dialer() && !was_up) return forget_handshake(*connection);
  const NodeId id = connection->peer_id();
  Peer& peer = peers_.at(id);
  if (was_up) {
    QFS_CHECK(peer.live == connection, "the connection that closed is the peer's");
    peer.live.reset();
    if (callbacks_.on_down) callbacks_.on_down(id);
    if (stopped_ || !we_dial(id)) return;
    peer.redial_delay = options_.redial_delay_min;
    return schedule_redial(id, peer, peer.redial_delay);
  }
  // Our dial attempt failed: try again later, a little later each time.
  QFS_CHECK(peer.dialing == connection, "the dial that finished is the peer's");
  peer.dialing.reset();
  schedule_redial(id, peer, peer.redial_delay);
  peer.redial_delay = std::min(peer.redial_delay * 2, options_.redial_delay_max);
}

// Shares the stranger log with connections closed at a cap: one line per address per interval.
void PeerTransport::Core::stranger_warning(const Connection& connection, const std::string& line) {
  const auto handshake = handshakes_.find(&connection);
  // Not counted yet: it failed within Connection::accept() (no random bytes for its nonce).
  const std::string address = handshake == handshakes_.end() ? "an uncounted connection" : handshake->second.address;
  if (std::optional<std::string> note = stranger_log_.admit(address, std::chrono::steady_clock::now())) {
    spdlog::warn("{}{}", line, *note);
  }
}

// --- PeerTransport

PeerTransport::PeerTransport(boost::asio::io_context& io, PeerTransportOptions options, PeerCallbacks callbacks)
    : core_(std::make_shared<Core>(io, std::move(options), std::move(callbacks))) {}

PeerTransport::~PeerTransport() { core_->stop(); }

bool PeerTransport::start(std::string* error) { return core_->start(error); }

void PeerTransport::stop() { core_->stop(); }

void PeerTransport::send(NodeId to, const consensus::Message& message) {
  core_->send(to, [&](proto::PeerFrame* frame) { to_proto(message, frame->mutable_consensus()); });
}

void PeerTransport::send_keepalive(NodeId to, const std::vector<uint64_t>& session_ids) {
  core_->send(to, [&](proto::PeerFrame* frame) {
    frame->mutable_keepalive()->mutable_session_ids()->Add(session_ids.begin(), session_ids.end());
  });
}

bool PeerTransport::connected(NodeId peer) const { return core_->connected(peer); }

PeerCounters PeerTransport::counters(NodeId peer) const { return core_->counters(peer); }

ListenerCounters PeerTransport::listener_counters() const { return core_->listener_counters(); }

uint16_t PeerTransport::listen_port() const { return core_->listen_port(); }

}  // namespace quorumfs::peer
