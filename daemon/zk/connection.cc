#include "daemon/zk/connection.h"

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/endian/conversion.hpp>
#include <cstring>
#include <spdlog/spdlog.h>

#include "consensus/check.h"
#include "daemon/zk/auth.h"
#include "daemon/zk/client_port.h"

namespace quorumfs::zk {

namespace {

uint32_t big_endian_u32(const char* bytes) {
  uint32_t value;
  std::memcpy(&value, bytes, 4);
  return boost::endian::big_to_native(value);
}

// Requests answered from the tree as it is when they start: they wait for every earlier reply.
bool waits_for_earlier(int32_t op) { return !is_write_op(op) && op != kSync; }

}  // namespace

Connection::Connection(ClientPort& port, boost::asio::ip::tcp::socket socket, WatcherId id,
                       const boost::asio::ip::tcp::endpoint& remote)
    : port_(port),
      socket_(std::move(socket)),
      idle_timer_(socket_.get_executor()),
      id_(id),
      peer_(remote.address().to_string() + ":" + std::to_string(remote.port())) {
  session_.peer_ip = remote.address().to_string();
  session_.watcher = id_;
}

void Connection::start() {
  boost::system::error_code ignored;  // without it, replies wait for Nagle; still correct
  socket_.set_option(boost::asio::ip::tcp::no_delay(true), ignored);
  last_heard_ = std::chrono::steady_clock::now();
  timeout_ms_ = static_cast<uint32_t>(kConnectTimeout.count());  // until the connect says otherwise
  arm_idle_timer();
  read_first_bytes();
}

void Connection::close(const std::string& why) {
  if (closed_) return;
  closed_ = true;
  if (!why.empty()) spdlog::info("client port: {} session {:#x}: {}", peer_, session_.session_id, why);
  boost::system::error_code ignored;
  socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  idle_timer_.cancel();
  port_.forget(*this);
}

// The first four bytes are a frame length, or one of ZooKeeper's four-letter words.
void Connection::read_first_bytes() {
  in_.resize(4);
  boost::asio::async_read(socket_, boost::asio::buffer(in_.data(), 4),
                          [self = shared_from_this()](const boost::system::error_code& error, size_t) {
                            if (error || self->closed_) return self->close("");
                            const std::string_view first(self->in_.data(), 4);
                            if (is_four_letter_word(first)) {
                              return self->send(self->port_.four_letter_word(std::string(first)), true);
                            }
                            const uint32_t length = big_endian_u32(self->in_.data());
                            if (length > kConnectFrameBytesMax) {
                              return self->close(fmt::format("a connect request of {} bytes (at most {}): closed",
                                                             length, kConnectFrameBytesMax));
                            }
                            self->read_connect(length);
                          });
}

void Connection::read_connect(uint32_t length) {
  in_.resize(length);
  boost::asio::async_read(socket_, boost::asio::buffer(in_.data(), length),
                          [self = shared_from_this()](const boost::system::error_code& error, size_t) {
                            if (error || self->closed_) return self->close("");
                            ConnectRequest request;
                            if (!decode_connect(self->in_, &request)) {
                              return self->close("a malformed connect request: closed");
                            }
                            self->in_.clear();
                            self->port_.on_connect(self->shared_from_this(), request);
                          });
}

void Connection::connected(uint64_t session_id, uint32_t timeout_ms, bool read_only, const std::string& password) {
  if (closed_) return;
  session_.session_id = session_id;
  session_.read_only = read_only;
  session_.send_event = [weak = weak_from_this()](std::string frame) {
    if (auto self = weak.lock()) self->send_event(std::move(frame));
  };
  timeout_ms_ = timeout_ms;
  send(encode_connect_response(static_cast<int32_t>(timeout_ms), static_cast<int64_t>(session_id), password,
                               read_only));
  serving_ = true;
  arm_idle_timer();
  read_more();
}

// ZooKeeper's answer to a session it does not know (expired, or a wrong password): timeout 0,
// session 0, a password of zeros; the client reports SessionExpired.
void Connection::refuse_expired() {
  if (closed_) return;
  send(encode_connect_response(0, 0, std::string(kPasswordBytes, '\0'), false), true);
}

bool Connection::may_take_more() const {
  return slots_.size() < kOutstandingRequestsMax && outstanding_bytes_ < kOutstandingBytesMax;
}

// Frames already read are taken first: reading stopped while the limits were reached.
void Connection::read_more() {
  if (reading_ || closed_ || !serving_) return;
  take_frames();
  // A reply answered inline while taking frames may have started the read already.
  if (reading_ || closed_ || !may_take_more()) return;
  QFS_CHECK(!reading_, "a connection has one read under way at most (they share receive_)");
  reading_ = true;
  socket_.async_read_some(boost::asio::buffer(receive_),
                          [self = shared_from_this()](const boost::system::error_code& error, size_t got) {
                            self->reading_ = false;
                            if (error || self->closed_) return self->close("");
                            self->last_heard_ = std::chrono::steady_clock::now();
                            if (self->in_start_ > 0 && self->in_start_ * 2 >= self->in_.size()) {
                              self->in_.erase(0, self->in_start_);
                              self->in_start_ = 0;
                            }
                            self->in_.append(self->receive_.data(), got);
                            self->read_more();
                          });
}

void Connection::take_frames() {
  const size_t frame_bytes_max = port_.frame_bytes_max();
  while (!closed_ && may_take_more() && in_.size() - in_start_ >= 4) {
    const uint32_t length = big_endian_u32(in_.data() + in_start_);
    if (length > frame_bytes_max) {
      return close(fmt::format("a frame of {} bytes (at most {}): closed", length, frame_bytes_max));
    }
    if (in_.size() - in_start_ - 4 < length) return;
    const std::string_view frame(in_.data() + in_start_ + 4, length);
    in_start_ += 4 + length;
    ++received_;
    Request request;
    if (!decode_request(frame, port_.decode_limits(), &request)) {
      const int32_t op = peek_opcode(frame);
      return close(fmt::format("a malformed or unknown request (opcode {}, {}, {} bytes): closed", op, op_name(op),
                               length));
    }
    dispatch(std::move(request), length);
  }
}

void Connection::dispatch(Request request, size_t bytes) {
  Slot slot;
  slot.request = std::move(request);
  slot.arrived = std::chrono::steady_clock::now();
  slot.bytes = bytes;
  outstanding_bytes_ += bytes;
  slots_.push_back(std::move(slot));
  start_requests();
}

// Starts waiting requests in order: a read only at the head (every earlier reply is ready), a
// write only when no earlier request still waits, and none while the port holds writes.
void Connection::start_requests() {
  if (starting_) return;
  starting_ = true;
  while (!closed_ && next_start_ - first_seq_ < slots_.size()) {
    const uint64_t seq = next_start_;
    Slot& slot = slots_[seq - first_seq_];
    if (waits_for_earlier(slot.request.op) && seq != first_seq_) break;
    if (is_write_op(slot.request.op) && port_.writes_held()) break;
    slot.state = SlotState::kStarted;
    ++next_start_;
    port_.handler().handle(slot.request, session_,
                           [weak = weak_from_this(), seq](std::string frame, bool close_after) {
                             if (auto self = weak.lock()) self->finish(seq, std::move(frame), close_after);
                           });
    flush_replies();
  }
  starting_ = false;
}

void Connection::finish(uint64_t seq, std::string frame, bool close_after) {
  if (closed_ || seq < first_seq_) return;
  Slot& slot = slots_[seq - first_seq_];
  slot.state = SlotState::kReady;
  slot.reply = std::move(frame);
  slot.close_after = close_after;
  flush_replies();
  start_requests();
  read_more();
}

void Connection::flush_replies() {
  while (!closed_ && !slots_.empty() && slots_.front().state == SlotState::kReady) {
    Slot& slot = slots_.front();
    port_.record_reply(slot.request.op, std::chrono::steady_clock::now() - slot.arrived);
    const bool close_after = slot.close_after;
    send(std::move(slot.reply), close_after);
    outstanding_bytes_ -= slot.bytes;
    slots_.pop_front();
    ++first_seq_;
    if (close_after) return;
  }
}

void Connection::resume() {
  if (closed_ || !serving_) return;
  start_requests();
  read_more();
}

void Connection::send_event(std::string frame) { send(std::move(frame)); }

// A connection whose own closeSession is being answered ends once the reply is written.
void Connection::session_ended() {
  if (!close_when_written_) close("its session was closed or expired");
}

void Connection::send(std::string frame, bool close_after) {
  if (closed_ || close_when_written_) return;
  if (out_.size() + writing_.size() + frame.size() > kOutputBytesMax) {
    return close(fmt::format("the client took none of {} bytes of replies and events: closed", kOutputBytesMax));
  }
  ++sent_;
  out_ += frame;
  close_when_written_ = close_after;
  write_out();
}

void Connection::write_out() {
  if (write_pending_ || out_.empty() || closed_) return;
  write_pending_ = true;
  writing_.swap(out_);
  boost::asio::async_write(socket_, boost::asio::buffer(writing_),
                           [self = shared_from_this()](const boost::system::error_code& error, size_t) {
                             self->write_pending_ = false;
                             self->writing_.clear();
                             if (error) return self->close("");
                             if (self->out_.empty() && self->close_when_written_) return self->close("");
                             self->write_out();
                           });
}

// A client pings every third of its timeout; one silent for the whole timeout is gone. Its session
// lives on until the leader expires it (or the client comes back, here or on another member).
void Connection::arm_idle_timer() {
  idle_timer_.expires_after(std::chrono::milliseconds(timeout_ms_));
  idle_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& error) {
    auto self = weak.lock();
    if (error || !self || self->closed_) return;
    const auto silent = std::chrono::steady_clock::now() - self->last_heard_;
    if (silent >= std::chrono::milliseconds(self->timeout_ms_)) {
      return self->close(fmt::format("silent for {} ms: closed", self->timeout_ms_));
    }
    self->arm_idle_timer();
  });
}

}  // namespace quorumfs::zk
