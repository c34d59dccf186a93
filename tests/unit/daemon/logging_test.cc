// JSON log lines and systemd's readiness messages (docs/operations.md, "Logs", "systemd").
#include "daemon/logging.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "daemon/systemd_notify.h"

namespace quorumfs {
namespace {

TEST(JsonString, QuotesAndEscapes) {
  EXPECT_EQ(json_string("plain"), "\"plain\"");
  EXPECT_EQ(json_string("bad \"acl\" \\ end"), R"("bad \"acl\" \\ end")");
  EXPECT_EQ(json_string(std::string("tab\tnl\n\x01", 8)), R"("tab\tnl\n\u0001")");
}

TEST(JsonString, KeepsUtf8_ReplacesOtherBytes) {
  EXPECT_EQ(json_string("zürich"), "\"zürich\"");
  EXPECT_EQ(json_string(std::string("a\xff" "b\xc3", 4)), "\"a\xef\xbf\xbd" "b\xef\xbf\xbd\"");
}

// A datagram socket at an abstract name, as systemd listens.
class NotifySocket : public ::testing::Test {
 protected:
  void SetUp() override {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd_, 0);
    name_ = "@quorumfs-notify-test-" + std::to_string(getpid());
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, name_.data(), name_.size());
    address.sun_path[0] = '\0';
    ASSERT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&address),
                   static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size())),
              0);
  }
  void TearDown() override {
    unsetenv("NOTIFY_SOCKET");
    close(fd_);
  }
  std::string receive() {
    char buffer[256];
    ssize_t got = recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
    return got < 0 ? std::string() : std::string(buffer, static_cast<size_t>(got));
  }
  int fd_ = -1;
  std::string name_;
};

TEST_F(NotifySocket, SendsTheStateToTheAbstractSocket) {
  setenv("NOTIFY_SOCKET", name_.c_str(), 1);
  EXPECT_TRUE(notify_systemd("READY=1"));
  EXPECT_EQ(receive(), "READY=1");
}

TEST_F(NotifySocket, UnsetVariable_SendsNothingAndSucceeds) {
  unsetenv("NOTIFY_SOCKET");
  EXPECT_TRUE(notify_systemd("READY=1"));
  EXPECT_EQ(receive(), "");
}

TEST_F(NotifySocket, ARelativePathOrAMissingSocket_IsRefused) {
  setenv("NOTIFY_SOCKET", "relative/socket", 1);
  EXPECT_FALSE(notify_systemd("READY=1"));
  setenv("NOTIFY_SOCKET", "@quorumfs-notify-test-nobody-listens", 1);
  EXPECT_FALSE(notify_systemd("READY=1"));
  EXPECT_EQ(receive(), "");
}

}  // namespace
}  // namespace quorumfs
