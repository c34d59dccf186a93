// Echo: inotify events for changes the kernel did not make itself, or made under another name.
//
//   $ inotifywait -m /mnt/q/queue &         # a sequential create is asked for as "job-"...
//   /mnt/q/queue/ CREATE job-               # ...the kernel announces the name of the call,
//   /mnt/q/queue/ CREATE job-0000000007     # ...and the echo the node's real name
//
//   $ inotifywait -m /mnt/q/members &      # a member's ephemeral file goes when its holder dies:
//   /mnt/q/members/ DELETE host-a          # ...this event comes from the echo
//
// Only syscalls made ON the mount raise inotify events (FUSE-FACTS: the notify calls only drop
// caches). So after a change that did not come through a syscall on this mount (a closed session's
// ephemerals; in an ensemble, every other host's writes) is applied, the daemon repeats it here:
// a thread of its own calls unlink(2) on the mount, and the mount answers that call from the ghost
// the change left behind (visible to this thread only) without a new txn. The kernel then raises
// exactly the events a local unlink would, in the order the changes were applied.
//
// The calls come from a thread that is never the event loop: a syscall on the mount made from a
// request handler deadlocks (FUSE-FACTS "Hazards").
#pragma once

#include <fuse_lowlevel.h>
#include <sys/types.h>

#include <cstdint>

#include <functional>
#include <string>

#include "fusefs/task_thread.h"

namespace quorumfs::fusefs {

class Echo {
 public:
  // Notes the mount's device from the echo thread: every echo is made relative to a descriptor of
  // the mount's root that is checked to be on it, so once the mount is gone an echo does nothing
  // rather than reach the directory under the mountpoint. (No descriptor is kept open between
  // echoes: it would make `fusermount3 -u` fail with EBUSY.)
  // done(path, removal) runs on the echo thread after each echo, whatever its outcome.
  using Done = std::function<void(const std::string& path, bool removal)>;
  Echo(fuse_session* session, std::string mountpoint, Done done);
  ~Echo();

  // Queues unlink(2) (rmdir(2) for a directory) of path, relative to the mount's root.
  void removed(std::string path, bool directory);
  // Queues open(O_CREAT|O_EXCL) (mkdir(2) for a directory) of path, name in parent_inode, after
  // dropping any kernel entry for it: a cached one would fail the call with no event.
  void created(std::string path, uint64_t parent_inode, std::string name, bool directory);
  // Requests whose fuse_req_ctx()->pid is this are echoes.
  pid_t thread_id() const { return thread_.thread_id(); }
  TaskThread& thread() { return thread_; }

 private:
  fuse_session* session_;
  std::string mountpoint_;
  dev_t mount_device_ = 0;  // used on the echo thread only
  // A descriptor of the mount's root while it is still this mount, else -1.
  int open_root() const;
  Done done_;
  TaskThread thread_;
};

}  // namespace quorumfs::fusefs
