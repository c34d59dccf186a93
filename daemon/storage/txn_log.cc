#include "daemon/storage/txn_log.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <system_error>

#include <spdlog/spdlog.h>

#include "consensus/check.h"
#include "consensus/log_format.h"
#include "daemon/storage/file_util.h"

namespace quorumfs {
namespace {

using log_format::DecodedRecord;
using log_format::RecordStatus;
using storage::UniqueFd;

constexpr size_t kReadChunkBytes = 1 << 20;

// A failed write or fsync is retried from the start of its write: after a failed fsync the page
// cache may have dropped the data (Linux marks the pages clean), so only a new write of the same
// bytes followed by a successful fsync makes them durable. Nothing is reported durable meanwhile.
constexpr auto kRetryDelayMin = std::chrono::milliseconds(100);
constexpr auto kRetryDelayMax = std::chrono::seconds(1);
constexpr auto kFailureLogInterval = std::chrono::seconds(30);

std::string hex(Zxid zxid) { return "0x" + log_format::zxid_hex(zxid); }

// Reads a segment through a buffer that holds at least the record being decoded.
class SegmentReader {
 public:
  SegmentReader(int fd, uint64_t file_bytes, const std::string& path)
      : fd_(fd), file_bytes_(file_bytes), path_(path) {}

  // Up to count bytes from offset, fewer only at the end of the file. Valid until the next call.
  bool view(uint64_t offset, size_t count, std::string_view* bytes, std::string* error) {
    if (offset >= file_bytes_) {
      *bytes = {};
      return true;
    }
    const uint64_t end = std::min<uint64_t>(offset + count, file_bytes_);
    if (offset < buffer_offset_ || end > buffer_offset_ + buffer_.size()) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(std::max(count, kReadChunkBytes), file_bytes_ - offset));
      if (!storage::read_at(fd_, offset, want, &buffer_, path_, error)) return false;
      buffer_offset_ = offset;
    }
    const size_t start = static_cast<size_t>(offset - buffer_offset_);
    *bytes = std::string_view(buffer_).substr(start, std::min<size_t>(end - offset, buffer_.size() - start));
    return true;
  }

  uint64_t file_bytes() const { return file_bytes_; }

  // The offset of the first non-zero byte at or after from; the file size if there is none.
  bool first_nonzero(uint64_t from, uint64_t* found, std::string* error) {
    for (uint64_t offset = from; offset < file_bytes_; offset += kReadChunkBytes) {
      std::string_view bytes;
      if (!view(offset, kReadChunkBytes, &bytes, error)) return false;
      const auto nonzero = std::find_if(bytes.begin(), bytes.end(), [](char byte) { return byte != 0; });
      if (nonzero != bytes.end()) {
        *found = offset + static_cast<uint64_t>(nonzero - bytes.begin());
        return true;
      }
    }
    *found = file_bytes_;
    return true;
  }

 private:
  int fd_;
  uint64_t file_bytes_;
  const std::string& path_;
  std::string buffer_;
  uint64_t buffer_offset_ = 0;
};

// Decodes the record at offset, reading as many bytes as its length field claims.
bool read_record(SegmentReader& reader, uint64_t offset, DecodedRecord* record, size_t* available,
                 std::string* error) {
  std::string_view bytes;
  if (!reader.view(offset, log_format::kRecordHeaderBytes, &bytes, error)) return false;
  *record = log_format::decode_record(bytes);
  if (record->status == RecordStatus::kTruncated && record->bytes > bytes.size()) {
    if (!reader.view(offset, record->bytes, &bytes, error)) return false;
    *record = log_format::decode_record(bytes);
  }
  *available = bytes.size();
  return true;
}

bool file_size(int fd, const std::string& path, uint64_t* bytes, std::string* error) {
  struct stat status {};
  if (::fstat(fd, &status) != 0) {
    *error = storage::errno_message(path, "stat");
    return false;
  }
  *bytes = static_cast<uint64_t>(status.st_size);
  return true;
}

// Extends the file to size_bytes with allocated zeros. fallocate so that later fdatasyncs need
// not allocate blocks or move the size (ftruncate, which leaves a hole, where it is unsupported).
bool allocate(int fd, uint64_t from_bytes, uint64_t size_bytes, const std::string& path, std::string* error) {
  if (size_bytes <= from_bytes) return true;
  int result = ::fallocate(fd, 0, static_cast<off_t>(from_bytes), static_cast<off_t>(size_bytes - from_bytes));
  if (result != 0 && errno == EOPNOTSUPP) result = ::ftruncate(fd, static_cast<off_t>(size_bytes));
  if (result != 0) {
    *error = storage::errno_message(path, "preallocate to " + std::to_string(size_bytes) + " bytes");
    return false;
  }
  return true;
}

bool sync_file(int fd, const std::string& path, std::string* error) {
  if (::fdatasync(fd) == 0) return true;
  *error = storage::errno_message(path, "fdatasync");
  return false;
}

// Cuts a torn last record: zeros from offset to the end, keeping the preallocated size.
bool truncate_torn_tail(const std::string& path, uint64_t offset, uint64_t file_bytes, std::string* error) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) {
    *error = storage::errno_message(path, "open to truncate");
    return false;
  }
  if (::ftruncate(fd.get(), static_cast<off_t>(offset)) != 0) {
    *error = storage::errno_message(path, "truncate to " + std::to_string(offset));
    return false;
  }
  if (!allocate(fd.get(), offset, file_bytes, path, error)) return false;
  if (::fsync(fd.get()) != 0) {
    *error = storage::errno_message(path, "fsync after truncating");
    return false;
  }
  return true;
}

