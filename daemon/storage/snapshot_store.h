// Snapshots on disk: "snapshot.<zxid, 16 hex digits>" in the data dir, framed by
// consensus/snapshot_format.h (header, one record per node, checksum trailer). Written to a temp
// name, fsynced, renamed, and the directory fsynced, so a snapshot under its final name is whole.
//
// A snapshot is taken in the background by fork(): the child holds a copy-on-write image of the
// tree as of the last applied txn, writes it and exits, while the parent goes on applying. (Our
// log records are requests, not idempotent txns, so ZooKeeper's fuzzy snapshot would be wrong.)
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "consensus/zxid.h"
#include "daemon/tree/data_tree.h"

namespace quorumfs {

class SnapshotReader;

class SnapshotStore {
 public:
  explicit SnapshotStore(std::string dir, int retain_count = 3);

  // Loads the newest snapshot. No snapshot: an empty tree. A snapshot that fails its checks:
  // null with *error naming the file and offset (the node refuses to start).
  std::unique_ptr<DataTree> load_latest(std::string* error) const;

  // Writes a snapshot of the tree in this process (tests, tools, shutdown).
  bool write(const DataTree& tree, std::string* error) const;

  // The snapshot file's bytes for the tree, in memory (sent to a learner that needs a SNAP).
  static bool encode(const DataTree& tree, std::string* out, std::string* error);
  // Writes bytes received from a leader (encode()'s output at zxid) as snapshot.<zxid>, durably,
  // after checking them; returns the tree they hold, null with *error if they do not check.
  std::unique_ptr<DataTree> install(Zxid zxid, std::string_view bytes, std::string* error) const;
  // Would install() take these bytes (a whole snapshot of zxid, every record sound)? Decodes them
  // in memory, writes nothing.
  static bool check(Zxid zxid, std::string_view bytes, std::string* error);
  // Deletes snapshots above zxid (the log was cut there: they may hold txns that no longer exist).
  bool remove_newer_than(Zxid zxid, std::string* error) const;

  // Forks a child that writes the tree's snapshot. Returns the child's pid (-1 on failure);
  // the caller reaps it with finish_background().
  pid_t start_background(const DataTree& tree) const;
  // After the child exits: true if it wrote its snapshot; then old snapshots beyond retain_count
  // are deleted. Returns the zxid of the oldest snapshot kept (for log purging) in *oldest_kept.
  bool finish_background(pid_t child, Zxid* oldest_kept, std::string* error) const;

  // Deletes snapshots beyond the newest retain_count; *oldest_kept as for finish_background()
  // (0 when there is no snapshot). finish_background() calls it; write() does not.
  bool prune(Zxid* oldest_kept, std::string* error) const;
  // zxids of the complete snapshots in the dir, oldest first.
  std::vector<Zxid> snapshot_zxids(std::string* error) const;
  const std::string& dir() const { return dir_; }

 private:
  std::unique_ptr<DataTree> load_file(const std::string& path, Zxid zxid, std::string* error) const;
  static std::unique_ptr<DataTree> load(SnapshotReader& reader, const std::string& path, Zxid zxid, std::string* error);
  void remove_temp_files() const;

  std::string dir_;
  int retain_count_;
};

}  // namespace quorumfs
