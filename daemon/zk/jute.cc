#include "daemon/zk/jute.h"

#include <boost/endian/conversion.hpp>
#include <cstring>

namespace quorumfs::zk {

bool JuteReader::take(size_t n, const char** out) {
  if (!ok_ || bytes_.size() - pos_ < n) {
    ok_ = false;
    return false;
  }
  *out = bytes_.data() + pos_;
  pos_ += n;
  return true;
}

int32_t JuteReader::read_int() {
  const char* at = nullptr;
  if (!take(4, &at)) return 0;
  uint32_t value;
  std::memcpy(&value, at, 4);
  return static_cast<int32_t>(boost::endian::big_to_native(value));
}

int64_t JuteReader::read_long() {
  const char* at = nullptr;
  if (!take(8, &at)) return 0;
  uint64_t value;
  std::memcpy(&value, at, 8);
  return static_cast<int64_t>(boost::endian::big_to_native(value));
}

bool JuteReader::read_bool() {
  const char* at = nullptr;
  if (!take(1, &at)) return false;
  return *at != 0;
}

std::string JuteReader::read_buffer(size_t bytes_max) {
  const int32_t length = read_int();
  if (!ok_ || length == -1) return {};
  if (length < 0 || static_cast<size_t>(length) > bytes_max) {
    ok_ = false;
    return {};
  }
  const char* at = nullptr;
  if (!take(static_cast<size_t>(length), &at)) return {};
  return std::string(at, static_cast<size_t>(length));
}

size_t JuteReader::read_count(size_t count_max, size_t min_element_bytes) {
  const int32_t count = read_int();
  if (!ok_ || count == -1) return 0;
  if (count < 0 || static_cast<size_t>(count) > count_max ||
      static_cast<size_t>(count) * min_element_bytes > remaining()) {
    ok_ = false;
    return 0;
  }
  return static_cast<size_t>(count);
}

void JuteWriter::write_int(int32_t value) {
  const uint32_t big = boost::endian::native_to_big(static_cast<uint32_t>(value));
  out_->append(reinterpret_cast<const char*>(&big), 4);
}

void JuteWriter::write_long(int64_t value) {
  const uint64_t big = boost::endian::native_to_big(static_cast<uint64_t>(value));
  out_->append(reinterpret_cast<const char*>(&big), 8);
}

void JuteWriter::write_buffer(std::string_view bytes) {
  write_int(static_cast<int32_t>(bytes.size()));
  out_->append(bytes);
}

size_t JuteWriter::begin_frame() {
  const size_t start = out_->size();
  write_int(0);
  return start;
}

void JuteWriter::end_frame(size_t start) {
  const uint32_t length = boost::endian::native_to_big(static_cast<uint32_t>(out_->size() - start - 4));
  std::memcpy(out_->data() + start, &length, 4);
}

}  // namespace quorumfs::zk
