#include "daemon/storage/snapshot_store.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <system_error>

#include <spdlog/spdlog.h>

#include "consensus/log_format.h"
#include "consensus/snapshot_format.h"
#include "daemon/storage/file_util.h"

namespace quorumfs {
namespace {

using snapshot_format::Decoder;
using storage::UniqueFd;

constexpr size_t kChunkBytes = 1 << 20;

std::string hex(Zxid zxid) { return "0x" + log_format::zxid_hex(zxid); }

// Streams records into a file through one reused buffer, written out about every kChunkBytes
// (or, with a string instead of a file, into that string).
class SnapshotWriter {
 public:
  SnapshotWriter(int fd, const std::string& path, Zxid zxid) : fd_(fd), path_(path), encoder_(zxid, &buffer_) {}
  SnapshotWriter(std::string* out, const std::string& path, Zxid zxid)
      : out_(out), path_(path), encoder_(zxid, &buffer_) {}

  template <typename Message>
  void add(const Message& message) {
    if (failed_) return;  // the tree keeps calling; nothing more to do once a write failed
    if (!message.SerializeToString(&record_)) return fail(path_ + ": cannot serialize a snapshot record");
    if (record_.size() > snapshot_format::kRecordBytesMax) {
      return fail(path_ + ": snapshot record of " + std::to_string(record_.size()) + " bytes above the maximum");
    }
    encoder_.add_record(record_, &buffer_);
    if (buffer_.size() >= kChunkBytes) write_out();
  }

  bool finish(std::string* error) {
    if (!failed_) {
      encoder_.finish(&buffer_);
      write_out();
    }
    if (!failed_ && out_ == nullptr && ::fsync(fd_) != 0) fail(storage::errno_message(path_, "fsync"));
    if (failed_) *error = error_;
    return !failed_;
  }

 private:
  void write_out() {
    if (out_ != nullptr) {
      out_->append(buffer_);
    } else if (!storage::write_all(fd_, buffer_, path_, &error_)) {
      failed_ = true;
    }
    buffer_.clear();
  }
  void fail(std::string error) {
    failed_ = true;
    error_ = std::move(error);
  }

  int fd_ = -1;
  std::string* out_ = nullptr;
  const std::string& path_;
  std::string buffer_;
  std::string record_;
  snapshot_format::Encoder encoder_;
  bool failed_ = false;
  std::string error_;
};

// Writes the tree to "snapshot.<zxid>.tmp", fsyncs, renames and fsyncs the dir. Runs in the
// forked child too, so it must neither log nor touch anything another thread could hold locked:
// it only allocates (glibc's malloc is fork-safe) and makes system calls.
bool write_snapshot_file(const std::string& dir, const DataTree& tree, std::string* error) {
  if (!storage::make_directories(dir, error)) return false;
  const Zxid zxid = tree.last_applied_zxid();
  const std::string path = storage::join_path(dir, snapshot_format::snapshot_file_name(zxid));
  const std::string temp_path = path + std::string(snapshot_format::kTempSuffix);
  UniqueFd fd(::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, storage::kFileMode));
  if (!fd.valid()) {
    *error = storage::errno_message(temp_path, "create");
    return false;
  }
  SnapshotWriter writer(fd.get(), temp_path, zxid);
  tree.write_snapshot([&](const proto::SnapshotHeader& header) { writer.add(header); },
                      [&](const proto::SnapshotNode& node) { writer.add(node); });
  const bool written = writer.finish(error);
  fd.reset();
  if (!written) {
    ::unlink(temp_path.c_str());
    return false;
  }
  if (::rename(temp_path.c_str(), path.c_str()) != 0) {
    *error = storage::errno_message(temp_path, "rename to " + path);
    ::unlink(temp_path.c_str());
    return false;
  }
  return storage::sync_directory(dir, error);
}

}  // namespace

// Feeds a snapshot file through the decoder, reading as it needs bytes.
class SnapshotReader {
 public:
  SnapshotReader(int fd, const std::string& path) : fd_(fd), path_(path) {}
  // Over bytes in memory (a leader's SNAP): they are the whole input.
  SnapshotReader(std::string_view bytes, const std::string& name) : path_(name) {
    decoder_.feed(bytes);
    decoder_.end_of_input();
  }

  // The next step that is not kNeedMore; read errors come back as kError with io_error().
  Decoder::Step next() {
    for (;;) {
      const Decoder::Step step = decoder_.next();
      if (step != Decoder::Step::kNeedMore) return step;
      if (fd_ < 0) return Decoder::Step::kError;  // in memory: the decoder already had everything
      if (!storage::read_at(fd_, offset_, kChunkBytes, &chunk_, path_, &io_error_)) return Decoder::Step::kError;
      if (chunk_.empty()) {
        decoder_.end_of_input();
      } else {
        decoder_.feed(chunk_);
        offset_ += chunk_.size();
      }
    }
  }
  const Decoder& decoder() const { return decoder_; }
  // "<reason> at offset N" for the failed step.
  std::string failure() const {
    if (!io_error_.empty()) return io_error_;
    return path_ + ": " + decoder_.error() + " at offset " + std::to_string(decoder_.error_offset());
  }

