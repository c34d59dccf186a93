// The calls quorumctl makes on the mount for a node's content (docs/quorumctl.md, "Through the
// mount"), shared by the commands and dump/restore. Each returns false with errno set.
#pragma once

#include <string>
#include <string_view>

namespace quorumfs::quorumctl {

bool read_all(int fd, std::string* out);
bool write_all(int fd, std::string_view bytes);
// An xattr's whole value, whatever its size (asked again if it grew meanwhile).
bool get_xattr(const std::string& path, const char* name, std::string* value);
// A file's bytes, or a directory's user.zk.data.
bool read_node(const std::string& local, bool directory, std::string* data);
// ONE setData: a file's open(O_TRUNC)/write/close (the close commits), a directory's setxattr.
bool write_node(const std::string& local, bool directory, std::string_view data);

}  // namespace quorumfs::quorumctl
