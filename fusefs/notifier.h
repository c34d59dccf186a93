// Kernel cache invalidation, off the event-loop thread.
//
// Why a thread of its own: a notify write blocks in the kernel on the inode or page locks that
// another syscall may hold while it waits for this daemon's reply (a reader in readpage, a create
// holding its directory). Sent from the loop thread, that is a deadlock (docs/kernel.md,
// "Hazards"); from here, the loop keeps answering and the notify completes.
#pragma once

#include <fuse_lowlevel.h>

#include <cstdint>
#include <functional>

#include "fusefs/task_thread.h"

namespace quorumfs::fusefs {

class Notifier {
 public:
  explicit Notifier(fuse_session* session) : session_(session) {}

  // Entries (names) are not dropped here but by the Echo right before its calls: a
  // notify_inval_entry waits for the directory's lock, and a caller holding it may be waiting for
  // a reply queued here (then()) behind it.
  void invalidate_inode(uint64_t inode, bool with_data);
  // Runs fn on the notifier thread after everything queued before it (a reply that must not
  // overtake an invalidation: a reader woken by it must see the new data).
  void then(std::function<void()> fn) {
    if (!thread_.push(fn)) fn();  // stopped (unmounting): nothing left to overtake
  }
  TaskThread& thread() { return thread_; }

 private:
  fuse_session* session_;
  TaskThread thread_{"qfs-notify"};
};

}  // namespace quorumfs::fusefs