 private:
  int fd_ = -1;
  const std::string& path_;
  Decoder decoder_;
  std::string chunk_;
  uint64_t offset_ = 0;
  std::string io_error_;
};

namespace {

std::string at(const std::string& path, const std::string& reason, uint64_t offset) {
  return path + ": " + reason + " at offset " + std::to_string(offset);
}

}  // namespace

SnapshotStore::SnapshotStore(std::string dir, int retain_count)
    : dir_(std::move(dir)), retain_count_(std::max(retain_count, 1)) {}

std::vector<Zxid> SnapshotStore::snapshot_zxids(std::string* error) const {
  std::vector<Zxid> zxids;
  std::error_code code;
  if (!std::filesystem::exists(dir_, code)) return zxids;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, code)) {
    Zxid zxid = 0;
    if (snapshot_format::parse_snapshot_file_name(entry.path().filename().string(), &zxid)) zxids.push_back(zxid);
  }
  if (code) *error = dir_ + ": list directory: " + code.message();
  std::sort(zxids.begin(), zxids.end());
  return zxids;
}

void SnapshotStore::remove_temp_files() const {
  std::error_code code;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, code)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with(snapshot_format::kFilePrefix) && name.ends_with(snapshot_format::kTempSuffix)) {
      spdlog::info("snapshot store: removing unfinished {}", entry.path().string());
      std::filesystem::remove(entry.path(), code);
    }
  }
}

// Called at startup, before any background snapshot can be writing a temp file.
std::unique_ptr<DataTree> SnapshotStore::load_latest(std::string* error) const {
  remove_temp_files();
  error->clear();
  const std::vector<Zxid> zxids = snapshot_zxids(error);
  if (!error->empty()) return nullptr;
  if (zxids.empty()) return std::make_unique<DataTree>();
  // The newest only: an older one would silently drop the txns the newest covers, whose log
  // segments may already be purged.
  const Zxid zxid = zxids.back();
  return load_file(storage::join_path(dir_, snapshot_format::snapshot_file_name(zxid)), zxid, error);
}

std::unique_ptr<DataTree> SnapshotStore::load_file(const std::string& path, Zxid zxid, std::string* error) const {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    *error = storage::errno_message(path, "open");
    return nullptr;
  }
  SnapshotReader reader(fd.get(), path);
  return load(reader, path, zxid, error);
}

bool SnapshotStore::check(Zxid zxid, std::string_view bytes, std::string* error) {
  static const std::string kName = "snapshot from the leader";
  SnapshotReader reader(bytes, kName);
  return load(reader, kName, zxid, error) != nullptr;
}

// Reads a whole snapshot that must be of zxid into a tree, checking every record.
std::unique_ptr<DataTree> SnapshotStore::load(SnapshotReader& reader, const std::string& path, Zxid zxid,
                                              std::string* error) {
  if (reader.next() != Decoder::Step::kHeader) {
    *error = reader.failure();
    return nullptr;
  }
  if (reader.decoder().zxid() != zxid) {
    *error = at(path, "header zxid " + hex(reader.decoder().zxid()) + " does not match the file name", 16);
    return nullptr;
  }
  Decoder::Step step = reader.next();
  if (step != Decoder::Step::kRecord) {
    *error = step == Decoder::Step::kError ? reader.failure() : at(path, "no header record", snapshot_format::kHeaderBytes);
    return nullptr;
  }
  proto::SnapshotHeader header;
  const uint64_t header_offset = reader.decoder().record_offset();
  const std::string_view header_bytes = reader.decoder().record();
  if (!header.ParseFromArray(header_bytes.data(), static_cast<int>(header_bytes.size()))) {
    *error = at(path, "unparsable header record", header_offset);
    return nullptr;
  }
  if (header.last_zxid() != zxid) {
    *error = at(path, "header record's last zxid " + hex(header.last_zxid()) + " does not match the file name",
                header_offset);
    return nullptr;
  }

  // The tree pulls nodes; a decoding failure ends the pull and is reported instead of the tree.
  std::string failure;
  bool reached_end = false;
  uint64_t node_offset = header_offset;
  auto next_node = [&](proto::SnapshotNode* node) {
    if (!failure.empty() || reached_end) return false;
    const Decoder::Step node_step = reader.next();
    if (node_step == Decoder::Step::kEnd) {
      reached_end = true;
      return false;
    }
    if (node_step != Decoder::Step::kRecord) {
      failure = reader.failure();
      return false;
    }
    node_offset = reader.decoder().record_offset();
    const std::string_view bytes = reader.decoder().record();
    if (!node->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      failure = at(path, "unparsable node record", node_offset);
      return false;
    }
    return true;
  };
  std::string tree_error;
  std::unique_ptr<DataTree> tree = DataTree::from_snapshot(header, next_node, &tree_error);
  if (!failure.empty()) {
    *error = failure;
    return nullptr;
  }
  if (!tree) {
    *error = at(path, tree_error, node_offset);
    return nullptr;
  }
  if (!reached_end) {  // the tree stopped pulling early: the rest must not go unchecked
    *error = at(path, "records left after the tree was complete", node_offset);
    return nullptr;
  }
  return tree;
}

