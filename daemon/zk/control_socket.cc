#include "daemon/zk/control_socket.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/endian/conversion.hpp>
#include <cerrno>
#include <cstring>
#include <random>
#include <spdlog/spdlog.h>

#include "daemon/zk/connection.h"
#include "daemon/zk/local_access.h"

namespace quorumfs::zk {

namespace {

uint32_t big_endian_u32(const char* bytes) {
  uint32_t value;
  std::memcpy(&value, bytes, 4);
  return boost::endian::big_to_native(value);
}

// The peer's supplementary groups as the kernel captured them when it connected, beside
// SO_PEERCRED's uid and gid (SO_PEERGROUPS, Linux 4.13): never read from /proc, where the pid may
// have exited or been reused since. The kernel bounds them (NGROUPS_MAX).
bool peer_groups(int fd, std::vector<uint32_t>* groups) {
  std::vector<gid_t> buffer(64);
  auto length = static_cast<socklen_t>(buffer.size() * sizeof(gid_t));
  if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, buffer.data(), &length) != 0) {
    if (errno != ERANGE) return false;
    // length now says what they need.
    buffer.resize(length / sizeof(gid_t) + 1);
    length = static_cast<socklen_t>(buffer.size() * sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, buffer.data(), &length) != 0) return false;
  }
  buffer.resize(length / sizeof(gid_t));
  groups->assign(buffer.begin(), buffer.end());
  return true;
}

bool served_here(int32_t op) {
  switch (op) {
    case kExists:
    case kGetData:
    case kSetData:
    case kDelete:
    case kCheck:
    case kMulti:
    case kSync:
    case kPing:
    case kCloseSession:
      return true;
    default:
      return false;
  }
}

bool served_in_multi(int32_t op) {
  return op == kCreate || op == kCreate2 || op == kSetData || op == kDelete || op == kCheck;
}

}  // namespace

class ControlConnection : public std::enable_shared_from_this<ControlConnection> {
 public:
  ControlConnection(ControlSocket& owner, boost::asio::local::stream_protocol::socket socket)
      : owner_(owner),
        socket_(std::move(socket)),
        idle_timer_(socket_.get_executor()),
        write_timer_(socket_.get_executor()) {}