struct RecordsFound {
  uint64_t records = 0;
  Zxid last_zxid = 0;
  uint64_t end_offset = 0;  // end of the last good record
  uint64_t last_marker_offset = 0;  // the last batch marker read (0: none)
  uint64_t last_write_end = 0;      // the end that marker declares
  Zxid applied_mark = 0;            // the highest applied zxid the markers record
};

// Recovery ended the records inside the last write (its later pages never reached the disk): that
// write's marker must say so, or the next crash's torn write, made from here, would be measured
// against the old, longer extent and taken for corruption.
bool shorten_last_marker(const std::string& path, const RecordsFound& found, std::string* error) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) {
    *error = storage::errno_message(path, "open to shorten a batch marker");
    return false;
  }
  std::string marker;
  log_format::append_batch_marker({found.end_offset - found.last_marker_offset, found.applied_mark}, &marker);
  if (!storage::write_all_at(fd.get(), marker, found.last_marker_offset, path, error)) return false;
  if (::fdatasync(fd.get()) != 0) {
    *error = storage::errno_message(path, "fdatasync after shortening a batch marker");
    return false;
  }
  return true;
}

// Records are appended over preallocated zeros, so a page a crash did not write reads as zeros:
// damage that shows a zeroed page (a zero header, a cut file, a record with a zero page part) is
// missing pages; non-zero garbage (a bad length, a checksum failing over written bytes) is not.
constexpr uint64_t kPageBytes = 4096;

bool looks_unwritten(SegmentReader& reader, uint64_t offset, const DecodedRecord& record, std::string* error,
                     bool* unwritten) {
  *unwritten = record.status == RecordStatus::kTruncated;
  if (record.status == RecordStatus::kEnd) {
    // An unwritten page is zero to its end; data later on the same page was written.
    uint64_t nonzero = 0;
    if (!reader.first_nonzero(offset, &nonzero, error)) return false;
    *unwritten = nonzero >= (offset / kPageBytes + 1) * kPageBytes;
    return true;
  }
  if (record.status != RecordStatus::kBadChecksum) return true;
  std::string_view bytes;
  if (!reader.view(offset, record.bytes, &bytes, error)) return false;
  for (uint64_t start = offset; start < offset + bytes.size();) {
    const uint64_t page_end = std::min<uint64_t>((start / kPageBytes + 1) * kPageBytes, offset + bytes.size());
    std::string_view part = bytes.substr(start - offset, page_end - start);
    if (part.find_first_not_of('\0') == std::string_view::npos) *unwritten = true;
    start = page_end;
  }
  return true;
}

// A bad record (or data after the end) in the last segment is a torn tail when nothing non-zero
// follows it, or when it shows unwritten pages and nothing non-zero lies past the write it is in:
// the last marker's write, or, at or past that write's end, a write whose marker is lost (at most
// kBatchBytesMax). A crash can leave any pages of the last write on disk, and that write was never
// acknowledged (a write is acknowledged once durable, and the next starts only then). Cut from the
// bad record on. Anything else is corruption, reported with file and offset.
bool settle_bad_record(SegmentReader& reader, const std::string& path, uint64_t offset, const DecodedRecord& record,
                       const std::string& reason, uint64_t last_write_end, bool last, std::string* error) {
  const uint64_t file_bytes = reader.file_bytes();
  uint64_t record_end = file_bytes;
  if (record.status == RecordStatus::kBadChecksum) record_end = offset + record.bytes;
  if (record.status == RecordStatus::kTooLarge) record_end = offset + log_format::kRecordHeaderBytes;
  if (record.status == RecordStatus::kEnd) record_end = offset;
  uint64_t after_record = 0;
  if (!reader.first_nonzero(std::min(record_end, file_bytes), &after_record, error)) return false;
  const uint64_t write_end = offset < last_write_end ? last_write_end : offset + log_format::kBatchBytesMax;
  uint64_t nonzero = 0;
  if (!reader.first_nonzero(std::min(write_end, file_bytes), &nonzero, error)) return false;
  bool unwritten = false;
  if (!looks_unwritten(reader, offset, record, error, &unwritten)) return false;
  const bool torn = after_record == file_bytes || (unwritten && nonzero == file_bytes);
  if (!last || !torn) {
    *error = path + ": corrupt record at offset " + std::to_string(offset) + ": " + reason +
             (last ? "; data follows at offset " + std::to_string(after_record) : "; not the last segment");
    return false;
  }
  spdlog::warn("txn log: {}: truncating a torn last write at offset {} ({}); it was never acknowledged", path,
               offset, reason);
  return truncate_torn_tail(path, offset, file_bytes, error);
}

