// quorumfs-datadir: look into a stopped member's data dir, and cut its log, without the daemon.
//
//   $ quorumfs-datadir list /var/lib/quorumfs
//   epochs      accepted 3, current 3
//   snapshot    0x0000000200000005  /var/lib/quorumfs/snapshot.0000000200000005  (4096 bytes)
//   segment     /var/lib/quorumfs/log/log.0000000200000001
//   0x0000000200000006  create         /app/config
//   0x0000000200000007  setData        /app/config
//   0x0000000200000008  unparsable     (17 bytes)
//   applied     0x0000000200000007  (the last txn its tree had applied: a restart rebuilds it to here)
//
//   $ quorumfs-datadir cut /var/lib/quorumfs 0x200000007          # shows what would go
//   $ quorumfs-datadir cut /var/lib/quorumfs 0x200000007 --yes    # does it
//
// `list` reads every segment record by record and keeps going past damage, naming the file and
// offset. `cut` removes every record after the zxid (and snapshots above it), reading nothing
// after it, so it works on a log whose later part is damaged. It refuses while a daemon holds
// the data dir, and below what the member had applied unless told --below-applied.
// docs/operations.md, "Looking into a data dir", says when to use it.
#include <sys/file.h>
#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "consensus/log_format.h"
#include "daemon/proto/txn.pb.h"
#include "daemon/storage/epoch_file.h"
#include "daemon/storage/snapshot_store.h"
#include "daemon/storage/txn_log.h"

