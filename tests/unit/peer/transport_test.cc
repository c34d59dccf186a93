#include "daemon/peer/transport.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include "consensus/check.h"
#include "daemon/peer/auth.h"
#include "daemon/peer/connection.h"
#include "daemon/peer/framing.h"
#include "daemon/proto/peer.pb.h"

namespace quorumfs::peer {
namespace {

using boost::asio::ip::tcp;
using testing::HasSubstr;
using namespace std::chrono_literals;

// Collects the default logger's lines while alive, so a test can check what an operator would read.
class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<Sink>()) { spdlog::default_logger()->sinks().push_back(sink_); }
  ~LogCapture() {
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::find(sinks.begin(), sinks.end(), sink_));
  }
  bool contains(const std::string& text) const { return count(text) > 0; }
  size_t count(const std::string& text) const {
    std::lock_guard lock(sink_->mutex);
    return std::count_if(sink_->lines.begin(), sink_->lines.end(),
                         [&](const std::string& line) { return line.find(text) != std::string::npos; });
  }
  std::string all() const {
    std::lock_guard lock(sink_->mutex);
    std::string text;
    for (const std::string& line : sink_->lines) text += line + "\n";
    return text;
  }

 private:
  struct Sink : spdlog::sinks::base_sink<std::mutex> {
    void sink_it_(const spdlog::details::log_msg& message) override {
      std::lock_guard lock(mutex);
      lines.emplace_back(message.payload.data(), message.payload.size());
    }
    void flush_() override {}
    mutable std::mutex mutex;  // base_sink's own lock does not cover our reads
    std::vector<std::string> lines;
  };
  std::shared_ptr<Sink> sink_;
};

uint16_t free_port() {
  boost::asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

// What a member's transport reported through its callbacks.
struct Events {
  std::vector<std::pair<NodeId, consensus::Message>> messages;
  std::vector<std::pair<NodeId, std::vector<uint64_t>>> keepalives;
  std::vector<NodeId> ups;
  std::vector<NodeId> downs;
  size_t count() const { return messages.size() + keepalives.size() + ups.size() + downs.size(); }
};

consensus::Message message(NodeId from, NodeId to, uint64_t token, std::string payload = "") {
  consensus::Message message;
  message.type = consensus::MessageType::kProposal;
  message.from = from;
  message.to = to;
  message.token = token;
  message.entry.zxid = make_zxid(1, static_cast<uint32_t>(token));
  message.entry.payload = std::make_shared<const std::string>(std::move(payload));
  return message;
}

class Ensemble : public testing::Test {
 protected:
  static constexpr NodeId kMembers = 3;

  Ensemble() {
    for (NodeId id = 1; id <= kMembers; ++id) members_[id] = {"127.0.0.1", free_port()};
  }

  PeerTransportOptions options(NodeId id) {
    PeerTransportOptions options;
    options.my_id = id;
    options.members = members_;
    options.secret = "the ensemble's secret";
    options.handshake_timeout = 2s;
    return options;
  }

  PeerTransport& start(NodeId id) { return start(options(id)); }

  PeerTransport& start(PeerTransportOptions options) {
    const NodeId id = options.my_id;
    Events& events = events_[id];
    PeerCallbacks callbacks{
        .on_message = [&events](NodeId from, consensus::Message m) { events.messages.emplace_back(from, m); },
        .on_keepalive = [&events](NodeId from, std::vector<uint64_t> ids) { events.keepalives.emplace_back(from, ids); },
        .on_up = [&events](NodeId peer) { events.ups.push_back(peer); },
        .on_down = [&events](NodeId peer) { events.downs.push_back(peer); },
    };
    transports_[id] = std::make_unique<PeerTransport>(io_, std::move(options), std::move(callbacks));
    std::string error;
    EXPECT_TRUE(transports_[id]->start(&error)) << error;
    return *transports_[id];
  }

  // Runs the loop until done() holds or the deadline passes; false on the deadline.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds deadline = 5s) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= until) return false;
      io_.restart();
      io_.run_for(5ms);
    }
    return true;
  }

  void run_for(std::chrono::milliseconds duration) {
    run_until([] { return false; }, duration);
  }

  bool all_connected() {
    for (auto& [id, transport] : transports_) {
      for (auto& [other, unused] : transports_) {
        if (other != id && !transport->connected(other)) return false;
      }
    }
    return true;
  }

  boost::asio::io_context io_;
  std::map<NodeId, PeerEndpoint> members_;
  std::map<NodeId, Events> events_;
  std::map<NodeId, std::unique_ptr<PeerTransport>> transports_;  // declared after io_: destroyed first
};

