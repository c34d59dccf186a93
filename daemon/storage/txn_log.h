// The txn log on disk: segment files "log.<first zxid, 16 hex digits>" in the log dir, each a
// header and records framed by consensus/log_format.h (length, checksum, zxid, payload).
// Segments are preallocated so an fdatasync moves no metadata. Appends are group-committed:
// everything queued goes out with one durable write, then the highest durable zxid is reported.
// Who writes (docs/architecture.md, "Threads"): the writer thread, or, for a caller that queues
// with Committer::kCaller and then calls commit_queued(), the caller itself for a lone write
// (options.inline_commit; no thread hop: a lone writer's commit costs the write alone).
//
// Opening scans every segment: a torn last record (a crash mid-append) is truncated away; a bad
// record followed by valid data, or a bad record in any segment but the last, is corruption and
// open() fails with the file and offset. A write or sync that fails (disk full, I/O error) is
// retried, never acknowledged before it succeeds; the process never stops over it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "consensus/zxid.h"
#include "daemon/metrics/histogram.h"

namespace quorumfs {

// A record to append. The payload is shared, not copied: the consensus core and the log writer
// hold the same bytes.
struct LogEntry {
  LogEntry(Zxid zxid_, std::shared_ptr<const std::string> payload_) : zxid(zxid_), payload(std::move(payload_)) {}
  LogEntry(Zxid zxid_, std::string payload_)
      : zxid(zxid_), payload(std::make_shared<const std::string>(std::move(payload_))) {}
  Zxid zxid = 0;
  std::shared_ptr<const std::string> payload;  // a serialized proto::Txn
};

struct TxnLogOptions {
  std::string dir;
  uint64_t preallocate_bytes = 64 << 20;   // segment growth step
  uint64_t segment_bytes_max = 64 << 20;   // roll to a new segment past this size
  bool sync = true;                        // false: no fdatasync (documented unsafe option)
  uint32_t sync_delay_us = 0;              // tests: sleep before each group commit's sync (a slow disk)
  // When commit_queued() writes on the caller's thread. The caller (the event loop) waits for the
  // disk meanwhile, so only for a lone write: a small batch of one append, after the log sat idle
  // a while, on a fast disk. Writes that come together (a burst) or follow each other closely (a
  // stream) and a slow disk go to the writer thread, which overlaps each sync with the loop's work.
  struct InlineCommit {
    uint64_t bytes_max = 64u << 10;  // the batch's bytes...
    uint32_t appends_max = 1;        // ...and append() calls
    uint32_t idle_percent = 50;      // the log was idle since its last write this share of a sync
    uint32_t sync_us_max = 500;      // recent syncs took at most this long
  } inline_commit;
  // Tests: called after each group commit's write and sync succeeded; true makes it fail as a
  // failed fdatasync does (EIO, the bytes written but not known durable).
  std::function<bool()> fail_sync_for_test;
};

class TxnLog {
 public:
  // Scans and recovers the log dir (creating it if missing). Null with *error on corruption.
  static std::unique_ptr<TxnLog> open(const TxnLogOptions& options, std::string* error);
  ~TxnLog();  // stops the writer after syncing what is queued

  Zxid last_zxid() const;  // highest zxid on disk after open(), then highest appended
  // The highest applied zxid the durable writes recorded (0: none): the tree of a restart is
  // rebuilt through it, the rest of the log waits to be committed (docs/formats.md).
  Zxid applied_mark() const;

  // Calls fn for every record with zxid > after, in order. Only before the first append.
  // Returns false with *error (file, offset) if a gap or disorder is found.
  bool replay(Zxid after, const std::function<void(Zxid, std::string_view payload)>& fn,
              std::string* error) const;

  // Cuts the log in options.dir after zxid, durably: later segments are deleted (newest first, so
  // a crash midway leaves a prefix of the log), and the segment holding zxid is rewritten with its
  // records up to zxid. Nothing after zxid is read. The log must not be open. Zab's TRUNC, and an
  // operator's cut (quorumfs-datadir).
  static bool truncate_after(const TxnLogOptions& options, Zxid zxid, std::string* error);