namespace {

using quorumfs::Zxid;
namespace log_format = quorumfs::log_format;

std::string hex(Zxid zxid) { return "0x" + log_format::zxid_hex(zxid); }

const char* op_name(const quorumfs::proto::Op& op) {
  switch (op.kind_case()) {
    case quorumfs::proto::Op::kCreate: return op.create().directory() ? "mkdir" : "create";
    case quorumfs::proto::Op::kRemove: return "delete";
    case quorumfs::proto::Op::kSetData: return "setData";
    case quorumfs::proto::Op::kSetAcl: return "setACL";
    case quorumfs::proto::Op::kSetMeta: return "setMeta";
    case quorumfs::proto::Op::kCheck: return "check";
    case quorumfs::proto::Op::kCloseSession: return "closeSession";
    case quorumfs::proto::Op::kCreateSession: return "createSession";
    case quorumfs::proto::Op::kReserveInodes: return "reserveInodes";
    default: return "op?";
  }
}

std::string op_path(const quorumfs::proto::Op& op) {
  switch (op.kind_case()) {
    case quorumfs::proto::Op::kCreate: return op.create().path();
    case quorumfs::proto::Op::kRemove: return op.remove().path();
    case quorumfs::proto::Op::kSetData: return op.set_data().path();
    case quorumfs::proto::Op::kSetAcl: return op.set_acl().path();
    case quorumfs::proto::Op::kSetMeta: return op.set_meta().path();
    case quorumfs::proto::Op::kCheck: return op.check().path();
    case quorumfs::proto::Op::kCloseSession: return "session " + hex(static_cast<Zxid>(op.close_session().session_id()));
    case quorumfs::proto::Op::kReserveInodes: return std::to_string(op.reserve_inodes().count()) + " inodes";
    default: return "";
  }
}

// "create /a", "multi(create,delete) /b /a", "unparsable (17 bytes)".
std::string describe_txn(std::string_view payload) {
  quorumfs::proto::Txn txn;
  if (!txn.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return "unparsable     (" + std::to_string(payload.size()) + " bytes)";
  }
  std::string kinds, paths;
  for (const auto& op : txn.ops()) {
    kinds += (kinds.empty() ? "" : ",") + std::string(op_name(op));
    paths += " " + op_path(op);
  }
  std::string type = txn.ops_size() == 1 ? kinds : "multi(" + kinds + ")";
  type.resize(std::max<size_t>(type.size(), 14), ' ');
  return type + paths;
}

std::string read_whole(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  *ok = static_cast<bool>(in);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Prints the records of one segment above `after`; false when it stopped at damage (named, with
// its offset).
bool list_segment(const std::string& path, Zxid after, Zxid* applied, bool print) {
  if (print) std::printf("segment     %s\n", path.c_str());
  bool ok = false;
  const std::string bytes = read_whole(path, &ok);
  quorumfs::log_format::FileHeader header;
  std::string reason;
  if (!ok || !log_format::decode_file_header(bytes, &header, &reason)) {
    if (print) std::printf("  damaged at offset 0: %s\n", ok ? reason.c_str() : "cannot read it");
    return false;
  }
  for (size_t offset = log_format::kFileHeaderBytes; offset < bytes.size();) {
    const std::string_view rest(bytes.data() + offset, bytes.size() - offset);
    const log_format::DecodedRecord record = log_format::decode_record(rest);
    if (record.status == log_format::RecordStatus::kEnd) return true;
    if (record.status != log_format::RecordStatus::kOk) {
      if (print) std::printf("  damaged at offset %zu: %s\n", offset, log_format::describe_bad_record(record, rest.size()).c_str());
      return false;
    }
    log_format::BatchMarker marker;
    if (record.zxid == log_format::kBatchMarkerZxid && log_format::decode_batch_marker(record, &marker)) {
      *applied = std::max(*applied, marker.applied_zxid);
    } else if (print && record.zxid > after) {
      std::printf("%s  %s\n", hex(record.zxid).c_str(), describe_txn(record.payload).c_str());
    }
    offset += record.bytes;
  }
  return true;
}

std::string log_dir_of(const std::string& data_dir, const std::string& log_dir) {
  return log_dir.empty() ? data_dir + "/log" : log_dir;
}

// Every segment of the log, records above `after` (printed unless !print), and the applied mark
// its batch markers record; false if one is damaged.
bool list_log(const std::string& dir, Zxid after, Zxid* applied, bool print = true) {
  std::vector<std::string> segments;
  std::error_code list_error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, list_error)) {
    Zxid first = 0;
    if (log_format::parse_segment_file_name(entry.path().filename().string(), &first)) segments.push_back(entry.path());
  }
  std::sort(segments.begin(), segments.end());  // names sort by first zxid
  bool whole = true;
  for (const std::string& segment : segments) whole = list_segment(segment, after, applied, print) && whole;
  return whole;
}

int list(const std::string& data_dir, const std::string& log_dir) {
  std::string error;
  auto accepted = quorumfs::read_epoch_file(data_dir + "/acceptedEpoch", &error);
  auto current = quorumfs::read_epoch_file(data_dir + "/currentEpoch", &error);
  if (accepted && current) {
    std::printf("epochs      accepted %u, current %u\n", *accepted, *current);
  } else {
    std::printf("epochs      %s\n", error.c_str());
  }
  quorumfs::SnapshotStore snapshots(data_dir);
  for (Zxid zxid : snapshots.snapshot_zxids(&error)) {
    const std::string path = data_dir + "/snapshot." + log_format::zxid_hex(zxid);
    std::error_code size_error;
    std::printf("snapshot    %s  %s  (%ju bytes)\n", hex(zxid).c_str(), path.c_str(),
                static_cast<uintmax_t>(std::filesystem::file_size(path, size_error)));
  }
  Zxid applied = 0;
  const bool whole = list_log(log_dir_of(data_dir, log_dir), 0, &applied);
  std::printf("applied     %s  (the last txn its tree had applied: a restart rebuilds it to here)\n",
              hex(applied).c_str());
  return whole ? 0 : 3;
}

int cut(const std::string& data_dir, const std::string& log_dir, const std::string& zxid_text, bool yes,
        bool below_applied) {
  Zxid zxid = 0;
  try {
    zxid = static_cast<Zxid>(std::stoull(zxid_text, nullptr, 0));
  } catch (const std::exception&) {
    std::fprintf(stderr, "quorumfs-datadir: '%s' is not a zxid (0x... or decimal)\n", zxid_text.c_str());
    return 2;
  }
  // The daemon holds this lock while it runs: never cut a log under it.
  const std::string lock_path = data_dir + "/lock";
  const int lock = ::open(lock_path.c_str(), O_RDWR | O_CLOEXEC);
  if (lock >= 0 && ::flock(lock, LOCK_EX | LOCK_NB) != 0) {
    std::fprintf(stderr, "quorumfs-datadir: %s is in use by a running quorumfs: stop it first\n", data_dir.c_str());
    return 1;
  }
  if (!yes) {
    std::printf("would remove these records (and snapshots above %s); again with --yes to do it:\n", hex(zxid).c_str());
    Zxid applied = 0;
    list_log(log_dir_of(data_dir, log_dir), zxid, &applied);
    return 0;
  }
  // What the tree applied was committed: cutting it leaves this member's currentEpoch over a
  // shorter history, which could win an election and lose those txns everywhere.
  Zxid applied = 0;
  list_log(log_dir_of(data_dir, log_dir), zxid, &applied, /*print=*/false);
  if (zxid < applied && !below_applied) {
    std::fprintf(stderr,
                 "quorumfs-datadir: %s is below %s, which this member had applied (committed): cutting it loses "
                 "committed txns (docs/operations.md, \"Looking into a data dir\"); --below-applied to do it anyway\n",
                 hex(zxid).c_str(), hex(applied).c_str());
    return 1;
  }
  quorumfs::TxnLogOptions options;
  options.dir = log_dir_of(data_dir, log_dir);
  std::string error;
  quorumfs::SnapshotStore snapshots(data_dir);
  if (!quorumfs::TxnLog::truncate_after(options, zxid, &error) || !snapshots.remove_newer_than(zxid, &error)) {
    std::fprintf(stderr, "quorumfs-datadir: %s\n", error.c_str());
    return 1;
  }
  std::printf("cut after %s\n", hex(zxid).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"quorumfs-datadir: look into a stopped member's data dir, and cut its log"};
  app.require_subcommand(1);
  std::string data_dir, log_dir, zxid;
  bool yes = false;
  CLI::App* list_command = app.add_subcommand("list", "Epochs, snapshots and every log record (zxid, type, path)");
  list_command->add_option("DATA_DIR", data_dir, "The member's dataDir")->required()->check(CLI::ExistingDirectory);
  list_command->add_option("--log-dir", log_dir, "Its dataLogDir (default DATA_DIR/log)");
  CLI::App* cut_command = app.add_subcommand("cut", "Remove every log record after ZXID, and snapshots above it");
  cut_command->add_option("DATA_DIR", data_dir, "The member's dataDir")->required()->check(CLI::ExistingDirectory);
  cut_command->add_option("ZXID", zxid, "The last record to keep (0x... or decimal)")->required();
  cut_command->add_option("--log-dir", log_dir, "Its dataLogDir (default DATA_DIR/log)");
  cut_command->add_flag("--yes", yes, "Do it (without: only say what would go)");
  bool below_applied = false;
  cut_command->add_flag("--below-applied", below_applied,
                        "Cut below what the member had applied (committed txns: read docs/operations.md first)");
  CLI11_PARSE(app, argc, argv);
  if (*list_command) return list(data_dir, log_dir);
  return cut(data_dir, log_dir, zxid, yes, below_applied);
}
