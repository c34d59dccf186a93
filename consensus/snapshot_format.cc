#include "consensus/snapshot_format.h"

#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <new>

#include "consensus/check.h"
#include "consensus/log_format.h"  // zxid_hex: one spelling of zxids in file names

namespace quorumfs::snapshot_format {
namespace {

void put_le(uint64_t value, int count, std::string* out) {
  for (int i = 0; i < count; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}
uint64_t get_le(const char* bytes, int count) {
  uint64_t value = 0;
  for (int i = count - 1; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

std::unique_ptr<XXH64_state_s, HashStateDeleter> new_hash() {
  std::unique_ptr<XXH64_state_s, HashStateDeleter> hash(XXH64_createState());
  if (!hash) throw std::bad_alloc();
  XXH64_reset(hash.get(), 0);
  return hash;
}

std::string hex64(uint64_t value) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(value));
  return hex;
}

bool all_zero(const char* bytes, size_t count) {
  return std::all_of(bytes, bytes + count, [](char byte) { return byte == 0; });
}

}  // namespace

void HashStateDeleter::operator()(XXH64_state_s* state) const { XXH64_freeState(state); }

std::string snapshot_file_name(Zxid zxid) { return std::string(kFilePrefix) + log_format::zxid_hex(zxid); }

bool parse_snapshot_file_name(std::string_view name, Zxid* zxid) {
  return name.starts_with(kFilePrefix) && log_format::parse_zxid_hex(name.substr(kFilePrefix.size()), zxid);
}

// ---- Encoder

Encoder::Encoder(Zxid zxid, std::string* out) : hash_(new_hash()) {
  const size_t start = out->size();
  out->append(kMagic);
  out->push_back(0);
  put_le(kVersion, 2, out);
  out->append(6, '\0');
  put_le(static_cast<uint64_t>(zxid), 8, out);
  hash_appended(*out, start);
}

void Encoder::add_record(std::string_view payload, std::string* out) {
  QFS_CHECK(!finished_, "no record after the snapshot trailer");
  // The length field doubles as the trailer marker, so a record can never claim it.
  QFS_CHECK(payload.size() <= kRecordBytesMax, "a snapshot record fits the format");
  const size_t start = out->size();
  put_le(payload.size(), 4, out);
  out->append(payload);
  hash_appended(*out, start);
}

void Encoder::finish(std::string* out) {
  QFS_CHECK(!finished_, "no record after the snapshot trailer");
  finished_ = true;
  const uint64_t checksum = XXH64_digest(hash_.get());
  put_le(kTrailerMarker, 4, out);
  out->append(kTrailerMagic);
  put_le(checksum, 8, out);
}

void Encoder::hash_appended(const std::string& out, size_t start) {
  XXH64_update(hash_.get(), out.data() + start, out.size() - start);
}

// ---- Decoder

Decoder::Decoder() : hash_(new_hash()) {}

void Decoder::feed(std::string_view bytes) {
  QFS_CHECK(!input_ended_, "no input after the end of the snapshot");
  // Drop what is parsed so the buffer holds at most one record plus one chunk.
  buffer_.erase(0, position_);
  buffer_file_offset_ += position_;
  position_ = 0;
  record_ = {};
  buffer_.append(bytes);
}

void Decoder::end_of_input() { input_ended_ = true; }

Decoder::Step Decoder::next() {
  switch (state_) {
    case State::kExpectHeader: return decode_header();
    case State::kExpectRecord: return decode_record();
    case State::kTrailerRead:
      if (available() > 0) return fail(offset(), "bytes after the trailer");
      return input_ended_ ? Step::kEnd : Step::kNeedMore;
    case State::kFailed: return Step::kError;
  }
  return Step::kError;
}

Decoder::Step Decoder::fail(uint64_t offset, std::string reason) {
  state_ = State::kFailed;
  error_ = std::move(reason);
  error_offset_ = offset;
  return Step::kError;
}

// Called when fewer bytes are buffered than the next item needs.
Decoder::Step Decoder::need(size_t bytes, const char* what) {
  if (!input_ended_) return Step::kNeedMore;
  return fail(offset(), std::string("file ends inside the ") + what + " (" + std::to_string(available()) +
                            " of " + std::to_string(bytes) + " bytes)");
}

void Decoder::consume(size_t bytes) {
  XXH64_update(hash_.get(), cursor(), bytes);
  position_ += bytes;
}

Decoder::Step Decoder::decode_header() {
  if (available() < kHeaderBytes) return need(kHeaderBytes, "header");
  const char* header = cursor();
  if (std::string_view(header, kMagic.size()) != kMagic || header[7] != 0) {
    return fail(0, "bad magic (not a quorumfs snapshot)");
  }
  version_ = static_cast<uint16_t>(get_le(header + 8, 2));
  if (version_ != kVersion) return fail(8, "unsupported snapshot format version " + std::to_string(version_));
  if (!all_zero(header + 10, 6)) return fail(10, "reserved header bytes not zero");
  zxid_ = static_cast<Zxid>(get_le(header + 16, 8));
  consume(kHeaderBytes);
  state_ = State::kExpectRecord;
  return Step::kHeader;
}

Decoder::Step Decoder::decode_record() {
  if (available() < 4) return need(4, "length field of a record (no trailer)");
  const uint32_t length = static_cast<uint32_t>(get_le(cursor(), 4));
  if (length == kTrailerMarker) return decode_trailer();
  if (length > kRecordBytesMax) {
    return fail(offset(), "record length " + std::to_string(length) + " above the maximum " +
                              std::to_string(kRecordBytesMax));
  }
  if (available() < 4 + size_t{length}) return need(4 + size_t{length}, "record");
  record_offset_ = offset();
  record_ = std::string_view(cursor() + 4, length);
  consume(4 + size_t{length});
  ++records_decoded_;
  return Step::kRecord;
}

Decoder::Step Decoder::decode_trailer() {
  if (available() < kTrailerBytes) return need(kTrailerBytes, "trailer");
  const char* trailer = cursor();
  if (std::string_view(trailer + 4, kTrailerMagic.size()) != kTrailerMagic) {
    return fail(offset() + 4, "bad trailer magic");
  }
  const uint64_t stored = get_le(trailer + 12, 8);
  const uint64_t computed = XXH64_digest(hash_.get());
  if (stored != computed) {
    return fail(offset(), "checksum mismatch (trailer says " + hex64(stored) + ", content hashes to " +
                              hex64(computed) + ")");
  }
  position_ += kTrailerBytes;
  state_ = State::kTrailerRead;
  return next();
}

}  // namespace quorumfs::snapshot_format
