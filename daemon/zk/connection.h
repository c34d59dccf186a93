// One client connection of the client port: the connect handshake, then ZooKeeper frames both
// ways (docs/zk-protocol.md, "Requests"). Replies leave in request order: a read waits until
// every earlier request of the connection is answered (so it sees the connection's own writes),
// and a write waits for an earlier read; writes in a row are submitted at once (pipelined).
// Watch events leave as soon as they fire, ahead of any later reply.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "daemon/zk/protocol.h"
#include "daemon/zk/requests.h"

namespace quorumfs::zk {

class ClientPort;

// Bounds of one connection (docs/zk-protocol.md, "Limits").
// Requests read but not yet answered: past it the connection stops reading (backpressure).
inline constexpr size_t kOutstandingRequestsMax = 1000;
// Replies and events written but not yet taken by the client: past it the client is not reading,
// and the connection is closed.
inline constexpr size_t kOutputBytesMax = 64u << 20;
// Bytes of the requests read but not yet answered: past it the connection stops reading too (a
// pipeline of large setData holds their data until they commit).
inline constexpr size_t kOutstandingBytesMax = 16u << 20;
// The connect request is about 50 bytes, and must come within this time.
inline constexpr size_t kConnectFrameBytesMax = 1024;
inline constexpr std::chrono::milliseconds kConnectTimeout{10000};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(ClientPort& port, boost::asio::ip::tcp::socket socket, WatcherId id,
             const boost::asio::ip::tcp::endpoint& remote);

  void start();
  // Ends the connection (idempotent); the port forgets it.
  void close(const std::string& why);

  WatcherId id() const { return id_; }
  uint64_t session_id() const { return session_.session_id; }
  const std::string& peer() const { return peer_; }
  const std::string& peer_ip() const { return session_.peer_ip; }
  uint32_t timeout_ms() const { return timeout_ms_; }
  size_t outstanding() const { return slots_.size(); }
  uint64_t received() const { return received_; }
  uint64_t sent() const { return sent_; }
  bool read_only() const { return session_.read_only; }
  bool closed() const { return closed_; }
  const SessionContext& session() const { return session_; }

  // A watch event for this client: written at once.
  void send_event(std::string frame);
  // The port accepted the connect: answer it and serve requests.
  void connected(uint64_t session_id, uint32_t timeout_ms, bool read_only, const std::string& password);
  // The port refused the session (expired or unknown): ZooKeeper's answer, then close.
  void refuse_expired();
  // The tree closed this connection's session (its closeSession, or the leader expired it).
  void session_ended();
  // The port stopped holding writes (ClientPort::mount_backlog): start what waited.
  void resume();

 private:
  enum class SlotState : uint8_t { kWaiting, kStarted, kReady };
  struct Slot {
    Request request;
    SlotState state = SlotState::kWaiting;
    std::string reply;
    bool close_after = false;
    std::chrono::steady_clock::time_point arrived;
    size_t bytes = 0;  // the request's frame
  };

  void read_first_bytes();
  void read_connect(uint32_t length);
  void read_more();
  bool may_take_more() const;
  void take_frames();
  void dispatch(Request request, size_t bytes);
  void start_requests();
  void finish(uint64_t seq, std::string frame, bool close_after);
  void flush_replies();
  void send(std::string frame, bool close_after = false);
  void write_out();
  void arm_idle_timer();

  ClientPort& port_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer idle_timer_;
  const WatcherId id_;
  std::string peer_;
  SessionContext session_;
  uint32_t timeout_ms_ = 0;
  bool serving_ = false;
  bool closed_ = false;
  bool reading_ = false;
  bool close_when_written_ = false;

  std::array<char, 64 * 1024> receive_;  // what one read takes from the socket
  std::string in_;           // bytes read, not yet a whole frame (from in_start_)
  size_t in_start_ = 0;
  std::string out_;          // queued for the socket
  std::string writing_;      // handed to the socket
  bool write_pending_ = false;

  std::deque<Slot> slots_;   // requests in arrival order, until their replies are written
  uint64_t first_seq_ = 0;   // seq of slots_.front()
  uint64_t next_start_ = 0;  // seq of the first slot not yet started
  bool starting_ = false;
  size_t outstanding_bytes_ = 0;
  uint64_t received_ = 0;
  uint64_t sent_ = 0;
  std::chrono::steady_clock::time_point last_heard_;
};

}  // namespace quorumfs::zk
