#include "daemon/tree/acl.h"

#include <gtest/gtest.h>

namespace quorumfs {
namespace {

proto::Caller caller_with(uint32_t uid, uint32_t gid, std::vector<uint32_t> groups = {}) {
  proto::Caller caller;
  caller.set_uid(uid);
  caller.set_gid(gid);
  for (uint32_t group : groups) caller.add_groups(group);
  return caller;
}

Acl parse_or_die(std::string_view text, const proto::Caller& caller = caller_with(1000, 1000)) {
  Acl acl;
  std::string error;
  EXPECT_TRUE(parse_acl(text, caller, &acl, &error)) << text << ": " << error;
  return acl;
}

TEST(ParseAcl, OpenAcl_IsWorldAnyoneAllPerms) {
  Acl acl = parse_or_die(kOpenAclText);
  ASSERT_EQ(acl.size(), 1u);
  EXPECT_EQ(acl[0], (AclEntry{kAllPerms, "world", "anyone"}));
}

TEST(ParseAcl, SeveralEntries_KeptInOrder) {
  Acl acl = parse_or_die("uid:1000:rw,gid:50:r,digest:bob:HASH=:cd,ip:10.0.0.0/8:a");
  ASSERT_EQ(acl.size(), 4u);
  EXPECT_EQ(acl[0], (AclEntry{kRead | kWrite, "uid", "1000"}));
  EXPECT_EQ(acl[1], (AclEntry{kRead, "gid", "50"}));
  EXPECT_EQ(acl[2], (AclEntry{kCreate | kDelete, "digest", "bob:HASH="}));
  EXPECT_EQ(acl[3], (AclEntry{kAdmin, "ip", "10.0.0.0/8"}));
}

TEST(ParseAcl, AuthScheme_BecomesCallerUid) {
  Acl acl = parse_or_die("auth::cdrwa", caller_with(1234, 5));
  ASSERT_EQ(acl.size(), 1u);
  EXPECT_EQ(acl[0], (AclEntry{kAllPerms, "uid", "1234"}));
}

TEST(ParseAcl, UidWithLeadingZeros_IsCanonicalised) {
  Acl acl = parse_or_die("uid:007:r");
  EXPECT_EQ(acl[0].id, "7");
}

TEST(ParseAcl, ExactDuplicates_AreDropped) {
  Acl acl = parse_or_die("uid:1:r,uid:1:r,uid:1:w");
  EXPECT_EQ(acl.size(), 2u);
}

TEST(ParseAcl, EmptyPerms_AreAllowed) {
  Acl acl = parse_or_die("world:anyone:");
  EXPECT_EQ(acl[0].perms, 0u);
}

TEST(ParseAcl, IpV6WithBits_IsValid) { parse_or_die("ip:fe80::1/64:r"); }

TEST(ParseAcl, BadText_FailsAndLeavesOutputUntouched) {
  for (std::string_view text :
       {"", "world", "world:anyone", "world:someone:r", "uid:abc:r", "uid:-1:r", "uid:4294967296:r",
        "uid::r", "gid:1:x", "digest:bob:r", "digest::hash:r", "ip:300.1.1.1:r", "ip:10.0.0.1/33:r",
        "ip:10.0.0.1/:r", "sasl:bob:r", "uid:1:r,", ",uid:1:r", "uid:1:r,,uid:2:r", "uid: 1:r"}) {
    Acl acl = {AclEntry{kRead, "uid", "42"}};
    std::string error;
    EXPECT_FALSE(parse_acl(text, caller_with(1, 1), &acl, &error)) << text;
    EXPECT_FALSE(error.empty()) << text;
    ASSERT_EQ(acl.size(), 1u) << text;
    EXPECT_EQ(acl[0].id, "42") << text;
  }
}

TEST(FormatAcl, PermsInCdrwaOrder) {
  Acl acl = {AclEntry{kAdmin | kRead | kCreate, "uid", "5"}, AclEntry{kWrite | kDelete, "world", "anyone"}};
  EXPECT_EQ(format_acl(acl), "uid:5:cra,world:anyone:dw");
}

TEST(FormatAcl, ParseOfFormat_RoundTrips) {
  std::string text = "digest:bob:X/Y+Z=:cdrwa,uid:3:r,gid:9:,ip:1.2.3.4:w";
  EXPECT_EQ(format_acl(parse_or_die(text)), text);
}

TEST(AclPermits, WorldAnyone_GrantsItsPermsToEveryone) {
  Acl acl = parse_or_die("world:anyone:r");
  EXPECT_TRUE(acl_permits(acl, kRead, caller_with(5, 5)));
  EXPECT_FALSE(acl_permits(acl, kWrite, caller_with(5, 5)));
}

TEST(AclPermits, Uid_MatchesOnlyThatUid) {
  Acl acl = parse_or_die("uid:1000:rw");
  EXPECT_TRUE(acl_permits(acl, kWrite, caller_with(1000, 1)));
  EXPECT_FALSE(acl_permits(acl, kWrite, caller_with(1001, 1000)));
}

TEST(AclPermits, Gid_MatchesPrimaryOrSupplementaryGroup) {
  Acl acl = parse_or_die("gid:50:c");
  EXPECT_TRUE(acl_permits(acl, kCreate, caller_with(7, 50)));
  EXPECT_TRUE(acl_permits(acl, kCreate, caller_with(7, 1, {20, 50})));
  EXPECT_FALSE(acl_permits(acl, kCreate, caller_with(7, 1, {20})));
}

TEST(AclPermits, DigestAndIp_GrantNothing) {
  Acl acl = parse_or_die("digest:bob:HASH:cdrwa,ip:127.0.0.1:cdrwa");
  EXPECT_FALSE(acl_permits(acl, kRead, caller_with(1000, 1000)));
}

TEST(AclPermits, Root_IsSuperUser) {
  Acl acl = parse_or_die("uid:1000:r");
  EXPECT_TRUE(acl_permits(acl, kAdmin, caller_with(0, 0)));
  EXPECT_TRUE(acl_permits({}, kAllPerms, caller_with(0, 0)));
}

TEST(AclPermits, SeveralBits_NeedAllOfThemAcrossMatchingEntries) {
  Acl acl = parse_or_die("uid:1000:r,gid:50:w");
  EXPECT_TRUE(acl_permits(acl, kRead | kWrite, caller_with(1000, 50)));
  EXPECT_FALSE(acl_permits(acl, kRead | kWrite, caller_with(1000, 51)));
}

}  // namespace
}  // namespace quorumfs
