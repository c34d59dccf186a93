// The txn log on disk (daemon/storage/txn_log.h): group commit, segments, and recovery that
// truncates only a torn tail and refuses to start on anything else.
#include "daemon/storage/txn_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <mutex>
#include <optional>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <thread>
#include <utility>
#include <vector>

#include "consensus/log_format.h"
#include "tests/unit/storage/temp_dir.h"
#include "tests/unit/storage/out_of_descriptors.h"

namespace quorumfs {
namespace {

using testing::read_file_bytes;
using testing::TempDir;
using testing::write_file_bytes;

using Records = std::vector<std::pair<Zxid, std::string>>;

constexpr uint64_t kSmallPreallocateBytes = 4096;
// Five-byte payloads keep every record 21 bytes, so a test can compute where record k starts.
constexpr uint64_t kRecordBytes = log_format::record_bytes(5);
// Where the index-th record starts when every record was its own write (append_range), each write
// led by its batch marker.
uint64_t record_offset(int index) {
  return log_format::kFileHeaderBytes + static_cast<uint64_t>(index) * (log_format::kBatchMarkerBytes + kRecordBytes) +
         log_format::kBatchMarkerBytes;
}
std::string payload(int n) { return "txn-" + std::to_string(n % 10); }

class TxnLogTest : public ::testing::Test {
 protected:
  TxnLogOptions options() const {
    TxnLogOptions options;
    options.dir = dir_.path() + "/log";
    options.preallocate_bytes = kSmallPreallocateBytes;
    return options;
  }

  std::unique_ptr<TxnLog> open_log(const TxnLogOptions& log_options) {
    std::string error;
    std::unique_ptr<TxnLog> log = TxnLog::open(log_options, &error);
    EXPECT_NE(log, nullptr) << error;
    return log;
  }
  std::unique_ptr<TxnLog> open_log() { return open_log(options()); }

  std::string open_error() {
    std::string error;
    EXPECT_EQ(TxnLog::open(options(), &error), nullptr);
    return error;
  }

  // Appends zxids (1, first) .. (1, last), one append() and one durable write each.
  static void append_range(TxnLog& log, int first, int last) {
    for (int n = first; n <= last; ++n) {
      log.append({LogEntry{make_zxid(1, n), payload(n)}}, 0);
      log.flush();
    }
  }

  static Records replay_all(const TxnLog& log, Zxid after = 0) {
    Records records;
    std::string error;
    EXPECT_TRUE(log.replay(after, [&](Zxid zxid, std::string_view bytes) { records.emplace_back(zxid, bytes); },
                           &error))
        << error;
    return records;
  }

  static Records expected(int first, int last) {
    Records records;
    for (int n = first; n <= last; ++n) records.emplace_back(make_zxid(1, n), payload(n));
    return records;
  }

  // Writes five records in one segment and closes the log; returns that segment's path.
  std::string write_five_records() {
    auto log = open_log();
    append_range(*log, 1, 5);
    log->flush();
    return log->segment_paths().at(0);
  }

  static void overwrite(const std::string& path, uint64_t offset, const std::string& bytes) {
    const int fd = ::open(path.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)), static_cast<ssize_t>(bytes.size()));
    ::close(fd);
  }

  static void flip_byte(const std::string& path, uint64_t offset) {
    std::string bytes = read_file_bytes(path);
    overwrite(path, offset, std::string(1, static_cast<char>(bytes.at(offset) ^ 0x20)));
  }

  TempDir dir_;
};

TEST_F(TxnLogTest, Open_EmptyDir_HasNoRecordsAndNoSegments) {
  auto log = open_log();
  EXPECT_EQ(log->last_zxid(), 0);
  EXPECT_TRUE(log->segment_paths().empty());
  EXPECT_TRUE(replay_all(*log).empty());
}

TEST_F(TxnLogTest, Reopen_ReplaysEveryRecordInOrder) {
  {
    auto log = open_log();
    append_range(*log, 1, 10);
    log->flush();
  }
  auto log = open_log();
  EXPECT_EQ(log->last_zxid(), make_zxid(1, 10));
  EXPECT_EQ(replay_all(*log), expected(1, 10));
}

TEST_F(TxnLogTest, Replay_AfterZxid_SkipsRecordsTheSnapshotCovers) {
  {
    auto log = open_log();
    append_range(*log, 1, 10);
  }
  auto log = open_log();
  EXPECT_EQ(replay_all(*log, make_zxid(1, 6)), expected(7, 10));
}

TEST_F(TxnLogTest, Destructor_DrainsTheQueueToDisk) {
  {
    auto log = open_log();
    append_range(*log, 1, 50);  // no flush
  }
  auto log = open_log();
  EXPECT_EQ(replay_all(*log), expected(1, 50));
}

TEST_F(TxnLogTest, Flush_ReturnsAfterOnDurableReportedTheHighestZxid) {
  auto log = open_log();
  std::atomic<Zxid> durable{0};
  log->set_on_durable([&](Zxid zxid) {
    EXPECT_GT(zxid, durable.load());  // rises with every group commit
    durable = zxid;
  });
  append_range(*log, 1, 20);
  log->flush();
  EXPECT_EQ(durable.load(), make_zxid(1, 20));
  EXPECT_EQ(log->last_zxid(), make_zxid(1, 20));
}

