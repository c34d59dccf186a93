// Creates in the background (docs/mount.md, "Creates in the background"): an open(O_CREAT)
// without O_EXCL of a new name is answered at once, with an inode this mount reserved, and the
// create is ordered later, as ONE txn with the data when its descriptor is closed (`echo x >
// newfile` is one commit), or earlier when its creator needs the node (below). Until then no
// other process sees the name, so nothing anyone sees is ever taken back.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace quorumfs::fusefs {

struct OpenFile;

// Inode numbers reserved one block at a time through ReserveInodesOp (daemon/tree/limits.h): the
// tree never gives them to anything else, so a background create can name its inode before it
// is ordered and the kernel keeps that inode for good.
class InodeBlocks {
 public:
  // Inode numbers taken per ReserveInodesOp.
  static constexpr uint32_t kBlockInodes = 4096;

  // The next free number, or 0 when none is left.
  uint64_t take();
  // A reservation answered: its numbers are used once the current block runs out.
  void add(uint64_t first, uint32_t count);
  // Few enough left that the next block should be asked for now (and none is being asked for).
  bool wants_more() const { return !reserving_ && left() < kBlockInodes / 2; }
  void set_reserving(bool reserving) { reserving_ = reserving; }

 private:
  uint64_t left() const { return (end_ - next_) + (spare_end_ - spare_next_); }

  uint64_t next_ = 0, end_ = 0;              // the block in use
  uint64_t spare_next_ = 0, spare_end_ = 0;  // the one after it, when already answered
  bool reserving_ = false;
};

// One file opened with O_CREAT whose create is not applied yet.
struct PendingCreate {
  uint64_t inode = 0;         // reserved (InodeBlocks); the create names it
  uint64_t parent_inode = 0;  // the directory; its path is read when the create is submitted
  std::string name;
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  bool truncate = false;      // O_TRUNC: if another host's create won the name, it is emptied
  int64_t opened_ns = 0;      // times of the file until its create is applied
  pid_t thread = 0;           // the creating thread
  pid_t process = 0;          // its process (0: gone at once): its later writes are ordered after
                              // this; it and its descendants alone see the name meanwhile
  OpenFile* file = nullptr;   // the descriptor it came with; null after its release
  bool submitted = false;
  int attempts_left = 5;      // made again when a rename of its directory lands in between
  // Calls that need the node (a lookup by its creator, another create of the name, ...), run
  // once the create's result is known.
  std::vector<std::function<void()>> waiters;
};

// Orders (directory inode, name) keys of pending creates, looked up by string_view names.
struct PendingNameLess {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    using Key = std::pair<uint64_t, std::string_view>;
    return Key(a.first, a.second) < Key(b.first, b.second);
  }
};

// Open file descriptions with creates not yet applied, at most this many per mount; past it an
// open(O_CREAT) waits for its create as an O_EXCL one does.
inline constexpr size_t kPendingCreatesMax = 4096;

}  // namespace quorumfs::fusefs