  void start() {
    ucred credentials{};
    socklen_t length = sizeof credentials;
    if (getsockopt(socket_.native_handle(), SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) {
      return close("SO_PEERCRED failed");
    }
    peer_ = fmt::format("pid {} uid {}", credentials.pid, credentials.uid);
    if (!owner_.admit(credentials.uid)) return close("");
    admitted_uid_ = credentials.uid;
    caller_.uid = credentials.uid;
    caller_.gid = credentials.gid;
    if (!peer_groups(socket_.native_handle(), &caller_.groups)) {
      return close(fmt::format("SO_PEERGROUPS failed: {}: closed", std::strerror(errno)));
    }
    proto::Caller caller;
    caller.set_uid(caller_.uid);
    caller.set_gid(caller_.gid);
    for (uint32_t group : caller_.groups) caller.add_groups(group);
    session_.local_caller = caller;
    session_.send_event = [](std::string) {};
    read_first_bytes();
  }

  void close(const std::string& why) {
    if (closed_) return;
    closed_ = true;
    if (!why.empty()) owner_.note(fmt::format("{}: {}", peer_, why));
    boost::system::error_code ignored;
    socket_.close(ignored);
    idle_timer_.cancel();
    write_timer_.cancel();
    owner_.forget(this, admitted_uid_);
  }

 private:
  // Called before each read the connection waits on: the peer has kControlIdleTimeout to send.
  void expect_input() {
    waiting_for_input_ = true;
    idle_timer_.expires_after(kControlIdleTimeout);
    idle_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& cancelled) {
      auto self = weak.lock();
      if (!self || cancelled || !self->waiting_for_input_) return;
      self->close(fmt::format("nothing sent for {} s: closed", kControlIdleTimeout.count()));
    });
  }

  void read_first_bytes() {
    in_.resize(4);
    expect_input();
    boost::asio::async_read(socket_, boost::asio::buffer(in_.data(), 4),
                            [self = shared_from_this()](const boost::system::error_code& error, size_t) {
                              self->waiting_for_input_ = false;
                              if (error || self->closed_) return self->close("");
                              const std::string first(self->in_.data(), 4);
                              if (is_four_letter_word(first)) return self->send(self->owner_.four_letter_word(first), true);
                              const uint32_t length = big_endian_u32(self->in_.data());
                              if (length > kConnectFrameBytesMax) {
                                return self->close(fmt::format("a connect request of {} bytes: closed", length));
                              }
                              self->read_frame(length, true);
                            });
  }

  void read_header() {
    in_.resize(4);
    expect_input();
    boost::asio::async_read(socket_, boost::asio::buffer(in_.data(), 4),
                            [self = shared_from_this()](const boost::system::error_code& error, size_t) {
                              self->waiting_for_input_ = false;
                              if (error || self->closed_) return self->close("");
                              const uint32_t length = big_endian_u32(self->in_.data());
                              if (length > self->owner_.options().frame_bytes_max) {
                                return self->close(fmt::format("a frame of {} bytes (at most {}): closed", length,
                                                               self->owner_.options().frame_bytes_max));
                              }
                              self->read_frame(length, false);
                            });
  }

  void read_frame(uint32_t length, bool connect) {
    in_.resize(length);
    expect_input();
    boost::asio::async_read(socket_, boost::asio::buffer(in_.data(), length),
                            [self = shared_from_this(), connect](const boost::system::error_code& error, size_t) {
                              self->waiting_for_input_ = false;
                              if (error || self->closed_) return self->close("");
                              if (connect) return self->on_connect();
                              self->on_request();
                            });
  }

  // No session: the connect is answered with session 0 and a password of zeros.
  void on_connect() {
    ConnectRequest request;
    if (!decode_connect(in_, &request)) return close("a malformed connect request: closed");
    answer(encode_connect_response(0, 0, std::string(16, '\0'), false));
  }

  void on_request() {
    Request request;
    if (!decode_request(in_, owner_.decode_limits(), &request)) {
      const int32_t op = peek_opcode(in_);
      return close(fmt::format("a malformed or unknown request (opcode {}, {}): closed", op, op_name(op)));
    }
    const DataTree& tree = owner_.service().tree();
    const int64_t zxid = tree.last_applied_zxid();
    if (request.op == kCloseSession) return send(RequestHandler::error_frame(request.xid, zxid, kOk), true);
    if (!served_here(request.op)) {
      owner_.note(fmt::format("{}: {} is not served here: Unimplemented", peer_, op_name(request.op)));
      return answer(RequestHandler::error_frame(request.xid, zxid, kUnimplemented));
    }
    request.watch = false;  // nothing would fire them: this socket holds no watches
    int32_t err = kOk;
    if (request.op == kMulti) {
      for (const Request& op : request.ops) {
        if (!served_in_multi(op.op)) err = kUnimplemented;
        if (err == kOk) err = posix_check(tree, op, caller_);
      }
    } else if (request.op != kPing) {  // a ping names no node: nothing to check
      err = posix_check(tree, request, caller_);
    }
    // A refused multi is answered with the error in its header, not per op (docs/quorumctl.md).
    if (err != kOk) return answer(RequestHandler::error_frame(request.xid, zxid, err));
    request_ = std::move(request);
    const bool write = is_write_op(request_.op);
    owner_.handler().handle(request_, session_, [weak = weak_from_this(), write](std::string frame, bool close_after) {
      auto self = weak.lock();
      if (!self || self->closed_) return;
      if (close_after) return self->send(std::move(frame), true);
      const auto& after = self->owner_.options().after_mount_shows;
      if (!write || !after) return self->answer(std::move(frame));
      after([weak, frame = std::move(frame)]() mutable {
        if (auto self = weak.lock(); self && !self->closed_) self->answer(std::move(frame));
      });
    });
  }

  // One request at a time: the next is read once this one's reply is written (so a connection
  // holds one reply at most, kControlWriteTimeout).
  void answer(std::string frame) {
    read_after_write_ = true;
    send(std::move(frame), false);
  }

  void send(std::string frame, bool close_after) {
    out_.push_back(std::move(frame));
    close_after_ |= close_after;
    if (!writing_) write_next();
  }

  void write_next() {
    if (closed_) return;
    if (out_.empty()) {
      writing_ = false;
      writing_frame_ = std::string();
      if (close_after_) return close("");
      if (read_after_write_) {
        read_after_write_ = false;
        read_header();
      }
      return;
    }
    writing_ = true;
    writing_frame_ = std::move(out_.front());
    out_.erase(out_.begin());
    write_timer_.expires_after(owner_.options().write_timeout);
    const uint64_t write = ++writes_;
    write_timer_.async_wait([weak = weak_from_this(), write](const boost::system::error_code& cancelled) {
      auto self = weak.lock();
      if (!self || cancelled || !self->writing_ || self->writes_ != write) return;
      self->close(fmt::format("a reply not read for {} ms: closed", self->owner_.options().write_timeout.count()));
    });
    boost::asio::async_write(socket_, boost::asio::buffer(writing_frame_),
                             [self = shared_from_this()](const boost::system::error_code& error, size_t) {
                               self->write_timer_.cancel();
                               if (error) return self->close("");
                               self->writing_ = false;
                               self->write_next();
                             });
  }

  ControlSocket& owner_;
  boost::asio::local::stream_protocol::socket socket_;
  boost::asio::steady_timer idle_timer_;
  boost::asio::steady_timer write_timer_;
  bool waiting_for_input_ = false;
  std::optional<uint32_t> admitted_uid_;
  LocalCaller caller_;
  SessionContext session_;
  Request request_;  // the one being answered (the handler keeps a reference)
  std::string peer_;
  std::string in_;
  std::vector<std::string> out_;
  std::string writing_frame_;
  bool writing_ = false;
  uint64_t writes_ = 0;  // the write the write timer is armed for
  bool read_after_write_ = false;  // the next request is read once out_ is written
  bool close_after_ = false;
  bool closed_ = false;
};