TEST_F(TxnLogTest, GroupCommit_ManyAppendsShareFewerSyncsThanRecords) {
  TxnLogOptions slow = options();
  slow.sync_delay_us = 2000;  // a slow disk: appends pile up behind each fsync
  auto log = open_log(slow);
  std::vector<Zxid> durable;  // written on the writer thread, read after flush()
  log->set_on_durable([&](Zxid zxid) { durable.push_back(zxid); });
  constexpr int kRecords = 300;
  std::thread appender([&] {
    for (int n = 1; n <= kRecords; ++n) {
      log->append({LogEntry{make_zxid(1, n), payload(n)}}, 0);
      std::this_thread::sleep_for(std::chrono::microseconds(50));  // a steady stream, not one burst
    }
  });
  appender.join();
  log->flush();

  std::printf("group commit: %llu syncs for %d records\n", static_cast<unsigned long long>(log->sync_count()),
              kRecords);
  EXPECT_LT(log->sync_count(), kRecords / 3u);
  EXPECT_EQ(log->sync_count(), durable.size());  // one on_durable per group commit
  // /metrics' quorumfs_log_sync_seconds: each durable write timed, none shorter than the slow disk.
  EXPECT_EQ(log->sync_latency().counts().count, log->sync_count());
  EXPECT_GE(log->sync_latency().counts().sum_ns, log->sync_count() * 2'000'000u);
  EXPECT_EQ(log->appends_waiting(), 0u);
  EXPECT_TRUE(std::is_sorted(durable.begin(), durable.end()));
  EXPECT_EQ(durable.back(), make_zxid(1, kRecords));
  log.reset();
  EXPECT_EQ(replay_all(*open_log()), expected(1, kRecords));
}

TEST_F(TxnLogTest, Append_PastPreallocation_GrowsByWholeSteps) {
  auto log = open_log();
  std::vector<LogEntry> entries;
  for (int n = 1; n <= 400; ++n) entries.push_back(LogEntry{make_zxid(1, n), payload(n)});  // 8.4 kB
  log->append(std::move(entries), 0);
  log->flush();
  const uint64_t file_bytes = std::filesystem::file_size(log->segment_paths().at(0));
  EXPECT_EQ(file_bytes % kSmallPreallocateBytes, 0u);
  EXPECT_GE(file_bytes, log_format::kFileHeaderBytes + log_format::kBatchMarkerBytes + 400 * kRecordBytes);
  log.reset();
  EXPECT_EQ(replay_all(*open_log()).size(), 400u);
}

TEST_F(TxnLogTest, Open_TornTail_IsTruncated) {
  const std::string segment = write_five_records();
  // A crash mid-append: the last record's payload only partly reached the disk.
  overwrite(segment, record_offset(4) + 18, std::string(3, '\0'));

  auto log = open_log();
  EXPECT_EQ(log->last_zxid(), make_zxid(1, 4));
  EXPECT_EQ(replay_all(*log), expected(1, 4));
  EXPECT_EQ(std::filesystem::file_size(segment), kSmallPreallocateBytes);  // preallocation kept

  log->append({LogEntry{make_zxid(1, 5), "again"}}, 0);
  log.reset();
  Records records = replay_all(*open_log());
  ASSERT_EQ(records.size(), 5u);
  EXPECT_EQ(records.back(), std::make_pair(make_zxid(1, 5), std::string("again")));
}

TEST_F(TxnLogTest, Open_FileCutMidRecord_IsTruncated) {
  const std::string segment = write_five_records();
  std::filesystem::resize_file(segment, record_offset(4) + 10);  // inside the last record's header

  auto log = open_log();
  EXPECT_EQ(replay_all(*log), expected(1, 4));
  append_range(*log, 5, 6);
  log.reset();
  EXPECT_EQ(replay_all(*open_log()), expected(1, 6));
}

TEST_F(TxnLogTest, Open_LengthPastEndOfFile_IsTruncated) {
  const std::string segment = write_five_records();
  std::filesystem::resize_file(segment, record_offset(4) + kRecordBytes - 2);
  EXPECT_EQ(replay_all(*open_log()), expected(1, 4));
}

TEST_F(TxnLogTest, Open_CorruptMiddleRecord_FailsWithFileAndOffset) {
  const std::string segment = write_five_records();
  flip_byte(segment, record_offset(1) + 17);  // record 2's payload

  const std::string error = open_error();
  EXPECT_NE(error.find(segment + ": corrupt record at offset " + std::to_string(record_offset(1)) + ": checksum mismatch"),
            std::string::npos)
      << error;
}

TEST_F(TxnLogTest, Open_ZeroedMiddleRecord_FailsWithFileAndOffset) {
  const std::string segment = write_five_records();
  overwrite(segment, record_offset(1), std::string(kRecordBytes, '\0'));

  const std::string error = open_error();
  EXPECT_NE(error.find(segment + ": corrupt record at offset " + std::to_string(record_offset(1))), std::string::npos)
      << error;
  EXPECT_NE(error.find("followed by data"), std::string::npos) << error;
}

TEST_F(TxnLogTest, Open_BadLastRecordOfNonLastSegment_Fails) {
  std::string first_segment;
  {
    auto log = open_log();
    append_range(*log, 1, 5);
    log->flush();
    log->roll();
    append_range(*log, 6, 7);
    log->flush();
    ASSERT_EQ(log->segment_paths().size(), 2u);
    first_segment = log->segment_paths().at(0);
  }
  overwrite(first_segment, record_offset(4) + 18, std::string(3, '\0'));  // looks torn, but is not last

  const std::string error = open_error();
  EXPECT_NE(error.find(first_segment + ": corrupt record at offset " + std::to_string(record_offset(4))),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("not the last segment"), std::string::npos) << error;
}

