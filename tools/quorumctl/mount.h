// Where a quorumctl path lives (docs/quorumctl.md, "Paths"): a path inside a quorumfs mount
// (`/mnt/quorumfs/app/x`, or relative to the working directory), or a znode path (`/app/x`) with
// `--mount M`. The mount is the nearest quorumfs filesystem (fstype fuse.quorumfs in
// /proc/self/mountinfo) at or above the path.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace quorumfs::quorumctl {

struct Target {
  std::string mount;   // the mount point
  std::string local;   // the path in this host's filesystem
  std::string znode;   // "/", "/app/x"
  bool by_znode = false;  // named with --mount: print znode paths
  // The name to print for a node at znode path `path` (the form the user gave).
  std::string show(std::string_view path) const;
};

// Mount points of quorumfs filesystems, from mountinfo's text (unit-tested).
std::vector<std::string> quorumfs_mounts(std::string_view mountinfo);
// Resolves an argument. false with *error when it is not in a quorumfs mount (kExitUnreachable).
bool resolve_target(const std::string& argument, const std::string& mount_option, Target* out, std::string* error);
// A target for another znode path of the same mount.
Target sibling(const Target& of, std::string_view znode);
// Lexically normalises an absolute path: no ".", "..", "//" (unit-tested).
std::string normalize_path(std::string_view path);

}  // namespace quorumfs::quorumctl
