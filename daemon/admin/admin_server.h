// The admin endpoint's HTTP server (Boost.Beast) on the event loop's io_context: a request is
// read, answered from the tree and the member's state on the loop itself (no lock, no copy of the
// tree), and written back. Loopback by default (docs/operations.md, "Admin endpoint and
// metrics"):
//
//   $ curl -s http://127.0.0.1:8080/commands/ruok
//   {"command":"ruok","error":null}
//
// Limits: kAdminConnectionsMax connections at once (more are closed at accept), a request's
// header of kRequestHeaderBytesMax bytes and no body (431/413 otherwise), kRequestReadTimeout to
// send one (then the connection is closed), and the endpoint's own (endpoint.h). A bad request
// gets its JSON error and the connection closes; nothing a client sends can stop the server or
// the member.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "daemon/admin/endpoint.h"

namespace quorumfs::admin {

inline constexpr size_t kAdminConnectionsMax = 64;
inline constexpr size_t kRequestHeaderBytesMax = 8 * 1024;
inline constexpr std::chrono::seconds kRequestReadTimeout{10};
// Requests answered on one connection before it is closed (keep-alive is bounded too).
inline constexpr size_t kRequestsPerConnectionMax = 1000;

struct AdminServerOptions {
  bool enabled = true;                  // admin.enableServer
  std::string address = "127.0.0.1";    // admin.serverAddress: loopback, unlike ZooKeeper's 0.0.0.0
  uint16_t port = 8080;                 // admin.serverPort (0: any free port)
  std::chrono::milliseconds read_timeout = kRequestReadTimeout;  // tests shorten it
};

class AdminServer {
 public:
  AdminServer(boost::asio::io_context& io, Endpoint endpoint, AdminServerOptions options);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds and listens; false with *error when the address or port cannot be had.
  bool start(std::string* error);
  // Closes the listener and every connection.
  void stop();
  uint16_t bound_port() const;
  size_t connection_count() const { return connections_.size(); }
  uint64_t refused_count() const { return refused_; }

  // For connections.
  const Endpoint& endpoint() const { return endpoint_; }
  std::chrono::milliseconds read_timeout() const { return options_.read_timeout; }
  void forget(uint64_t id);

 private:
  class Connection;
  void accept();

  boost::asio::io_context& io_;
  Endpoint endpoint_;
  AdminServerOptions options_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer accept_timer_;
  std::unordered_map<uint64_t, std::shared_ptr<Connection>> connections_;
  uint64_t next_id_ = 1;
  uint64_t refused_ = 0;
  std::chrono::steady_clock::time_point last_refusal_log_{};
  bool stopped_ = false;
};

}  // namespace quorumfs::admin