TEST_F(TxnLogTest, Open_GarbageAfterEndOfRecords_Fails) {
  const std::string segment = write_five_records();
  const uint64_t end = record_offset(4) + kRecordBytes;
  overwrite(segment, end + 100, "x");  // on the page where the records end: no write left it there
  const std::string error = open_error();
  EXPECT_NE(error.find("offset " + std::to_string(end)), std::string::npos) << error;
}

TEST_F(TxnLogTest, Open_SegmentHeaderDamaged_Fails) {
  const std::string segment = write_five_records();
  flip_byte(segment, 2);
  EXPECT_NE(open_error().find(segment + ": bad file header at offset 0"), std::string::npos);
}

TEST_F(TxnLogTest, Open_SegmentLeftEmptyByCrash_IsRemoved) {
  write_five_records();
  // A crash right after creating the next segment: the file exists, its header never made it.
  const std::string empty = options().dir + "/" + log_format::segment_file_name(make_zxid(1, 6));
  write_file_bytes(empty, std::string(kSmallPreallocateBytes, '\0'));

  auto log = open_log();
  EXPECT_FALSE(std::filesystem::exists(empty));
  EXPECT_EQ(log->last_zxid(), make_zxid(1, 5));
  append_range(*log, 6, 6);
  log.reset();
  EXPECT_EQ(replay_all(*open_log()), expected(1, 6));
}

TEST_F(TxnLogTest, Open_LastSegmentWithTornHeaderAndNoRecords_IsRemoved) {
  write_five_records();
  const std::string torn = options().dir + "/" + log_format::segment_file_name(make_zxid(1, 6));
  std::string bytes;
  log_format::append_file_header(make_zxid(1, 6), &bytes);
  bytes.resize(10);  // the header write was cut short
  bytes.resize(kSmallPreallocateBytes, '\0');
  write_file_bytes(torn, bytes);

  auto log = open_log();
  EXPECT_FALSE(std::filesystem::exists(torn));
  EXPECT_EQ(replay_all(*log), expected(1, 5));
}

TEST_F(TxnLogTest, Open_DamagedHeaderOfSegmentWithRecords_Fails) {
  const std::string segment = write_five_records();
  overwrite(segment, 0, std::string(6, '\0'));
  EXPECT_NE(open_error().find(segment + ": bad file header at offset 0: bad magic"), std::string::npos);
}

TEST_F(TxnLogTest, SegmentBytesMax_RollsToNewSegmentsNamedByFirstZxid) {
  TxnLogOptions small = options();
  small.segment_bytes_max = 200;  // about eight records
  {
    auto log = open_log(small);
    append_range(*log, 1, 40);
    log->flush();
    const std::vector<std::string> paths = log->segment_paths();
    EXPECT_GT(paths.size(), 3u);
    EXPECT_EQ(std::filesystem::path(paths.at(0)).filename(), log_format::segment_file_name(make_zxid(1, 1)));
  }
  EXPECT_EQ(replay_all(*open_log(small)), expected(1, 40));
}

TEST_F(TxnLogTest, Roll_NextAppendStartsNewSegment) {
  auto log = open_log();
  append_range(*log, 1, 3);
  log->roll();
  append_range(*log, 4, 5);
  log->flush();
  const std::vector<std::string> paths = log->segment_paths();
  ASSERT_EQ(paths.size(), 2u);
  EXPECT_EQ(std::filesystem::path(paths.at(1)).filename(), log_format::segment_file_name(make_zxid(1, 4)));
}

TEST_F(TxnLogTest, PurgeThrough_DeletesOnlyWholeCoveredSegmentsNeverTheActive) {
  auto log = open_log();
  append_range(*log, 1, 3);
  log->roll();
  append_range(*log, 4, 6);
  log->roll();
  append_range(*log, 7, 8);
  log->flush();
  const std::vector<std::string> paths = log->segment_paths();
  ASSERT_EQ(paths.size(), 3u);

  log->purge_through(make_zxid(1, 5));  // the second segment still holds (1, 6)
  EXPECT_FALSE(std::filesystem::exists(paths[0]));
  EXPECT_TRUE(std::filesystem::exists(paths[1]));

  log->purge_through(make_zxid(1, 100));
  EXPECT_FALSE(std::filesystem::exists(paths[1]));
  EXPECT_TRUE(std::filesystem::exists(paths[2]));  // active

  log.reset();
  EXPECT_EQ(replay_all(*open_log(), make_zxid(1, 6)), expected(7, 8));
}

TEST_F(TxnLogTest, Replay_GapWithinEpoch_IsAnErrorWithFileAndOffset) {
  auto log = open_log();
  log->append({LogEntry{make_zxid(1, 1), "aaaaa"}, LogEntry{make_zxid(1, 2), "bbbbb"},
               LogEntry{make_zxid(1, 4), "ddddd"}}, 0);
  log.reset();
  log = open_log();
  std::string error;
  EXPECT_FALSE(log->replay(0, [](Zxid, std::string_view) {}, &error));
  const uint64_t third = log_format::kFileHeaderBytes + log_format::kBatchMarkerBytes + 2 * kRecordBytes;
  EXPECT_NE(error.find("offset " + std::to_string(third) + ": gap"), std::string::npos) << error;
}

TEST_F(TxnLogTest, Replay_NewEpochAfterOld_IsNoGap) {
  auto log = open_log();
  log->append({LogEntry{make_zxid(1, 1), "a"}, LogEntry{make_zxid(1, 2), "b"}, LogEntry{make_zxid(2, 1), "c"}}, 0);
  log.reset();
  EXPECT_EQ(replay_all(*open_log()).size(), 3u);
}

