// Echo: inotify events for changes the kernel did not make itself.
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

#include <sys/types.h>

#include <functional>
#include <string>

#include "fusefs/task_thread.h"

namespace quorumfs::fusefs {

class Echo {
 public:
  // done(path) runs on the echo thread after each echo, whatever its outcome.
  Echo(std::string mountpoint, std::function<void(const std::string&)> done)
      : mountpoint_(std::move(mountpoint)), done_(std::move(done)) {}

  // Queues unlink(2) (rmdir(2) for a directory) of path, relative to the mount's root.
  void removed(std::string path, bool directory);
  // Requests whose fuse_req_ctx()->pid is this are echoes.
  pid_t thread_id() const { return thread_.thread_id(); }
  TaskThread& thread() { return thread_; }

 private:
  std::string mountpoint_;
  std::function<void(const std::string&)> done_;
  TaskThread thread_;
};

}  // namespace quorumfs::fusefs
