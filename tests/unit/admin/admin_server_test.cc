// The admin endpoint over real loopback sockets: the server runs on an io_context in a thread of
// its own (as on the daemon's event loop); the test is the client, with blocking sockets. What a
// client may send is bounded (admin_server.h) and a bad request is answered, never fatal.
#include "daemon/admin/admin_server.h"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <future>
#include <string>
#include <thread>
#include <vector>

namespace quorumfs::admin {
namespace {

using boost::asio::ip::tcp;

class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AdminServerOptions options;
    options.port = 0;  // any free port
    options.read_timeout = std::chrono::milliseconds(300);
    server_ = std::make_unique<AdminServer>(io_, Endpoint([this]() -> const DataTree& { return tree_; }, Sources{}),
                                            options);
    std::string error;
    ASSERT_TRUE(server_->start(&error)) << error;
    port_ = server_->bound_port();
    loop_ = std::thread([this] { io_.run(); });
  }

  void TearDown() override {
    boost::asio::post(io_, [this] { server_->stop(); });
    work_.reset();
    io_.stop();
    loop_.join();
  }

  tcp::socket connect() {
    tcp::socket socket(client_io_);
    socket.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port_));
    return socket;
  }

  // Sends bytes, then reads until the server closes (or timeout_ms passes).
  std::string exchange(const std::string& request, bool half_close = true) {
    tcp::socket socket = connect();
    // The server may have closed already (a refused connection): what it sent is the answer.
    boost::system::error_code ignored;
    boost::asio::write(socket, boost::asio::buffer(request), ignored);
    if (half_close) socket.shutdown(tcp::socket::shutdown_send, ignored);
    return read_all(socket);
  }

  static std::string read_all(tcp::socket& socket) {
    std::string reply;
    boost::system::error_code error;
    char buffer[4096];
    while (true) {
      const size_t got = socket.read_some(boost::asio::buffer(buffer), error);
      if (error) break;
      reply.append(buffer, got);
    }
    return reply;
  }

  template <typename Fn>
  auto on_loop(Fn fn) {
    std::promise<decltype(fn())> done;
    boost::asio::post(io_, [&] { done.set_value(fn()); });
    return done.get_future().get();
  }

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{io_.get_executor()};
  boost::asio::io_context client_io_;
  DataTree tree_;
  std::unique_ptr<AdminServer> server_;
  uint16_t port_ = 0;
  std::thread loop_;
};

TEST_F(AdminServerTest, Get_AnswersJsonAndCloses) {
  const std::string reply = exchange("GET /commands/ruok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(reply.substr(0, 15), "HTTP/1.1 200 OK") << reply;
  EXPECT_NE(reply.find("Content-Type: application/json"), std::string::npos) << reply;
  EXPECT_NE(reply.find("{\"command\":\"ruok\",\"error\":null}"), std::string::npos) << reply;
}

TEST_F(AdminServerTest, KeepAlive_TwoRequestsOnOneConnection) {
  const std::string request = "GET /commands/ruok HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string reply = exchange(request + request);
  size_t count = 0;
  for (size_t at = reply.find("HTTP/1.1 200"); at != std::string::npos; at = reply.find("HTTP/1.1 200", at + 1)) ++count;
  EXPECT_EQ(count, 2u) << reply;
}

TEST_F(AdminServerTest, Head_HasLengthButNoBody) {
  const std::string reply = exchange("HEAD /commands/ruok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(reply.substr(0, 15), "HTTP/1.1 200 OK") << reply;
  EXPECT_NE(reply.find("Content-Length: 32"), std::string::npos) << reply;
  EXPECT_EQ(reply.find("ruok\""), std::string::npos) << reply;
}

TEST_F(AdminServerTest, Post_405WithAllow) {
  const std::string reply = exchange("POST /commands/ruok HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(reply.substr(0, 12), "HTTP/1.1 405") << reply;
  EXPECT_NE(reply.find("Allow: GET, HEAD"), std::string::npos) << reply;
}

TEST_F(AdminServerTest, OversizedHeader_431AndTheServerGoesOn) {
  const std::string big(kRequestHeaderBytesMax + 100, 'a');
  const std::string reply = exchange("GET /commands/ruok HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n", false);
  EXPECT_EQ(reply.substr(0, 12), "HTTP/1.1 431") << reply.substr(0, 200);
  EXPECT_NE(reply.find("\"error\""), std::string::npos);
  EXPECT_EQ(exchange("GET /commands/ruok HTTP/1.0\r\n\r\n").substr(0, 12), "HTTP/1.1 200");
}

TEST_F(AdminServerTest, RequestBody_413) {
  const std::string reply = exchange("GET /commands/ruok HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", false);
  EXPECT_EQ(reply.substr(0, 12), "HTTP/1.1 413") << reply;
}

TEST_F(AdminServerTest, Garbage_400) {
  const std::string reply = exchange("\x01\x02 not http at all\r\n\r\n");
  EXPECT_EQ(reply.substr(0, 12), "HTTP/1.1 400") << reply;
}

TEST_F(AdminServerTest, ConnectionsBeyondTheLimit_Closed) {
  std::vector<tcp::socket> held;
  for (size_t i = 0; i < kAdminConnectionsMax; ++i) held.push_back(connect());
  // The server has taken them all once it counts them.
  for (int i = 0; i < 200 && on_loop([this] { return server_->connection_count(); }) < kAdminConnectionsMax; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(on_loop([this] { return server_->connection_count(); }), kAdminConnectionsMax);
  EXPECT_EQ(exchange("GET /commands/ruok HTTP/1.0\r\n\r\n"), "");  // closed at once
  EXPECT_EQ(on_loop([this] { return server_->refused_count(); }), 1u);
  held.clear();
  for (int i = 0; i < 200 && on_loop([this] { return server_->connection_count(); }) > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(exchange("GET /commands/ruok HTTP/1.0\r\n\r\n").substr(0, 12), "HTTP/1.1 200");
}

TEST_F(AdminServerTest, StalledRequest_ClosedAfterTheReadTimeout) {
  tcp::socket socket = connect();
  boost::asio::write(socket, boost::asio::buffer(std::string("GET /commands/ruok HTTP/1.1\r\nHost:")));
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(read_all(socket), "");
  const auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_GE(waited, std::chrono::milliseconds(250));
  EXPECT_LT(waited, std::chrono::seconds(5));
  EXPECT_EQ(exchange("GET /commands/ruok HTTP/1.0\r\n\r\n").substr(0, 12), "HTTP/1.1 200");
}

TEST_F(AdminServerTest, PortTaken_StartFailsWithTheReason) {
  AdminServerOptions options;
  options.port = port_;
  AdminServer second(io_, Endpoint([this]() -> const DataTree& { return tree_; }, Sources{}), options);
  std::string error;
  EXPECT_FALSE(on_loop([&] { return second.start(&error); }));
  EXPECT_NE(error.find("admin endpoint 127.0.0.1:" + std::to_string(port_)), std::string::npos) << error;
  on_loop([&] { second.stop(); return 0; });
}

}  // namespace
}  // namespace quorumfs::admin