TEST_F(TxnLogTest, Replay_LogMissingRecordsAfterTheSnapshot_IsAGap) {
  auto log = open_log();
  append_range(*log, 1, 3);
  log->roll();
  append_range(*log, 4, 6);
  log->roll();
  append_range(*log, 7, 7);
  log->flush();
  log->purge_through(make_zxid(1, 3));  // as if a snapshot covered (1, 3)
  log.reset();

  // A snapshot at (1, 1) would need (1, 2) and (1, 3), which are gone.
  log = open_log();
  std::string error;
  EXPECT_FALSE(log->replay(make_zxid(1, 1), [](Zxid, std::string_view) {}, &error));
  EXPECT_NE(error.find("gap: zxid 0x0000000100000004 follows 0x0000000100000001"), std::string::npos) << error;
  EXPECT_EQ(replay_all(*log, make_zxid(1, 3)), expected(4, 7));
}

TEST_F(TxnLogTest, Replay_ZxidsOutOfOrder_IsAnErrorWithFileAndOffset) {
  // Only damage or a bug could produce this; build the segment by hand.
  const TxnLogOptions log_options = options();
  std::filesystem::create_directories(log_options.dir);
  std::string bytes;
  log_format::append_file_header(make_zxid(1, 3), &bytes);
  log_format::append_record(make_zxid(1, 3), "ccccc", &bytes);
  log_format::append_record(make_zxid(1, 2), "bbbbb", &bytes);
  bytes.resize(kSmallPreallocateBytes);
  const std::string path = log_options.dir + "/" + log_format::segment_file_name(make_zxid(1, 3));
  write_file_bytes(path, bytes);

  auto log = open_log();
  std::string error;
  EXPECT_FALSE(log->replay(0, [](Zxid, std::string_view) {}, &error));
  const uint64_t second = log_format::kFileHeaderBytes + kRecordBytes;  // no markers in this hand-made segment
  EXPECT_NE(error.find(path + ": offset " + std::to_string(second) + ": zxid"), std::string::npos) << error;
  EXPECT_NE(error.find("not above"), std::string::npos) << error;
}

TEST_F(TxnLogTest, Append_ZxidNotRising_StopsTheProcess) {
  // "fast" forks at the statement, so the child uses this fixture's temp dir, which the parent
  // then removes ("threadsafe" would re-run the fixture in the child and leak its dir). No other
  // thread exists here: the log's writer thread starts in the child.
  GTEST_FLAG_SET(death_test_style, "fast");
  // The reason goes to the log (spdlog), not necessarily stderr; the abort is what matters.
  EXPECT_EXIT(
      {
        auto log = open_log();
        append_range(*log, 1, 2);
        append_range(*log, 2, 2);
      },
      ::testing::KilledBySignal(SIGABRT), "");
}

TEST_F(TxnLogTest, NoSync_StillWritesButCountsNoSyncs) {
  TxnLogOptions unsafe = options();
  unsafe.sync = false;
  {
    auto log = open_log(unsafe);
    append_range(*log, 1, 5);
    log->flush();
    EXPECT_EQ(log->sync_count(), 0u);
  }
  EXPECT_EQ(replay_all(*open_log()), expected(1, 5));
}

// ---- Torn multi-record writes: a crash can leave any pages of the last write on disk.

class TornWriteTest : public TxnLogTest {
 protected:
  static constexpr int kRecords = 400;  // one write of ~8.4 kB: three pages
  static constexpr uint64_t kPage = 4096;
  // The index of the record that holds byte `offset` of a segment written as one write.
  static int record_at(uint64_t offset) {
    return static_cast<int>((offset - log_format::kFileHeaderBytes - log_format::kBatchMarkerBytes) / kRecordBytes);
  }
  static uint64_t record_offset_in_one_write(int index) {
    return log_format::kFileHeaderBytes + log_format::kBatchMarkerBytes + static_cast<uint64_t>(index) * kRecordBytes;
  }
  std::string write_one_big_write() {
    auto log = open_log();
    std::vector<LogEntry> entries;
    for (int n = 1; n <= kRecords; ++n) entries.push_back(LogEntry{make_zxid(1, n), payload(n)});
    log->append(std::move(entries), 0);
    log->flush();
    return log->segment_paths().at(0);
  }
};

TEST_F(TornWriteTest, Open_LastWriteMissingAMiddlePage_IsCutAtThatPage) {
  const std::string segment = write_one_big_write();
  overwrite(segment, kPage, std::string(kPage, '\0'));  // page 2 never reached the disk; page 3 did
  auto log = open_log();
  const int kept = record_at(kPage);
  EXPECT_EQ(replay_all(*log), expected(1, kept));
  log->append({LogEntry{make_zxid(1, kept + 1), "again"}}, 0);
  log.reset();
  EXPECT_EQ(replay_all(*open_log()).size(), static_cast<size_t>(kept + 1));
}

TEST_F(TornWriteTest, Open_TornWriteAfterARecoveredTornWrite_IsCutToo) {
  const std::string segment = write_one_big_write();
  overwrite(segment, 2 * kPage, std::string(kPage, '\0'));  // the first write loses its third page
  const int kept = record_at(2 * kPage);
  uint64_t cut = 0;
  {
    auto log = open_log();
    ASSERT_EQ(replay_all(*log).size(), static_cast<size_t>(kept));
    cut = record_offset_in_one_write(kept);
    std::vector<LogEntry> entries;  // a second write, from the cut on
    for (int n = kept + 1; n <= kept + kRecords; ++n) entries.push_back(LogEntry{make_zxid(1, n), payload(n)});
    log->append(std::move(entries), 0);
    log->flush();
  }
  // The second write loses its first page (the rest of the page the cut is on); later ones landed.
  overwrite(segment, cut, std::string((cut / kPage + 1) * kPage - cut, '\0'));
  auto log = open_log();
  EXPECT_EQ(replay_all(*log), expected(1, kept));
}

