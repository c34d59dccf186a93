// A snapshot file's bytes (docs/formats.md, "Snapshot"). Tree-agnostic: records are opaque
// payloads (daemon/storage/snapshot_store.cc puts a proto::SnapshotHeader first, then one
// proto::SnapshotNode per node). Pure encode/decode, no I/O; both sides stream, so a large tree
// never needs its whole file in memory.
//
// All integers little-endian:
//   header (24 bytes): "QFSSNAP" | u8 0 | u16 version | 6 bytes 0 | i64 zxid
//   records:           u32 length | length bytes          (length < 0xffffffff)
//   trailer (20 bytes): u32 0xffffffff | "QFSTRAIL" | u64 XXH64 (seed 0) of every byte before it
//   end of file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "consensus/zxid.h"

struct XXH64_state_s;

namespace quorumfs::snapshot_format {

inline constexpr std::string_view kMagic = "QFSSNAP";
inline constexpr uint16_t kVersion = 1;
inline constexpr size_t kHeaderBytes = 24;
inline constexpr uint32_t kTrailerMarker = 0xffffffffu;
inline constexpr std::string_view kTrailerMagic = "QFSTRAIL";
inline constexpr size_t kTrailerBytes = 20;
// One node's record is its name, data and ACL; far below this. A larger length is damage.
inline constexpr uint32_t kRecordBytesMax = 256u << 20;

// "snapshot.<zxid as 16 lowercase hex digits>"; written first under that name + ".tmp".
inline constexpr std::string_view kFilePrefix = "snapshot.";
inline constexpr std::string_view kTempSuffix = ".tmp";
std::string snapshot_file_name(Zxid zxid);
// True for exactly "snapshot.<16 lowercase hex>" (not the .tmp names).
bool parse_snapshot_file_name(std::string_view name, Zxid* zxid);

struct HashStateDeleter {
  void operator()(XXH64_state_s* state) const;
};

// Appends a snapshot's bytes to a caller's buffer, which the caller may write out and clear
// between calls: the checksum is kept as the bytes are produced.
class Encoder {
 public:
  Encoder(Zxid zxid, std::string* out);  // appends the header
  void add_record(std::string_view payload, std::string* out);
  void finish(std::string* out);  // appends the trailer; no records after this

 private:
  void hash_appended(const std::string& out, size_t start);
  std::unique_ptr<XXH64_state_s, HashStateDeleter> hash_;
  bool finished_ = false;
};

// Decodes a snapshot fed in file order, in chunks of any size. The trailer checksum is only
// known at the end: a caller must discard everything it built unless next() reaches kEnd.
class Decoder {
 public:
  enum class Step {
    kNeedMore,  // feed() more bytes, or end_of_input()
    kHeader,    // the header was valid; zxid() is set
    kRecord,    // record() holds the next record
    kEnd,       // trailer valid, checksum matches, nothing after it
    kError,     // error() and error_offset() say what and where; final
  };

  Decoder();
  void feed(std::string_view bytes);
  void end_of_input();  // no more bytes: a step that needs more becomes an error
  Step next();

  Zxid zxid() const { return zxid_; }
  uint16_t version() const { return version_; }
  // kRecord: the payload, valid until the next feed() or next().
  std::string_view record() const { return record_; }
  uint64_t record_offset() const { return record_offset_; }  // file offset of its length field
  uint64_t records_decoded() const { return records_decoded_; }
  const std::string& error() const { return error_; }
  uint64_t error_offset() const { return error_offset_; }

 private:
  enum class State { kExpectHeader, kExpectRecord, kTrailerRead, kFailed };
  size_t available() const { return buffer_.size() - position_; }
  uint64_t offset() const { return buffer_file_offset_ + position_; }
  const char* cursor() const { return buffer_.data() + position_; }
  Step fail(uint64_t offset, std::string reason);
  Step need(size_t bytes, const char* what);
  Step decode_header();
  Step decode_record();
  Step decode_trailer();
  void consume(size_t bytes);  // hashes and skips bytes

  std::string buffer_;
  size_t position_ = 0;              // next unparsed byte in buffer_
  uint64_t buffer_file_offset_ = 0;  // file offset of buffer_[0]
  bool input_ended_ = false;
  State state_ = State::kExpectHeader;
  std::unique_ptr<XXH64_state_s, HashStateDeleter> hash_;
  Zxid zxid_ = 0;
  uint16_t version_ = 0;
  std::string_view record_;
  uint64_t record_offset_ = 0;
  uint64_t records_decoded_ = 0;
  std::string error_;
  uint64_t error_offset_ = 0;
};

}  // namespace quorumfs::snapshot_format
