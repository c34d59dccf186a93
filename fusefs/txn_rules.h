// The mount's rules from POSIX calls to txns, as plain functions: what a create, an unlink, a
// rename and a commit at flush become (docs/guarantees.md §3, §4; docs/mount.md). The handlers in
// filesystem.cc resolve names, check access, submit these and reply.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/proto/txn.pb.h"
#include "daemon/tree/data_tree.h"
#include "daemon/tree/path.h"  // join_path

namespace quorumfs::fusefs {

// Why a new name and the path it makes are past the tree's limits (daemon/tree/limits.h), or
// empty. The kernel passes names of up to 1024 bytes (FUSE_NAME_MAX) and no path at all: a path
// grows one relative mkdir at a time. Refused with ENAMETOOLONG, before any txn.
std::string bounds_error(std::string_view name, std::string_view path);

// /.locks and everything below: the lock service's waiter nodes (docs/mount.md, "Locks"). Calls
// through the mount may list and read them, never create, remove, rename or change them (EPERM).
bool in_lock_tree(std::string_view path);

// What a create asks for, from the parent's mode bits and its own (docs/guarantees.md §4): the
// parent's sticky bit makes it sequential, its set-group-ID bit makes a new file ephemeral; on a
// file the same bits of mode add to those. open_flags: the open(2) flags of an open(O_CREAT); none
// for mkdir and mknod.
struct CreateFlags {
  bool sequential = false;
  bool ephemeral = false;
  // A name that exists fails the call with EEXIST (mkdir, mknod, O_EXCL, a sequential create);
  // otherwise the existing file is opened, as POSIX says.
  bool exclusive = true;
  uint32_t mode = 0;  // kept: a file's sticky and set-group-ID bits were requests, not permissions
};
CreateFlags create_flags(uint32_t parent_mode, uint32_t mode, bool directory, std::optional<int> open_flags);

// The create's txn: [CreateSession of an ephemeral's session], Create. *create_index: the index
// of the Create among its ops.
proto::Txn create_txn(const std::string& path, bool directory, const CreateFlags& flags, uint32_t uid,
                      uint32_t gid, uint64_t session_id, int* create_index);

// unlink(2) of a file or rmdir(2) of a directory.
proto::Txn delete_txn(const std::string& path, bool directory);

// rename(2) is ONE multi txn: [delete the target it replaces], create the target with the
// source's data, ACL, owner and inode, delete the source; version checks make it fail whole if
// either changed since they were read. Returns 0 with *txn set, or the errno that refuses it.
int rename_txn(const Node& from, const Node* to, const std::string& source_path, const std::string& target_path,
               unsigned int flags, proto::Txn* txn);

// The mode a write or truncate by a caller without CAP_FSETID leaves (as the kernel's
// should_remove_suid): no set-user-ID, no set-group-ID when group-execute makes it one.
uint32_t mode_without_privileges(uint32_t mode);

// What one descriptor's commit at flush or fsync carries (docs/guarantees.md §3).
struct CommitContent {
  std::string data;
  std::optional<int64_t> atime_ns;  // set explicitly since the last commit (futimens)
  std::optional<int64_t> mtime_ns;
  bool kill_privileges = false;     // written by a caller without CAP_FSETID
};
// ONE setData of the whole content, with the times pinned and privileges dropped in the same txn.
proto::Txn commit_txn(const std::string& path, uint32_t current_mode, const CommitContent& content);

// A background create (docs/mount.md, "Creates in the background"): ONE Create of a file with
// the inode the mount reserved for it and, when its descriptor's close orders it, the data, times
// and privileges that close commits; without content, an empty file.
struct BackgroundCreate {
  std::string path;
  uint64_t inode = 0;
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
};
proto::Txn background_create_txn(const BackgroundCreate& create, const CommitContent* content);

// Whether a flush commits: every close does, but a flush that carries only the O_TRUNC of its
// open while another descriptor still shares the description (`echo x > f` closes such a copy
// before writing) waits for the data, so the redirection is ONE setData.
bool flush_commits(bool only_truncated, bool shared_elsewhere);

}  // namespace quorumfs::fusefs