  // Called on the writer thread after each of its group commits with the highest durable zxid
  // (never for what commit_queued() made durable: its caller is told by the return value).
  void set_on_durable(std::function<void(Zxid)> on_durable);
  // Who makes an append durable. kWriterThread: the writer thread, woken now. kCaller: the caller
  // calls commit_queued() once it has queued what it has for now (the event loop: at the end of
  // its turn), so that everything queued meanwhile shares one write; when the log is busy or slow
  // (commit_queued() would leave it to the writer thread), the writer thread is woken now.
  enum class Committer { kWriterThread, kCaller };
  // Queues entries (rising zxids) with the zxid the caller's tree has applied (recorded in the
  // write's batch marker). Thread-safe.
  void append(std::vector<LogEntry> entries, Zxid applied_zxid, Committer committer = Committer::kWriterThread);
  // Records that the caller's tree has applied through applied_zxid, in a write of its own (a
  // batch marker and no records), when no append carried it: a replica that applies without
  // logging (a follower's COMMITs, the end of a burst) still restarts close to where it was.
  // Nothing is written while the log has no segment. Thread-safe.
  void record_applied(Zxid applied_zxid);
  // Makes everything queued durable. Here, on the caller's thread, with one durable write, when
  // it is a lone write (options.inline_commit), the writer thread idle, the disk working, and
  // the batch fits the active segment's preallocated space: then it returns the highest zxid now
  // durable (0: no record, or the writer thread took the queue first; on_durable is not called
  // for it). Otherwise the writer thread is woken to do it and report through on_durable:
  // nullopt. A write that fails here reports nothing: the writer thread retries it as it retries
  // its own (failing() meanwhile).
  std::optional<Zxid> commit_queued();
  // The next append starts a new segment (done at snapshot time, so old segments can go).
  void roll();
  // Deletes segments whose every record is <= zxid (covered by a snapshot).
  void purge_through(Zxid zxid);
  // Blocks until everything queued is durable (true), or the disk fails meanwhile (false).
  bool flush();
  // The writer cannot write or sync (disk full, I/O error, no descriptor): it retries, and
  // nothing is reported durable until it succeeds. failure() is the last error.
  bool failing() const;
  std::string failure() const;

  // Group commits that ended in an fdatasync (tests: fewer than records under load).
  uint64_t sync_count() const { return sync_count_.load(std::memory_order_relaxed); }
  // Of those, the ones commit_queued() made on the caller's thread.
  uint64_t caller_sync_count() const { return caller_sync_count_.load(std::memory_order_relaxed); }
  // How long each group commit's durable write (write + fdatasync) took (/metrics).
  const metrics::LatencyHistogram& sync_latency() const { return sync_latency_; }
  // Appends not durable yet: the log's queue (/metrics).
  uint64_t appends_waiting() const;
  // Segment files, oldest first (tests, tools).
  std::vector<std::string> segment_paths() const;

 private:
  struct Segment {
    std::string path;
    Zxid first_zxid = 0;    // from the file name (and header)
    Zxid last_zxid = 0;     // highest record in it; 0 when it holds none
    Zxid applied_mark = 0;  // highest applied zxid its batch markers record
    uint64_t records = 0;
    uint64_t end_offset = 0;  // end of its last record
  };
  // One append() call; roll_before carries a roll() made before it.
  struct Pending {
    std::vector<LogEntry> entries;
    Zxid applied_zxid = 0;
    bool roll_before = false;
  };
  // A write commit_queued() could not make durable, left in buffer_ for the writer thread.
  struct Handover {
    Zxid highest = 0;            // its highest record (0: a marker alone)
    uint64_t appends_taken = 0;  // durable once it is
    std::string error;           // why it failed
  };