// Reads every record after the header, up to the end (zeros) or a torn last write.
bool scan_records(SegmentReader& reader, const std::string& path, bool last, RecordsFound* found,
                  std::string* error) {
  uint64_t offset = log_format::kFileHeaderBytes;
  uint64_t last_write_end = offset;  // the end the last batch marker declared
  found->last_marker_offset = 0;
  for (;;) {
    DecodedRecord record;
    size_t available = 0;
    if (!read_record(reader, offset, &record, &available, error)) return false;
    if (record.status == RecordStatus::kOk && record.zxid == log_format::kBatchMarkerZxid) {
      log_format::BatchMarker marker;
      if (log_format::decode_batch_marker(record, &marker) && marker.write_bytes >= record.bytes) {
        last_write_end = offset + marker.write_bytes;
        found->last_marker_offset = offset;
        found->last_write_end = last_write_end;
        found->applied_mark = std::max(found->applied_mark, marker.applied_zxid);
        offset += record.bytes;
        continue;
      }
      record.status = RecordStatus::kBadChecksum;  // a malformed marker is a bad record
    }
    if (record.status == RecordStatus::kOk) {
      ++found->records;
      found->last_zxid = record.zxid;
      offset += record.bytes;
      continue;
    }
    uint64_t nonzero = 0;
    if (record.status == RecordStatus::kEnd && !reader.first_nonzero(offset, &nonzero, error)) return false;
    if (record.status == RecordStatus::kEnd && nonzero == reader.file_bytes()) {
      found->end_offset = offset;  // the end: zeros to the end of the file
      return true;
    }
    const std::string reason = record.status == RecordStatus::kEnd
                                   ? "zero record header followed by data at offset " + std::to_string(nonzero)
                                   : log_format::describe_bad_record(record, available);
    if (!settle_bad_record(reader, path, offset, record, reason, last_write_end, last, error)) return false;
    found->end_offset = offset;
    return true;
  }
}

}  // namespace

// ---- Opening and recovery

TxnLog::TxnLog(const TxnLogOptions& options) : options_(options) {}

TxnLog::~TxnLog() {
  if (writer_.joinable()) {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    work_ready_.notify_one();
    writer_.join();  // the writer drains the queue before it returns
  }
  if (active_fd_ >= 0) ::close(active_fd_);
}

std::unique_ptr<TxnLog> TxnLog::open(const TxnLogOptions& options, std::string* error) {
  std::unique_ptr<TxnLog> log(new TxnLog(options));
  if (!log->recover(error)) return nullptr;
  log->writer_ = std::thread(&TxnLog::writer_loop, log.get());
  return log;
}

bool TxnLog::recover(std::string* error) {
  if (!storage::make_directories(options_.dir, error)) return false;
  std::vector<Segment> found;
  std::error_code code;
  for (const auto& entry : std::filesystem::directory_iterator(options_.dir, code)) {
    Segment segment;
    if (!log_format::parse_segment_file_name(entry.path().filename().string(), &segment.first_zxid)) continue;
    segment.path = entry.path().string();
    found.push_back(std::move(segment));
  }
  if (code) {
    *error = options_.dir + ": list directory: " + code.message();
    return false;
  }
  std::sort(found.begin(), found.end(), [](const Segment& a, const Segment& b) { return a.first_zxid < b.first_zxid; });

  for (size_t index = 0; index < found.size(); ++index) {
    bool remove = false;
    if (!recover_segment(&found[index], index + 1 == found.size(), &remove, error)) return false;
    if (!remove) continue;
    // Only the last segment can be removed: one a crash left before its first record was durable.
    spdlog::warn("txn log: {}: removing a segment with no records (left by a crash while it was created)",
                 found[index].path);
    if (::unlink(found[index].path.c_str()) != 0) {
      *error = storage::errno_message(found[index].path, "remove empty segment");
      return false;
    }
    if (!storage::sync_directory(options_.dir, error)) return false;
    found.pop_back();
  }

  for (const Segment& segment : found) last_zxid_ = std::max(last_zxid_, segment.last_zxid);
  segments_ = std::move(found);
  if (segments_.empty()) return true;  // the first append creates a segment

  const Segment& active = segments_.back();
  active_fd_ = ::open(active.path.c_str(), O_RDWR | O_CLOEXEC);
  if (active_fd_ < 0) {
    *error = storage::errno_message(active.path, "open for appending");
    return false;
  }
  active_path_ = active.path;
  write_offset_ = active.end_offset;
  active_records_ = active.records;
  return file_size(active_fd_, active.path, &allocated_bytes_, error);
}

// Checks one segment's header and records; *remove when it holds nothing and may go.
bool TxnLog::recover_segment(Segment* segment, bool last, bool* remove, std::string* error) {
  const std::string& path = segment->path;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    *error = storage::errno_message(path, "open");
    return false;
  }
  uint64_t file_bytes = 0;
  if (!file_size(fd.get(), path, &file_bytes, error)) return false;
  SegmentReader reader(fd.get(), file_bytes, path);

  std::string_view header_bytes;
  if (!reader.view(0, log_format::kFileHeaderBytes, &header_bytes, error)) return false;
  log_format::FileHeader header;
  std::string reason;
  if (!log_format::decode_file_header(header_bytes, &header, &reason)) {
    // Records are written only after the header is synced, so a last segment with nothing past
    // its header is one whose creation a crash interrupted: no record in it was ever acknowledged.
    uint64_t nonzero = 0;
    if (!reader.first_nonzero(log_format::kFileHeaderBytes, &nonzero, error)) return false;
    *remove = last && nonzero == file_bytes;
    if (!*remove) *error = path + ": bad file header at offset 0: " + reason;
    return *remove;
  }
  if (header.first_zxid != segment->first_zxid) {
    *error = path + ": bad file header at offset 8: first zxid " + hex(header.first_zxid) +
             " does not match the file name";
    return false;
  }

  RecordsFound found;
  if (!scan_records(reader, path, last, &found, error)) return false;
  const bool inside_last_write = found.last_marker_offset != 0 &&
                                 found.end_offset >= found.last_marker_offset + log_format::kBatchMarkerBytes &&
                                 found.end_offset < found.last_write_end;
  if (last && inside_last_write && !shorten_last_marker(path, found, error)) return false;
  segment->records = found.records;
  segment->last_zxid = found.last_zxid;
  segment->applied_mark = found.applied_mark;
  segment->end_offset = found.end_offset;
  *remove = last && segment->records == 0;
  return true;
}

