#include "daemon/tree/acl.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

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

// What setfattr can send that no ACL is: bytes outside printable ASCII, wherever they are.
TEST(ParseAcl, BytesOutsidePrintableAscii_FailWithAPrintableReason) {
  using namespace std::string_literals;
  for (const std::string& text :
       {"digest:\xff:x:cdrwa"s, "digest:bob\x80:aGFzaA==:r"s, "world:anyone:r\n"s, "uid:1:r\tgid:2:r"s,
        "world:anyone:r\x7f"s, "world:any\0one:r"s, "ip:1.2.3.4\0garbage:r"s, "auth:\x01:r"s,
        "\xef\xbb\xbf" "world:anyone:r"s, "digest:b\xc3\xb8" "b:aGFzaA==:r"s}) {
    Acl acl = {AclEntry{kRead, "uid", "42"}};
    std::string error;
    EXPECT_FALSE(parse_acl(text, caller_with(1, 1), &acl, &error)) << ::testing::PrintToString(text);
    EXPECT_NE(error.find("not printable ASCII"), std::string::npos) << error;
    EXPECT_TRUE(std::all_of(error.begin(), error.end(), [](char c) { return c >= 0x20 && c <= 0x7e; }))
        << ::testing::PrintToString(error);
    EXPECT_EQ(acl[0].id, "42");
  }
}

TEST(ParseAcl, ReasonNamesTheByteAndItsOffset) {
  Acl acl;
  std::string error;
  EXPECT_FALSE(parse_acl("digest:\xff:x:cdrwa", caller_with(1, 1), &acl, &error));
  EXPECT_EQ(error, "byte 0xff at offset 7 is not printable ASCII");
}

TEST(ParseAcl, DigestHash_IsBase64) {
  parse_or_die("digest:bob:aGFzaA+/09=:r");
  parse_or_die("digest:b o-b!:aGFzaA==:r");  // ZooKeeper's user names may hold any printable byte
  for (std::string_view text : {"digest:bob:ha sh:r", "digest:bob:h*sh:r", "digest:bob:hash!:r"}) {
    Acl acl;
    std::string error;
    EXPECT_FALSE(parse_acl(text, caller_with(1, 1), &acl, &error)) << text;
    EXPECT_NE(error.find("base64"), std::string::npos) << error;
  }
}

// Distinct entries, exactly `bytes` long (at least 24): uid:N:r entries, then one digest entry whose
// user name pads the text to the length.
std::string acl_text_of_size(size_t bytes) {
  std::string text;
  for (uint32_t uid = 1000000000; text.size() + 17 + 24 <= bytes; ++uid) {
    text += "uid:" + std::to_string(uid) + ":r,";  // 17 bytes
  }
  const std::string_view tail = ":aGFzaA==:r";
  text += "digest:";
  text += std::string(bytes - text.size() - tail.size(), 'u');
  text += tail;
  return text;
}

TEST(ParseAcl, TextAtTheLimit_IsAcceptedAndOneByteMore_IsNot) {
  std::string at_limit = acl_text_of_size(kAclTextBytesMax);
  ASSERT_EQ(at_limit.size(), kAclTextBytesMax);
  EXPECT_EQ(format_acl(parse_or_die(at_limit)), at_limit);
  Acl acl;
  std::string error;
  EXPECT_FALSE(parse_acl(acl_text_of_size(kAclTextBytesMax + 1), caller_with(1, 1), &acl, &error));
  EXPECT_EQ(error, "ACL text of 4097 bytes; at most 4096");
}

