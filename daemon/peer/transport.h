// The ensemble's peer transport: one authenticated TCP connection per pair of members, carrying
// consensus messages and the daemon's session keepalives (docs/wire.md has the bytes).
//
//   boost::asio::io_context io;
//   PeerTransport transport(io, {.my_id = 2, .members = {{1, {"10.0.0.1", 2888}},
//                                                        {2, {"10.0.0.2", 2888}}}, .secret = s},
//                           {.on_message = ..., .on_keepalive = ..., .on_up = ..., .on_down = ...});
//   std::string error;
//   if (!transport.start(&error)) ...;   // "cannot listen on 10.0.0.2:2888: Address already in use"
//   io.run();                            // callbacks run here; send() is called from here too
//
// Who dials: the member with the higher id dials the one with the lower id, and redials with a
// bounded backoff for as long as the transport runs; the lower id only accepts. So there is never
// more than one connection attempt per pair, and no tie to break. If the dialer comes back (a
// restart) while the acceptor still holds its old connection, the newer authenticated connection
// replaces the old one: on_down then on_up.
//
// Delivery: a message is written on the live connection in order, or dropped (and counted) when
// there is none. Zab tolerates the loss: on_down tells the core, which re-syncs. Nothing from a
// connection reaches the callbacks before both sides proved they hold the secret.
//
// Strangers: until then a connection is capped in number (in all and per address), in time and in
// bytes, and what is said about them in the log is rate-limited (docs/wire.md, "Strangers").
//
// Threads: none of its own. Everything, callbacks included, runs on the thread running the
// io_context; call every method from that thread (or while the io_context is not running).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "consensus/replica.h"

namespace quorumfs::peer {

using consensus::NodeId;

// Versions this build speaks; the dialer proposes kProtocolVersion and the acceptor must answer
// with the same (docs/wire.md, "Versions").
constexpr uint32_t kProtocolVersion = 2;

struct PeerEndpoint {
  std::string host;
  uint16_t port = 0;
};

struct PeerTransportOptions {
  NodeId my_id = 0;
  std::map<NodeId, PeerEndpoint> members;  // every member, this one included (where it listens)
  std::string secret;                      // peerSecretFile's contents; empty: see auth.h
  std::chrono::milliseconds redial_delay_min{20};
  std::chrono::milliseconds redial_delay_max{1000};
  std::chrono::milliseconds handshake_timeout{5000};  // connect + handshake, both sides
  // Accepted connections that have not authenticated yet ("handshakes"): each holds a descriptor
  // and about 5 KiB until it authenticates or handshake_timeout passes, and one past either cap is
  // closed at once (docs/wire.md, "Strangers"). A member has one attempt under way toward us at a
  // time (two, briefly, after it restarts), so 64 leave room for any ensemble while a flood holds
  // at most 64 descriptors and a few hundred KiB. 8 per address let several members share a host
  // (scripts/ensemble.sh runs three on one) while one stranger host takes no more than an eighth.
  size_t handshakes_max = 64;                             // connections
  size_t handshakes_per_address_max = 8;                  // connections from one IPv4 address or IPv6 /64
  std::chrono::milliseconds stranger_log_interval{10000};  // one line per address, or accept() error, per interval
  size_t frame_bytes_max = 256u << 20;                // a snapshot travels in one frame
  size_t send_queue_bytes_max = 512u << 20;           // beyond: the peer is too slow, disconnect
  uint32_t protocol_version = kProtocolVersion;       // tests only: claim another version
};

struct PeerCallbacks {
  std::function<void(NodeId from, consensus::Message message)> on_message;
  std::function<void(NodeId from, std::vector<uint64_t> session_ids)> on_keepalive;
  std::function<void(NodeId peer)> on_up;    // an authenticated connection to peer is live
  std::function<void(NodeId peer)> on_down;  // it broke; once per on_up
};

struct PeerCounters {
  uint64_t frames_sent = 0;      // queued on a live connection
  uint64_t frames_dropped = 0;   // not connected, or the frame was over frame_bytes_max
  uint64_t frames_received = 0;  // consensus and keepalive frames delivered
  uint64_t connections = 0;      // times the peer came up
};

// What strangers cost this member's listener (docs/wire.md, "Strangers").
struct ListenerCounters {
  size_t handshakes = 0;              // accepted connections not yet authenticated
  size_t handshake_buffer_bytes = 0;  // memory those hold for reads and writes
  uint64_t handshakes_refused = 0;    // closed at once: over handshakes_max or handshakes_per_address_max
  uint64_t accept_failures = 0;       // accept() failed (out of descriptors, say) and was retried
};

class PeerTransport {
 public:
  PeerTransport(boost::asio::io_context& io, PeerTransportOptions options, PeerCallbacks callbacks);
  ~PeerTransport();  // stop()
  PeerTransport(const PeerTransport&) = delete;
  PeerTransport& operator=(const PeerTransport&) = delete;

  // Listens on this member's endpoint and starts dialing. False and *error when it cannot listen
  // (or this member is not in the members map).
  bool start(std::string* error);
  // Closes every connection and the listener. No callback runs after it returns.
  void stop();

  // Queue for the peer (message.to should be to); dropped when the peer is not connected.
  void send(NodeId to, const consensus::Message& message);
  void send_keepalive(NodeId to, const std::vector<uint64_t>& session_ids);

  bool connected(NodeId peer) const;
  PeerCounters counters(NodeId peer) const;
  ListenerCounters listener_counters() const;
  uint16_t listen_port() const;  // after start(): the bound port (useful when configured as 0)

 private:
  class Core;
  std::shared_ptr<Core> core_;
};

}  // namespace quorumfs::peer