TEST_F(TornWriteTest, Open_BitFlipInsideTheLastWrite_FailsWithFileAndOffset) {
  const std::string segment = write_one_big_write();
  const int damaged = record_at(kPage + 100);
  flip_byte(segment, record_offset_in_one_write(damaged) + log_format::kRecordHeaderBytes + 1);
  const std::string error = open_error();
  EXPECT_NE(error.find(segment + ": corrupt record at offset " + std::to_string(record_offset_in_one_write(damaged))),
            std::string::npos)
      << error;
}

TEST_F(TornWriteTest, Open_EarlierWriteMissingAPage_FailsWithFileAndOffset) {
  const std::string segment = write_one_big_write();
  {
    auto log = open_log();
    log->append({LogEntry{make_zxid(1, kRecords + 1), "later"}}, 0);  // a second, later write
    log->flush();
  }
  overwrite(segment, kPage, std::string(kPage, '\0'));  // the first write was acknowledged: damage
  const std::string error = open_error();
  EXPECT_NE(error.find(segment + ": corrupt record at offset"), std::string::npos) << error;
  EXPECT_NE(error.find("data follows"), std::string::npos) << error;
}

// ---- Truncation (Zab's TRUNC)

TEST_F(TxnLogTest, TruncateAfter_KeepsThePrefixAcrossSegmentsAndAppendsGoOnFromIt) {
  {
    auto log = open_log();
    append_range(*log, 1, 5);
    log->roll();
    append_range(*log, 6, 9);
    log->roll();
    append_range(*log, 10, 12);
  }
  std::string error;
  ASSERT_TRUE(TxnLog::truncate_after(options(), make_zxid(1, 7), &error)) << error;
  auto log = open_log();
  EXPECT_EQ(log->last_zxid(), make_zxid(1, 7));
  EXPECT_EQ(log->segment_paths().size(), 2u) << "the segment wholly after the cut is gone";
  EXPECT_EQ(replay_all(*log), expected(1, 7));
  log->append({LogEntry{make_zxid(2, 1), "new"}}, 0);
  log->flush();
  log.reset();
  log = open_log();
  Records after = expected(1, 7);
  after.emplace_back(make_zxid(2, 1), "new");
  EXPECT_EQ(replay_all(*log), after) << "the rewritten segment takes appends and recovers cleanly";
}

TEST_F(TxnLogTest, TruncateAfter_InsideOneGroupCommit_CutsThere) {
  {
    auto log = open_log();
    std::vector<LogEntry> batch;
    for (int n = 1; n <= 6; ++n) batch.push_back({make_zxid(1, n), payload(n)});
    log->append(std::move(batch), 0);
    log->flush();
  }
  std::string error;
  ASSERT_TRUE(TxnLog::truncate_after(options(), make_zxid(1, 3), &error)) << error;
  auto log = open_log();
  EXPECT_EQ(replay_all(*log), expected(1, 3));
}

// The operator's way out of a damaged log (quorumfs-datadir cut): nothing after the cut is read.
TEST_F(TxnLogTest, TruncateAfter_BeforeACorruptRecord_LeavesALogThatOpens) {
  const std::string segment = write_five_records();
  flip_byte(segment, record_offset(3) + 17);  // record 4's payload; record 5 follows: corruption
  EXPECT_NE(open_error().find("corrupt record"), std::string::npos);
  std::string error;
  EXPECT_FALSE(TxnLog::truncate_after(options(), make_zxid(1, 4), &error)) << "the damage lies before that cut";
  EXPECT_NE(error.find("before the cut point"), std::string::npos) << error;
  ASSERT_TRUE(TxnLog::truncate_after(options(), make_zxid(1, 3), &error)) << error;
  auto log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(replay_all(*log), expected(1, 3));
}

TEST_F(TxnLogTest, TruncateAfter_AtOrBeyondTheEnd_ChangesNothing) {
  {
    auto log = open_log();
    append_range(*log, 1, 3);
  }
  const std::vector<std::string> before = open_log()->segment_paths();
  const std::string bytes = read_file_bytes(before.front());
  std::string error;
  ASSERT_TRUE(TxnLog::truncate_after(options(), make_zxid(1, 3), &error)) << error;
  ASSERT_TRUE(TxnLog::truncate_after(options(), make_zxid(2, 0), &error)) << error;
  EXPECT_EQ(read_file_bytes(before.front()), bytes);
}

TEST_F(TxnLogTest, TruncateAfter_Zero_LeavesAnEmptyLog) {
  {
    auto log = open_log();
    append_range(*log, 1, 3);
    log->roll();
    append_range(*log, 4, 4);
  }
  std::string error;
  ASSERT_TRUE(TxnLog::truncate_after(options(), 0, &error)) << error;
  auto log = open_log();
  EXPECT_EQ(log->last_zxid(), 0);
  EXPECT_TRUE(replay_all(*log).empty());
}