// ---- Replay

bool TxnLog::replay(Zxid after, const std::function<void(Zxid, std::string_view payload)>& fn,
                    std::string* error) const {
  std::vector<Segment> segments;
  {
    std::lock_guard lock(mutex_);
    // The writer may be extending the last segment; replay reads what open() found.
    if (appends_queued_ > 0) {
      *error = options_.dir + ": replay after the first append";
      return false;
    }
    segments = segments_;
  }
  Zxid previous = 0;
  for (const Segment& segment : segments) {
    if (segment.records == 0) continue;
    if (segment.last_zxid <= after) {  // wholly covered by the snapshot: no need to read it
      previous = segment.last_zxid;
      continue;
    }
    if (!replay_segment(segment, after, &previous, fn, error)) return false;
  }
  return true;
}

bool TxnLog::replay_segment(const Segment& segment, Zxid after, Zxid* previous,
                            const std::function<void(Zxid, std::string_view)>& fn, std::string* error) const {
  const std::string& path = segment.path;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    *error = storage::errno_message(path, "open");
    return false;
  }
  SegmentReader reader(fd.get(), segment.end_offset, path);
  for (uint64_t offset = log_format::kFileHeaderBytes; offset < segment.end_offset;) {
    DecodedRecord record;
    size_t available = 0;
    if (!read_record(reader, offset, &record, &available, error)) return false;
    const std::string at = path + ": offset " + std::to_string(offset) + ": ";
    if (record.status != RecordStatus::kOk) {
      *error = path + ": corrupt record at offset " + std::to_string(offset) + ": " +
               log_format::describe_bad_record(record, available) + " (changed since the log was opened)";
      return false;
    }
    if (record.zxid == log_format::kBatchMarkerZxid) {  // a write's marker, not a txn
      offset += record.bytes;
      continue;
    }
    if (*previous < segment.first_zxid && record.zxid != segment.first_zxid) {
      *error = at + "first record has zxid " + hex(record.zxid) + ", the file name says " + hex(segment.first_zxid);
      return false;
    }
    if (record.zxid <= *previous) {
      *error = at + "zxid " + hex(record.zxid) + " is not above the previous record's " + hex(*previous);
      return false;
    }
    if (record.zxid > after) {
      // Within an epoch zxids have no gaps (Zab), so a jump means a lost record.
      const Zxid prior = std::max(*previous, after);
      if (zxid_epoch(record.zxid) == zxid_epoch(prior) && zxid_counter(record.zxid) != zxid_counter(prior) + 1) {
        *error = at + "gap: zxid " + hex(record.zxid) + " follows " + hex(prior);
        return false;
      }
      fn(record.zxid, record.payload);
    }
    *previous = record.zxid;
    offset += record.bytes;
  }
  return true;
}

// ---- Truncation

// Needs no recovery of the whole log: whatever lies after the cut (a torn tail, damage) goes
// unread, so an operator can cut a log whose later part is corrupt (docs/operations.md).
bool TxnLog::truncate_after(const TxnLogOptions& options, Zxid zxid, std::string* error) {
  std::vector<Segment> segments;
  if (!list_segments(options.dir, &segments, error)) return false;
  for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
    if (it->first_zxid > zxid) {
      if (::unlink(it->path.c_str()) != 0) {
        *error = storage::errno_message(it->path, "remove");
        return false;
      }
      if (!storage::sync_directory(options.dir, error)) return false;
      spdlog::info("txn log: {} removed: the log is cut after {}", it->path, hex(zxid));
      continue;
    }
    // The segment that holds zxid, if any: its records after zxid go.
    bool cut = false;
    if (!rewrite_segment_through(*it, zxid, &cut, error)) return false;
    if (cut) spdlog::info("txn log: {} cut after {}", it->path, hex(zxid));
    break;
  }
  return true;
}

// The segment files in dir, oldest first (named by their first zxid; nothing else is read).
bool TxnLog::list_segments(const std::string& dir, std::vector<Segment>* segments, std::string* error) {
  std::error_code code;
  for (const auto& entry : std::filesystem::directory_iterator(dir, code)) {
    Segment segment;
    if (!log_format::parse_segment_file_name(entry.path().filename().string(), &segment.first_zxid)) continue;
    segment.path = entry.path().string();
    segments->push_back(std::move(segment));
  }
  if (code && code != std::errc::no_such_file_or_directory) {
    *error = dir + ": list directory: " + code.message();
    return false;
  }
  std::sort(segments->begin(), segments->end(),
            [](const Segment& a, const Segment& b) { return a.first_zxid < b.first_zxid; });
  return true;
}

