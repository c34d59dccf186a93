#include "fusefs/task_thread.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <vector>

namespace quorumfs::fusefs {
namespace {

void wait_until_finished(const TaskThread& thread) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!thread.finished() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
}

TEST(TaskThread, Tasks_RunInOrderOnItsOwnThread) {
  TaskThread thread{"qfs-test"};
  std::vector<int> order;
  std::atomic<pid_t> ran_on{0};
  for (int i = 0; i < 100; ++i) {
    thread.push([&order, &ran_on, i] {
      order.push_back(i);
      ran_on = gettid();
    });
  }
  thread.request_stop();
  wait_until_finished(thread);
  ASSERT_TRUE(thread.finished());
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
  EXPECT_EQ(ran_on.load(), thread.thread_id());
  EXPECT_NE(thread.thread_id(), gettid());
}

// The name top -H, ps -L and perf show for it.
TEST(TaskThread, Thread_CarriesItsName) {
  TaskThread thread{"qfs-test"};
  char name[16] = {};
  thread.push([&name] { pthread_getname_np(pthread_self(), name, sizeof name); });
  thread.request_stop();
  wait_until_finished(thread);
  ASSERT_TRUE(thread.finished());
  EXPECT_STREQ(name, "qfs-test");
}

TEST(TaskThread, RequestStop_RunsWhatIsQueuedAndWhatIsPushedMeanwhile) {
  TaskThread thread{"qfs-test"};
  std::atomic<int> ran{0};
  std::atomic<bool> release{false};
  thread.push([&] {
    while (!release) std::this_thread::yield();  // a task blocked, as one waiting on the kernel
    ++ran;
  });
  thread.push([&] { ++ran; });
  thread.request_stop();
  EXPECT_TRUE(thread.push([&] { ++ran; })) << "still draining: a reply pushed now must run";
  EXPECT_FALSE(thread.finished());
  release = true;
  wait_until_finished(thread);
  EXPECT_EQ(ran.load(), 3);
}

TEST(TaskThread, Push_AfterItFinished_IsRefused) {
  TaskThread thread{"qfs-test"};
  thread.request_stop();
  wait_until_finished(thread);
  bool ran = false;
  EXPECT_FALSE(thread.push([&] { ran = true; }));
  EXPECT_FALSE(ran);
}

}  // namespace
}  // namespace quorumfs::fusefs