TEST_F(Ensemble, ThreeMembers_ExchangeMessagesBothWays) {
  for (NodeId id = 1; id <= kMembers; ++id) start(id);
  ASSERT_TRUE(run_until([&] { return all_connected(); }));
  for (NodeId id = 1; id <= kMembers; ++id) {
    EXPECT_THAT(events_[id].ups, testing::UnorderedElementsAreArray(id == 1   ? std::vector<NodeId>{2, 3}
                                                                    : id == 2 ? std::vector<NodeId>{1, 3}
                                                                              : std::vector<NodeId>{1, 2}));
  }
  for (NodeId from = 1; from <= kMembers; ++from) {
    for (NodeId to = 1; to <= kMembers; ++to) {
      if (from != to) transports_[from]->send(to, message(from, to, from * 10 + to, "from " + std::to_string(from)));
    }
  }
  transports_[3]->send_keepalive(1, {0xdeadbeefcafef00dull, 7});
  ASSERT_TRUE(run_until([&] {
    return events_[1].messages.size() == 2 && events_[2].messages.size() == 2 && events_[3].messages.size() == 2 &&
           events_[1].keepalives.size() == 1;
  }));
  for (NodeId to = 1; to <= kMembers; ++to) {
    for (const auto& [from, got] : events_[to].messages) {
      EXPECT_EQ(got.from, from);
      EXPECT_EQ(got.to, to);
      EXPECT_EQ(got.token, from * 10 + to);
      EXPECT_EQ(*got.entry.payload, "from " + std::to_string(from));
    }
  }
  EXPECT_EQ(events_[1].keepalives[0].first, 3u);
  EXPECT_EQ(events_[1].keepalives[0].second, (std::vector<uint64_t>{0xdeadbeefcafef00dull, 7}));
  EXPECT_EQ(transports_[3]->counters(1).frames_sent, 2u);
  EXPECT_EQ(transports_[1]->counters(3).frames_received, 2u);
}

TEST_F(Ensemble, ManyMessagesAtOnce_ArriveInOrder_AndABigOneIntact) {
  start(1);
  start(2);
  ASSERT_TRUE(run_until([&] { return all_connected(); }));
  for (uint64_t token = 1; token <= 5000; ++token) transports_[2]->send(1, message(2, 1, token));
  consensus::Message snapshot = message(2, 1, 5001);
  snapshot.type = consensus::MessageType::kSnap;
  snapshot.snapshot = std::make_shared<const std::string>(20u << 20, 's');
  transports_[2]->send(1, snapshot);
  ASSERT_TRUE(run_until([&] { return events_[1].messages.size() == 5001; }, 20s));
  for (uint64_t token = 1; token <= 5001; ++token) EXPECT_EQ(events_[1].messages[token - 1].second.token, token);
  EXPECT_EQ(*events_[1].messages.back().second.snapshot, *snapshot.snapshot);
  EXPECT_EQ(transports_[2]->counters(1).frames_sent, 5001u);
}

