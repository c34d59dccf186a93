// The client port over real loopback sockets: the port and its service run on an io_context in
// a thread of their own (as on the daemon's event loop); the test is the client, with blocking
// sockets (docs/zk-protocol.md, "Requests" and "Limits").
#include "daemon/zk/client_port.h"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "daemon/zk/jute.h"
#include "daemon/zk/protocol.h"
#include "tests/unit/service/tree_replication.h"

namespace quorumfs::zk {
namespace {

using boost::asio::ip::tcp;

std::string connect_request(int64_t session_id = 0, const std::string& password = std::string(16, '\0')) {
  std::string frame;
  JuteWriter out(&frame);
  const size_t start = out.begin_frame();
  out.write_int(kProtocolVersion);
  out.write_long(0);     // lastZxidSeen
  out.write_int(10000);  // timeout
  out.write_long(session_id);
  out.write_buffer(password);
  out.write_bool(false);
  out.end_frame(start);
  return frame;
}

std::string get_data(int32_t xid, const std::string& path) {
  std::string frame;
  JuteWriter out(&frame);
  const size_t start = out.begin_frame();
  out.write_int(xid);
  out.write_int(kGetData);
  out.write_string(path);
  out.write_bool(false);
  out.end_frame(start);
  return frame;
}

std::string set_data(int32_t xid, const std::string& path, const std::string& data) {
  std::string frame;
  JuteWriter out(&frame);
  const size_t start = out.begin_frame();
  out.write_int(xid);
  out.write_int(kSetData);
  out.write_string(path);
  out.write_buffer(data);
  out.write_int(-1);
  out.end_frame(start);
  return frame;
}

std::string create(int32_t xid, const std::string& path, const std::string& acl_scheme, const std::string& acl_id) {
  std::string frame;
  JuteWriter out(&frame);
  const size_t start = out.begin_frame();
  out.write_int(xid);
  out.write_int(kCreate);
  out.write_string(path);
  out.write_buffer("data");
  out.write_int(1);  // one ACL entry, every permission
  out.write_int(31);
  out.write_string(acl_scheme);
  out.write_string(acl_id);
  out.write_int(kPersistent);
  out.end_frame(start);
  return frame;
}

std::string add_watch(int32_t xid, const std::string& path, int32_t mode) {
  std::string frame;
  JuteWriter out(&frame);
  const size_t start = out.begin_frame();
  out.write_int(xid);
  out.write_int(kAddWatch);
  out.write_string(path);
  out.write_int(mode);
  out.end_frame(start);
  return frame;
}

class ClientPortTest : public ::testing::Test {
 protected:
  ClientPortTest() : replication_(&io_), service_(replication_, 1, std::chrono::seconds(10)) {
    replication_.attach(&service_);
    service_.sessions().start(replication_.tree(), 1000);
    ClientPortOptions options;
    options.address = "127.0.0.1";
    options.port = 0;
    options.secret = "test secret";
    options.frame_bytes_max = (1 << 20) + 64 * 1024;
    options.four_letter_words = {"ruok"};
    port_ = std::make_unique<ClientPort>(io_, service_, options);
    std::string error;
    EXPECT_TRUE(port_->start(&error)) << error;
    loop_ = std::thread([this] { io_.run(); });
  }
  ~ClientPortTest() override {
    // Stopping closes every connection and the listener: the loop then runs out of work.
    boost::asio::post(io_, [this] { port_->stop(); });
    work_.reset();
    loop_.join();
  }

  tcp::socket dial() {
    tcp::socket socket(client_io_);
    socket.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port_->bound_port()));
    return socket;
  }

  // Reads one frame (its body); empty when the port closed the connection.
  static std::string read_frame(tcp::socket& socket) {
    std::string length(4, '\0');
    boost::system::error_code error;
    boost::asio::read(socket, boost::asio::buffer(length.data(), 4), error);
    if (error) return {};
    JuteReader in(length);
    std::string body(static_cast<size_t>(in.read_int()), '\0');
    boost::asio::read(socket, boost::asio::buffer(body.data(), body.size()), error);
    return error ? std::string() : body;
  }

  // Connects a new session; its id.
  int64_t open_session(tcp::socket& socket) {
    boost::asio::write(socket, boost::asio::buffer(connect_request()));
    const std::string response = read_frame(socket);
    JuteReader in(response);
    in.read_int();  // protocol version
    EXPECT_EQ(10000, in.read_int());
    return in.read_long();
  }

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_ =
      boost::asio::make_work_guard(io_);
  service::TreeReplication replication_;
  service::Service service_;
  std::unique_ptr<ClientPort> port_;
  std::thread loop_;
  boost::asio::io_context client_io_;
};

