#include "consensus/log_format.h"

// For XXH32_state_t on the stack (no allocation per record).
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <algorithm>
#include <cstdio>

namespace quorumfs::log_format {
namespace {

// Byte-by-byte so the format is little-endian on any host and needs no aligned access.
void put_u16(uint16_t value, std::string* out) {
  out->push_back(static_cast<char>(value & 0xff));
  out->push_back(static_cast<char>(value >> 8));
}
void put_u32(uint32_t value, std::string* out) {
  for (int shift = 0; shift < 32; shift += 8) out->push_back(static_cast<char>((value >> shift) & 0xff));
}
void put_u64(uint64_t value, std::string* out) {
  for (int shift = 0; shift < 64; shift += 8) out->push_back(static_cast<char>((value >> shift) & 0xff));
}
uint64_t get_le(const char* bytes, int count) {
  uint64_t value = 0;
  for (int i = count - 1; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}
uint16_t get_u16(const char* bytes) { return static_cast<uint16_t>(get_le(bytes, 2)); }
uint32_t get_u32(const char* bytes) { return static_cast<uint32_t>(get_le(bytes, 4)); }
uint64_t get_u64(const char* bytes) { return get_le(bytes, 8); }

constexpr size_t kHeaderChecksumOffset = 20;

bool all_zero(std::string_view bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char byte) { return byte == 0; });
}

}  // namespace

std::string zxid_hex(Zxid zxid) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(zxid));
  return hex;
}

bool parse_zxid_hex(std::string_view hex, Zxid* zxid) {
  if (hex.size() != 16) return false;
  uint64_t value = 0;
  for (char digit : hex) {
    int nibble;
    if (digit >= '0' && digit <= '9') {
      nibble = digit - '0';
    } else if (digit >= 'a' && digit <= 'f') {
      nibble = digit - 'a' + 10;
    } else {
      return false;  // upper case is not ours: names are exactly what zxid_hex() writes
    }
    value = (value << 4) | static_cast<uint64_t>(nibble);
  }
  *zxid = static_cast<Zxid>(value);
  return true;
}

std::string segment_file_name(Zxid first_zxid) { return std::string(kSegmentPrefix) + zxid_hex(first_zxid); }

bool parse_segment_file_name(std::string_view name, Zxid* first_zxid) {
  return name.starts_with(kSegmentPrefix) && parse_zxid_hex(name.substr(kSegmentPrefix.size()), first_zxid);
}

void append_file_header(Zxid first_zxid, std::string* out) {
  const size_t start = out->size();
  out->append(kMagic);
  put_u16(kVersion, out);
  put_u64(static_cast<uint64_t>(first_zxid), out);
  put_u32(0, out);  // reserved
  put_u32(XXH32(out->data() + start, kHeaderChecksumOffset, 0), out);
}

bool decode_file_header(std::string_view bytes, FileHeader* header, std::string* reason) {
  if (bytes.size() < kFileHeaderBytes) {
    *reason = "file header cut short (" + std::to_string(bytes.size()) + " bytes)";
    return false;
  }
  if (bytes.substr(0, kMagic.size()) != kMagic) {
    *reason = "bad magic (not a quorumfs log segment)";
    return false;
  }
  const uint32_t checksum = get_u32(bytes.data() + kHeaderChecksumOffset);
  if (checksum != XXH32(bytes.data(), kHeaderChecksumOffset, 0)) {
    *reason = "file header checksum mismatch";
    return false;
  }
  header->version = get_u16(bytes.data() + 6);
  if (header->version != kVersion) {
    *reason = "unsupported log format version " + std::to_string(header->version);
    return false;
  }
  header->first_zxid = static_cast<Zxid>(get_u64(bytes.data() + 8));
  return true;
}

