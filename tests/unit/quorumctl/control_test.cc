// quorumctl's control socket client (tools/quorumctl/control.h): the published name
// (docs/quorumctl.md, "The control socket").
#include "tools/quorumctl/control.h"

#include <gtest/gtest.h>

namespace quorumfs::quorumctl {
namespace {

TEST(ControlSocketName, OnlyQuorumfsDashPidIsTaken) {
  pid_t pid = 0;
  ASSERT_TRUE(parse_socket_name("@quorumfs-4711", &pid));
  EXPECT_EQ(pid, 4711);
  // The name the daemon takes when a squatter holds "@quorumfs-PID".
  pid = 0;
  ASSERT_TRUE(parse_socket_name("@quorumfs-4712-0123456789abcdef", &pid));
  EXPECT_EQ(pid, 4712);
  for (const char* name : {"quorumfs-4711", "@quorumfs-", "@quorumfs-0", "@quorumfs-12a", "@other-12",
                           "@quorumfs-1234567890", "@quorumfs--5", "@quorumfs-4711-", "@quorumfs-4711-0123",
                           "@quorumfs-4711-0123456789ABCDEF", "@quorumfs-4711-0123456789abcdefg",
                           "@quorumfs-4711-01234567-9abcdef", "@quorumfs-x-0123456789abcdef"}) {
    EXPECT_FALSE(parse_socket_name(name, &pid)) << name;
  }
}

}  // namespace
}  // namespace quorumfs::quorumctl