ControlSocket::ControlSocket(boost::asio::io_context& io, service::Service& service, ControlSocketOptions options)
    : io_(io),
      service_(service),
      options_(std::move(options)),
      handler_(service, watches_, options_.handler),
      acceptor_(io) {}

ControlSocket::~ControlSocket() { stop(); }

bool ControlSocket::start(std::string* error) {
  // An abstract name: a leading NUL, no file, gone with the process. Anyone may have bound it
  // first (a squatter that guessed the pid): then "NAME-RANDOM", a few times.
  const std::string base = options_.name;
  std::random_device entropy;
  boost::system::error_code failed;
  for (int attempt = 0; attempt <= kControlNameRetries; ++attempt) {
    if (attempt > 0) {
      const uint64_t suffix = (uint64_t{entropy()} << 32) | entropy();
      options_.name = fmt::format("{}-{:016x}", base, suffix);
    }
    const boost::asio::local::stream_protocol::endpoint endpoint(std::string(1, '\0') + options_.name);
    failed.clear();
    if (acceptor_.is_open()) acceptor_.close(failed);
    acceptor_.open(endpoint.protocol(), failed);
    if (!failed) acceptor_.bind(endpoint, failed);
    if (failed != boost::asio::error::address_in_use) break;
    spdlog::warn("control socket: @{} is taken by another process", options_.name);
  }
  if (!failed) acceptor_.listen(boost::asio::socket_base::max_listen_connections, failed);
  if (failed) {
    *error = fmt::format("control socket @{}: {}", options_.name, failed.message());
    return false;
  }
  spdlog::info("control socket: serving quorumctl on @{}", options_.name);
  accept();
  return true;
}

void ControlSocket::stop() {
  if (stopped_) return;
  stopped_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  auto connections = connections_;
  for (auto& [raw, connection] : connections) connection->close("");
}

void ControlSocket::accept() {
  acceptor_.async_accept([this](const boost::system::error_code& error,
                                boost::asio::local::stream_protocol::socket socket) {
    if (stopped_) return;
    if (error) {
      spdlog::warn("control socket: accept failed: {}", error.message());
      // Out of descriptors, most likely: the next connection tries again.
      boost::asio::post(io_, [this] {
        if (!stopped_) accept();
      });
      return;
    }
    // The last kControlConnectionsRootReserved slots are root's: other users cannot lock it out.
    ucred credentials{};
    socklen_t length = sizeof credentials;
    const bool known = getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0;
    const size_t limit = known && credentials.uid == 0 ? kControlConnectionsMax
                                                       : kControlConnectionsMax - kControlConnectionsRootReserved;
    if (connections_.size() >= limit) {
      refuse(fmt::format("{} connections open (at most {}, {} of them root's only): one more refused",
                         connections_.size(), kControlConnectionsMax, kControlConnectionsRootReserved));
    } else {
      auto connection = std::make_shared<ControlConnection>(*this, std::move(socket));
      connections_.emplace(connection.get(), connection);
      connection->start();
    }
    accept();
  });
}