// auth: entries grow into uid:<caller>: a text within the limit may have a canonical form past it,
// which a rename would then fail to pass on.
TEST(ParseAcl, CanonicalTextPastTheLimit_IsRefused) {
  std::string auth_entries;
  for (uint32_t perms = 0; perms <= kAllPerms; ++perms) {
    auth_entries += "auth::";
    for (size_t bit = 0; bit < 5; ++bit) {
      if (perms & (1u << bit)) auth_entries += "cdrwa"[bit];  // one of each of the 32 sets
    }
    auth_entries += ',';
  }
  std::string text = auth_entries + acl_text_of_size(kAclTextBytesMax - auth_entries.size());
  ASSERT_EQ(text.size(), kAclTextBytesMax);
  Acl acl;
  std::string error;
  EXPECT_FALSE(parse_acl(text, caller_with(4294967295u, 1), &acl, &error));
  EXPECT_NE(error.find("canonical ACL text of"), std::string::npos) << error;
  EXPECT_TRUE(parse_acl(text, caller_with(1, 1), &acl, &error)) << error;  // "uid:1:" is shorter than "auth::"
}

// Snapshots written before these rules may hold what they refuse; such a tree must still load.
TEST(ParseStoredAcl, KeepsTheGrammarWithoutTheByteRules) {
  std::string text = "digest:b\x01\xff" "b:h\x80sh:r,uid:7:cdrwa";
  Acl acl;
  std::string error;
  EXPECT_FALSE(parse_acl(text, caller_with(1, 1), &acl, &error));
  ASSERT_TRUE(parse_stored_acl(text, &acl, &error)) << error;
  ASSERT_EQ(acl.size(), 2u);
  EXPECT_EQ(acl[0], (AclEntry{kRead, "digest", "b\x01\xff" "b:h\x80sh"}));
  EXPECT_FALSE(parse_stored_acl("sasl:bob:r", &acl, &error));
  EXPECT_FALSE(parse_stored_acl("uid:\xff:r", &acl, &error));
  EXPECT_TRUE(std::all_of(error.begin(), error.end(), [](char c) { return c >= 0x20 && c <= 0x7e; }))
      << ::testing::PrintToString(error);
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

proto::Caller zk_client_with(std::vector<std::string> auth_ids) {
  proto::Caller caller = caller_with(65534, 65534);
  caller.set_zk_client(true);
  for (const std::string& id : auth_ids) caller.add_auth_ids(id);
  return caller;
}

TEST(AclPermits, ZkClient_DigestMatchesItsAddedDigestOnly) {
  Acl acl = parse_or_die("digest:alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=:cdrwa");
  EXPECT_TRUE(acl_permits(acl, kRead, zk_client_with({"digest:alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=", "ip:127.0.0.1"})));
  EXPECT_FALSE(acl_permits(acl, kRead, zk_client_with({"digest:bob:aYXlLOpEooaV1cRAvUL1fp9Qt7E=", "ip:127.0.0.1"})));
  EXPECT_FALSE(acl_permits(acl, kRead, zk_client_with({"ip:127.0.0.1"})));
}

TEST(AclPermits, ZkClient_IpMatchesAddressOrPrefix) {
  EXPECT_TRUE(acl_permits(parse_or_die("ip:127.0.0.1:r"), kRead, zk_client_with({"ip:127.0.0.1"})));
  EXPECT_FALSE(acl_permits(parse_or_die("ip:127.0.0.2:r"), kRead, zk_client_with({"ip:127.0.0.1"})));
  EXPECT_TRUE(acl_permits(parse_or_die("ip:10.1.0.0/16:r"), kRead, zk_client_with({"ip:10.1.200.3"})));
  EXPECT_FALSE(acl_permits(parse_or_die("ip:10.1.0.0/16:r"), kRead, zk_client_with({"ip:10.2.0.3"})));
  EXPECT_TRUE(acl_permits(parse_or_die("ip:fe80::/64:r"), kRead, zk_client_with({"ip:fe80::1"})));
  EXPECT_FALSE(acl_permits(parse_or_die("ip:fe80::/64:r"), kRead, zk_client_with({"ip:10.0.0.1"})));
}

TEST(AclPermits, ZkClient_UidAndGidGrantNothing) {
  Acl acl = parse_or_die("uid:65534:cdrwa,gid:65534:cdrwa");
  EXPECT_FALSE(acl_permits(acl, kRead, zk_client_with({"ip:127.0.0.1"})));
  EXPECT_TRUE(acl_permits(parse_or_die("world:anyone:r"), kRead, zk_client_with({})));
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
