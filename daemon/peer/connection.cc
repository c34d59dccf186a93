#include "daemon/peer/connection.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "consensus/check.h"
#include "consensus/printable.h"
#include "daemon/peer/auth.h"
#include "daemon/peer/codec.h"

namespace quorumfs::peer {
namespace {

// A write buffer grown for a snapshot is given back once written.
constexpr size_t kIdleWriteBufferBytesMax = 1024 * 1024;

std::string endpoint_text(const boost::asio::ip::tcp::socket& socket) {
  boost::system::error_code error;
  const auto endpoint = socket.remote_endpoint(error);
  if (error) return "unknown address";
  return fmt::format("{}:{}", endpoint.address().to_string(), endpoint.port());
}

}  // namespace

std::shared_ptr<Connection> Connection::dial(boost::asio::io_context& io, const ConnectionSettings& settings,
                                             std::shared_ptr<ConnectionOwner> owner, NodeId peer_id,
                                             const std::string& host, uint16_t port) {
  auto connection = std::make_shared<Connection>(boost::asio::ip::tcp::socket(io), settings, std::move(owner),
                                                 /*dialer=*/true, peer_id);
  connection->start_dial(host, port);
  return connection;
}

std::shared_ptr<Connection> Connection::accept(const ConnectionSettings& settings,
                                               std::shared_ptr<ConnectionOwner> owner,
                                               boost::asio::ip::tcp::socket socket) {
  auto connection = std::make_shared<Connection>(std::move(socket), settings, std::move(owner),
                                                 /*dialer=*/false, /*peer_id=*/0);
  connection->start_accept();
  return connection;
}

Connection::Connection(boost::asio::ip::tcp::socket socket, const ConnectionSettings& settings,
                       std::shared_ptr<ConnectionOwner> owner, bool dialer, NodeId peer_id)
    : socket_(std::move(socket)),
      resolver_(socket_.get_executor()),
      deadline_(socket_.get_executor()),
      settings_(settings),
      owner_(std::move(owner)),
      dialer_(dialer),
      peer_id_(peer_id),
      decoder_(kHandshakeFrameBytesMax, /*read_bytes=*/kHandshakeFrameBytesMax) {}

std::string Connection::describe() const {
  if (peer_id_ == 0) return remote_;
  if (dialer_ || state_ == State::kUp) return fmt::format("server {} at {}", peer_id_, remote_);
  return fmt::format("{} (claims to be server {})", remote_, peer_id_);
}

size_t Connection::buffer_bytes() const {
  return decoder_.buffer_bytes() + pending_.capacity() + in_flight_.capacity();
}

// --- connection set-up

void Connection::start_dial(const std::string& host, uint16_t port) {
  remote_ = fmt::format("{}:{}", host, port);
  arm_deadline();
  resolver_.async_resolve(
      host, std::to_string(port),
      [self = shared_from_this()](const boost::system::error_code& error,
                                  const boost::asio::ip::tcp::resolver::results_type& results) {
        if (self->state_ == State::kClosed) return;
        if (error) return self->close("cannot resolve the address: " + error.message());
        boost::asio::async_connect(self->socket_, results,
                                   [self](const boost::system::error_code& error, const auto&) {
                                     if (self->state_ == State::kClosed) return;
                                     if (error) return self->close("cannot connect: " + error.message());
                                     self->connected();
                                   });
      });
}

void Connection::start_accept() {
  remote_ = endpoint_text(socket_);
  arm_deadline();
  connected();
}

void Connection::connected() {
  // Zab's messages are small and latency-bound; writes are already coalesced per turn of the loop.
  boost::system::error_code ignored;
  socket_.set_option(boost::asio::ip::tcp::no_delay(true), ignored);
  state_ = State::kAwaitHello;
  std::optional<std::string> nonce = random_nonce();
  if (!nonce) return fail("no random bytes for the handshake nonce");
  nonce_mine_ = std::move(*nonce);
  if (dialer_) {
    proto::PeerFrame frame;
    proto::PeerHello* hello = frame.mutable_hello();
    hello->set_version(settings_.protocol_version);
    hello->set_server_id(settings_.my_id);
    hello->set_nonce(nonce_mine_);
    queue(frame);
  }
  read();
}

void Connection::arm_deadline() {
  deadline_.expires_after(settings_.handshake_timeout);
  deadline_.async_wait([self = shared_from_this()](const boost::system::error_code& error) {
    if (error || self->state_ == State::kUp || self->state_ == State::kClosed) return;
    const std::string reason =
        fmt::format("handshake not finished within {} ms", self->settings_.handshake_timeout.count());
    if (self->state_ == State::kConnecting) return self->close(reason);
    self->fail(reason);
  });
}

// --- reading

void Connection::read() {
  std::span<char> room = decoder_.writable();
  socket_.async_read_some(boost::asio::buffer(room.data(), room.size()),
                          [self = shared_from_this()](const boost::system::error_code& error, size_t bytes) {
                            self->on_read(error, bytes);
                          });
}

void Connection::on_read(const boost::system::error_code& error, size_t bytes) {
  if (state_ == State::kClosed || state_ == State::kRefusing) return;
  if (error == boost::asio::error::eof) return close("closed by the peer");
  if (error) return close(error.message());
  decoder_.commit(bytes);
  for (;;) {
    std::string_view bytes_of_frame;
    switch (decoder_.next(&bytes_of_frame)) {
      case FrameDecoder::Status::kNeedMore:
        return read();
      case FrameDecoder::Status::kTooLarge:
        return fail(fmt::format("frame of {} bytes is over the limit of {} bytes", decoder_.announced_bytes(),
                                up() ? settings_.frame_bytes_max : kHandshakeFrameBytesMax));
      case FrameDecoder::Status::kFrame:
        break;
    }
    proto::PeerFrame frame;
    if (!frame.ParseFromArray(bytes_of_frame.data(), static_cast<int>(bytes_of_frame.size()))) {
      return fail("a frame that does not parse");
    }
    handle(&frame);
    // A callback may have closed this connection (or stopped the transport).
    if (state_ == State::kClosed || state_ == State::kRefusing) return;
  }
}

void Connection::handle(proto::PeerFrame* frame) {
  using Body = proto::PeerFrame::BodyCase;
  const Body body = frame->body_case();
  if (body == Body::kRefusal) return on_refusal(frame->refusal());
  switch (state_) {
    case State::kAwaitHello:
      if (body != Body::kHello) break;
      return dialer_ ? on_acceptor_hello(frame->hello()) : on_dialer_hello(frame->hello());
    case State::kAwaitProof:
      if (body != Body::kProof) break;
      return on_proof(frame->proof());
    case State::kAwaitAccepted:
      if (body != Body::kAccepted) break;
      return become_up();
    case State::kUp:
      if (body == Body::kConsensus) return on_consensus(frame->mutable_consensus());
      if (body != Body::kKeepalive) break;
      owner_->keepalive_received(shared_from_this(), {frame->keepalive().session_ids().begin(),
                                                      frame->keepalive().session_ids().end()});
      return;
    default:
      break;
  }
  fail(fmt::format("unexpected frame (field {}) {}", static_cast<int>(body),
                   up() ? "on an established connection" : "during the handshake"));
}

// --- the handshake (docs/wire.md)

void Connection::on_dialer_hello(const proto::PeerHello& hello) {
  peer_id_ = hello.server_id();
  if (hello.version() != settings_.protocol_version) {
    return refuse(fmt::format("it speaks protocol version {}, this build speaks version {}", hello.version(),
                              settings_.protocol_version));
  }
  if (std::string reason = owner_->refusal_for(peer_id_); !reason.empty()) return refuse(reason);
  if (hello.nonce().size() != kNonceBytes) {
    return refuse(fmt::format("its nonce has {} bytes, not {}", hello.nonce().size(), kNonceBytes));
  }
  nonce_theirs_ = hello.nonce();
  proto::PeerFrame frame;
  proto::PeerHello* answer = frame.mutable_hello();
  answer->set_version(settings_.protocol_version);
  answer->set_server_id(settings_.my_id);
  answer->set_nonce(nonce_mine_);
  answer->set_mac(handshake_mac(settings_.secret, HandshakeRole::kAcceptor, settings_.my_id, nonce_theirs_,
                                nonce_mine_, settings_.protocol_version));
  queue(frame);
  state_ = State::kAwaitProof;
}

void Connection::on_acceptor_hello(const proto::PeerHello& hello) {
  if (hello.version() != settings_.protocol_version) {
    return refuse(fmt::format("it answered with protocol version {}, this build speaks version {}",
                              hello.version(), settings_.protocol_version));
  }
  if (hello.server_id() != peer_id_) {
    return refuse(fmt::format("it answered as server {}", hello.server_id()));
  }
  if (hello.nonce().size() != kNonceBytes) {
    return refuse(fmt::format("its nonce has {} bytes, not {}", hello.nonce().size(), kNonceBytes));
  }
  nonce_theirs_ = hello.nonce();
  const std::string expected = handshake_mac(settings_.secret, HandshakeRole::kAcceptor, peer_id_, nonce_mine_,
                                             nonce_theirs_, settings_.protocol_version);
  if (!mac_matches(expected, hello.mac())) {
    return refuse("authentication failed: its proof does not match our secret (is peerSecretFile the same?)");
  }
  proto::PeerFrame frame;
  frame.mutable_proof()->set_mac(handshake_mac(settings_.secret, HandshakeRole::kDialer, settings_.my_id,
                                               nonce_mine_, nonce_theirs_, settings_.protocol_version));
  queue(frame);
  state_ = State::kAwaitAccepted;
}

void Connection::on_proof(const proto::PeerProof& proof) {
  const std::string expected = handshake_mac(settings_.secret, HandshakeRole::kDialer, peer_id_, nonce_theirs_,
                                             nonce_mine_, settings_.protocol_version);
  if (!mac_matches(expected, proof.mac())) {
    return refuse("authentication failed: its proof does not match our secret (is peerSecretFile the same?)");
  }
  proto::PeerFrame frame;
  frame.mutable_accepted();
  queue(frame);
  become_up();
}

void Connection::on_refusal(const proto::PeerRefusal& refusal) {
  // The reason is in the refuser's words ("it" is this server).
  std::string versions;
  if (refusal.version() != settings_.protocol_version) {
    versions = fmt::format(" (it speaks protocol version {}, this build speaks version {})", refusal.version(),
                           settings_.protocol_version);
  }
  warn(fmt::format("peer: {} refused the connection, saying \"{}\"{}", describe(), printable(refusal.reason()), versions));
  close("refused by the peer");
}

void Connection::become_up() {
  state_ = State::kUp;
  deadline_.cancel();
  decoder_.set_limits(settings_.frame_bytes_max, kReadBytes);
  owner_->connection_up(shared_from_this());
}

// Tells the peer why (so its log says it too), then closes once that is written.
void Connection::refuse(const std::string& reason) {
  warn(fmt::format("peer: refusing {}: {}", describe(), reason));
  proto::PeerFrame frame;
  frame.mutable_refusal()->set_reason(reason);
  frame.mutable_refusal()->set_version(settings_.protocol_version);
  queue(frame);
  state_ = State::kRefusing;
}

// A peer that breaks the protocol gets no answer.
void Connection::fail(const std::string& reason) {
  warn(fmt::format("peer: dropping {}: {}", describe(), reason));
  close(reason);
}

void Connection::warn(const std::string& line) {
  if (!dialer_ && state_ != State::kUp && owner_) return owner_->stranger_warning(*this, line);
  spdlog::warn("{}", line);
}

void Connection::on_consensus(proto::ConsensusMessage* message) {
  std::string error;
  std::optional<consensus::Message> decoded = from_proto(message, &error);
  if (!decoded) return fail(error);
  // The sender is who authenticated, whatever the message says: a mismatch is a bug over there.
  if (decoded->from != peer_id_ || decoded->to != settings_.my_id) {
    spdlog::warn("peer: ignoring a message from {} that claims to be from server {} to server {}", describe(),
                 decoded->from, decoded->to);
    return;
  }
  owner_->message_received(shared_from_this(), std::move(*decoded));
}

// --- writing

bool Connection::send(const proto::PeerFrame& frame) {
  if (state_ != State::kUp) return false;
  if (!append_frame(frame, settings_.frame_bytes_max, &pending_)) {
    spdlog::error("peer: not sending a frame of {} bytes to {}: over the limit of {} bytes", frame.ByteSizeLong(),
                  describe(), settings_.frame_bytes_max);
    return false;
  }
  if (pending_.size() > settings_.send_queue_bytes_max) {
    fail(fmt::format("{} bytes queued for it: it does not keep up", pending_.size()));
    return false;
  }
  flush();
  return true;
}

void Connection::queue(const proto::PeerFrame& frame) {
  const bool appended = append_frame(frame, kHandshakeFrameBytesMax, &pending_);
  QFS_CHECK(appended, "handshake frames fit the buffer");  // handshake frames are small
  (void)appended;
  flush();
}

void Connection::flush() {
  if (writing_ || pending_.empty()) return;
  std::swap(pending_, in_flight_);
  writing_ = true;
  boost::asio::async_write(socket_, boost::asio::buffer(in_flight_),
                           [self = shared_from_this()](const boost::system::error_code& error, size_t) {
                             self->on_written(error);
                           });
}

void Connection::on_written(const boost::system::error_code& error) {
  writing_ = false;
  if (state_ == State::kClosed) return;
  if (error) return close("write failed: " + error.message());
  in_flight_.clear();
  if (in_flight_.capacity() > kIdleWriteBufferBytesMax) std::string().swap(in_flight_);
  if (state_ == State::kRefusing && pending_.empty()) return close("refused");
  flush();
}

// --- closing

void Connection::close(const std::string& reason) {
  if (state_ == State::kClosed) return;
  const bool was_up = state_ == State::kUp;
  const bool abandoned = !owner_;
  const std::string who = describe();  // before the state changes what it says
  state_ = State::kClosed;
  deadline_.cancel();
  resolver_.cancel();
  boost::system::error_code ignored;
  socket_.close(ignored);
  if (was_up && !abandoned) {
    spdlog::warn("peer: connection to {} lost: {}", who, reason);
  } else {
    spdlog::debug("peer: connection attempt with {} ended: {}", who, reason);
  }
  if (std::shared_ptr<ConnectionOwner> owner = std::move(owner_)) owner->connection_closed(shared_from_this(), was_up);
}

void Connection::abandon() {
  owner_.reset();
  close("the transport stopped");
}

}  // namespace quorumfs::peer
