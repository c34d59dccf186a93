// Kernel cache invalidation, off the event-loop thread.
//
// Why a thread of its own: a notify write blocks in the kernel on the inode or page locks that
// another syscall may hold while it waits for this daemon's reply (a reader in readpage, a create
// holding its directory). Sent from the loop thread, that is a deadlock (FUSE-FACTS "Hazards");
// from here, the loop keeps answering and the notify completes.
#pragma once

#include <fuse_lowlevel.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace quorumfs::fusefs {

class Notifier {
 public:
  explicit Notifier(fuse_session* session);
  ~Notifier();  // stops after draining

  void invalidate_inode(uint64_t inode, bool with_data);
  void invalidate_entry(uint64_t parent_inode, std::string name);
  void deleted(uint64_t parent_inode, uint64_t inode, std::string name);
  // Runs fn on the notifier thread after everything queued before it (a reply that must not
  // overtake an invalidation: a reader woken by it must see the new data).
  void then(std::function<void()> fn);
  void stop();

 private:
  void push(std::function<void()> task);
  void run();

  fuse_session* session_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace quorumfs::fusefs
