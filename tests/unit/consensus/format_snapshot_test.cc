// The snapshot byte format (consensus/snapshot_format.h): round trips in any chunking, and every
// kind of damage reported with its offset rather than passed through.
#include "consensus/snapshot_format.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace quorumfs::snapshot_format {
namespace {

std::string encode(Zxid zxid, const std::vector<std::string>& records) {
  std::string bytes;
  Encoder encoder(zxid, &bytes);
  for (const std::string& record : records) encoder.add_record(record, &bytes);
  encoder.finish(&bytes);
  return bytes;
}

struct Decoded {
  bool ok = false;
  Zxid zxid = 0;
  std::vector<std::string> records;
  std::string error;
  uint64_t error_offset = 0;
};

Decoded decode(const std::string& bytes, size_t chunk_bytes) {
  Decoded result;
  Decoder decoder;
  size_t fed = 0;
  for (;;) {
    switch (decoder.next()) {
      case Decoder::Step::kNeedMore:
        if (fed == bytes.size()) {
          decoder.end_of_input();
        } else {
          const size_t count = std::min(chunk_bytes, bytes.size() - fed);
          decoder.feed(std::string_view(bytes).substr(fed, count));
          fed += count;
        }
        break;
      case Decoder::Step::kHeader: result.zxid = decoder.zxid(); break;
      case Decoder::Step::kRecord: result.records.emplace_back(decoder.record()); break;
      case Decoder::Step::kEnd: result.ok = true; return result;
      case Decoder::Step::kError:
        result.error = decoder.error();
        result.error_offset = decoder.error_offset();
        return result;
    }
  }
}

const std::vector<std::string> kRecords = {"header-record", "", std::string(1000, 'n'), "last"};

TEST(SnapshotFormat, RoundTrip_InAnyChunkSize) {
  const std::string bytes = encode(make_zxid(2, 9), kRecords);
  for (size_t chunk : {size_t{1}, size_t{3}, size_t{17}, size_t{4096}}) {
    Decoded decoded = decode(bytes, chunk);
    ASSERT_TRUE(decoded.ok) << "chunk " << chunk << ": " << decoded.error;
    EXPECT_EQ(decoded.zxid, make_zxid(2, 9));
    EXPECT_EQ(decoded.records, kRecords);
  }
}

TEST(SnapshotFormat, Layout_HeaderRecordsTrailerAsDocumented) {
  const std::string bytes = encode(0x0102030405060708, {"ab"});
  ASSERT_EQ(bytes.size(), kHeaderBytes + 4 + 2 + kTrailerBytes);
  EXPECT_EQ(bytes.substr(0, 7), "QFSSNAP");
  EXPECT_EQ(bytes[8], 1);  // version
  EXPECT_EQ(bytes[16], 0x08);
  EXPECT_EQ(bytes[24], 2);  // record length
  EXPECT_EQ(bytes.substr(28, 2), "ab");
  EXPECT_EQ(bytes.substr(30, 4), std::string(4, '\xff'));
  EXPECT_EQ(bytes.substr(34, 8), "QFSTRAIL");
}

TEST(SnapshotFormat, NoRecords_RoundTrips) {
  Decoded decoded = decode(encode(1, {}), 4096);
  ASSERT_TRUE(decoded.ok) << decoded.error;
  EXPECT_TRUE(decoded.records.empty());
}

TEST(SnapshotFormat, FlippedRecordByte_FailsWithChecksumAtTrailerOffset) {
  std::string bytes = encode(1, kRecords);
  bytes[kHeaderBytes + 4 + 3] ^= 1;  // inside the first record's payload
  Decoded decoded = decode(bytes, 4096);
  EXPECT_FALSE(decoded.ok);
  EXPECT_NE(decoded.error.find("checksum mismatch"), std::string::npos) << decoded.error;
  EXPECT_EQ(decoded.error_offset, bytes.size() - kTrailerBytes);
}

TEST(SnapshotFormat, EveryFlippedByte_IsDetected) {
  const std::string good = encode(7, kRecords);
  for (size_t index = 0; index < good.size(); ++index) {
    std::string bytes = good;
    bytes[index] ^= 0x10;
    Decoded decoded = decode(bytes, 64);
    EXPECT_FALSE(decoded.ok) << "flipped byte " << index << " went unnoticed";
  }
}

TEST(SnapshotFormat, CutShort_FailsAtEveryLength) {
  const std::string good = encode(7, kRecords);
  for (size_t length = 0; length < good.size(); ++length) {
    Decoded decoded = decode(good.substr(0, length), 64);
    EXPECT_FALSE(decoded.ok) << "cut at " << length;
    EXPECT_NE(decoded.error.find("file ends inside"), std::string::npos) << decoded.error;
  }
}

TEST(SnapshotFormat, BytesAfterTrailer_Fail) {
  std::string bytes = encode(7, kRecords) + "x";
  Decoded decoded = decode(bytes, 4096);
  EXPECT_FALSE(decoded.ok);
  EXPECT_EQ(decoded.error, "bytes after the trailer");
  EXPECT_EQ(decoded.error_offset, bytes.size() - 1);
}

TEST(SnapshotFormat, BadMagicOrVersion_FailAtTheirOffsets) {
  std::string bad_magic = encode(7, {});
  bad_magic[1] = 'x';
  Decoded decoded = decode(bad_magic, 4096);
  EXPECT_EQ(decoded.error_offset, 0u);
  EXPECT_NE(decoded.error.find("magic"), std::string::npos);

  std::string bad_version = encode(7, {});
  bad_version[8] = 9;
  decoded = decode(bad_version, 4096);
  EXPECT_EQ(decoded.error_offset, 8u);
  EXPECT_NE(decoded.error.find("version 9"), std::string::npos) << decoded.error;
}

TEST(SnapshotFormat, HugeRecordLength_FailsAtTheRecord) {
  std::string bytes = encode(7, {"abc"});
  bytes[kHeaderBytes + 3] = 0x7f;
  Decoded decoded = decode(bytes, 4096);
  EXPECT_FALSE(decoded.ok);
  EXPECT_EQ(decoded.error_offset, kHeaderBytes);
  EXPECT_NE(decoded.error.find("above the maximum"), std::string::npos) << decoded.error;
}

TEST(SnapshotFormat, FileName_RoundTripsAndIgnoresTemp) {
  EXPECT_EQ(snapshot_file_name(make_zxid(1, 2)), "snapshot.0000000100000002");
  Zxid zxid = 0;
  EXPECT_TRUE(parse_snapshot_file_name("snapshot.0000000100000002", &zxid));
  EXPECT_EQ(zxid, make_zxid(1, 2));
  EXPECT_FALSE(parse_snapshot_file_name("snapshot.0000000100000002.tmp", &zxid));
}

}  // namespace
}  // namespace quorumfs::snapshot_format
