// Who still holds a descriptor for a file, read from /proc: what lets `echo x > f` be ONE
// setData (docs/guarantees.md §3; docs/mount.md, "One commit per redirection").
//
//   $ echo x > f      # bash: open(O_TRUNC) = 3, dup2(3, 1), close(3), write(1), close(1)
//
// The close(3) sends FLUSH while fd 1 still refers to the same open file description: that
// flush carries only the O_TRUNC, and the mount lets it wait for the data. The kernel does not
// say which descriptors share a description, so the mount asks /proc whether the flushing task
// (or a child of its process, which may have inherited it) still holds a descriptor open for
// writing on the same inode of this mount; the caller knows that only one such description
// exists on the host, which makes "the same inode" mean "the same description".
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace quorumfs::fusefs {

// What /proc/PID/fdinfo/N says of one descriptor.
struct DescriptorInfo {
  uint32_t flags = 0;  // the open flags (O_ACCMODE, O_APPEND, ...), octal in the text
  int mount_id = -1;
  uint64_t inode = 0;
};
std::optional<DescriptorInfo> parse_fdinfo(std::string_view text);

// The device ("major:minor") of the mount at mountpoint in a /proc/PID/mountinfo text (the last
// one mounted there), or empty.
std::string mount_device(std::string_view mountinfo, std::string_view mountpoint);
// The ids of the mounts of device in a mountinfo text (a mount may be bound elsewhere too).
std::vector<int> mount_ids_of_device(std::string_view mountinfo, std::string_view device);

// The process of a thread, and its parent, from /proc/TID/status; 0 when it is gone.
std::pair<pid_t, pid_t> process_and_parent(pid_t tid);

// The process of the task tid and that process's ancestors, nearest first, at most depth of
// them (fewer where /proc no longer has one, or at init).
std::vector<pid_t> lineage_of(pid_t tid, int depth);

// Does the task tid, or a child of its process, hold a descriptor open for writing on inode of
// the filesystem whose device is mount_device? False when /proc cannot tell (the task exited).
bool holds_writable_descriptor(pid_t tid, std::string_view mount_device, uint64_t inode);

// The text of a small /proc file, or nullopt.
std::optional<std::string> read_proc_file(const std::string& path);

}  // namespace quorumfs::fusefs
