// The control socket (docs/quorumctl.md, "The control socket"): ZooKeeper's client protocol on a
// Linux abstract Unix socket, "@quorumfs-PID", for quorumctl's requests the mount cannot express
// (a setData or delete at a version, a multi, status). The mount publishes its name in the root's
// xattr user.quorumfs.control.
//
// The caller is the peer's SO_PEERCRED uid and gid and its SO_PEERGROUPS supplementary groups,
// all captured by the kernel at connect (a connection whose groups cannot be read is closed),
// checked as the mount checks its callers: ZooKeeper's ACL with uid:/gid:
// entries and uid 0 as the super user, and, since no kernel checks anything on this path, the
// POSIX mode bits by the daemon itself (local_access.h). Only the ops it can check that way are
// served: exists, getData, setData, delete, check, multi of create/setData/delete/check, sync,
// ping, closeSession, and the four-letter words ruok, srvr and mntr (whatever the whitelist says:
// the socket is local). Requests belong to no ZooKeeper session (the connect is answered with
// session 0): ephemeral creates, and creates in a set-gid directory, are refused; a create in a
// sticky directory is sequential and every create takes its parent's ACL, as on the mount.
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
// either, a new one is closed at once (logged, one line a second at most). Root's connections are
// counted in the first, but the last kControlConnectionsRootReserved slots are theirs alone.
inline constexpr size_t kControlConnectionsMax = 256;
inline constexpr size_t kControlConnectionsPerUidMax = 16;
// Of kControlConnectionsMax, the slots only root's connections may take.
inline constexpr size_t kControlConnectionsRootReserved = 16;
// When "quorumfs-PID" is bound by another process, the names "quorumfs-PID-RANDOM" tried next
// (RANDOM: 16 hex digits), before the socket is given up.
inline constexpr int kControlNameRetries = 4;
// A connection that sends nothing for this long while it is expected to (its connect, its next
// request, the rest of a frame) is closed: an idle local user cannot hold the slots.
inline constexpr std::chrono::seconds kControlIdleTimeout{30};
// A connection holds at most one reply: its next request is read only once the reply to the one
// before has been written to the socket. A reply the peer does not read within this long closes
// the connection (a client that pipelines requests and never reads holds one reply, then none).
inline constexpr std::chrono::seconds kControlWriteTimeout{30};

struct ControlSocketOptions {
  std::string name;              // the abstract name, without the leading NUL: "quorumfs-PID"
  size_t frame_bytes_max = 0;    // a request frame (the client port's bound)
  HandlerOptions handler;
  std::function<MemberReport()> report;
  // Runs its argument once the mount shows every change applied so far (Filesystem::
  // after_echoes): a write is answered after that, so quorumctl's caller reads it back on the
  // mount at once. Unset: answered at once.
  std::function<void(std::function<void()>)> after_mount_shows;
  std::chrono::milliseconds write_timeout = kControlWriteTimeout;  // shorter in tests
};

class ControlSocket {
 public:
  ControlSocket(boost::asio::io_context& io, service::Service& service, ControlSocketOptions options);
  ~ControlSocket();

  bool start(std::string* error);
  void stop();
  // "@quorumfs-PID" (or "@quorumfs-PID-RANDOM" when that was taken): what user.quorumfs.control says.
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
  // Logs what a connection did wrong at info level, one line a second at most.
  void note(const std::string& line);

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
  std::chrono::steady_clock::time_point last_note_log_{};
  size_t notes_unlogged_ = 0;
  bool stopped_ = false;
};

}  // namespace quorumfs::zk
