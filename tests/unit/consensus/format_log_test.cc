// The txn log's byte format (consensus/log_format.h): round trips, the exact layout documented
// in docs/formats.md, and each way a record can be bad.
#include "consensus/log_format.h"

#include <gtest/gtest.h>

#include <string>

namespace quorumfs::log_format {
namespace {

TEST(LogFormat, FileHeader_RoundTrips) {
  std::string bytes;
  append_file_header(make_zxid(3, 7), &bytes);
  ASSERT_EQ(bytes.size(), kFileHeaderBytes);
  FileHeader header;
  std::string reason;
  ASSERT_TRUE(decode_file_header(bytes, &header, &reason)) << reason;
  EXPECT_EQ(header.version, kVersion);
  EXPECT_EQ(header.first_zxid, make_zxid(3, 7));
}

TEST(LogFormat, FileHeader_LayoutIsLittleEndianAsDocumented) {
  std::string bytes;
  append_file_header(0x0102030405060708, &bytes);
  EXPECT_EQ(bytes.substr(0, 6), "QFSLOG");
  EXPECT_EQ(bytes[6], 3);  // version, low byte first
  EXPECT_EQ(bytes[7], 0);
  EXPECT_EQ(bytes[8], 0x08);
  EXPECT_EQ(bytes[15], 0x01);
  EXPECT_EQ(bytes.substr(16, 4), std::string(4, '\0'));
}

TEST(LogFormat, FileHeader_BadMagicOrChecksumOrVersion_Rejected) {
  std::string good;
  append_file_header(5, &good);
  FileHeader header;
  std::string reason;

  std::string bad_magic = good;
  bad_magic[0] = 'X';
  EXPECT_FALSE(decode_file_header(bad_magic, &header, &reason));
  EXPECT_NE(reason.find("magic"), std::string::npos) << reason;

  std::string bad_zxid = good;
  bad_zxid[9] ^= 1;
  EXPECT_FALSE(decode_file_header(bad_zxid, &header, &reason));
  EXPECT_NE(reason.find("checksum"), std::string::npos) << reason;

  EXPECT_FALSE(decode_file_header(good.substr(0, 10), &header, &reason));
  EXPECT_NE(reason.find("cut short"), std::string::npos) << reason;
}

TEST(LogFormat, Record_RoundTrips) {
  std::string bytes;
  append_record(make_zxid(1, 1), "hello", &bytes);
  append_record(make_zxid(1, 2), "", &bytes);
  ASSERT_EQ(bytes.size(), record_bytes(5) + record_bytes(0));

  DecodedRecord first = decode_record(bytes);
  ASSERT_EQ(first.status, RecordStatus::kOk);
  EXPECT_EQ(first.zxid, make_zxid(1, 1));
  EXPECT_EQ(first.payload, "hello");
  EXPECT_EQ(first.bytes, record_bytes(5));

  DecodedRecord second = decode_record(std::string_view(bytes).substr(first.bytes));
  ASSERT_EQ(second.status, RecordStatus::kOk);
  EXPECT_EQ(second.zxid, make_zxid(1, 2));
  EXPECT_EQ(second.payload, "");
}

TEST(LogFormat, Record_LayoutIsLengthChecksumZxidPayload) {
  std::string bytes;
  append_record(0x11, "ab", &bytes);
  EXPECT_EQ(bytes[0], 2);  // payload length
  const uint32_t checksum = record_checksum(0x11, "ab");
  EXPECT_EQ(static_cast<unsigned char>(bytes[4]), checksum & 0xff);
  EXPECT_EQ(bytes[8], 0x11);  // zxid, low byte first
  EXPECT_EQ(bytes.substr(16), "ab");
}

TEST(LogFormat, Record_ZeroHeader_IsEnd) {
  EXPECT_EQ(decode_record(std::string(64, '\0')).status, RecordStatus::kEnd);
  EXPECT_EQ(decode_record(std::string(5, '\0')).status, RecordStatus::kEnd);
  EXPECT_EQ(decode_record("").status, RecordStatus::kEnd);
}

TEST(LogFormat, Record_EmptyPayloadAtZxidZero_IsNotMistakenForEnd) {
  // The checksum keeps every real record header non-zero.
  std::string bytes;
  append_record(0, "", &bytes);
  EXPECT_EQ(decode_record(bytes).status, RecordStatus::kOk);
  EXPECT_EQ(record_checksum(0, ""), 0xdeb39513u);  // docs/formats.md quotes this value
}

TEST(LogFormat, Record_CutShort_IsTruncatedAndSaysHowManyBytes) {
  std::string bytes;
  append_record(9, "payload", &bytes);
  DecodedRecord cut_payload = decode_record(std::string_view(bytes).substr(0, bytes.size() - 1));
  EXPECT_EQ(cut_payload.status, RecordStatus::kTruncated);
  EXPECT_EQ(cut_payload.bytes, bytes.size());

  DecodedRecord cut_header = decode_record(std::string_view(bytes).substr(0, 7));
  EXPECT_EQ(cut_header.status, RecordStatus::kTruncated);
  EXPECT_EQ(cut_header.bytes, kRecordHeaderBytes);
}

TEST(LogFormat, Record_FlippedPayloadOrZxidByte_IsBadChecksum) {
  std::string bytes;
  append_record(9, "payload", &bytes);
  for (size_t index : {size_t{8}, size_t{16}, bytes.size() - 1}) {
    std::string damaged = bytes;
    damaged[index] ^= 0x40;
    EXPECT_EQ(decode_record(damaged).status, RecordStatus::kBadChecksum) << "byte " << index;
  }
}

TEST(LogFormat, Record_HugeLength_IsTooLarge) {
  std::string bytes;
  append_record(9, "x", &bytes);
  bytes[3] = '\x7f';
  DecodedRecord record = decode_record(bytes);
  EXPECT_EQ(record.status, RecordStatus::kTooLarge);
  EXPECT_NE(describe_bad_record(record, bytes.size()).find("above the maximum"), std::string::npos);
}

TEST(LogFormat, BatchMarker_IsAZxidZeroRecordOfWriteLengthThenAppliedZxid) {
  std::string bytes;
  append_batch_marker({0x0102, make_zxid(7, 9)}, &bytes);
  ASSERT_EQ(bytes.size(), kBatchMarkerBytes);
  EXPECT_EQ(bytes[0], 16);  // payload length
  EXPECT_EQ(bytes.substr(8, 8), std::string(8, '\0'));  // zxid 0
  EXPECT_EQ(bytes[16], 0x02);
  EXPECT_EQ(bytes[17], 0x01);
  EXPECT_EQ(bytes[24], 9);   // applied zxid, low byte first: counter 9
  EXPECT_EQ(bytes[28], 7);   // then epoch 7
  DecodedRecord record = decode_record(bytes);
  BatchMarker marker;
  ASSERT_TRUE(decode_batch_marker(record, &marker));
  EXPECT_EQ(marker.write_bytes, 0x0102u);
  EXPECT_EQ(marker.applied_zxid, make_zxid(7, 9));
}

TEST(LogFormat, BatchMarker_OfAnotherSizeOrNegativeZxid_IsMalformed) {
  std::string short_marker;
  append_record(kBatchMarkerZxid, std::string(8, '\1'), &short_marker);  // format 2's marker
  BatchMarker marker;
  EXPECT_FALSE(decode_batch_marker(decode_record(short_marker), &marker));
  std::string negative;
  append_batch_marker({64, -1}, &negative);
  EXPECT_FALSE(decode_batch_marker(decode_record(negative), &marker));
}

TEST(LogFormat, SegmentFileName_RoundTripsAndSortsByZxid) {
  EXPECT_EQ(segment_file_name(make_zxid(1, 0x2a)), "log.000000010000002a");
  Zxid zxid = 0;
  EXPECT_TRUE(parse_segment_file_name("log.000000010000002a", &zxid));
  EXPECT_EQ(zxid, make_zxid(1, 0x2a));
  EXPECT_FALSE(parse_segment_file_name("log.000000010000002A", &zxid));
  EXPECT_FALSE(parse_segment_file_name("log.10000002a", &zxid));
  EXPECT_FALSE(parse_segment_file_name("log.000000010000002a.tmp", &zxid));
  EXPECT_FALSE(parse_segment_file_name("snapshot.000000010000002a", &zxid));
}

}  // namespace
}  // namespace quorumfs::log_format