TEST_F(Ensemble, StoppedMember_IsDownForTheOthersAtOnce_AndUpAgainWhenBack) {
  for (NodeId id = 1; id <= kMembers; ++id) start(id);
  ASSERT_TRUE(run_until([&] { return all_connected(); }));
  const size_t events_of_3 = events_[3].count();
  transports_[3]->stop();
  // Closing the sockets is what the kernel does for a process killed with -9.
  ASSERT_TRUE(run_until([&] { return events_[1].downs.size() == 1 && events_[2].downs.size() == 1; }, 1s));
  EXPECT_EQ(events_[1].downs, std::vector<NodeId>{3});
  EXPECT_EQ(events_[2].downs, std::vector<NodeId>{3});
  EXPECT_EQ(events_[3].count(), events_of_3) << "a callback ran after stop()";
  transports_[1]->send(3, message(1, 3, 1));
  EXPECT_EQ(transports_[1]->counters(3).frames_dropped, 1u);

  transports_.erase(3);
  events_.erase(3);
  start(3);  // same port: the listener reuses the address
  ASSERT_TRUE(run_until([&] { return all_connected(); }));
  EXPECT_EQ(events_[1].ups, (std::vector<NodeId>{2, 3, 3}));
  EXPECT_EQ(transports_[1]->counters(3).connections, 2u);
  run_for(100ms);
  EXPECT_EQ(events_[1].downs.size(), 1u);
}

TEST_F(Ensemble, DialerKeepsRedialing_UntilTheLowerIdStarts) {
  start(2);
  run_for(300ms);  // several failed attempts
  EXPECT_FALSE(transports_[2]->connected(1));
  start(1);
  ASSERT_TRUE(run_until([&] { return all_connected(); }, 3s));
}

TEST_F(Ensemble, PortInUse_IsAnErrorNotACrash) {
  start(1);
  PeerTransport second(io_, options(1), {});
  std::string error;
  EXPECT_FALSE(second.start(&error));
  EXPECT_THAT(error, HasSubstr("cannot listen on 127.0.0.1:" + std::to_string(members_[1].port)));
}

TEST_F(Ensemble, WrongSecret_IsRefused_NothingDelivered) {
  LogCapture log;
  start(1);
  PeerTransportOptions other = options(2);
  other.secret = "another secret";
  start(other);
  run_for(300ms);
  EXPECT_EQ(events_[1].count(), 0u);
  EXPECT_EQ(events_[2].count(), 0u);
  EXPECT_TRUE(log.contains("authentication failed")) << log.all();
  EXPECT_TRUE(log.contains("127.0.0.1:" + std::to_string(members_[1].port))) << log.all();
}

TEST_F(Ensemble, VersionMismatch_IsRefused_LogNamesBothVersionsAndTheAddress) {
  LogCapture log;
  start(1);
  PeerTransportOptions newer = options(2);
  newer.protocol_version = kProtocolVersion + 1;
  start(newer);
  run_for(300ms);
  EXPECT_EQ(events_[1].count(), 0u);
  EXPECT_EQ(events_[2].count(), 0u);
  EXPECT_TRUE(log.contains(fmt::format("refusing 127.0.0.1:")));
  EXPECT_TRUE(log.contains(fmt::format("it speaks protocol version {}, this build speaks version {}",
                                       kProtocolVersion + 1, kProtocolVersion)))
      << log.all();
  EXPECT_TRUE(log.contains(fmt::format("server 1 at 127.0.0.1:{} refused the connection", members_[1].port)))
      << log.all();
}

