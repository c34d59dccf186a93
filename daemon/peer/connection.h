// One peer connection: the handshake (version, then mutual proof of the secret), then frames both
// ways. The transport owns connections and hears about them through ConnectionOwner; a connection
// reports nothing but its own failure until it is authenticated.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "consensus/replica.h"
#include "daemon/peer/framing.h"
#include "daemon/proto/peer.pb.h"

namespace quorumfs::peer {

using consensus::NodeId;

// Before authentication a frame is a hello, a proof or a refusal: a few hundred bytes. The small
// limit, and reads no bigger, keep what a stranger makes us buffer within one such frame
// (docs/wire.md, "Frames").
constexpr size_t kHandshakeFrameBytesMax = 4096;
// An authenticated peer's reads: Zab's messages are small, a snapshot's frame is read into place.
constexpr size_t kReadBytes = 64 * 1024;

struct ConnectionSettings {
  NodeId my_id = 0;
  std::string secret;
  uint32_t protocol_version = 0;
  std::chrono::milliseconds handshake_timeout{0};
  size_t frame_bytes_max = 0;
  size_t send_queue_bytes_max = 0;
};

class Connection;

class ConnectionOwner {
 public:
  virtual ~ConnectionOwner() = default;
  // Acceptor side, on the dialer's hello: why a dialer claiming this id is refused ("" = welcome).
  virtual std::string refusal_for(NodeId claimed_id) const = 0;
  virtual void connection_up(const std::shared_ptr<Connection>& connection) = 0;
  virtual void message_received(const std::shared_ptr<Connection>& connection, consensus::Message message) = 0;
  virtual void keepalive_received(const std::shared_ptr<Connection>& connection, std::vector<uint64_t> ids) = 0;
  // Called once, whatever closed it (not after abandon()).
  virtual void connection_closed(const std::shared_ptr<Connection>& connection, bool was_up) = 0;
  // Acceptor side, until authenticated: a warning about a connection that may be a stranger's.
  // The owner may hold it back, so that a flood of strangers does not flood the log.
  virtual void stranger_warning(const Connection& connection, const std::string& line) = 0;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // Dials host:port, expecting to reach server peer_id.
  static std::shared_ptr<Connection> dial(boost::asio::io_context& io, const ConnectionSettings& settings,
                                          std::shared_ptr<ConnectionOwner> owner, NodeId peer_id,
                                          const std::string& host, uint16_t port);
  // Takes over a socket the listener accepted.
  static std::shared_ptr<Connection> accept(const ConnectionSettings& settings, std::shared_ptr<ConnectionOwner> owner,
                                            boost::asio::ip::tcp::socket socket);

  Connection(boost::asio::ip::tcp::socket socket, const ConnectionSettings& settings,
             std::shared_ptr<ConnectionOwner> owner, bool dialer, NodeId peer_id);

  // Queues a frame (after the handshake). False when it is over frame_bytes_max or the connection
  // is not up; closes the connection when the queue is over send_queue_bytes_max.
  bool send(const proto::PeerFrame& frame);
  void close(const std::string& reason);
  // Closes without telling the owner (the transport is stopping).
  void abandon();

  bool dialer() const { return dialer_; }
  bool up() const { return state_ == State::kUp; }
  bool closed() const { return state_ == State::kClosed; }
  NodeId peer_id() const { return peer_id_; }  // acceptor side: 0 until the dialer's hello
  std::string describe() const;               // for log lines: who, at which address
  // Memory held for the connection's reads and writes, in bytes.
  size_t buffer_bytes() const;

 private:
  enum class State { kConnecting, kAwaitHello, kAwaitProof, kAwaitAccepted, kUp, kRefusing, kClosed };

  void start_dial(const std::string& host, uint16_t port);
  void start_accept();
  void connected();
  void arm_deadline();

  void read();
  void on_read(const boost::system::error_code& error, size_t bytes);
  void handle(proto::PeerFrame* frame);
  void on_dialer_hello(const proto::PeerHello& hello);
  void on_acceptor_hello(const proto::PeerHello& hello);
  void on_proof(const proto::PeerProof& proof);
  void on_refusal(const proto::PeerRefusal& refusal);
  void on_consensus(proto::ConsensusMessage* message);
  void become_up();
  void refuse(const std::string& reason);
  void fail(const std::string& reason);
  void warn(const std::string& line);

  void queue(const proto::PeerFrame& frame);
  void flush();
  void on_written(const boost::system::error_code& error);

  boost::asio::ip::tcp::socket socket_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::steady_timer deadline_;
  const ConnectionSettings settings_;
  std::shared_ptr<ConnectionOwner> owner_;  // reset when closed: breaks the owner <-> connection cycle
  const bool dialer_;
  NodeId peer_id_;
  std::string remote_;  // "address:port" once known
  State state_ = State::kConnecting;
  std::string nonce_mine_;
  std::string nonce_theirs_;
  FrameDecoder decoder_;
  std::string pending_;    // frames queued while a write is in flight
  std::string in_flight_;  // the frames being written, one async_write for all of them
  bool writing_ = false;
};

}  // namespace quorumfs::peer