// Hundreds of reads and writes in one burst, as a pipelining client sends them: every reply comes
// once, in request order, even when the port stops and resumes reading past its limits.
TEST_F(ClientPortTest, APipelinedBurstIsAnsweredOnceEachInOrder) {
  tcp::socket socket = dial();
  ASSERT_NE(0, open_session(socket));
  constexpr int32_t kRequests = 3000;  // past kOutstandingRequestsMax: reading stops and resumes
  std::string burst;
  for (int32_t xid = 1; xid <= kRequests; ++xid) {
    burst += xid % 7 == 0 ? set_data(xid, "/", "v" + std::to_string(xid)) : get_data(xid, "/");
  }
  std::thread writer([&] { boost::asio::write(socket, boost::asio::buffer(burst)); });
  for (int32_t xid = 1; xid <= kRequests; ++xid) {
    const std::string reply = read_frame(socket);
    ASSERT_FALSE(reply.empty()) << "closed before the reply of xid " << xid;
    JuteReader in(reply);
    ASSERT_EQ(xid, in.read_int());
    in.read_long();
    ASSERT_EQ(kOk, in.read_int()) << "xid " << xid;
  }
  writer.join();
}

// 64 requests in flight, as zkbench keeps them: each burst is read in one go and answered inline,
// and the port must not start a second read of the socket while one is under way.
TEST_F(ClientPortTest, BurstsOf64AreAnsweredOnceEachInOrder) {
  tcp::socket socket = dial();
  ASSERT_NE(0, open_session(socket));
  int32_t xid = 0;
  for (int round = 0; round < 50; ++round) {
    std::string burst;
    for (int i = 0; i < 64; ++i) burst += get_data(++xid, "/");
    boost::asio::write(socket, boost::asio::buffer(burst));
    for (int32_t expected = xid - 63; expected <= xid; ++expected) {
      const std::string reply = read_frame(socket);
      ASSERT_FALSE(reply.empty()) << "closed before the reply of xid " << expected;
      JuteReader in(reply);
      ASSERT_EQ(expected, in.read_int());
    }
  }
}

// While the mount's echo is echo_backlog_max changes behind, writes wait unstarted, in order with
// their connection's later requests; another connection's reads are answered meanwhile. Writes
// start again once the backlog is down to half, not before (docs/zk-protocol.md, "Limits").
TEST_F(ClientPortTest, WritesWaitWhileTheMountIsFarBehindWithItsEvents) {
  const auto backlog = [this](size_t changes) {
    std::promise<bool> held;
    boost::asio::post(io_, [&] {
      port_->mount_backlog(changes);
      held.set_value(port_->writes_held());
    });
    return held.get_future().get();
  };
  tcp::socket writer = dial();
  ASSERT_NE(0, open_session(writer));
  tcp::socket reader = dial();
  ASSERT_NE(0, open_session(reader));
  const size_t limit = ClientPortOptions{}.echo_backlog_max;
  EXPECT_FALSE(backlog(limit - 1));
  EXPECT_TRUE(backlog(limit));
  boost::asio::write(writer, boost::asio::buffer(set_data(1, "/", "held") + get_data(2, "/")));
  boost::asio::write(reader, boost::asio::buffer(get_data(1, "/")));
  const std::string read_meanwhile = read_frame(reader);
  JuteReader reply(read_meanwhile);
  EXPECT_EQ(1, reply.read_int());
  reply.read_long();
  EXPECT_EQ(kOk, reply.read_int());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(0u, writer.available()) << "the write and the read behind it wait";
  EXPECT_TRUE(backlog(limit / 2 + 1)) << "held until the backlog is down to half";
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(0u, writer.available());
  EXPECT_FALSE(backlog(limit / 2));
  for (int32_t xid = 1; xid <= 2; ++xid) {
    const std::string frame = read_frame(writer);
    ASSERT_FALSE(frame.empty()) << "closed before the reply of xid " << xid;
    JuteReader in(frame);
    EXPECT_EQ(xid, in.read_int());
    in.read_long();
    EXPECT_EQ(kOk, in.read_int());
  }
  std::promise<std::pair<std::string, uint64_t>> after;  // read on the loop, which owns both
  boost::asio::post(io_, [&] { after.set_value({std::string(replication_.tree().find("/")->data()), port_->write_holds()}); });
  const auto [data, holds] = after.get_future().get();
  EXPECT_EQ(data, "held");
  EXPECT_EQ(holds, 1u);
}