TEST_F(TxnLogTest, AppliedMark_IsTheHighestRecordedAndSurvivesReopenAndCut) {
  {
    auto log = open_log();
    EXPECT_EQ(log->applied_mark(), 0);
    log->append({LogEntry{make_zxid(1, 1), "a"}}, 0);
    log->append({LogEntry{make_zxid(1, 2), "b"}}, make_zxid(1, 1));
    log->flush();
    log->append({LogEntry{make_zxid(1, 3), "c"}, LogEntry{make_zxid(1, 4), "d"}}, make_zxid(1, 2));
    log->flush();
  }
  EXPECT_EQ(open_log()->applied_mark(), make_zxid(1, 2));
  std::string error;
  ASSERT_TRUE(TxnLog::truncate_after(options(), make_zxid(1, 3), &error)) << error;
  auto log = open_log();
  EXPECT_EQ(log->applied_mark(), make_zxid(1, 2)) << "the rewritten segment keeps the mark";
  EXPECT_EQ(replay_all(*log).size(), 3u);
}

TEST_F(TxnLogTest, RecordApplied_WritesAMarkerAloneThatSurvivesReopen) {
  {
    auto log = open_log();
    log->record_applied(make_zxid(1, 1));  // no segment yet: nothing to write it in
    log->flush();
    EXPECT_TRUE(log->segment_paths().empty());
    bool reported = false;
    log->set_on_durable([&](Zxid) { reported = true; });
    log->append({LogEntry{make_zxid(1, 1), "a"}, LogEntry{make_zxid(1, 2), "b"}}, 0);
    log->flush();
    reported = false;
    log->record_applied(make_zxid(1, 2));
    log->flush();
    EXPECT_FALSE(reported) << "a marker alone makes no record durable";
    log->append({LogEntry{make_zxid(1, 3), "c"}}, make_zxid(1, 2));
    log->flush();
  }
  auto log = open_log();
  EXPECT_EQ(log->applied_mark(), make_zxid(1, 2));
  EXPECT_EQ(log->last_zxid(), make_zxid(1, 3));
  EXPECT_EQ(replay_all(*log).size(), 3u);
}

