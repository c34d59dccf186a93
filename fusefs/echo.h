// Echo: inotify events for changes the kernel did not make itself, or made under another name.
//
//   $ inotifywait -m /mnt/q/queue &         # a sequential create is asked for as "job-"...
//   /mnt/q/queue/ CREATE job-               # ...the kernel announces the name of the call,
//   /mnt/q/queue/ CREATE job-0000000007     # ...and the echo the node's real name
//
//   $ inotifywait -m /mnt/q/members &      # a member's ephemeral file goes when its holder dies:
//   /mnt/q/members/ DELETE host-a          # ...this event comes from the echo
//
//   $ inotifywait -m /mnt/q/config &       # another host of the ensemble writes, renames:
//   /mnt/q/config/ MODIFY db               # ...open(O_WRONLY) + a write + close by the echo
//   /mnt/q/config/ CLOSE_WRITE,CLOSE db
//   /mnt/q/config/ MOVED_FROM db.new       # ...rename(2) by the echo
//   /mnt/q/config/ MOVED_TO db
//
// Only syscalls made ON the mount raise inotify events (docs/kernel.md: the notify calls only drop
// caches). So after a change that did not come through a syscall on this mount (a closed session's
// ephemerals; in an ensemble, every other host's writes) is applied, the daemon repeats it here:
// a thread of its own makes the syscall a local change would have made, and the mount answers it
// without a new txn (Filesystem: "echo" requests), from the tree or, where the tree has moved on,
// from the step's own view of the names (EchoStep::shadow). The kernel then raises exactly the
// events of the local call, in the order the changes were applied.
//
// The calls come from a thread that is never the event loop: a syscall on the mount made from a
// request handler deadlocks (docs/kernel.md, "Hazards").
#pragma once

#include <fuse_lowlevel.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/tree/data_tree.h"
#include "fusefs/task_thread.h"

namespace quorumfs::fusefs {

// Where a node is named: its full path, and its directory and name (the kernel's entry).
struct EchoLocation {
  std::string path;
  uint64_t parent_inode = 0;
  std::string name;
};

// One change to announce, and the calls it takes.
struct EchoStep {
  enum class Kind {
    kCreate,      // open(O_CREAT|O_EXCL) + close; mkdir(2) for a directory
    kRemove,      // unlink(2); rmdir(2)
    kModify,      // open(O_WRONLY) + a one-byte write (empty data: ftruncate) + close;
                  // a directory: as kAttributes
    kAttributes,  // utimensat(path, NULL)
    kMove,        // rename(2) from `from` to `at`
    kRetype,      // a file became a directory: its entry dropped, then utimensat(path, NULL)
  };
  Kind kind = Kind::kCreate;
  EchoLocation at;  // the node's location (kMove: the new one)
  EchoLocation from;  // kMove: the old location
  uint64_t inode = 0;
  uint64_t replaced_inode = 0;  // kMove: the node the new name replaced, or 0
  bool directory = false;
  uint64_t data_bytes = 0;  // kModify: the data's length when applied (0: ftruncate, not a write)

  // What path names for the echo's calls of this step, where that differs from the tree: the
  // inode it announces (the node may be gone or elsewhere by now), or 0 for a name hidden until
  // the step's create or rename makes it. nullopt: as the tree says.
  std::optional<uint64_t> shadow(std::string_view path) const;
  // The kernel entry that must go before the calls: a cached one would answer the call without
  // asking (a create's O_EXCL would fail with no event; a rename would see source == target; a
  // file that became a directory would still be a file to the path walk of its children).
  const EchoLocation* entry_to_drop() const;
};

// "creation", "removal", ... for log lines.
const char* echo_kind_name(EchoStep::Kind kind);
// std::chrono::steady_clock (CLOCK_MONOTONIC) in nanoseconds: the echo's debug lines carry it.
int64_t steady_ns();

// The changes of one txn as the echo announces them: each change alone, except a rename, which
// the tree reports as [delete of the replaced target], create of the target with the source's
// inode, delete of the source; those become one entry.
struct EchoChange {
  const Change* change;                // a rename: the create of the target
  const Change* moved_from = nullptr;  // a rename: the delete of the source
  const Change* replaced = nullptr;    // a rename over a node: that node's delete
};
std::vector<EchoChange> group_renames(const std::vector<Change>& changes);

class Echo {
 public:
  // Notes the mount's device from the echo thread: every echo is made relative to a descriptor of
  // the mount's root that is checked to be on it, so once the mount is gone an echo does nothing
  // rather than reach the directory under the mountpoint. (No descriptor is kept open between
  // echoes: it would make `fusermount3 -u` fail with EBUSY.)
  // done(step_id) runs on the echo thread after each step, whatever its outcome.
  using Done = std::function<void(uint64_t step_id)>;
  Echo(fuse_session* session, std::string mountpoint, Done done);
  ~Echo();

  // Queues the calls of step; while they run, current_step() is step_id (> 0).
  void push(uint64_t step_id, EchoStep step);
  uint64_t current_step() const { return current_step_.load(std::memory_order_acquire); }
  // Requests whose fuse_req_ctx()->pid is this are echoes.
  pid_t thread_id() const { return thread_.thread_id(); }
  TaskThread& thread() { return thread_; }

 private:
  // A descriptor of the mount's root while it is still this mount, else -1.
  int open_root() const;
  void run(const EchoStep& step);
  static int call(int root_fd, const EchoStep& step);

  fuse_session* session_;
  std::string mountpoint_;
  dev_t mount_device_ = 0;  // used on the echo thread only
  std::atomic<uint64_t> current_step_{0};
  Done done_;
  TaskThread thread_{"qfs-echo"};
};

}  // namespace quorumfs::fusefs
