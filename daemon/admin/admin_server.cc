#include "daemon/admin/admin_server.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <array>
#include <optional>
#include <utility>

namespace quorumfs::admin {

namespace beast = boost::beast;
namespace http = boost::beast::http;
using boost::asio::ip::tcp;

constexpr std::chrono::seconds kLingerTime{1};
constexpr size_t kLingerBytesMax = 64 * 1024;

// One client connection: requests one at a time (HTTP/1.1 keep-alive, no pipelining beyond what
// the parser buffers), each answered at once on the loop.
class AdminServer::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(AdminServer& server, tcp::socket socket, uint64_t id)
      : server_(server), stream_(std::move(socket)), id_(id) {}

  void start() { read(); }

  void close() {
    if (closed_) return;
    closed_ = true;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(kRequestHeaderBytesMax);
    parser_->body_limit(0);
    stream_.expires_after(server_.read_timeout());
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code error, size_t) { self->on_read(error); });
  }

  void on_read(beast::error_code error) {
    if (closed_) return;
    if (error == http::error::header_limit) {
      return answer(error_reply(431, fmt::format("request header larger than {} bytes", kRequestHeaderBytesMax)),
                    false, false);
    }
    if (error == http::error::body_limit || error == http::error::unexpected_body) {
      return answer(error_reply(413, "the admin endpoint takes no request body"), false, false);
    }
    // A client that sends no whole request in time is closed (the stream closes its socket).
    if (error == beast::error::timeout) return finish();
    if (error == http::error::end_of_stream || error == boost::asio::error::eof ||
        error == boost::asio::error::connection_reset || error == boost::asio::error::operation_aborted) {
      return finish();
    }
    if (error) {
      return answer(error_reply(400, "malformed HTTP request: " + error.message()), false, false);
    }
    const auto& request = parser_->get();
    const bool head = request.method() == http::verb::head;
    const auto method = request.method_string();
    const auto target = request.target();
    const Reply reply = server_.endpoint().handle(std::string_view(method.data(), method.size()),
                                                  std::string_view(target.data(), target.size()));
    ++served_;
    answer(reply, head, request.keep_alive() && served_ < kRequestsPerConnectionMax);
  }

  void answer(const Reply& reply, bool head, bool keep_alive) {
    response_ = {};
    response_.version(11);
    response_.result(reply.status);
    response_.set(http::field::server, "quorumfs");
    response_.set(http::field::content_type, reply.content_type);
    response_.set(http::field::cache_control, "no-store");
    if (reply.status == 405) response_.set(http::field::allow, "GET, HEAD");
    response_.keep_alive(keep_alive);
    if (head) {
      response_.content_length(reply.body.size());
    } else {
      response_.body() = reply.body;
      response_.prepare_payload();
    }
    stream_.expires_after(server_.read_timeout());
    http::async_write(stream_, response_, [self = shared_from_this(), keep_alive](beast::error_code error, size_t) {
      if (self->closed_) return;
      if (error) return self->finish();
      if (!keep_alive) return self->linger();
      self->read();
    });
  }

  // Closing a socket with unread input resets the connection, and the client may lose the answer
  // (a 431 to a header it is still sending): say we are done, then read and drop what it still
  // sends, for kLingerTime and kLingerBytesMax at most, before closing.
  void linger() {
    if (!lingering_) {
      lingering_ = true;
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      stream_.expires_after(kLingerTime);
    }
    stream_.async_read_some(boost::asio::buffer(discard_), [self = shared_from_this()](beast::error_code error, size_t got) {
      if (self->closed_) return;
      self->lingered_bytes_ += got;
      if (error || self->lingered_bytes_ > kLingerBytesMax) return self->finish();
      self->linger();
    });
  }

  void finish() {
    close();
    server_.forget(id_);
  }

  AdminServer& server_;
  beast::tcp_stream stream_;
  const uint64_t id_;
  // Bounded: a request's header and nothing more is ever buffered.
  beast::flat_buffer buffer_{kRequestHeaderBytesMax + 1024};
  std::optional<http::request_parser<http::empty_body>> parser_;
  http::response<http::string_body> response_;
  size_t served_ = 0;
  bool closed_ = false;
  std::array<char, 4096> discard_;
  size_t lingered_bytes_ = 0;
  bool lingering_ = false;
};

AdminServer::AdminServer(boost::asio::io_context& io, Endpoint endpoint, AdminServerOptions options)
    : io_(io), endpoint_(std::move(endpoint)), options_(std::move(options)), acceptor_(io), accept_timer_(io) {}

AdminServer::~AdminServer() { stop(); }

bool AdminServer::start(std::string* error) {
  boost::system::error_code failed;
  const auto address = boost::asio::ip::make_address(options_.address, failed);
  if (failed) {
    *error = "admin.serverAddress '" + options_.address + "' is not an IP address";
    return false;
  }
  const tcp::endpoint endpoint(address, options_.port);
  acceptor_.open(endpoint.protocol(), failed);
  if (!failed) acceptor_.set_option(tcp::acceptor::reuse_address(true), failed);
  if (!failed) acceptor_.bind(endpoint, failed);
  if (!failed) acceptor_.listen(boost::asio::socket_base::max_listen_connections, failed);
  if (failed) {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    *error = fmt::format("admin endpoint {}:{}: {}", options_.address, options_.port, failed.message());
    return false;
  }
  spdlog::info("admin endpoint: http://{}:{}/ (commands, metrics, web view)", options_.address, bound_port());
  accept();
  return true;
}

void AdminServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  accept_timer_.cancel();
  auto connections = std::move(connections_);
  connections_.clear();
  for (auto& [id, connection] : connections) connection->close();
}

uint16_t AdminServer::bound_port() const {
  boost::system::error_code error;
  const auto endpoint = acceptor_.local_endpoint(error);
  return error ? 0 : endpoint.port();
}

void AdminServer::accept() {
  acceptor_.async_accept([this](const boost::system::error_code& error, tcp::socket socket) {
    if (stopped_) return;
    if (error) {
      // Out of descriptors, most likely: try again a little later rather than spin.
      spdlog::warn("admin endpoint: accept failed: {}", error.message());
      accept_timer_.expires_after(std::chrono::milliseconds(100));
      accept_timer_.async_wait([this](const boost::system::error_code& cancelled) {
        if (!cancelled && !stopped_) accept();
      });
      return;
    }
    if (connections_.size() >= kAdminConnectionsMax) {
      ++refused_;
      const auto now = std::chrono::steady_clock::now();
      if (now - last_refusal_log_ >= std::chrono::seconds(1)) {
        last_refusal_log_ = now;
        spdlog::warn("admin endpoint: connection refused: {} open (at most {}; {} refused in all)",
                     connections_.size(), kAdminConnectionsMax, refused_);
      }
      boost::system::error_code ignored;
      socket.close(ignored);
    } else {
      const uint64_t id = next_id_++;
      auto connection = std::make_shared<Connection>(*this, std::move(socket), id);
      connections_.emplace(id, connection);
      connection->start();
    }
    accept();
  });
}

void AdminServer::forget(uint64_t id) {
  const auto found = connections_.find(id);
  if (found == connections_.end()) return;
  // The connection may be inside one of its own calls: it is destroyed once that has returned.
  boost::asio::post(io_, [keep = std::move(found->second)] {});
  connections_.erase(found);
}

}  // namespace quorumfs::admin