uint32_t record_checksum(Zxid zxid, std::string_view payload) {
  // Streaming state instead of a concatenated copy: no allocation per record.
  char zxid_bytes[8];
  for (int i = 0; i < 8; ++i) zxid_bytes[i] = static_cast<char>((static_cast<uint64_t>(zxid) >> (8 * i)) & 0xff);
  XXH32_state_t state;
  XXH32_reset(&state, 0);
  XXH32_update(&state, zxid_bytes, sizeof zxid_bytes);
  XXH32_update(&state, payload.data(), payload.size());
  return XXH32_digest(&state);
}

void append_record(Zxid zxid, std::string_view payload, std::string* out) {
  put_u32(static_cast<uint32_t>(payload.size()), out);
  put_u32(record_checksum(zxid, payload), out);
  put_u64(static_cast<uint64_t>(zxid), out);
  out->append(payload);
}

const char* record_status_name(RecordStatus status) {
  switch (status) {
    case RecordStatus::kOk: return "ok";
    case RecordStatus::kEnd: return "end";
    case RecordStatus::kTruncated: return "truncated";
    case RecordStatus::kTooLarge: return "too large";
    case RecordStatus::kBadChecksum: return "bad checksum";
  }
  return "unknown";
}

void append_batch_marker(const BatchMarker& marker, std::string* out) {
  std::string payload;  // once per durable write
  put_u64(marker.write_bytes, &payload);
  put_u64(static_cast<uint64_t>(marker.applied_zxid), &payload);
  append_record(kBatchMarkerZxid, payload, out);
}

bool decode_batch_marker(const DecodedRecord& record, BatchMarker* marker) {
  if (record.status != RecordStatus::kOk || record.zxid != kBatchMarkerZxid || record.payload.size() != 16) return false;
  marker->write_bytes = get_u64(record.payload.data());
  marker->applied_zxid = static_cast<Zxid>(get_u64(record.payload.data() + 8));
  return marker->applied_zxid >= 0;
}

DecodedRecord decode_record(std::string_view bytes) {
  DecodedRecord record;
  if (bytes.size() < kRecordHeaderBytes) {
    record.status = all_zero(bytes) ? RecordStatus::kEnd : RecordStatus::kTruncated;
    record.bytes = kRecordHeaderBytes;
    return record;
  }
  if (all_zero(bytes.substr(0, kRecordHeaderBytes))) {
    record.status = RecordStatus::kEnd;
    return record;
  }
  record.payload_bytes = get_u32(bytes.data());
  const uint32_t checksum = get_u32(bytes.data() + 4);
  record.zxid = static_cast<Zxid>(get_u64(bytes.data() + 8));
  if (record.payload_bytes > kPayloadBytesMax) {
    record.status = RecordStatus::kTooLarge;
    record.bytes = kRecordHeaderBytes;
    return record;
  }
  record.bytes = record_bytes(record.payload_bytes);
  if (bytes.size() < record.bytes) {
    record.status = RecordStatus::kTruncated;
    return record;
  }
  const std::string_view payload = bytes.substr(kRecordHeaderBytes, record.payload_bytes);
  if (checksum != record_checksum(record.zxid, payload)) {
    record.status = RecordStatus::kBadChecksum;
    return record;
  }
  record.status = RecordStatus::kOk;
  record.payload = payload;
  return record;
}

std::string describe_bad_record(const DecodedRecord& record, size_t bytes_available) {
  switch (record.status) {
    case RecordStatus::kTruncated:
      if (bytes_available < kRecordHeaderBytes) {
        return "record header cut short (" + std::to_string(bytes_available) + " of " +
               std::to_string(kRecordHeaderBytes) + " bytes)";
      }
      return "length " + std::to_string(record.payload_bytes) + " runs past the end of the file";
    case RecordStatus::kTooLarge:
      return "length " + std::to_string(record.payload_bytes) + " above the maximum " +
             std::to_string(kPayloadBytesMax);
    case RecordStatus::kBadChecksum:
      return "checksum mismatch (zxid " + zxid_hex(record.zxid) + ")";
    case RecordStatus::kOk:
    case RecordStatus::kEnd:
      break;
  }
  return record_status_name(record.status);
}

}  // namespace quorumfs::log_format
