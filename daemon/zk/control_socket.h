// The control socket (docs/quorumctl.md, "The control socket"): ZooKeeper's client protocol on a
// Linux abstract Unix socket, "@quorumfs-PID", for quorumctl's requests the mount cannot express
// (a setData or delete at a version, a multi, status). The mount publishes its name in the root's
// xattr user.quorumfs.control.
//
// The caller is the peer's SO_PEERCRED uid and gid (and its supplementary groups, from
// /proc/PID/status), checked as the mount checks its callers: ZooKeeper's ACL with uid:/gid:
// entries and uid 0 as the super user, and, since no kernel checks anything on this path, the
// POSIX mode bits by the daemon itself (local_access.h). Only the ops it can check that way are
// served: exists, getData, setData, delete, check, multi of create/setData/delete/check, sync,
// ping, closeSession, and the four-letter words ruok, srvr and mntr (whatever the whitelist says:
// the socket is local). Requests belong to no ZooKeeper session (the connect is answered with
// session 0): ephemeral creates are refused.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "daemon/service/service.h"
#include "daemon/zk/client_port.h"
#include "daemon/zk/requests.h"
#include "daemon/zk/watch_table.h"

namespace quorumfs::zk {

class ControlConnection;

// Connections the control socket holds at once, and from one uid (root's not counted); past
// either, a new one is closed at once (logged, one line a second at most).
inline constexpr size_t kControlConnectionsMax = 256;
inline constexpr size_t kControlConnectionsPerUidMax = 16;
// A connection that sends nothing for this long while it is expected to (its connect, its next
// request, the rest of a frame) is closed: an idle local user cannot hold the slots.
inline constexpr std::chrono::seconds kControlIdleTimeout{30};

struct ControlSocketOptions {
  std::string name;              // the abstract name, without the leading NUL: "quorumfs-PID"
  size_t frame_bytes_max = 0;    // a request frame (the client port's bound)
  HandlerOptions handler;
  std::function<MemberReport()> report;
  // Runs its argument once the mount shows every change applied so far (Filesystem::
  // after_echoes): a write is answered after that, so quorumctl's caller reads it back on the
  // mount at once. Unset: answered at once.
  std::function<void(std::function<void()>)> after_mount_shows;
};

class ControlSocket {
 public:
  ControlSocket(boost::asio::io_context& io, service::Service& service, ControlSocketOptions options);
  ~ControlSocket();

  bool start(std::string* error);
  void stop();
  // "@quorumfs-PID": what user.quorumfs.control says.
  std::string published_name() const { return "@" + options_.name; }

  // For connections.
  RequestHandler& handler() { return handler_; }
  service::Service& service() { return service_; }
  const ControlSocketOptions& options() const { return options_; }
  const DecodeLimits& decode_limits() const { return decode_limits_; }
  std::string four_letter_word(const std::string& word) const;
  // A connection of uid may stay (within kControlConnectionsPerUidMax); each one admitted is
  // forgotten once.
  bool admit(uint32_t uid);
  void forget(ControlConnection* connection, std::optional<uint32_t> admitted_uid);

 private:
  void accept();
  void refuse(const std::string& line);

  boost::asio::io_context& io_;
  service::Service& service_;
  ControlSocketOptions options_;
  DecodeLimits decode_limits_;
  WatchTable watches_;  // never holds any: watches are refused here
  RequestHandler handler_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  std::map<ControlConnection*, std::shared_ptr<ControlConnection>> connections_;
  std::map<uint32_t, size_t> per_uid_;
  std::chrono::steady_clock::time_point last_refusal_log_{};
  bool stopped_ = false;
};

}  // namespace quorumfs::zk
