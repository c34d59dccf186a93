// Jute, the serialization of ZooKeeper's client protocol (docs/zk-protocol.md): big-endian ints
// and longs, one-byte booleans, length-prefixed buffers, strings and vectors (-1 = null).
//
// JuteReader never reads past its input and never trusts a length: a count or length that the
// remaining bytes cannot hold, or one past the caller's limit, fails the reader, and every later
// read then yields zero values. A request is decoded whole and checked once with ok().
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace quorumfs::zk {

class JuteReader {
 public:
  explicit JuteReader(std::string_view bytes) : bytes_(bytes) {}

  int32_t read_int();
  int64_t read_long();
  bool read_bool();
  // A buffer or string of at most bytes_max bytes; null (-1) reads as empty.
  std::string read_buffer(size_t bytes_max);
  std::string read_string(size_t bytes_max) { return read_buffer(bytes_max); }
  // A vector's element count, at most count_max; null (-1) reads as 0. Each element then takes at
  // least min_element_bytes, which the remaining input must hold.
  size_t read_count(size_t count_max, size_t min_element_bytes);

  bool ok() const { return ok_; }
  size_t remaining() const { return ok_ ? bytes_.size() - pos_ : 0; }
  bool at_end() const { return ok_ && pos_ == bytes_.size(); }
  void fail() { ok_ = false; }

 private:
  bool take(size_t n, const char** out);

  std::string_view bytes_;
  size_t pos_ = 0;
  bool ok_ = true;
};

class JuteWriter {
 public:
  // Appends to out (not cleared: a frame is built in place, its length patched at the end).
  explicit JuteWriter(std::string* out) : out_(out) {}

  void write_int(int32_t value);
  void write_long(int64_t value);
  void write_bool(bool value) { out_->push_back(value ? 1 : 0); }
  void write_buffer(std::string_view bytes);
  void write_string(std::string_view text) { write_buffer(text); }
  void write_null_buffer() { write_int(-1); }
  size_t size() const { return out_->size(); }

  // Starts a frame: a 4-byte length to be filled by end_frame().
  size_t begin_frame();
  void end_frame(size_t start);

 private:
  std::string* out_;
};

}  // namespace quorumfs::zk
