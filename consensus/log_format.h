// The txn log's bytes: a segment file header and framed records (docs/formats.md, "Txn log").
// Pure encode/decode, no I/O: daemon/storage/txn_log.cc owns the files and decides what a bad
// record means (a torn tail or corruption) from where it sits.
//
// Segment file, all integers little-endian:
//   header (24 bytes): "QFSLOG" | u16 version | i64 first zxid | u32 reserved (0) | u32 XXH32 of bytes 0..19
//   records:           u32 payload length | u32 checksum | i64 zxid | payload
//   then zeros (preallocated space) up to the end of the file.
// The record checksum is XXH32 (seed 0) over the 8 zxid bytes followed by the payload. A record
// header of 16 zero bytes marks the end of the records: no real record has one, since that needs
// length 0 and zxid 0, and that record's checksum, XXH32 of 8 zero bytes, is not 0.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "consensus/zxid.h"

namespace quorumfs::log_format {

inline constexpr std::string_view kMagic = "QFSLOG";
// 2: every write starts with a batch marker; 3: the marker also records the applied zxid.
inline constexpr uint16_t kVersion = 3;
inline constexpr size_t kFileHeaderBytes = 24;
inline constexpr size_t kRecordHeaderBytes = 16;
// Far above any txn we accept; a larger length field is damage, not a record.
inline constexpr uint32_t kPayloadBytesMax = 64u << 20;

// Segment files are named "log.<first zxid as 16 lowercase hex digits>", so names sort by zxid.
inline constexpr std::string_view kSegmentPrefix = "log.";

// 16 lowercase hex digits, as in segment and snapshot file names.
std::string zxid_hex(Zxid zxid);
// Exactly 16 lowercase hex digits.
bool parse_zxid_hex(std::string_view hex, Zxid* zxid);
std::string segment_file_name(Zxid first_zxid);
// True for exactly "log.<16 lowercase hex>".
bool parse_segment_file_name(std::string_view name, Zxid* first_zxid);

struct FileHeader {
  uint16_t version = kVersion;
  Zxid first_zxid = 0;
};

// Appends the 24-byte segment header to *out.
void append_file_header(Zxid first_zxid, std::string* out);
// Decodes a segment header from the first kFileHeaderBytes of bytes. False with *reason.
bool decode_file_header(std::string_view bytes, FileHeader* header, std::string* reason);

// Each durable write (one group commit) starts with a batch marker: a record with zxid 0 whose
// 16-byte payload is the write's length in bytes, the marker included (u64), then the zxid the
// replica's tree had applied when the write was made (i64). A crash can leave any pages of the
// last write on disk; the marker says where that write ends, so recovery can tell a torn last
// write (never acknowledged) from damage to acknowledged records. The applied zxid is where a
// restart rebuilds the tree to: what was applied was committed. The writer cuts a group commit
// into writes of about kBatchBytesTarget, so one write spans at most kBatchBytesMax.
inline constexpr Zxid kBatchMarkerZxid = 0;
inline constexpr size_t kBatchMarkerBytes = kRecordHeaderBytes + 16;
inline constexpr size_t kBatchBytesTarget = 4u << 20;
inline constexpr uint64_t kBatchBytesMax = kBatchMarkerBytes + kBatchBytesTarget + kRecordHeaderBytes + kPayloadBytesMax;
struct BatchMarker {
  uint64_t write_bytes = 0;
  Zxid applied_zxid = 0;
};
void append_batch_marker(const BatchMarker& marker, std::string* out);

// Bytes one record with this payload occupies.
constexpr size_t record_bytes(size_t payload_bytes) { return kRecordHeaderBytes + payload_bytes; }
uint32_t record_checksum(Zxid zxid, std::string_view payload);
// Appends one framed record to *out (no allocation beyond growing *out).
void append_record(Zxid zxid, std::string_view payload, std::string* out);

enum class RecordStatus {
  kOk,
  kEnd,          // a zero record header (or only zero bytes, fewer than a header): no more records
  kTruncated,    // bytes end inside the record; bytes_needed says how many it claims
  kTooLarge,     // length field above kPayloadBytesMax
  kBadChecksum,  // the whole record is there but its checksum does not match
};
const char* record_status_name(RecordStatus status);

struct DecodedRecord {
  RecordStatus status = RecordStatus::kEnd;
  Zxid zxid = 0;
  std::string_view payload;  // kOk: points into the decoded bytes
  uint32_t payload_bytes = 0;  // the length field (when a header was there)
  // kOk and kBadChecksum: bytes the record occupies. kTruncated: bytes it needs (at least a
  // header's worth when even the header is cut short).
  size_t bytes = 0;
};

// Decodes the record at the start of bytes (which may run on past it).
DecodedRecord decode_record(std::string_view bytes);
// For a good record with zxid kBatchMarkerZxid: false if its payload is malformed.
bool decode_batch_marker(const DecodedRecord& record, BatchMarker* marker);

// Human-readable reason for a bad record, for error messages.
std::string describe_bad_record(const DecodedRecord& record, size_t bytes_available);

}  // namespace quorumfs::log_format
