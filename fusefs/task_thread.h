// A thread that runs queued tasks in order: the Notifier's and the Echo's. Both make calls that
// can block in the kernel until the event loop answers a request, so neither may ever be waited
// for by the loop: stopping is asked with request_stop() and observed with finished(), while the
// loop goes on serving (see Filesystem::unmount). What is queued still runs before it stops:
// some tasks are replies to the kernel.
#pragma once

#include <pthread.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace quorumfs::fusefs {

class TaskThread {
 public:
  // name: what `top -H`, `ps -L` and perf show for it (at most 15 characters).
  explicit TaskThread(const char* name) : thread_([this, name] { run(name); }) {
    while (thread_id() == 0) std::this_thread::yield();
  }
  ~TaskThread() {
    request_stop();
    thread_.join();  // by now finished(), or never blocked: see Filesystem::unmount
  }
  TaskThread(const TaskThread&) = delete;
  TaskThread& operator=(const TaskThread&) = delete;

  // False when the thread has already stopped: the task was not taken.
  bool push(std::function<void()> task) {
    {
      std::lock_guard lock(mutex_);
      if (finished_.load(std::memory_order_relaxed)) return false;
      tasks_.push_back(std::move(task));
    }
    wake_.notify_one();
    return true;
  }
  // The thread stops once everything queued so far (and pushed meanwhile) has run.
  void request_stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
  }
  bool finished() const { return finished_.load(std::memory_order_acquire); }
  pid_t thread_id() const { return thread_id_.load(std::memory_order_acquire); }

 private:
  void run(const char* name) {
    pthread_setname_np(pthread_self(), name);
    thread_id_.store(gettid(), std::memory_order_release);
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) break;  // stopping, and drained
      auto task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
      lock.lock();
    }
    finished_.store(true, std::memory_order_release);  // under the lock: push() sees it
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::atomic<pid_t> thread_id_{0};
  std::atomic<bool> finished_{false};
  std::thread thread_;  // last: started once everything above is built
};

}  // namespace quorumfs::fusefs
