#include "daemon/peer/framing.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "daemon/proto/peer.pb.h"

namespace quorumfs::peer {
namespace {

constexpr size_t kLimit = 1 << 20;
constexpr size_t kReadBytes = 64 * 1024;

proto::PeerFrame keepalive_frame(size_t sessions) {
  proto::PeerFrame frame;
  for (size_t i = 0; i < sessions; ++i) frame.mutable_keepalive()->add_session_ids(i + 1);
  return frame;
}

// Feeds stream to a decoder in reads of the given sizes (cycled) and returns the frames' bytes.
std::vector<std::string> decode(const std::string& stream, const std::vector<size_t>& read_sizes) {
  FrameDecoder decoder(kLimit, kReadBytes);
  std::vector<std::string> frames;
  size_t at = 0;
  for (size_t i = 0; at < stream.size(); ++i) {
    std::span<char> room = decoder.writable();
    const size_t n = std::min({read_sizes[i % read_sizes.size()], room.size(), stream.size() - at});
    std::memcpy(room.data(), stream.data() + at, n);
    decoder.commit(n);
    at += n;
    std::string_view frame;
    while (decoder.next(&frame) == FrameDecoder::Status::kFrame) frames.emplace_back(frame);
  }
  return frames;
}

TEST(Framing, Header_IsBigEndianLengthOfTheBody) {
  std::string out;
  ASSERT_TRUE(append_frame(keepalive_frame(1), kLimit, &out));
  const std::string body = keepalive_frame(1).SerializeAsString();
  ASSERT_EQ(out.size(), 4 + body.size());
  EXPECT_EQ(out.substr(0, 4), std::string("\0\0\0", 3) + static_cast<char>(body.size()));
  EXPECT_EQ(out.substr(4), body);
}

TEST(Framing, OversizedMessage_IsNotAppended) {
  std::string out = "x";
  EXPECT_FALSE(append_frame(keepalive_frame(1000), 100, &out));
  EXPECT_EQ(out, "x");
}

TEST(Framing, ConcatenatedAndSplitReads_YieldTheSameFrames) {
  std::string stream;
  std::vector<std::string> bodies;
  for (size_t sessions : {0, 1, 3, 20000, 2, 0, 70000, 5}) {
    ASSERT_TRUE(append_frame(keepalive_frame(sessions), kLimit, &stream));
    bodies.push_back(keepalive_frame(sessions).SerializeAsString());
  }
  EXPECT_EQ(decode(stream, {stream.size()}), bodies);  // everything in one read
  EXPECT_EQ(decode(stream, {1}), bodies);              // byte by byte
  EXPECT_EQ(decode(stream, {3, 5, 1, 4}), bodies);     // headers split too
  std::mt19937 random(7);
  std::vector<size_t> sizes(100);
  for (size_t& size : sizes) size = 1 + random() % 100000;
  EXPECT_EQ(decode(stream, sizes), bodies);
}

TEST(Framing, AnnouncedFrameAboveLimit_IsTooLargeBeforeItsBytesArrive) {
  FrameDecoder decoder(16, 16);
  std::span<char> room = decoder.writable();
  const char header[] = {0, 0, 0, 17};
  std::memcpy(room.data(), header, 4);
  decoder.commit(4);
  std::string_view frame;
  EXPECT_EQ(decoder.next(&frame), FrameDecoder::Status::kTooLarge);
  EXPECT_EQ(decoder.announced_bytes(), 17u);
  EXPECT_LT(decoder.writable().size(), size_t{1} << 20);
}

// A connection that has not authenticated decodes with a small limit and small reads
// (docs/wire.md, "Frames"): whatever it is sent, its buffer holds no more than one such frame.
TEST(Framing, SmallLimits_BufferNeverGrowsPastOneFrame_WhateverIsAnnounced) {
  constexpr size_t kSmall = 4096;
  constexpr size_t kBound = kFrameHeaderBytes + kSmall;
  FrameDecoder decoder(kSmall, kSmall);
  auto feed = [&](const std::string& bytes) {
    size_t at = 0;
    while (at < bytes.size()) {
      std::span<char> room = decoder.writable();
      const size_t n = std::min(room.size(), bytes.size() - at);
      std::memcpy(room.data(), bytes.data() + at, n);
      decoder.commit(n);
      at += n;
      EXPECT_LE(decoder.buffer_bytes(), kBound);
      std::string_view frame;
      while (decoder.next(&frame) == FrameDecoder::Status::kFrame) {
      }
    }
  };
  // Frames up to the limit, split across reads at every offset.
  std::string stream;
  for (size_t sessions : {1, 300, 0, 400, 7}) ASSERT_TRUE(append_frame(keepalive_frame(sessions), kSmall, &stream));
  feed(stream);
  feed(std::string("\0\0\x0f", 3));  // a header announcing the largest frame allowed, then its body
  feed(std::string("\xfc") + std::string(4092, 'x'));
  EXPECT_LE(decoder.writable().size(), kBound);

  // 256 MiB announced: refused on the header, nothing allocated for it.
  feed(std::string("\x10\0\0\0", 4));
  std::string_view frame;
  EXPECT_EQ(decoder.next(&frame), FrameDecoder::Status::kTooLarge);
  EXPECT_EQ(decoder.announced_bytes(), 256u << 20);
  EXPECT_LE(decoder.buffer_bytes(), kBound);
}

TEST(Framing, RaisedLimits_TakeEffectForTheNextFrame) {
  FrameDecoder decoder(16, 16);
  std::string stream;
  ASSERT_TRUE(append_frame(keepalive_frame(1), 16, &stream));
  ASSERT_TRUE(append_frame(keepalive_frame(50000), kLimit, &stream));
  std::vector<std::string> frames;
  size_t at = 0;
  while (at < stream.size()) {
    std::span<char> room = decoder.writable();
    const size_t n = std::min(room.size(), stream.size() - at);
    std::memcpy(room.data(), stream.data() + at, n);
    decoder.commit(n);
    at += n;
    std::string_view frame;
    FrameDecoder::Status status;
    while ((status = decoder.next(&frame)) == FrameDecoder::Status::kFrame) {
      frames.emplace_back(frame);
      decoder.set_limits(kLimit, kReadBytes);  // the first frame authenticated the peer, say
    }
    ASSERT_NE(status, FrameDecoder::Status::kTooLarge);
  }
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[1], keepalive_frame(50000).SerializeAsString());
}

TEST(Framing, PartialHeader_NeedsMore) {
  FrameDecoder decoder(16, 16);
  std::span<char> room = decoder.writable();
  room[0] = 0;
  decoder.commit(1);
  std::string_view frame;
  EXPECT_EQ(decoder.next(&frame), FrameDecoder::Status::kNeedMore);
}

}  // namespace
}  // namespace quorumfs::peer
