#include "daemon/peer/framing.h"

#include <algorithm>
#include <cstring>

#include "consensus/check.h"

namespace quorumfs::peer {
namespace {

// A buffer grown for a big frame (a snapshot) is given back once it is drained.
constexpr size_t kIdleBufferBytesMax = 1024 * 1024;

uint32_t load_u32_big_endian(const char* bytes) {
  const auto* b = reinterpret_cast<const unsigned char*>(bytes);
  return uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | uint32_t{b[3]};
}

void store_u32_big_endian(uint32_t value, char* bytes) {
  for (int i = 0; i < 4; ++i) bytes[i] = static_cast<char>(value >> (24 - 8 * i));
}

}  // namespace

bool append_frame(const google::protobuf::MessageLite& message, size_t frame_bytes_max, std::string* out) {
  const size_t body_bytes = message.ByteSizeLong();
  if (body_bytes > frame_bytes_max || body_bytes > UINT32_MAX) return false;
  const size_t at = out->size();
  out->resize(at + kFrameHeaderBytes + body_bytes);
  char* header = out->data() + at;
  store_u32_big_endian(static_cast<uint32_t>(body_bytes), header);
  message.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(header + kFrameHeaderBytes));
  return true;
}

std::span<char> FrameDecoder::writable() {
  if (begin_ == end_) {
    begin_ = end_ = 0;
    if (buffer_.size() > kIdleBufferBytesMax) std::vector<char>(read_bytes_).swap(buffer_);
  }
  // The buffer holds span bytes from begin_: a read's worth, or the whole announced frame.
  size_t span = read_bytes_;
  if (buffered() >= kFrameHeaderBytes && announced_bytes() <= frame_bytes_max_) {
    span = std::max(span, kFrameHeaderBytes + announced_bytes());
  }
  if (buffered() >= span) span = buffered() + read_bytes_;  // frames left undrained: not our callers
  if (begin_ + span > buffer_.size() && begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, buffered());
    end_ -= begin_;
    begin_ = 0;
  }
  if (begin_ + span > buffer_.size()) {
    // Exactly the span (resize() alone may double the capacity): a stranger's buffer stays within
    // the bound in framing.h, and a snapshot's frame is allocated once.
    buffer_.reserve(span);
    buffer_.resize(span);
  }
  return {buffer_.data() + end_, buffer_.size() - end_};
}

void FrameDecoder::commit(size_t bytes) {
  QFS_CHECK(end_ + bytes <= buffer_.size(), "reads stay inside the frame buffer");
  end_ += bytes;
}

FrameDecoder::Status FrameDecoder::next(std::string_view* frame) {
  if (buffered() < kFrameHeaderBytes) return Status::kNeedMore;
  const uint32_t body_bytes = announced_bytes();
  if (body_bytes > frame_bytes_max_) return Status::kTooLarge;
  if (buffered() < kFrameHeaderBytes + body_bytes) return Status::kNeedMore;
  *frame = std::string_view(buffer_.data() + begin_ + kFrameHeaderBytes, body_bytes);
  begin_ += kFrameHeaderBytes + body_bytes;
  return Status::kFrame;
}

uint32_t FrameDecoder::announced_bytes() const {
  QFS_CHECK(buffered() >= kFrameHeaderBytes, "a frame header is buffered before it is read");
  return load_u32_big_endian(buffer_.data() + begin_);
}

}  // namespace quorumfs::peer
