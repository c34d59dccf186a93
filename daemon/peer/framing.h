// Frames on a peer connection: [u32 big-endian length][that many bytes of a serialized PeerFrame].
// The length excludes its own four bytes. A length above the receiver's limit is refused before any
// of the frame is buffered, so a stranger cannot make a member allocate much: a decoder's buffer
// never grows past max(read_bytes, header + frame_bytes_max), whatever the stream announces.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/message_lite.h>

namespace quorumfs::peer {

constexpr size_t kFrameHeaderBytes = 4;

// Appends one frame holding message to *out, serializing straight into it. False (and nothing
// appended) when the message is longer than frame_bytes_max.
bool append_frame(const google::protobuf::MessageLite& message, size_t frame_bytes_max, std::string* out);

// Cuts a byte stream into frames, whatever the reads' boundaries: one read may hold half a frame or
// several frames.
class FrameDecoder {
 public:
  enum class Status { kFrame, kNeedMore, kTooLarge };

  // read_bytes: the room offered for a read when no longer frame is announced.
  FrameDecoder(size_t frame_bytes_max, size_t read_bytes)
      : frame_bytes_max_(frame_bytes_max), read_bytes_(read_bytes) {}
  // Takes effect from the next frame and the next read (a connection that authenticated).
  void set_limits(size_t frame_bytes_max, size_t read_bytes) {
    frame_bytes_max_ = frame_bytes_max;
    read_bytes_ = read_bytes;
  }

  // Room for the next read, once next() has returned all it could. It spans a whole announced
  // frame when one is partly buffered, so that a snapshot is read into place rather than in small
  // pieces. Invalidates frames from next().
  std::span<char> writable();
  // The first bytes of writable() now hold received data.
  void commit(size_t bytes);
  // kFrame: *frame holds the next frame's bytes (without the header), valid until writable().
  // kTooLarge: the stream announces a frame longer than the limit; announced_bytes() tells how long.
  Status next(std::string_view* frame);
  uint32_t announced_bytes() const;
  // Memory held for the stream, in bytes.
  size_t buffer_bytes() const { return buffer_.capacity(); }

 private:
  size_t buffered() const { return end_ - begin_; }

  size_t frame_bytes_max_;
  size_t read_bytes_;
  std::vector<char> buffer_;
  size_t begin_ = 0;  // first byte not yet returned
  size_t end_ = 0;    // one past the last received byte
};

}  // namespace quorumfs::peer