// Speaks to a transport by hand, from its own thread, with blocking calls bounded by a timeout.
class RawPeer {
 public:
  // from: the local address to connect from; any of 127.0.0.0/8 is this host on Linux, which lets
  // one test be several remote addresses.
  explicit RawPeer(uint16_t port, const std::string& from = "127.0.0.1") : socket_(io_) {
    socket_.open(tcp::v4());
    socket_.bind(tcp::endpoint(boost::asio::ip::make_address(from), 0));
    socket_.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
    timeval timeout{.tv_sec = 3, .tv_usec = 0};
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  void write_bytes(const std::string& bytes) { boost::asio::write(socket_, boost::asio::buffer(bytes)); }
  // False once the other side is gone.
  bool try_write_bytes(const std::string& bytes) {
    boost::system::error_code error;
    boost::asio::write(socket_, boost::asio::buffer(bytes), error);
    return !error;
  }
  void write_frame(const proto::PeerFrame& frame) {
    std::string bytes;
    append_frame(frame, 1 << 20, &bytes);
    write_bytes(bytes);
  }
  // nullopt when the other side closed (or said nothing in time).
  std::optional<proto::PeerFrame> read_frame() {
    char header[4];
    boost::system::error_code error;
    boost::asio::read(socket_, boost::asio::buffer(header), error);
    if (error) return std::nullopt;
    const uint32_t bytes = uint32_t(uint8_t(header[0])) << 24 | uint32_t(uint8_t(header[1])) << 16 |
                           uint32_t(uint8_t(header[2])) << 8 | uint8_t(header[3]);
    std::string body(bytes, '\0');
    boost::asio::read(socket_, boost::asio::buffer(body), error);
    proto::PeerFrame frame;
    if (error || !frame.ParseFromString(body)) return std::nullopt;
    return frame;
  }
  // Without waiting: true once the other side closed the connection. Only for a peer that has
  // been sent nothing (it would see those bytes first).
  bool closed_by_peer() {
    char byte;
    const ssize_t received = ::recv(socket_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return received == 0 || (received < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  }
  static proto::PeerFrame hello(NodeId id, uint32_t version = kProtocolVersion) {
    proto::PeerFrame frame;
    frame.mutable_hello()->set_version(version);
    frame.mutable_hello()->set_server_id(id);
    frame.mutable_hello()->set_nonce(std::string(kNonceBytes, 'n'));
    return frame;
  }

  // The dialer's half of the handshake, as docs/wire.md tells it. True once accepted.
  bool authenticate(NodeId id, const std::string& secret) {
    proto::PeerFrame frame = hello(id);
    const std::string nonce = frame.hello().nonce();
    write_frame(frame);
    std::optional<proto::PeerFrame> answer = read_frame();
    if (!answer || !answer->has_hello()) return false;
    proto::PeerFrame proof;
    proof.mutable_proof()->set_mac(handshake_mac(secret, HandshakeRole::kDialer, id, nonce,
                                                 answer->hello().nonce(), kProtocolVersion));
    write_frame(proof);
    answer = read_frame();
    return answer && answer->has_accepted();
  }

 private:
  boost::asio::io_context io_;
  tcp::socket socket_;
};

class Stranger : public Ensemble {
 protected:
  const std::string secret_ = options(1).secret;

  // Runs script against member 1 on a thread while the loop runs here.
  void talk(const std::function<void(RawPeer&)>& script, const std::string& from = "127.0.0.1") {
    std::atomic<bool> done = false;
    std::thread thread([&] {
      RawPeer raw(members_[1].port, from);
      script(raw);
      done = true;
    });
    const bool finished = run_until([&] { return done.load(); }, 8s);
    thread.join();
    ASSERT_TRUE(finished);
    run_for(50ms);
  }
};

TEST_F(Stranger, HandshakeByTheDocument_IsAccepted_AndANewerConnectionReplacesTheOld) {
  start(1);
  bool first_up = false, second_up = false;
  std::optional<proto::PeerFrame> on_first_after_second;
  talk([&](RawPeer& first) {
    first_up = first.authenticate(2, secret_);
    // The same member again, as if it restarted while the first connection looked alive.
    RawPeer second(members_[1].port);
    second_up = second.authenticate(2, secret_);
    on_first_after_second = first.read_frame();
  });
  EXPECT_TRUE(first_up);
  EXPECT_TRUE(second_up);
  EXPECT_FALSE(on_first_after_second);  // the old connection was closed
  EXPECT_EQ(events_[1].ups, (std::vector<NodeId>{2, 2}));
  EXPECT_EQ(events_[1].downs, (std::vector<NodeId>{2, 2}));  // the replaced one, then the second at the end
}

TEST_F(Stranger, PeerThatDoesNotRead_IsDisconnected_WhenItsQueueOverflows) {
  LogCapture log;
  PeerTransportOptions small_queue = options(1);
  small_queue.send_queue_bytes_max = 1 << 20;
  start(small_queue);
  std::atomic<bool> authenticated = false, release = false;
  std::thread thread([&] {
    RawPeer raw(members_[1].port);
    authenticated = raw.authenticate(2, secret_);
    while (!release) std::this_thread::sleep_for(1ms);  // never reads
  });
  const bool up = run_until([&] { return authenticated.load(); });
  for (uint64_t token = 1; up && token <= 2000; ++token) {
    transports_[1]->send(2, message(1, 2, token, std::string(1024, 'p')));
  }
  const bool down = run_until([&] { return !events_[1].downs.empty(); });
  release = true;
  thread.join();
  ASSERT_TRUE(up);
  EXPECT_TRUE(down);
  EXPECT_GT(transports_[1]->counters(2).frames_dropped, 0u);
  EXPECT_TRUE(log.contains("it does not keep up")) << log.all();
}

TEST_F(Stranger, UnknownServerId_IsRefused) {
  LogCapture log;
  start(1);
  std::optional<proto::PeerFrame> answer;
  talk([&](RawPeer& raw) {
    raw.write_frame(RawPeer::hello(9));
    answer = raw.read_frame();
  });
  ASSERT_TRUE(answer && answer->has_refusal());
  EXPECT_EQ(answer->refusal().reason(), "server 9 is not a configured member");
  EXPECT_EQ(events_[1].count(), 0u);
  EXPECT_TRUE(log.contains("(claims to be server 9): server 9 is not a configured member")) << log.all();
}

TEST_F(Stranger, LowerIdDialing_IsRefused) {
  start(2);
  std::optional<proto::PeerFrame> answer;
  members_[1] = members_[2];  // talk() dials member 1's port
  talk([&](RawPeer& raw) {
    raw.write_frame(RawPeer::hello(1));
    answer = raw.read_frame();
  });
  ASSERT_TRUE(answer && answer->has_refusal());
  EXPECT_THAT(answer->refusal().reason(), HasSubstr("this server dials it"));
}

TEST_F(Stranger, WrongProof_IsRefused_NothingDelivered) {
  LogCapture log;
  start(1);
  std::optional<proto::PeerFrame> hello, answer;
  talk([&](RawPeer& raw) {
    raw.write_frame(RawPeer::hello(2));
    hello = raw.read_frame();
    proto::PeerFrame proof;
    proof.mutable_proof()->set_mac(std::string(32, 'x'));
    raw.write_frame(proof);
    answer = raw.read_frame();
  });
  ASSERT_TRUE(hello && hello->has_hello());
  EXPECT_EQ(hello->hello().server_id(), 1u);
  EXPECT_EQ(hello->hello().nonce().size(), kNonceBytes);
  ASSERT_TRUE(answer && answer->has_refusal());
  EXPECT_THAT(answer->refusal().reason(), HasSubstr("authentication failed"));
  EXPECT_EQ(events_[1].count(), 0u);
  EXPECT_TRUE(log.contains("(claims to be server 2): authentication failed")) << log.all();
}

TEST_F(Stranger, MessageBeforeProof_IsDroppedNotDelivered) {
  LogCapture log;
  start(1);
  std::optional<proto::PeerFrame> after;
  talk([&](RawPeer& raw) {
    raw.write_frame(RawPeer::hello(2));
    raw.read_frame();
    proto::PeerFrame frame;
    frame.mutable_consensus()->set_type(1);
    frame.mutable_consensus()->set_from(2);
    frame.mutable_consensus()->set_to(1);
    raw.write_frame(frame);
    after = raw.read_frame();
  });
  EXPECT_FALSE(after);  // closed without a word
  EXPECT_EQ(events_[1].count(), 0u);
  EXPECT_TRUE(log.contains("unexpected frame (field 5) during the handshake")) << log.all();
}

TEST_F(Stranger, Garbage_IsDropped) {
  LogCapture log;
  start(1);
  std::optional<proto::PeerFrame> after_http, after_junk;
  talk([&](RawPeer& raw) {
    raw.write_bytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    after_http = raw.read_frame();
  });
  talk(
      [&](RawPeer& raw) {
        raw.write_bytes(std::string("\0\0\0\4\xff\xff\xff\xff", 8));
        after_junk = raw.read_frame();
      },
      "127.0.0.2");  // from another address: one line per address per interval
  EXPECT_FALSE(after_http);
  EXPECT_FALSE(after_junk);
  EXPECT_EQ(events_[1].count(), 0u);
  EXPECT_TRUE(log.contains("frame of 1195725856 bytes is over the limit of 4096 bytes")) << log.all();
  EXPECT_TRUE(log.contains("a frame that does not parse")) << log.all();
}

TEST_F(Stranger, Trickle_IsDroppedAtTheHandshakeTimeout_NotKeptAliveByItsBytes) {
  LogCapture log;
  PeerTransportOptions impatient = options(1);
  impatient.handshake_timeout = 200ms;
  start(impatient);
  bool closed = false;
  talk([&](RawPeer& raw) {
    // A header announcing the largest handshake frame, then its body a byte every 10 ms (40 s).
    const std::string bytes = std::string("\0\0\x10\0", 4) + std::string(kHandshakeFrameBytesMax, 'x');
    const auto until = std::chrono::steady_clock::now() + 6s;
    for (size_t at = 0; at < bytes.size() && std::chrono::steady_clock::now() < until; ++at) {
      if (raw.closed_by_peer() || !raw.try_write_bytes(bytes.substr(at, 1))) {
        closed = true;
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
  });
  EXPECT_TRUE(closed);
  EXPECT_TRUE(log.contains("handshake not finished within 200 ms")) << log.all();
}

TEST_F(Stranger, ManyBadConnectionsFromOneAddress_OneLogLinePerInterval) {
  LogCapture log;
  start(1);
  for (int i = 0; i < 20; ++i) {
    talk([&](RawPeer& raw) {
      raw.write_bytes("GET / HTTP/1.1\r\n\r\n");
      raw.read_frame();
    }, "127.0.0.2");
  }
  EXPECT_EQ(log.count("peer: dropping 127.0.0.2:"), 1u) << log.all();
  talk([&](RawPeer& raw) { raw.write_frame(RawPeer::hello(9)); raw.read_frame(); }, "127.0.0.3");
  EXPECT_TRUE(log.contains("peer: refusing 127.0.0.3:")) << log.all();  // another address has its own line
}

TEST_F(Stranger, Silence_IsDroppedAfterTheHandshakeTimeout) {
  LogCapture log;
  PeerTransportOptions impatient = options(1);
  impatient.handshake_timeout = 200ms;
  start(impatient);
  std::optional<proto::PeerFrame> after;
  talk([&](RawPeer& raw) { after = raw.read_frame(); });
  EXPECT_FALSE(after);
  EXPECT_TRUE(log.contains("handshake not finished within 200 ms")) << log.all();
}

// --- strangers on the peer port (docs/wire.md, "Strangers")

class Crowd : public Stranger {
 protected:
  // A transport for member 1 whose handshakes would last the whole test: a stranger it closes
  // early is closed by a cap, not by the timeout.
  PeerTransport& start_capped(size_t handshakes_max, size_t handshakes_per_address_max) {
    PeerTransportOptions capped = options(1);
    capped.handshakes_max = handshakes_max;
    capped.handshakes_per_address_max = handshakes_per_address_max;
    capped.handshake_timeout = 60s;
    return start(capped);
  }
  // Connections that say nothing. The kernel completes them before member 1 accepts.
  std::vector<std::unique_ptr<RawPeer>> connect(const std::string& from, size_t count) {
    std::vector<std::unique_ptr<RawPeer>> crowd;
    for (size_t i = 0; i < count; ++i) crowd.push_back(std::make_unique<RawPeer>(members_[1].port, from));
    return crowd;
  }
  static size_t closed(const std::vector<std::unique_ptr<RawPeer>>& crowd) {
    return std::count_if(crowd.begin(), crowd.end(), [](const auto& raw) { return raw->closed_by_peer(); });
  }
  ListenerCounters listener() { return transports_[1]->listener_counters(); }
};

TEST_F(Crowd, PastThePerAddressCap_ClosedAtOnce_WhileAMemberConnects_AndLoggedOnce) {
  LogCapture log;
  start_capped(64, 2);
  std::vector<std::unique_ptr<RawPeer>> from_2 = connect("127.0.0.2", 7);
  std::vector<std::unique_ptr<RawPeer>> from_3 = connect("127.0.0.3", 1);
  ASSERT_TRUE(run_until([&] { return listener().handshakes_refused == 5 && closed(from_2) == 5; }))
      << listener().handshakes_refused << " refused, " << closed(from_2) << " closed";
  EXPECT_EQ(listener().handshakes, 3u);
  // Accepted in the order they connected: the first two from 127.0.0.2 are the ones waiting.
  EXPECT_FALSE(from_2[0]->closed_by_peer());
  EXPECT_FALSE(from_2[1]->closed_by_peer());
  EXPECT_FALSE(from_3[0]->closed_by_peer());

  start(2);  // a member, from 127.0.0.1, while the strangers still wait
  ASSERT_TRUE(run_until([&] { return all_connected(); }));
  EXPECT_EQ(events_[1].ups, std::vector<NodeId>{2});
  EXPECT_EQ(listener().handshakes, 3u);
  EXPECT_EQ(log.count("closing a connection from 127.0.0.2 at once"), 1u) << log.all();
  EXPECT_TRUE(log.contains("2 connections from it are in their handshake (handshakes_per_address_max)")) << log.all();
}

TEST_F(Crowd, PastTheTotalCap_StrangersClosedAtOnce_AMemberStillGetsIn) {
  LogCapture log;
  start_capped(4, 2);
  std::vector<std::unique_ptr<RawPeer>> holders = connect("127.0.0.2", 2);
  for (std::unique_ptr<RawPeer>& raw : connect("127.0.0.3", 2)) holders.push_back(std::move(raw));
  ASSERT_TRUE(run_until([&] { return listener().handshakes == 4; }));
  std::vector<std::unique_ptr<RawPeer>> extra;
  for (int host = 4; host < 10; ++host) {
    extra.push_back(std::make_unique<RawPeer>(members_[1].port, fmt::format("127.0.0.{}", host)));
  }
  ASSERT_TRUE(run_until([&] { return listener().handshakes_refused == 6 && closed(extra) == 6; }));
  EXPECT_EQ(closed(holders), 0u);
  EXPECT_EQ(listener().handshakes, 4u);
  EXPECT_TRUE(log.contains("closing a connection from 127.0.0.9 at once: 4 connections are in their handshake "
                           "(handshakes_max)"))
      << log.all();

  // A member, from the address the configuration names, is not held out by strangers holding
  // every slot: the total cap is not its.
  start(2);
  ASSERT_TRUE(run_until([&] { return all_connected(); }));
  EXPECT_FALSE(log.contains("closing a connection from 127.0.0.1 at once")) << log.all();
  EXPECT_EQ(closed(holders), 0u);
  holders.clear();
  ASSERT_TRUE(run_until([&] { return listener().handshakes == 0; }));
}

TEST_F(Crowd, StrangersHoldAtMostAHandshakeFrame_AndOneAnnouncingAHugeFrameIsClosed) {
  LogCapture log;
  start_capped(64, 8);
  // Eight strangers each announce the largest handshake frame and send most of it.
  std::vector<std::unique_ptr<RawPeer>> crowd = connect("127.0.0.2", 8);
  std::string nearly_a_frame = std::string("\0\0\x10\0", 4) + std::string(kHandshakeFrameBytesMax - 100, 'x');
  for (std::unique_ptr<RawPeer>& raw : crowd) raw->write_bytes(nearly_a_frame);
  // A write buffer holds a hello or a refusal at most: a few hundred bytes.
  constexpr size_t kPerStrangerBytesMax = kFrameHeaderBytes + kHandshakeFrameBytesMax + 512;
  size_t buffer_bytes_max = 0;
  auto sample = [&] {
    buffer_bytes_max = std::max(buffer_bytes_max, listener().handshake_buffer_bytes);
    return listener().handshakes == 8;
  };
  ASSERT_TRUE(run_until(sample));
  run_until([&] { sample(); return false; }, 100ms);  // time to read what they sent

  // One more announces 256 MiB (a snapshot's worth) before it has authenticated.
  std::optional<proto::PeerFrame> after;
  std::atomic<bool> done = false;
  std::thread thread([&] {
    RawPeer raw(members_[1].port, "127.0.0.3");
    raw.write_bytes(std::string("\x10\0\0\0", 4) + std::string(1000, 'x'));
    after = raw.read_frame();
    done = true;
  });
  const bool finished = run_until([&] { return sample() && done.load(); }, 10s);
  thread.join();
  ASSERT_TRUE(finished);
  EXPECT_FALSE(after);  // closed, well before the 60 s handshake timeout
  EXPECT_TRUE(log.contains("frame of 268435456 bytes is over the limit of 4096 bytes")) << log.all();
  EXPECT_EQ(listener().handshakes, 8u);
  EXPECT_GE(buffer_bytes_max, 8 * kHandshakeFrameBytesMax);  // the counter sees them
  EXPECT_LE(buffer_bytes_max, 9 * kPerStrangerBytesMax);
  EXPECT_EQ(closed(crowd), 0u);
}

// While alive, this process has no descriptor left: its soft RLIMIT_NOFILE is lowered to what is
// open and any free number below it is taken, so socket(), accept() and open() fail with EMFILE.
// Both are given back when it is destroyed, whatever the test did meanwhile.
class NoDescriptorsLeft {
 public:
  NoDescriptorsLeft() {
    QFS_CHECK(getrlimit(RLIMIT_NOFILE, &saved_) == 0, "the test reads its descriptor limit");
    const int lowest_free = ::open("/dev/null", O_RDONLY);
    QFS_CHECK(lowest_free >= 0, "the test has a descriptor to start with");
    fillers_.push_back(lowest_free);
    rlimit lowered = saved_;
    lowered.rlim_cur = static_cast<rlim_t>(lowest_free) + 8;
    QFS_CHECK(setrlimit(RLIMIT_NOFILE, &lowered) == 0, "a process may lower its own soft limit");
    for (int fd; (fd = ::open("/dev/null", O_RDONLY)) >= 0;) fillers_.push_back(fd);
  }
  ~NoDescriptorsLeft() {
    for (int fd : fillers_) ::close(fd);
    setrlimit(RLIMIT_NOFILE, &saved_);
  }
  NoDescriptorsLeft(const NoDescriptorsLeft&) = delete;
  NoDescriptorsLeft& operator=(const NoDescriptorsLeft&) = delete;

 private:
  rlimit saved_{};
  std::vector<int> fillers_;
};

TEST_F(Crowd, AcceptOutOfDescriptors_KeepsTrying_AndAMemberGetsInOnceTheyAreBack) {
  LogCapture log;
  start_capped(64, 8);
  RawPeer waiting(members_[1].port);  // in the kernel's queue until member 1 can accept it
  {
    NoDescriptorsLeft exhausted;
    const int socket = ::socket(AF_INET, SOCK_STREAM, 0);
    const int error = errno;
    EXPECT_EQ(socket, -1);
    EXPECT_EQ(error, EMFILE);
    // Retried every 100 ms: three failures take a few hundred ms.
    ASSERT_TRUE(run_until([&] { return listener().accept_failures >= 3; }));
    EXPECT_EQ(listener().handshakes, 0u);
  }
  EXPECT_EQ(log.count("accepting a connection failed: Too many open files"), 1u) << log.all();  // not one per try
  start(2);
  ASSERT_TRUE(run_until([&] { return all_connected(); }));
  EXPECT_EQ(listener().handshakes, 1u);  // the one that waited was accepted too
}

}  // namespace
}  // namespace quorumfs::peer