  explicit TxnLog(const TxnLogOptions& options);
  static bool list_segments(const std::string& dir, std::vector<Segment>* segments, std::string* error);
  static bool rewrite_segment_through(const Segment& segment, Zxid zxid, bool* cut, std::string* error);
  bool recover(std::string* error);
  bool recover_segment(Segment* segment, bool last, bool* remove, std::string* error);
  bool replay_segment(const Segment& segment, Zxid after, Zxid* previous,
                      const std::function<void(Zxid, std::string_view)>& fn, std::string* error) const;
  void writer_loop();
  std::optional<Zxid> write_batch(const std::vector<Pending>& batch);
  bool idle_for_caller() const;
  bool fits_one_write_here(const std::vector<Pending>& batch) const;
  void buffer_record(const LogEntry& entry, Zxid applied_zxid);
  void buffer_applied_mark(Zxid applied_zxid);
  bool retry(const std::function<bool(std::string*)>& step);
  bool retry_failed(const std::function<bool(std::string*)>& step, std::string error);
  void abandon_queue();
  bool start_segment(Zxid first_zxid, std::string* error);
  bool write_buffer(std::string* error);
  bool allocate_into(int fd, const std::string& path, uint64_t allocated, uint64_t end_offset,
                     uint64_t* new_allocated, std::string* error) const;

  const TxnLogOptions options_;

  // Whoever holds writing_ (below; the writer thread or commit_queued()'s caller): the active
  // segment and the reused encode buffer.
  int active_fd_ = -1;
  std::string active_path_;
  uint64_t write_offset_ = 0;       // end of the last record in the active segment
  uint64_t allocated_bytes_ = 0;    // active segment's file size, preallocated zeros included
  uint64_t active_records_ = 0;     // written or buffered in the active segment
  Zxid buffered_last_zxid_ = 0;
  Zxid buffered_applied_zxid_ = 0;  // for the marker of the write under way
  uint64_t buffered_records_ = 0;
  std::string buffer_;

  // Guards everything below. The writer holds it only to take work and publish progress, never
  // across a write or fsync, so append() does not wait on the disk.
  mutable std::mutex mutex_;
  std::condition_variable work_ready_;  // writer: something queued, or stopping
  std::condition_variable durable_;     // flush(): a group commit finished
  std::vector<Pending> queued_;
  // Someone is writing: the writer thread, or commit_queued() on its caller's thread. The holder
  // alone touches the fields above; it releases them by clearing this under the mutex.
  bool writing_ = false;
  std::optional<Handover> handover_;  // for the writer thread, which holds writing_ meanwhile
  // The writer thread is to take the queue (an append for it, a flush, a commit_queued() that
  // leaves the batch to it); else what is queued waits for the caller's commit_queued().
  bool writer_wanted_ = false;
  bool roll_requested_ = false;
  bool stopping_ = false;
  std::atomic<bool> failing_{false};  // the writer retries a failed disk step (read on every message)
  std::string failure_;
  uint64_t appends_queued_ = 0;   // append() calls so far
  uint64_t appends_durable_ = 0;  // of those, durable
  Zxid last_zxid_ = 0;
  std::vector<Segment> segments_;  // zxid order; back() is the one being written
  std::function<void(Zxid)> on_durable_;
  std::atomic<uint64_t> sync_count_{0};
  metrics::LatencyHistogram sync_latency_;
  std::atomic<uint64_t> caller_sync_count_{0};
  // How long recent durable writes took (a moving average, microseconds), and when the last one
  // ended (under the mutex): commit_queued() leaves writes to the writer thread while the disk is
  // slow or busy (options_.inline_commit).
  std::atomic<uint32_t> sync_us_recent_{0};
  std::chrono::steady_clock::time_point write_ended_at_;
  std::string marker_;  // the batch marker of the write under way (the holder of writing_)
  std::thread writer_;  // last: starts after everything above exists
};

}  // namespace quorumfs
