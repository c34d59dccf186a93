// quorumctl's control socket client (tools/quorumctl/control.h): the published name and the ACL
// records a multi's create carries (docs/quorumctl.md, "The control socket").
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

TEST(AclEntries, TextBecomesRecordsWithZooKeepersPermissionBits) {
  const auto entries = parse_acl_entries("world:anyone:cdrwa,digest:bob:abc=:r,uid:1000:rw,gid:5:");
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries[0].scheme, "world");
  EXPECT_EQ(entries[0].id, "anyone");
  EXPECT_EQ(entries[0].perms, 31);
  EXPECT_EQ(entries[1].scheme, "digest");
  EXPECT_EQ(entries[1].id, "bob:abc=");
  EXPECT_EQ(entries[1].perms, 1);
  EXPECT_EQ(entries[2].perms, 3);
  EXPECT_EQ(entries[3].perms, 0);
  EXPECT_TRUE(parse_acl_entries("").empty());
  EXPECT_TRUE(parse_acl_entries("nonsense").empty());
}

}  // namespace
}  // namespace quorumfs::quorumctl