// No descriptor for a new segment (EMFILE): the writer retries, reports nothing durable, and
// the process goes on; once descriptors are free the records are written.
TEST_F(TxnLogTest, OutOfDescriptors_RetriedUntilTheyAreBack) {
  auto log = open_log();
  std::vector<Zxid> durable;
  std::mutex durable_mutex;
  log->set_on_durable([&](Zxid zxid) {
    std::lock_guard lock(durable_mutex);
    durable.push_back(zxid);
  });
  testing::OutOfDescriptors no_descriptors;
  log->append({LogEntry{make_zxid(1, 1), "a"}}, 0);
  EXPECT_FALSE(log->flush()) << "nothing is durable while the segment cannot be created";
  EXPECT_TRUE(log->failing());
  EXPECT_NE(log->failure().find("Too many open files"), std::string::npos) << log->failure();
  no_descriptors.release();
  for (int i = 0; i < 100 && log->failing(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(log->flush());
  EXPECT_FALSE(log->failing());
  {
    std::lock_guard lock(durable_mutex);
    EXPECT_EQ(durable, std::vector<Zxid>{make_zxid(1, 1)});
  }
  log.reset();
  EXPECT_EQ(replay_all(*open_log()).size(), 1u);
}

// A stop while the disk fails does not hang, and reports the appends as not written.
TEST_F(TxnLogTest, StopWhileFailing_DoesNotHang) {
  auto log = open_log();
  testing::OutOfDescriptors no_descriptors;
  log->append({LogEntry{make_zxid(1, 1), "a"}}, 0);
  EXPECT_FALSE(log->flush());
  log.reset();
  no_descriptors.release();
  EXPECT_TRUE(replay_all(*open_log()).empty());
}


// ---- Commits on the caller's thread (commit_queued)

// A log with a segment (made by the writer thread, as the first append always is) and room for
// the writes below: commit_queued() may write them itself.
class CommitQueuedTest : public TxnLogTest {
 protected:
  TxnLogOptions roomy(const std::string& subdir = "log") const {
    TxnLogOptions roomy = options();
    roomy.dir = dir_.path() + "/" + subdir;
    roomy.preallocate_bytes = 1 << 20;
    roomy.inline_commit.sync_us_max = UINT32_MAX;  // however slow the test machine's disk is today
    roomy.inline_commit.idle_percent = 0;          // and however soon after the last write
    roomy.inline_commit.appends_max = 100;
    return roomy;
  }
  // Records (1, first) .. (1, last) as one append for the caller to commit.
  static std::vector<LogEntry> entries(int first, int last) {
    std::vector<LogEntry> entries;
    for (int n = first; n <= last; ++n) entries.emplace_back(make_zxid(1, n), payload(n));
    return entries;
  }
  // commit_queued() wrote records here (else it left them to the writer thread, which may also
  // have taken them before the call: 0).
  static bool written_here(std::optional<Zxid> result) { return result && *result != 0; }
  static void start_segment(TxnLog& log) {
    log.append(entries(1, 1), 0);
    ASSERT_TRUE(log.flush());
  }
  // Every zxid a log reported durable, from whichever thread reported it.
  class Reports {
   public:
    void watch(TxnLog& log) {
      log.set_on_durable([this](Zxid zxid) {
        std::lock_guard lock(mutex_);
        zxids_.push_back(zxid);
      });
    }
    std::vector<Zxid> zxids() const {
      std::lock_guard lock(mutex_);
      return zxids_;
    }

   private:
    mutable std::mutex mutex_;
    std::vector<Zxid> zxids_;
  };
};

TEST_F(CommitQueuedTest, WriterIdle_WritesHereAndReportsThroughItsResultOnly) {
  auto log = open_log(roomy());
  ASSERT_NO_FATAL_FAILURE(start_segment(*log));
  std::atomic<int> reports{0};
  log->set_on_durable([&](Zxid) { ++reports; });
  const uint64_t syncs = log->sync_count();
  log->append(entries(2, 4), 0, TxnLog::Committer::kCaller);
  log->append(entries(5, 5), 0, TxnLog::Committer::kCaller);
  EXPECT_EQ(log->commit_queued(), std::optional<Zxid>(make_zxid(1, 5)));
  EXPECT_EQ(log->sync_count(), syncs + 1) << "both appends, one durable write";
  EXPECT_TRUE(log->flush());
  EXPECT_EQ(reports.load(), 0) << "the writer thread had nothing to report";
  EXPECT_EQ(log->commit_queued(), std::optional<Zxid>(0)) << "nothing queued";
  log.reset();
  EXPECT_EQ(replay_all(*open_log(roomy())), expected(1, 5));
}

// Whoever writes a batch, the log's bytes are the same (records, batch markers, applied marks).
// Both logs queue the same appends for the caller; one lets the writer thread take each batch
// (flush), the other writes it itself (commit_queued).
TEST_F(CommitQueuedTest, SameBatches_GiveTheSameBytesAsTheWriterThread) {
  for (const bool here : {false, true}) {
    auto log = open_log(roomy(here ? "here" : "thread"));
    ASSERT_NO_FATAL_FAILURE(start_segment(*log));
    auto commit = [&] {
      if (here) {
        EXPECT_TRUE(written_here(log->commit_queued()));
      }
      EXPECT_TRUE(log->flush());
    };
    const auto caller = TxnLog::Committer::kCaller;
    log->append(entries(2, 4), 0, caller);
    commit();
    log->append(entries(5, 5), make_zxid(1, 3), caller);
    log->append(entries(6, 7), make_zxid(1, 4), caller);
    commit();
    log->record_applied(make_zxid(1, 7));  // a marker alone, always by the writer thread
    EXPECT_TRUE(log->flush());
    log->append(entries(8, 8), make_zxid(1, 7), caller);
    commit();
    EXPECT_EQ(log->sync_count(), 5u) << (here ? "here" : "thread");
  }
  const auto thread_paths = open_log(roomy("thread"))->segment_paths();
  const auto here_paths = open_log(roomy("here"))->segment_paths();
  ASSERT_EQ(thread_paths.size(), 1u);
  ASSERT_EQ(here_paths.size(), 1u);
  const std::string thread_bytes = read_file_bytes(thread_paths[0]);
  const std::string here_bytes = read_file_bytes(here_paths[0]);
  const auto differ = std::mismatch(here_bytes.begin(), here_bytes.end(), thread_bytes.begin(), thread_bytes.end());
  EXPECT_TRUE(here_bytes == thread_bytes) << "sizes " << here_bytes.size() << " and " << thread_bytes.size()
                                          << ", first difference at offset " << (differ.first - here_bytes.begin());
  EXPECT_EQ(open_log(roomy("here"))->applied_mark(), make_zxid(1, 7));
}

// Reported only once the sync returned: the sync hook runs before commit_queued() returns, and
// no report reaches on_durable.
TEST_F(CommitQueuedTest, Report_ComesAfterTheSyncReturned) {
  TxnLogOptions watched = roomy();
  std::atomic<int> syncs_returned{0};
  watched.fail_sync_for_test = [&] {
    ++syncs_returned;
    return false;
  };
  auto log = open_log(watched);
  ASSERT_NO_FATAL_FAILURE(start_segment(*log));
  const int before = syncs_returned.load();
  log->append(entries(2, 2), 0, TxnLog::Committer::kCaller);
  EXPECT_EQ(log->commit_queued(), std::optional<Zxid>(make_zxid(1, 2)));
  EXPECT_EQ(syncs_returned.load(), before + 1);
}

// The writer thread is in the middle of a write: the batch waits for it, and it reports.
TEST_F(CommitQueuedTest, WriterBusy_LeavesTheBatchToTheWriterThread) {
  TxnLogOptions held = roomy();
  std::mutex gate;
  std::atomic<bool> hold{false};
  std::atomic<bool> inside{false};
  held.fail_sync_for_test = [&] {
    if (hold) {
      inside = true;
      std::lock_guard wait(gate);  // until the test lets the write finish
    }
    return false;
  };
  auto log = open_log(held);
  ASSERT_NO_FATAL_FAILURE(start_segment(*log));
  Reports reports;
  reports.watch(*log);
  std::unique_lock closed(gate);
  hold = true;
  log->append(entries(2, 2), 0);  // the writer thread's, held in its sync
  while (!inside) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  log->append(entries(3, 3), 0, TxnLog::Committer::kCaller);
  EXPECT_FALSE(written_here(log->commit_queued()));
  hold = false;
  closed.unlock();
  EXPECT_TRUE(log->flush());
  const std::vector<Zxid> reported = reports.zxids();
  ASSERT_FALSE(reported.empty());
  EXPECT_EQ(reported.back(), make_zxid(1, 3));
}

// Writes that arrive together (several appends before the commit) would wait behind each other's
// sync: the second append wakes the writer thread, which takes both.
TEST_F(CommitQueuedTest, SecondAppendBeforeTheCommit_WakesTheWriterThread) {
  TxnLogOptions lone = roomy();
  lone.inline_commit.appends_max = 1;
  auto log = open_log(lone);
  ASSERT_NO_FATAL_FAILURE(start_segment(*log));
  std::atomic<Zxid> reported{0};
  log->set_on_durable([&](Zxid zxid) { reported = zxid; });
  log->append(entries(2, 2), 0, TxnLog::Committer::kCaller);
  EXPECT_TRUE(written_here(log->commit_queued())) << "a lone append";
  log->append(entries(3, 3), 0, TxnLog::Committer::kCaller);
  log->append(entries(4, 4), 0, TxnLog::Committer::kCaller);
  EXPECT_FALSE(written_here(log->commit_queued()));
  EXPECT_TRUE(log->flush());
  EXPECT_EQ(reported.load(), make_zxid(1, 4));
}

// In a stream (writes close behind each other) the next write would wait behind this sync: a batch
// right after the last write goes to the writer thread; after an idle spell the caller writes it.
TEST_F(CommitQueuedTest, CloseBehindTheLastWrite_GoesToTheWriterThreadUntilTheLogIsIdle) {
  TxnLogOptions streaming = roomy();
  streaming.sync_delay_us = 2000;  // every sync takes at least 2 ms
  streaming.inline_commit.idle_percent = 50;
  auto log = open_log(streaming);
  ASSERT_NO_FATAL_FAILURE(start_segment(*log));
  for (int n = 2; n <= 21; ++n) {  // the recent sync time settles near 2 ms
    log->append(entries(n, n), 0);
    ASSERT_TRUE(log->flush());
  }
  log->append(entries(22, 22), 0, TxnLog::Committer::kCaller);
  EXPECT_FALSE(written_here(log->commit_queued())) << "right behind the last write";
  ASSERT_TRUE(log->flush());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  log->append(entries(23, 23), 0, TxnLog::Committer::kCaller);
  EXPECT_TRUE(written_here(log->commit_queued())) << "after an idle spell";
}

// A slow disk would stall the caller (the event loop) for every batch: the writer thread takes
// them, and so does it a batch past inline_commit.bytes_max.
TEST_F(CommitQueuedTest, SlowDiskOrBigBatch_GoesToTheWriterThread) {
  TxnLogOptions slow = roomy("slow");
  slow.sync_delay_us = 5000;  // above inline_commit.sync_us_max, as the first sync tells
  slow.inline_commit.sync_us_max = 500;
  TxnLogOptions small = roomy("small");
  small.inline_commit.bytes_max = log_format::kBatchMarkerBytes + 2 * kRecordBytes;
  for (const TxnLogOptions& log_options : {slow, small}) {
    auto log = open_log(log_options);
    ASSERT_NO_FATAL_FAILURE(start_segment(*log));
    std::atomic<Zxid> reported{0};
    log->set_on_durable([&](Zxid zxid) { reported = zxid; });
    log->append(entries(2, 4), 0, TxnLog::Committer::kCaller);
    EXPECT_FALSE(written_here(log->commit_queued())) << log_options.dir;
    EXPECT_TRUE(log->flush());
    EXPECT_EQ(reported.load(), make_zxid(1, 4));
  }
}

// A failed sync is handled alike whoever wrote: nothing is reported, failing() says so, and the
// writer thread writes the same bytes again after its delay and reports them once, when they
// are durable. The log then holds each record once, as if nothing had failed.
class FailedSyncTest : public CommitQueuedTest, public ::testing::WithParamInterface<TxnLog::Committer> {};

TEST_P(FailedSyncTest, NothingReportedUntilTheRewriteIsDurable) {
  const bool here = GetParam() == TxnLog::Committer::kCaller;
  TxnLogOptions faulty = roomy();
  std::atomic<bool> fail{false};
  faulty.fail_sync_for_test = [&] { return fail.load(); };
  auto log = open_log(faulty);
  ASSERT_NO_FATAL_FAILURE(start_segment(*log));
  Reports reports;
  reports.watch(*log);
  fail = true;
  log->append(entries(2, 3), 0, GetParam());
  if (here) {
    EXPECT_EQ(log->commit_queued(), std::nullopt) << "failed here: not reported";
  }
  for (int i = 0; i < 200 && !log->failing(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_TRUE(log->failing());
  EXPECT_NE(log->failure().find("fdatasync"), std::string::npos) << log->failure();
  EXPECT_FALSE(log->flush()) << "nothing durable while the sync fails";
  EXPECT_TRUE(reports.zxids().empty());
  log->append(entries(4, 4), 0, GetParam());
  if (here) {
    EXPECT_FALSE(written_here(log->commit_queued())) << "not here while the disk fails";
  }
  fail = false;
  for (int i = 0; i < 200 && log->failing(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_TRUE(log->flush());
  EXPECT_FALSE(log->failing());
  const std::vector<Zxid> reported = reports.zxids();
  ASSERT_FALSE(reported.empty());
  EXPECT_TRUE(std::is_sorted(reported.begin(), reported.end()));
  EXPECT_EQ(reported.back(), make_zxid(1, 4));
  log.reset();
  EXPECT_EQ(replay_all(*open_log(roomy())), expected(1, 4));
}

INSTANTIATE_TEST_SUITE_P(Committers, FailedSyncTest,
                         ::testing::Values(TxnLog::Committer::kWriterThread, TxnLog::Committer::kCaller),
                         [](const ::testing::TestParamInfo<TxnLog::Committer>& info) {
                           return info.param == TxnLog::Committer::kCaller ? "Caller" : "WriterThread";
                         });

}  // namespace
}  // namespace quorumfs