// Writes the segment's records up to zxid to a new file that replaces it (the preallocated tail
// of the old one could hold records beyond zxid that a later recovery would read). Reads up to
// the first record past zxid: a bad record before it fails the cut, anything after is not read.
// *cut: something after zxid was dropped.
bool TxnLog::rewrite_segment_through(const Segment& segment, Zxid zxid, bool* cut, std::string* error) {
  const std::string& path = segment.path;
  std::string bytes;
  log_format::append_file_header(segment.first_zxid, &bytes);
  {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
      *error = storage::errno_message(path, "open");
      return false;
    }
    uint64_t file_bytes = 0;
    if (!file_size(fd.get(), path, &file_bytes, error)) return false;
    SegmentReader reader(fd.get(), file_bytes, path);
    size_t batch_start = 0;
    log_format::BatchMarker marker;  // the applied zxid read last carries over to the new markers
    for (uint64_t offset = log_format::kFileHeaderBytes; offset < file_bytes;) {
      DecodedRecord record;
      size_t available = 0;
      if (!read_record(reader, offset, &record, &available, error)) return false;
      if (record.status == RecordStatus::kEnd) {
        uint64_t nonzero = 0;
        if (!reader.first_nonzero(offset, &nonzero, error)) return false;
        *cut = nonzero != file_bytes;  // data after the end (a torn write) goes too
        break;
      }
      if (record.status != RecordStatus::kOk) {
        *error = path + ": corrupt record at offset " + std::to_string(offset) + " before the cut point: " +
                 log_format::describe_bad_record(record, available);
        return false;
      }
      offset += record.bytes;
      if (record.zxid == log_format::kBatchMarkerZxid) {
        log_format::BatchMarker read;
        if (log_format::decode_batch_marker(record, &read)) marker.applied_zxid = std::min(read.applied_zxid, zxid);
        continue;
      }
      if (record.zxid > zxid) {
        *cut = true;
        break;
      }
      // Rewritten in writes of about the usual size, each led by its marker.
      if (batch_start == 0 || bytes.size() - batch_start >= log_format::kBatchBytesTarget) {
        batch_start = bytes.size();
        log_format::append_batch_marker({}, &bytes);
      }
      log_format::append_record(record.zxid, record.payload, &bytes);
      std::string encoded;
      marker.write_bytes = bytes.size() - batch_start;
      log_format::append_batch_marker(marker, &encoded);
      bytes.replace(batch_start, encoded.size(), encoded);
      if (record.zxid == zxid) {  // the cut point: what follows goes unread
        uint64_t nonzero = 0;
        if (!reader.first_nonzero(offset, &nonzero, error)) return false;
        *cut = nonzero != file_bytes;
        break;
      }
    }
  }
  if (!*cut) return true;  // nothing after zxid: the file stays as it is
  const std::string temp_path = path + ".cut";
  {
    UniqueFd fd(::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, storage::kFileMode));
    if (!fd.valid()) {
      *error = storage::errno_message(temp_path, "create");
      return false;
    }
    if (!storage::write_all(fd.get(), bytes, temp_path, error)) return false;
    if (::fsync(fd.get()) != 0) {
      *error = storage::errno_message(temp_path, "fsync");
      return false;
    }
  }
  if (::rename(temp_path.c_str(), path.c_str()) != 0) {
    *error = storage::errno_message(temp_path, "rename to " + path);
    return false;
  }
  const std::string dir = std::filesystem::path(path).parent_path().string();
  return storage::sync_directory(dir, error);
}

// ---- Appending

Zxid TxnLog::last_zxid() const {
  std::lock_guard lock(mutex_);
  return last_zxid_;
}

Zxid TxnLog::applied_mark() const {
  std::lock_guard lock(mutex_);
  Zxid mark = 0;
  for (const Segment& segment : segments_) mark = std::max(mark, segment.applied_mark);
  return mark;
}

void TxnLog::set_on_durable(std::function<void(Zxid)> on_durable) {
  std::lock_guard lock(mutex_);
  on_durable_ = std::move(on_durable);
}

void TxnLog::append(std::vector<LogEntry> entries, Zxid applied_zxid, Committer committer) {
  if (entries.empty()) return;
  bool wake_writer = committer == Committer::kWriterThread;
  {
    std::lock_guard lock(mutex_);
    for (const LogEntry& entry : entries) {
      // A log out of order could not be replayed; the caller's bug must not reach the disk.
      QFS_CHECK(entry.zxid > last_zxid_, "log appends rise strictly");
      QFS_CHECK(entry.payload->size() <= log_format::kPayloadBytesMax, "a txn fits a log record (checked where it entered)");
      last_zxid_ = entry.zxid;
    }
    queued_.push_back(Pending{std::move(entries), applied_zxid, std::exchange(roll_requested_, false)});
    ++appends_queued_;
    // The caller will not write it (busy or slow log): the writer thread starts on it now rather
    // than at the caller's commit_queued(), overlapping the sync with the caller's work meanwhile.
    if (!wake_writer) wake_writer = !idle_for_caller();
    writer_wanted_ = writer_wanted_ || wake_writer;
  }
  if (wake_writer) work_ready_.notify_one();
}

void TxnLog::record_applied(Zxid applied_zxid) {
  {
    std::lock_guard lock(mutex_);
    queued_.push_back(Pending{{}, applied_zxid, false});
    ++appends_queued_;
    writer_wanted_ = true;
  }
  work_ready_.notify_one();
}

