// Runs the test process out of file descriptors for as long as it lives (EMFILE on every open),
// then gives them back: how a daemon that a flood or a leak left without descriptors behaves.
#pragma once

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <vector>

namespace quorumfs::testing {

class OutOfDescriptors {
 public:
  OutOfDescriptors() {
    EXPECT_EQ(getrlimit(RLIMIT_NOFILE, &saved_), 0);
    rlimit low = saved_;
    low.rlim_cur = 64;  // a low limit: filling it takes few opens
    EXPECT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
    for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) held_.push_back(fd);
    EXPECT_EQ(errno, EMFILE);
  }
  ~OutOfDescriptors() { release(); }
  void release() {
    for (int fd : held_) ::close(fd);
    held_.clear();
    setrlimit(RLIMIT_NOFILE, &saved_);
  }

 private:
  rlimit saved_{};
  std::vector<int> held_;
};

}  // namespace quorumfs::testing
