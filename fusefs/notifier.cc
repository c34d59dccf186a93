#include "fusefs/notifier.h"

namespace quorumfs::fusefs {

Notifier::Notifier(fuse_session* session) : session_(session), thread_([this] { run(); }) {}

Notifier::~Notifier() { stop(); }

void Notifier::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void Notifier::invalidate_inode(uint64_t inode, bool with_data) {
  // Offset -1 drops attributes only; 0 with length 0 drops the pages too.
  push([this, inode, with_data] { fuse_lowlevel_notify_inval_inode(session_, inode, with_data ? 0 : -1, 0); });
}

void Notifier::invalidate_entry(uint64_t parent_inode, std::string name) {
  push([this, parent_inode, name = std::move(name)] {
    fuse_lowlevel_notify_inval_entry(session_, parent_inode, name.data(), name.size());
  });
}

void Notifier::deleted(uint64_t parent_inode, uint64_t inode, std::string name) {
  push([this, parent_inode, inode, name = std::move(name)] {
    fuse_lowlevel_notify_delete(session_, parent_inode, inode, name.data(), name.size());
  });
}

void Notifier::then(std::function<void()> fn) { push(std::move(fn)); }

void Notifier::push(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    tasks_.push_back(std::move(task));
  }
  wake_.notify_one();
}

void Notifier::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
    if (tasks_.empty()) return;  // stopping, drained
    auto task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    task();
    lock.lock();
  }
}

}  // namespace quorumfs::fusefs