std::optional<Zxid> TxnLog::commit_queued() {
  std::vector<Pending> batch;
  uint64_t appends_taken = 0;
  {
    std::unique_lock lock(mutex_);
    if (queued_.empty()) return Zxid{0};  // the writer thread took it (it reports it)
    if (!idle_for_caller() || !fits_one_write_here(queued_)) {
      writer_wanted_ = true;
      lock.unlock();
      work_ready_.notify_one();
      return std::nullopt;
    }
    batch.swap(queued_);
    appends_taken = appends_queued_;
    writing_ = true;
  }
  Zxid highest = 0;
  for (const Pending& pending : batch) {
    if (pending.entries.empty()) buffer_applied_mark(pending.applied_zxid);
    for (const LogEntry& entry : pending.entries) {
      buffer_record(entry, pending.applied_zxid);
      highest = entry.zxid;
    }
  }
  std::string error;
  if (!write_buffer(&error)) {
    // The writer thread takes the write over, keeping writing_: it rewrites the same bytes after
    // the usual delay, as after a failure of its own, and only then reports them.
    {
      std::lock_guard lock(mutex_);
      failing_ = true;
      failure_ = error;
      handover_ = Handover{highest, appends_taken, std::move(error)};
    }
    work_ready_.notify_one();
    durable_.notify_all();  // a flush() waiting for this write gives up
    return std::nullopt;
  }
  if (options_.sync) caller_sync_count_.fetch_add(1, std::memory_order_relaxed);
  bool more = false;
  {
    std::lock_guard lock(mutex_);
    appends_durable_ = appends_taken;
    writing_ = false;
    write_ended_at_ = std::chrono::steady_clock::now();
    more = writer_wanted_ && !queued_.empty();  // wanted meanwhile (another thread's append)
  }
  durable_.notify_all();
  if (more) work_ready_.notify_one();
  return highest;
}

// Whether the caller may write what is queued itself (options_.inline_commit): it waits for the
// disk meanwhile, which is worth it for a lone write (nothing else waits behind this sync, and
// the hops to the writer thread and back are all the thread would add), not for writes that
// arrive together (more than appends_max appends) or close behind the last one (the log idle
// for less than idle_percent of a sync: a stream, whose next write would wait behind this sync),
// where the writer thread overlaps each sync with the caller's work, nor on a slow disk. Under
// the mutex.
bool TxnLog::idle_for_caller() const {
  if (writing_ || failing_ || stopping_ || handover_) return false;
  const auto& policy = options_.inline_commit;
  const uint32_t sync_us = sync_us_recent_.load(std::memory_order_relaxed);
  if (queued_.size() > policy.appends_max || sync_us > policy.sync_us_max) return false;
  const auto idle = std::chrono::steady_clock::now() - write_ended_at_;
  return idle >= std::chrono::microseconds(uint64_t{sync_us} * policy.idle_percent / 100);
}

// Whether the batch goes out as one write that needs no disk step but itself (no new segment, no
// preallocation, no split) and is small enough to keep the caller waiting. Under the mutex, while
// nobody holds writing_ (so the active segment's fields are settled).
bool TxnLog::fits_one_write_here(const std::vector<Pending>& batch) const {
  if (active_fd_ < 0 || !buffer_.empty()) return false;
  uint64_t bytes = log_format::kBatchMarkerBytes;
  for (const Pending& pending : batch) {
    if (pending.roll_before) return false;
    for (const LogEntry& entry : pending.entries) bytes += log_format::record_bytes(entry.payload->size());
  }
  const uint64_t end = write_offset_ + bytes;
  return bytes <= options_.inline_commit.bytes_max && end <= allocated_bytes_ && end <= options_.segment_bytes_max;
}

void TxnLog::roll() {
  std::lock_guard lock(mutex_);
  roll_requested_ = true;
}

uint64_t TxnLog::appends_waiting() const {
  std::lock_guard lock(mutex_);
  return appends_queued_ - appends_durable_;
}

bool TxnLog::flush() {
  std::unique_lock lock(mutex_);
  if (!queued_.empty()) {  // appends queued for commit_queued() are the writer thread's now
    writer_wanted_ = true;
    work_ready_.notify_one();
  }
  const uint64_t target = appends_queued_;
  durable_.wait(lock, [&] { return appends_durable_ >= target || failing_; });
  return appends_durable_ >= target;
}

bool TxnLog::failing() const { return failing_.load(std::memory_order_relaxed); }

std::string TxnLog::failure() const {
  std::lock_guard lock(mutex_);
  return failure_;
}

void TxnLog::purge_through(Zxid zxid) {
  std::lock_guard lock(mutex_);
  // Oldest first, and never back(): the writer may be appending to it.
  while (segments_.size() > 1 && segments_.front().last_zxid <= zxid) {
    const Segment& oldest = segments_.front();
    if (::unlink(oldest.path.c_str()) != 0) {
      spdlog::error("{}", storage::errno_message(oldest.path, "remove purged segment"));
      return;  // keep it listed: a later purge retries
    }
    spdlog::info("txn log: purged {} (records through {})", oldest.path, hex(oldest.last_zxid));
    segments_.erase(segments_.begin());
  }
}

std::vector<std::string> TxnLog::segment_paths() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> paths;
  for (const Segment& segment : segments_) paths.push_back(segment.path);
  return paths;
}