bool SnapshotStore::write(const DataTree& tree, std::string* error) const {
  return write_snapshot_file(dir_, tree, error);
}

bool SnapshotStore::encode(const DataTree& tree, std::string* out, std::string* error) {
  static const std::string kName = "snapshot in memory";
  out->clear();
  SnapshotWriter writer(out, kName, tree.last_applied_zxid());
  tree.write_snapshot([&](const proto::SnapshotHeader& header) { writer.add(header); },
                      [&](const proto::SnapshotNode& node) { writer.add(node); });
  return writer.finish(error);
}

std::unique_ptr<DataTree> SnapshotStore::install(Zxid zxid, std::string_view bytes, std::string* error) const {
  if (!storage::make_directories(dir_, error)) return nullptr;
  const std::string path = storage::join_path(dir_, snapshot_format::snapshot_file_name(zxid));
  const std::string temp_path = path + std::string(snapshot_format::kTempSuffix);
  {
    UniqueFd fd(::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, storage::kFileMode));
    if (!fd.valid()) {
      *error = storage::errno_message(temp_path, "create");
      return nullptr;
    }
    if (!storage::write_all(fd.get(), bytes, temp_path, error)) return nullptr;
    if (::fsync(fd.get()) != 0) {
      *error = storage::errno_message(temp_path, "fsync");
      return nullptr;
    }
  }
  // Checked before it takes the final name: a damaged transfer must not become the newest snapshot.
  std::unique_ptr<DataTree> tree = load_file(temp_path, zxid, error);
  if (!tree) {
    ::unlink(temp_path.c_str());
    return nullptr;
  }
  if (::rename(temp_path.c_str(), path.c_str()) != 0) {
    *error = storage::errno_message(temp_path, "rename to " + path);
    ::unlink(temp_path.c_str());
    return nullptr;
  }
  if (!storage::sync_directory(dir_, error)) return nullptr;
  return tree;
}

bool SnapshotStore::remove_newer_than(Zxid zxid, std::string* error) const {
  std::vector<Zxid> zxids = snapshot_zxids(error);
  if (!error->empty()) return false;
  bool removed = false;
  for (Zxid snapshot : zxids) {
    if (snapshot <= zxid) continue;
    const std::string path = storage::join_path(dir_, snapshot_format::snapshot_file_name(snapshot));
    if (::unlink(path.c_str()) != 0) {
      *error = storage::errno_message(path, "remove");
      return false;
    }
    spdlog::info("snapshot {} removed: newer than the log's cut at {}", path, hex(zxid));
    removed = true;
  }
  return !removed || storage::sync_directory(dir_, error);
}

pid_t SnapshotStore::start_background(const DataTree& tree) const {
  const pid_t child = ::fork();
  if (child == 0) {
    // The child: a copy-on-write image of the tree, and only this thread. It reports through its
    // exit status alone; _exit skips atexit handlers and stdio buffers that belong to the parent.
    // Inherited descriptors (the FUSE device, the data-dir lock) would keep the mount and the
    // lock alive if the parent died while this child writes; it opens what it needs itself.
    ::close_range(3, ~0U, 0);
    int status = 1;
    try {
      std::string error;
      status = write_snapshot_file(dir_, tree, &error) ? 0 : 1;
    } catch (...) {  // an exception must not unwind into the parent's stack copy: exit status 1
      status = 1;
    }
    ::_exit(status);
  }
  if (child < 0) spdlog::error("{}", storage::errno_message(dir_, "fork for a background snapshot"));
  return child;
}

bool SnapshotStore::finish_background(pid_t child, Zxid* oldest_kept, std::string* error) const {
  int status = 0;
  while (::waitpid(child, &status, 0) < 0) {
    if (errno == EINTR) continue;
    *error = storage::errno_message(dir_, "wait for snapshot child " + std::to_string(child));
    return false;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    *error = dir_ + ": snapshot child " + std::to_string(child) +
             (WIFSIGNALED(status) ? " killed by signal " + std::to_string(WTERMSIG(status))
                                  : " failed with exit status " + std::to_string(WEXITSTATUS(status)));
    remove_temp_files();
    return false;
  }
  return prune(oldest_kept, error);
}

bool SnapshotStore::prune(Zxid* oldest_kept, std::string* error) const {
  error->clear();
  std::vector<Zxid> zxids = snapshot_zxids(error);
  if (!error->empty()) return false;
  const size_t keep = std::min(zxids.size(), static_cast<size_t>(retain_count_));
  const size_t remove_count = zxids.size() - keep;
  for (size_t index = 0; index < remove_count; ++index) {
    const std::string path = storage::join_path(dir_, snapshot_format::snapshot_file_name(zxids[index]));
    if (::unlink(path.c_str()) != 0) {
      *error = storage::errno_message(path, "remove old snapshot");
      return false;
    }
  }
  *oldest_kept = keep == 0 ? 0 : zxids[remove_count];
  return true;
}

}  // namespace quorumfs
