// acceptedEpoch / currentEpoch files (daemon/storage/epoch_file.h).
#include "daemon/storage/epoch_file.h"
#include "daemon/storage/file_util.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "tests/unit/storage/temp_dir.h"

namespace quorumfs {
namespace {

using testing::read_file_bytes;
using testing::TempDir;
using testing::write_file_bytes;

TEST(EpochFile, Missing_ReadsAsZero) {
  TempDir dir;
  std::string error;
  EXPECT_EQ(read_epoch_file(dir.file("acceptedEpoch"), &error), 0u);
}

TEST(EpochFile, WriteThenRead_RoundTrips) {
  TempDir dir;
  const std::string path = dir.file("currentEpoch");
  std::string error;
  for (uint32_t epoch : {1u, 7u, 4294967295u}) {
    ASSERT_TRUE(write_epoch_file(path, epoch, &error)) << error;
    EXPECT_EQ(read_epoch_file(path, &error), epoch) << error;
  }
  EXPECT_EQ(read_file_bytes(path), "4294967295\n");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(EpochFile, ZooKeeperStyleWithoutNewline_Reads) {
  TempDir dir;
  write_file_bytes(dir.file("acceptedEpoch"), "12");
  std::string error;
  EXPECT_EQ(read_epoch_file(dir.file("acceptedEpoch"), &error), 12u) << error;
}

TEST(EpochFile, BadContent_FailsWithFileAndOffset) {
  TempDir dir;
  const std::string path = dir.file("acceptedEpoch");
  const std::pair<std::string, std::string> cases[] = {
      {"", "empty epoch file at offset 0"},
      {"\n", "empty epoch file at offset 0"},
      {"12x\n", "not a decimal digit at offset 2"},
      {"-1", "not a decimal digit at offset 0"},
      {" 5", "not a decimal digit at offset 0"},
      {"5\n\n", "not a decimal digit at offset 1"},
      {"4294967296", "epoch above 2^32-1 at offset 9"},
      {std::string(40, '1'), "longer than"},
  };
  for (const auto& [content, reason] : cases) {
    write_file_bytes(path, content);
    std::string error;
    EXPECT_EQ(read_epoch_file(path, &error), std::nullopt) << "content '" << content << "'";
    EXPECT_NE(error.find(path + ": "), std::string::npos) << error;
    EXPECT_NE(error.find(reason), std::string::npos) << "content '" << content << "': " << error;
  }
}

TEST(EpochFile, WriteIntoMissingDirectory_FailsWithPath) {
  TempDir dir;
  const std::string path = dir.file("no-such-dir/currentEpoch");
  std::string error;
  EXPECT_FALSE(write_epoch_file(path, 3, &error));
  EXPECT_NE(error.find("no-such-dir/currentEpoch.tmp"), std::string::npos) << error;
}

TEST(DataDirModes, ADirReadableByOthers_IsWarnedAboutWithTheFix) {
  TempDir dir;
  const std::string path = dir.file("data");
  std::string error;
  ASSERT_TRUE(storage::make_directories(path + "/log", &error)) << error;
  EXPECT_EQ(storage::readable_by_others_warning(path), "") << "created 0700";
  ASSERT_EQ(::chmod(path.c_str(), 0755), 0);
  const std::string warning = storage::readable_by_others_warning(path);
  EXPECT_NE(warning.find("has mode 0755"), std::string::npos) << warning;
  EXPECT_NE(warning.find("chmod 700 " + path), std::string::npos) << warning;
}

}  // namespace
}  // namespace quorumfs