bool ControlSocket::admit(uint32_t uid) {
  if (uid == 0) return true;
  size_t& count = per_uid_[uid];
  if (count >= kControlConnectionsPerUidMax) {
    refuse(fmt::format("uid {} has {} connections open (at most {}): one more refused", uid, count,
                       kControlConnectionsPerUidMax));
    return false;
  }
  ++count;
  return true;
}

// One line a second at most: a client that connects in a loop must not flood the log.
void ControlSocket::refuse(const std::string& line) {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_refusal_log_ < std::chrono::seconds(1)) return;
  last_refusal_log_ = now;
  spdlog::warn("control socket: {}", line);
}

// The same for what a connection did (a malformed or unserved request, a timeout): any local
// user may send those in a loop.
void ControlSocket::note(const std::string& line) {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_note_log_ < std::chrono::seconds(1)) {
    ++notes_unlogged_;
    return;
  }
  last_note_log_ = now;
  if (notes_unlogged_ > 0) {
    spdlog::info("control socket: {} ({} more such lines in the last seconds not logged)", line, notes_unlogged_);
  } else {
    spdlog::info("control socket: {}", line);
  }
  notes_unlogged_ = 0;
}

void ControlSocket::forget(ControlConnection* connection, std::optional<uint32_t> admitted_uid) {
  const auto found = connections_.find(connection);
  if (found == connections_.end()) return;
  if (admitted_uid && *admitted_uid != 0) {
    if (const auto uid = per_uid_.find(*admitted_uid); uid != per_uid_.end() && --uid->second == 0) per_uid_.erase(uid);
  }
  // The connection may be inside one of its own calls: it is destroyed once that has returned.
  boost::asio::post(io_, [keep = std::move(found->second)] {});
  connections_.erase(found);
}

std::string ControlSocket::four_letter_word(const std::string& word) const {
  const MemberReport member = options_.report ? options_.report() : MemberReport{};
  const DataTree& tree = service_.tree();
  if (word == "ruok") return "imok";
  if (word == "srvr") {
    return fmt::format("Zookeeper version: 3.8.0-quorumfs, built on unknown\nZxid: {:#x}\nMode: {}\nNode count: {}\n",
                       member.last_zxid, member.mode, tree.node_count());
  }
  if (word != "mntr") return word + " is not served on the control socket (ruok, srvr, mntr).\n";
  std::string text;
  const auto line = [&](std::string_view key, const auto& value) { text += fmt::format("zk_{}\t{}\n", key, value); };
  line("version", "3.8.0-quorumfs");
  line("server_state", member.mode);
  line("epoch", member.epoch);
  line("last_zxid", fmt::format("{:#x}", member.last_zxid));
  line("znode_count", tree.node_count());
  line("open_sessions", tree.open_session_count());
  line("ephemerals_count", tree.ephemeral_count());
  // quorumfs's own: the mount's user.zk.state (docs/mount.md).
  line("quorumfs_state", service_.synced() ? "synced" : "unsynced");
  line("quorumfs_server_id", member.server_id);
  line("quorumfs_data_max_bytes", options_.handler.data_bytes_max);  // quorumctl checks data with it
  if (member.mode == "leader") {
    size_t synced = 0;
    for (const MemberReport::Peer& peer : member.peers) synced += peer.synced && !peer.observer ? 1 : 0;
    line("followers", member.peers.size());
    line("synced_followers", synced);
  }
  for (const MemberReport::Peer& peer : member.peers) {
    text += fmt::format("quorumfs_peer_{}\t{} {} acked={:#x} lag={}\n", peer.id, peer.observer ? "observer" : "follower",
                        peer.synced ? "synced" : "syncing", peer.acked_zxid, peer.lag_txns);
  }
  return text;
}

}  // namespace quorumfs::zk
