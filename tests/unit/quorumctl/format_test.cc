// quorumctl's pure parts (tools/quorumctl/format.h, mount.h): exit codes, multi op syntax, the dump
// format, base64, mountinfo and the mntr answer (docs/quorumctl.md).
#include <gtest/gtest.h>

#include <cerrno>

#include "tools/quorumctl/format.h"
#include "tools/quorumctl/mount.h"

namespace quorumfs::quorumctl {
namespace {

TEST(ExitCodes, ErrnoAndZooKeeperCodesMapToTheDocumentedOnes) {
  EXPECT_EQ(exit_for_errno(ENOENT), 2);
  EXPECT_EQ(exit_for_errno(EEXIST), 4);
  EXPECT_EQ(exit_for_errno(EACCES), 5);
  EXPECT_EQ(exit_for_errno(EPERM), 5);
  EXPECT_EQ(exit_for_errno(ENOTEMPTY), 8);
  EXPECT_EQ(exit_for_errno(ENOTCONN), 7);
  EXPECT_EQ(exit_for_errno(EIO), 9);
  EXPECT_EQ(exit_for_zk(-101), 2);
  EXPECT_EQ(exit_for_zk(-103), 3);
  EXPECT_EQ(exit_for_zk(-110), 4);
  EXPECT_EQ(exit_for_zk(-102), 5);
  EXPECT_EQ(exit_for_zk(-111), 8);
  EXPECT_EQ(exit_for_zk(-4), 7);
  EXPECT_EQ(exit_for_zk(-8), 9);
  EXPECT_EQ(zk_code_name(-103), "BadVersion");
}

TEST(Base64, RoundTripsEveryLengthAndByte) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  for (size_t length = 0; length <= bytes.size(); length += 1) {
    const std::string part = bytes.substr(0, length);
    const auto back = base64_decode(base64_encode(part));
    ASSERT_TRUE(back.has_value()) << length;
    EXPECT_EQ(*back, part);
  }
  EXPECT_EQ(base64_encode("hello"), "aGVsbG8=");
  EXPECT_FALSE(base64_decode("a$b=").has_value());
  EXPECT_FALSE(base64_decode("a").has_value());
}

TEST(MultiOps, ParsesEachVerbWithQuotes) {
  std::vector<std::string> words;
  std::string error;
  ASSERT_TRUE(split_words(R"(set /a "x y \"z\"" 3)", &words, &error));
  MultiOp op;
  ASSERT_TRUE(parse_multi_op(words, &op, &error)) << error;
  EXPECT_EQ(op.kind, MultiOp::Kind::kSetData);
  EXPECT_EQ(op.path, "/a");
  EXPECT_EQ(op.data, "x y \"z\"");
  EXPECT_EQ(op.version, 3);

  ASSERT_TRUE(split_words("create /b 'it''s'", &words, &error));
  ASSERT_TRUE(parse_multi_op(words, &op, &error));
  EXPECT_EQ(op.kind, MultiOp::Kind::kCreate);
  EXPECT_EQ(op.data, "its");

  ASSERT_TRUE(split_words("delete /c", &words, &error));
  ASSERT_TRUE(parse_multi_op(words, &op, &error));
  EXPECT_EQ(op.kind, MultiOp::Kind::kDelete);
  EXPECT_EQ(op.version, -1);

  ASSERT_TRUE(split_words("check /d 7", &words, &error));
  ASSERT_TRUE(parse_multi_op(words, &op, &error));
  EXPECT_EQ(op.kind, MultiOp::Kind::kCheck);
  EXPECT_EQ(op.version, 7);
}

TEST(MultiOps, RefusesWhatIsNotAnOp) {
  std::vector<std::string> words;
  std::string error;
  EXPECT_FALSE(split_words("set /a 'open", &words, &error));
  EXPECT_NE(error.find("unclosed quote"), std::string::npos);
  MultiOp op;
  EXPECT_FALSE(parse_multi_op({"frob", "/a"}, &op, &error));
  EXPECT_NE(error.find("unknown op"), std::string::npos);
  EXPECT_FALSE(parse_multi_op({"check", "/a"}, &op, &error));
  EXPECT_FALSE(parse_multi_op({"check", "/a", "x"}, &op, &error));
  EXPECT_FALSE(parse_multi_op({"delete", "/a", "-2"}, &op, &error));
  EXPECT_FALSE(parse_multi_op({"set", "/a"}, &op, &error));
  EXPECT_FALSE(parse_multi_op({}, &op, &error));
  int32_t version = 0;
  EXPECT_FALSE(parse_version("2147483648", &version));
  EXPECT_TRUE(parse_version("2147483647", &version));
}

TEST(DumpFormat, RecordsRoundTripWithBinaryDataAndNames) {
  DumpRecord record;
  record.path = "a/b\x01c";
  record.directory = true;
  record.data = std::string("\0\xff\n", 3);
  record.acl = "world:anyone:r,uid:0:cdrwa";
  record.mode = 03750;
  record.uid = 1000;
  record.gid = 65534;
  record.mtime_ns = 1700000000123456789;
  const std::string line = dump_record_line(record);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  DumpRecord back;
  std::string error;
  ASSERT_TRUE(parse_dump_record(line, &back, &error)) << error;
  EXPECT_EQ(back.path, record.path);
  EXPECT_TRUE(back.directory);
  EXPECT_EQ(back.data, record.data);
  EXPECT_EQ(back.acl, record.acl);
  EXPECT_EQ(back.mode, record.mode);
  EXPECT_EQ(back.uid, record.uid);
  EXPECT_EQ(back.gid, record.gid);
  EXPECT_EQ(back.mtime_ns, record.mtime_ns);

  std::string root;
  ASSERT_TRUE(parse_dump_header(dump_header_line("/app"), &root, &error));
  EXPECT_EQ(root, "/app");
  EXPECT_FALSE(parse_dump_header(R"({"quorumctl_dump":2,"root":"/"})", &root, &error));
  EXPECT_FALSE(parse_dump_header("not json", &root, &error));
}

TEST(DumpFormat, RefusesPathsThatClimbOutAndBadFields) {
  std::string error;
  DumpRecord record;
  for (const char* path : {"../x", "a/../../x", "/abs", "a//b", "a/", "."}) {
    DumpRecord bad;
    bad.path = path;
    EXPECT_FALSE(parse_dump_record(dump_record_line(bad), &record, &error)) << path;
  }
  EXPECT_FALSE(parse_dump_record(R"({"path":"a","type":"link","data":"","acl":"","mode":"0644","uid":0,"gid":0,"mtime_ns":0})",
                                 &record, &error));
  EXPECT_FALSE(parse_dump_record(R"({"path":"a","type":"file","data":"","acl":"","mode":"99","uid":0,"gid":0,"mtime_ns":0})",
                                 &record, &error));
  EXPECT_FALSE(parse_dump_record(R"({"path":"a","type":"file"})", &record, &error));
  EXPECT_TRUE(safe_relative_path(""));
  EXPECT_TRUE(safe_relative_path("a/b"));
}

TEST(Mounts, FindsQuorumfsMountsInMountinfo) {
  const std::string mountinfo =
      "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
      "40 22 0:50 / /mnt/quorum\\040fs rw,nosuid,nodev,relatime shared:30 - fuse.quorumfs quorumfs rw,user_id=0\n"
      "41 22 0:51 / /mnt/other rw,relatime - fuse.sshfs host: rw\n";
  const auto mounts = quorumfs_mounts(mountinfo);
  ASSERT_EQ(mounts.size(), 1u);
  EXPECT_EQ(mounts[0], "/mnt/quorum fs");
}

TEST(Mounts, NormalisesPathsLexically) {
  EXPECT_EQ(normalize_path("/a/./b//c/../d"), "/a/b/d");
  EXPECT_EQ(normalize_path("/.."), "/");
  EXPECT_EQ(normalize_path("/"), "/");
}

TEST(Status, ParsesMntrAndSrvrLines) {
  const auto values = parse_word_answer("zk_server_state\tleader\nzk_epoch\t3\nZxid: 0x5\nnonsense\n");
  EXPECT_EQ(values.at("zk_server_state"), "leader");
  EXPECT_EQ(values.at("zk_epoch"), "3");
  EXPECT_EQ(values.at("Zxid"), "0x5");
  EXPECT_EQ(values.count("nonsense"), 0u);
}

}  // namespace
}  // namespace quorumfs::quorumctl