TEST_F(ClientPortTest, AFourLetterWordIsAnsweredAndAWordNotWhitelistedIsRefused) {
  tcp::socket ruok = dial();
  boost::asio::write(ruok, boost::asio::buffer(std::string("ruok")));
  std::string answer(4, '\0');
  boost::asio::read(ruok, boost::asio::buffer(answer.data(), 4));
  EXPECT_EQ("imok", answer);

  tcp::socket mntr = dial();
  boost::asio::write(mntr, boost::asio::buffer(std::string("mntr")));
  std::string text;
  boost::system::error_code error;
  boost::asio::read(mntr, boost::asio::dynamic_buffer(text), error);
  EXPECT_EQ("mntr is not executed because it is not in the whitelist.\n", text);
}

TEST_F(ClientPortTest, AnOversizedFrameClosesTheConnectionAndThePortServesOn) {
  tcp::socket socket = dial();
  ASSERT_NE(0, open_session(socket));
  boost::asio::write(socket, boost::asio::buffer(std::string("\x7f\xff\xff\xff", 4)));
  EXPECT_EQ("", read_frame(socket));  // closed

  tcp::socket next = dial();
  EXPECT_NE(0, open_session(next));
}

TEST_F(ClientPortTest, AResumeWithAWrongPasswordIsAnsweredAsAnExpiredSession) {
  tcp::socket first = dial();
  const int64_t session = open_session(first);
  ASSERT_NE(0, session);
  tcp::socket second = dial();
  boost::asio::write(second, boost::asio::buffer(connect_request(session, std::string(16, 'x'))));
  const std::string response = read_frame(second);
  JuteReader in(response);
  in.read_int();
  EXPECT_EQ(0, in.read_int());   // timeout 0
  EXPECT_EQ(0, in.read_long());  // session 0: the client reports SessionExpired
  EXPECT_EQ("", read_frame(second));  // then closed
}

TEST_F(ClientPortTest, AResumeWithTheRightPasswordKeepsTheSession) {
  tcp::socket first = dial();
  boost::asio::write(first, boost::asio::buffer(connect_request()));
  const std::string response = read_frame(first);
  JuteReader in(response);
  in.read_int();
  in.read_int();
  const int64_t session = in.read_long();
  const std::string password = in.read_buffer(64);
  tcp::socket second = dial();
  boost::asio::write(second, boost::asio::buffer(connect_request(session, password)));
  const std::string resumed_response = read_frame(second);
  JuteReader resumed(resumed_response);
  resumed.read_int();
  EXPECT_EQ(10000, resumed.read_int());
  EXPECT_EQ(session, resumed.read_long());
  EXPECT_EQ("", read_frame(first));  // the session's old connection is closed
}


// A recursive watch on / tells a session of nodes it may read, never of one whose ACL shuts it out
// (docs/zk-protocol.md, "Watches").
TEST_F(ClientPortTest, ARecursiveWatchIsNotToldOfANodeItMayNotRead) {
  tcp::socket watcher = dial();
  ASSERT_NE(0, open_session(watcher));
  boost::asio::write(watcher, boost::asio::buffer(add_watch(1, "/", kAddWatchPersistentRecursive)));
  ASSERT_FALSE(read_frame(watcher).empty());  // the addWatch reply
  tcp::socket writer = dial();
  ASSERT_NE(0, open_session(writer));
  const std::string burst = create(1, "/secret", "digest", "user:aYXlLOpEooaV1cRAvUL1fp9Qt7E=") +
                            create(2, "/open", "world", "anyone");
  boost::asio::write(writer, boost::asio::buffer(burst));
  ASSERT_FALSE(read_frame(writer).empty());
  ASSERT_FALSE(read_frame(writer).empty());
  const std::string event = read_frame(watcher);
  JuteReader in(event);
  EXPECT_EQ(kNotificationXid, in.read_int());
  in.read_long();
  in.read_int();
  EXPECT_EQ(kNodeCreated, in.read_int());
  in.read_int();
  EXPECT_EQ("/open", in.read_string(64));  // the first event it hears of is /open's
}
}  // namespace
}  // namespace quorumfs::zk