// ---- The writer thread

void TxnLog::writer_loop() {
  pthread_setname_np(pthread_self(), "qfs-log");  // what top -H, ps -L and perf show
  std::vector<Pending> batch;
  for (;;) {
    uint64_t appends_taken = 0;
    std::function<void(Zxid)> on_durable;
    std::optional<Handover> handover;
    {
      std::unique_lock lock(mutex_);
      // Appends the caller will commit itself stay queued unless someone wants the writer.
      work_ready_.wait(lock, [&] {
        return handover_ || (!writing_ && (stopping_ || (writer_wanted_ && !queued_.empty())));
      });
      on_durable = on_durable_;
      if (handover_) {
        handover = std::move(handover_);  // writing_ stays held: commit_queued() passed it on
        handover_.reset();
        appends_taken = handover->appends_taken;
      } else {
        if (queued_.empty()) return;  // stopping, and everything queued is durable
        batch.swap(queued_);  // the emptied vector goes back to the queue, capacity kept
        appends_taken = appends_queued_;
        writing_ = true;
        writer_wanted_ = false;
      }
    }
    std::optional<Zxid> highest;
    if (handover) {
      if (retry_failed([&](std::string* error) { return write_buffer(error); }, std::move(handover->error))) {
        highest = handover->highest;
      }
    } else {
      highest = write_batch(batch);
    }
    batch.clear();
    if (!highest) {
      abandon_queue();  // stopping while the disk fails
      return;
    }
    if (on_durable && *highest != 0) on_durable(*highest);
    {
      std::lock_guard lock(mutex_);
      appends_durable_ = appends_taken;
      writing_ = false;
      write_ended_at_ = std::chrono::steady_clock::now();
    }
    durable_.notify_all();
  }
}

// Everything taken from the queue goes out as one write and one fdatasync, unless a roll splits it.
// Empty when the disk failed and the log is stopping before the batch could be written.
std::optional<Zxid> TxnLog::write_batch(const std::vector<Pending>& batch) {
  Zxid highest = 0;
  for (const Pending& pending : batch) {
    if (pending.entries.empty()) buffer_applied_mark(pending.applied_zxid);
    for (size_t index = 0; index < pending.entries.size(); ++index) {
      const LogEntry& entry = pending.entries[index];
      const bool roll = (index == 0 && pending.roll_before) ||
                        write_offset_ + buffer_.size() >= options_.segment_bytes_max;
      if (active_fd_ < 0 || (roll && active_records_ > 0)) {
        if (!retry([&](std::string* error) { return write_buffer(error); }) ||
            !retry([&](std::string* error) { return start_segment(entry.zxid, error); })) {
          return std::nullopt;
        }
      }
      if (buffer_.size() >= log_format::kBatchBytesTarget &&
          !retry([&](std::string* error) { return write_buffer(error); })) {
        return std::nullopt;
      }
      buffer_record(entry, pending.applied_zxid);
      highest = entry.zxid;
    }
  }
  if (!retry([&](std::string* error) { return write_buffer(error); })) return std::nullopt;
  return highest;
}

// The encoding both writers share, so a batch gives the same bytes whoever writes it.
void TxnLog::buffer_record(const LogEntry& entry, Zxid applied_zxid) {
  if (buffer_.empty()) log_format::append_batch_marker({}, &buffer_);  // filled in at the write
  log_format::append_record(entry.zxid, *entry.payload, &buffer_);
  buffered_applied_zxid_ = std::max(buffered_applied_zxid_, applied_zxid);
  ++active_records_;
  ++buffered_records_;
  buffered_last_zxid_ = entry.zxid;
}

// A record_applied() (a pending without records): its mark goes into this write's marker, or into
// a write of its marker alone.
void TxnLog::buffer_applied_mark(Zxid applied_zxid) {
  if (active_fd_ < 0 || applied_zxid <= buffered_applied_zxid_) return;
  if (buffer_.empty()) log_format::append_batch_marker({}, &buffer_);
  buffered_applied_zxid_ = applied_zxid;
}

// Runs a disk step until it succeeds. While it fails, failing() says so (the daemon then refuses
// writes and stays out of the ensemble, docs/operations.md "A full or failing disk"), the error is
// logged at the first failure and every kFailureLogInterval, and the step is retried after a
// delay growing to kRetryDelayMax. False if the log is stopped meanwhile.
bool TxnLog::retry(const std::function<bool(std::string*)>& step) {
  std::string error;
  if (step(&error)) return true;
  return retry_failed(step, std::move(error));
}

// The same, for a step that has just failed with error (here, or in commit_queued()).
bool TxnLog::retry_failed(const std::function<bool(std::string*)>& step, std::string error) {
  const auto failed_since = std::chrono::steady_clock::now();
  auto logged_at = failed_since;
  auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(kRetryDelayMin);
  spdlog::error("txn log: {}; retrying (writes through this member fail until the disk takes them)", error);
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      failing_ = true;
      failure_ = error;
    }
    durable_.notify_all();  // a flush() waiting for this write gives up
    {
      std::unique_lock lock(mutex_);
      if (work_ready_.wait_for(lock, delay, [&] { return stopping_; })) return false;
    }
    delay = std::min<std::chrono::milliseconds>(delay * 2, kRetryDelayMax);
    error.clear();
    if (step(&error)) break;
    if (std::chrono::steady_clock::now() - logged_at >= kFailureLogInterval) {
      logged_at = std::chrono::steady_clock::now();
      spdlog::error("txn log: still failing: {}", error);
    }
  }
  {
    std::lock_guard lock(mutex_);
    failing_ = false;
    failure_.clear();
  }
  spdlog::info("txn log: writing again after {} ms",
               std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - failed_since).count());
  return true;
}

