#include "fusefs/descriptors.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace quorumfs::fusefs {
namespace {

TEST(Descriptors, Fdinfo_GivesFlagsMountAndInode) {
  std::optional<DescriptorInfo> info =
      parse_fdinfo("pos:\t0\nflags:\t0100001\nmnt_id:\t57\nino:\t1234\n");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->flags & O_ACCMODE, static_cast<uint32_t>(O_WRONLY));
  EXPECT_EQ(info->mount_id, 57);
  EXPECT_EQ(info->inode, 1234u);
  EXPECT_FALSE(parse_fdinfo("pos:\t0\nflags:\t02\n"));  // an old kernel without ino: unknown
}

TEST(Descriptors, Mountinfo_MapsMountpointToDeviceAndDeviceToMounts) {
  const std::string mountinfo =
      "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
      "57 22 0:52 / /tmp/a\\040b/mnt rw,nosuid - fuse.quorumfs quorumfs rw\n"
      "60 22 0:52 / /elsewhere rw - fuse.quorumfs quorumfs rw\n";
  EXPECT_EQ(mount_device(mountinfo, "/tmp/a b/mnt"), "0:52");
  EXPECT_EQ(mount_device(mountinfo, "/nowhere"), "");
  EXPECT_EQ(mount_ids_of_device(mountinfo, "0:52"), (std::vector<int>{57, 60}));
}

// This very process: a descriptor open for writing is found, a read-only one is not.
TEST(Descriptors, HoldsWritableDescriptor_SeesThisProcess) {
  char path[] = "/tmp/descriptors_test.XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  struct stat st {};
  ASSERT_EQ(fstat(fd, &st), 0);
  // The device as mountinfo names it (st_dev may differ on overlayfs): that of fd's mount.
  std::optional<DescriptorInfo> info = parse_fdinfo(*read_proc_file("/proc/self/fdinfo/" + std::to_string(fd)));
  ASSERT_TRUE(info);
  std::string device;
  std::string mountinfo = *read_proc_file("/proc/self/mountinfo");
  for (size_t start = 0; start < mountinfo.size();) {
    size_t end = mountinfo.find('\n', start);
    std::string line = mountinfo.substr(start, end - start);
    if (line.rfind(std::to_string(info->mount_id) + " ", 0) == 0) {
      size_t first = line.find(' '), second = line.find(' ', first + 1), third = line.find(' ', second + 1);
      device = line.substr(second + 1, third - second - 1);
    }
    start = end == std::string::npos ? mountinfo.size() : end + 1;
  }
  ASSERT_FALSE(device.empty());
  EXPECT_TRUE(holds_writable_descriptor(gettid(), device, st.st_ino));
  close(fd);
  EXPECT_FALSE(holds_writable_descriptor(gettid(), device, st.st_ino));
  int reader = open(path, O_RDONLY);
  EXPECT_FALSE(holds_writable_descriptor(gettid(), device, st.st_ino));
  close(reader);
  unlink(path);
}

}  // namespace
}  // namespace quorumfs::fusefs