// The log stops while the disk fails: what is queued was never durable, so never acknowledged.
void TxnLog::abandon_queue() {
  std::lock_guard lock(mutex_);
  spdlog::error("txn log: stopping with {} append(s) not written: {}", appends_queued_ - appends_durable_, failure_);
  queued_.clear();
}

// Closes the active segment (its buffered records made durable first by the caller) and creates
// the next. A failure leaves no file behind, so the step can be tried again.
bool TxnLog::start_segment(Zxid first_zxid, std::string* error) {
  const std::string path = storage::join_path(options_.dir, log_format::segment_file_name(first_zxid));
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, storage::kFileMode));
  if (!fd.valid()) {
    *error = storage::errno_message(path, "create segment");
    return false;
  }
  std::string header;
  log_format::append_file_header(first_zxid, &header);
  uint64_t allocated = 0;
  const bool created = allocate_into(fd.get(), path, 0, log_format::kFileHeaderBytes, &allocated, error) &&
                       storage::write_all_at(fd.get(), header, 0, path, error) &&
                       // The header and the directory entry are durable before any record is acknowledged.
                       (!options_.sync || sync_file(fd.get(), path, error)) &&
                       (!options_.sync || storage::sync_directory(options_.dir, error));
  if (!created) {
    ::unlink(path.c_str());
    return false;
  }
  if (active_fd_ >= 0) ::close(active_fd_);
  active_fd_ = fd.release();
  active_path_ = path;
  allocated_bytes_ = allocated;
  write_offset_ = log_format::kFileHeaderBytes;
  active_records_ = 0;
  std::lock_guard lock(mutex_);
  segments_.push_back(Segment{active_path_, first_zxid, 0, 0, 0, write_offset_});
  return true;
}

// Writes the buffered records (led by their batch marker) and makes them durable; on failure
// nothing advances, and the same bytes are written again by the next try.
bool TxnLog::write_buffer(std::string* error) {
  if (buffer_.empty()) return true;
  marker_.clear();
  log_format::append_batch_marker({buffer_.size(), buffered_applied_zxid_}, &marker_);
  buffer_.replace(0, marker_.size(), marker_);
  uint64_t allocated = allocated_bytes_;
  if (!allocate_into(active_fd_, active_path_, allocated_bytes_, write_offset_ + buffer_.size(), &allocated, error)) {
    return false;
  }
  allocated_bytes_ = allocated;
  // One syscall per group commit: with RWF_DSYNC the write is durable when it returns (as write +
  // fdatasync). The tests' slow-disk hook keeps the two calls, to sleep between them.
  const bool dsync_write = options_.sync && options_.sync_delay_us == 0;
  const auto started = std::chrono::steady_clock::now();
  if (!storage::write_all_at(active_fd_, buffer_, write_offset_, active_path_, error, dsync_write ? RWF_DSYNC : 0)) {
    return false;
  }
  if (options_.sync && !dsync_write) {
    std::this_thread::sleep_for(std::chrono::microseconds(options_.sync_delay_us));
    if (!sync_file(active_fd_, active_path_, error)) return false;
  }
  if (options_.fail_sync_for_test && options_.fail_sync_for_test()) {
    *error = active_path_ + ": fdatasync: " + std::system_category().message(EIO) + " (injected by a test)";
    return false;
  }
  if (options_.sync) {
    const auto took = std::chrono::steady_clock::now() - started;
    sync_latency_.record(took);
    const auto took_us = std::chrono::duration_cast<std::chrono::microseconds>(took).count();
    const uint64_t recent = sync_us_recent_.load(std::memory_order_relaxed);
    sync_us_recent_.store(static_cast<uint32_t>(std::min<uint64_t>((recent * 7 + static_cast<uint64_t>(took_us)) / 8, UINT32_MAX)),
                          std::memory_order_relaxed);
  }
  write_offset_ += buffer_.size();
  buffer_.clear();  // keeps its capacity for the next batch
  if (options_.sync) sync_count_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(mutex_);
  Segment& active = segments_.back();
  if (buffered_records_ > 0) active.last_zxid = buffered_last_zxid_;
  active.records += buffered_records_;
  active.applied_mark = std::max(active.applied_mark, buffered_applied_zxid_);
  active.end_offset = write_offset_;
  buffered_records_ = 0;
  return true;
}

// Grows a segment by whole preallocation steps until end_offset fits (*allocated: its new size).
bool TxnLog::allocate_into(int fd, const std::string& path, uint64_t allocated, uint64_t end_offset,
                           uint64_t* new_allocated, std::string* error) const {
  *new_allocated = allocated;
  if (end_offset <= allocated) return true;
  uint64_t size_bytes = allocated;
  if (options_.preallocate_bytes == 0) size_bytes = end_offset;
  while (size_bytes < end_offset) size_bytes += options_.preallocate_bytes;
  if (!allocate(fd, allocated, size_bytes, path, error)) return false;
  *new_allocated = size_bytes;
  return true;
}

}  // namespace quorumfs
