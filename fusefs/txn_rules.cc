#include "fusefs/txn_rules.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/fs.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>

#include "daemon/service/locks.h"
#include "daemon/tree/acl.h"
#include "daemon/tree/ephemeral_type.h"
#include "daemon/tree/limits.h"

namespace quorumfs::fusefs {

std::string bounds_error(std::string_view name, std::string_view path) {
  if (name.size() > kNameBytesMax) {
    return fmt::format("name of {} bytes; at most {}", name.size(), kNameBytesMax);
  }
  if (path.size() > kPathBytesMax) {
    return fmt::format("path of {} bytes; at most {}", path.size(), kPathBytesMax);
  }
  size_t depth = std::count(path.begin(), path.end(), '/');
  if (depth > kPathDepthMax) return fmt::format("path of {} names; at most {}", depth, kPathDepthMax);
  return "";
}

bool in_lock_tree(std::string_view path) {
  return path.starts_with(service::kLocksPath) &&
         (path.size() == service::kLocksPath.size() || path[service::kLocksPath.size()] == '/');
}

CreateFlags create_flags(uint32_t parent_mode, uint32_t mode, bool directory, std::optional<int> open_flags) {
  CreateFlags flags;
  flags.sequential = (parent_mode & S_ISVTX) || (!directory && (mode & S_ISVTX));
  flags.ephemeral = !directory && ((parent_mode & S_ISGID) || (mode & S_ISGID));
  flags.exclusive = !open_flags || (*open_flags & O_EXCL) || flags.sequential;
  // Set-user-ID is no flag and is kept on a file, as on ext4.
  flags.mode = directory ? (mode & 07777) : (mode & (0777 | S_ISUID));
  return flags;
}

proto::Txn create_txn(const std::string& path, bool directory, const CreateFlags& flags, uint32_t uid,
                      uint32_t gid, uint64_t session_id, int* create_index) {
  proto::Txn txn;
  // An ephemeral's session is opened by the same txn: no round trip more than a plain create.
  if (session_id != 0) txn.add_ops()->mutable_create_session()->set_session_id(session_id);
  *create_index = txn.ops_size();
  proto::CreateOp* create = txn.add_ops()->mutable_create();
  create->set_path(path);
  create->set_directory(directory);
  create->set_sequential(flags.sequential);
  create->mutable_meta()->set_mode(flags.mode);
  create->mutable_meta()->set_uid(uid);
  create->mutable_meta()->set_gid(gid);
  create->set_ephemeral_owner(session_id);
  return txn;
}

proto::Txn delete_txn(const std::string& path, bool directory) {
  proto::Txn txn;
  proto::DeleteOp* remove = txn.add_ops()->mutable_remove();
  remove->set_path(path);
  remove->set_expected_version(-1);
  remove->set_must_be_directory(directory);
  remove->set_must_be_file(!directory);
  return txn;
}

namespace {

// A renamed node keeps its kind: an ephemeral its session, a container or TTL node its mark
// (daemon/tree/ephemeral_type.h).
void keep_node_type(const Node& from, proto::CreateOp* create) {
  const uint64_t owner = from.stat().ephemeral_owner;
  switch (node_type(owner)) {
    case NodeType::kPersistent:
      break;
    case NodeType::kEphemeral:
      create->set_ephemeral_owner(owner);
      break;
    case NodeType::kContainer:
      create->set_container(true);
      break;
    case NodeType::kTtl:
      create->set_ttl_ms(ttl_ms_of(owner));
      break;
  }
}

}  // namespace

int rename_txn(const Node& from, const Node* to, const std::string& source_path, const std::string& target_path,
               unsigned int flags, proto::Txn* txn) {
  // Moving a subtree is not one znode operation; EXDEV makes mv copy it instead.
  if (from.is_directory() && from.num_children() > 0) return EXDEV;
  txn->Clear();
  if (to != nullptr) {
    if (flags & RENAME_NOREPLACE) return EEXIST;
    if (to->is_directory() != from.is_directory()) return to->is_directory() ? EISDIR : ENOTDIR;
    proto::DeleteOp* replace = txn->add_ops()->mutable_remove();
    replace->set_path(target_path);
    replace->set_expected_version(to->stat().version);
  }
  proto::CreateOp* create = txn->add_ops()->mutable_create();
  create->set_path(target_path);
  create->set_data(std::string(from.data()));
  create->set_directory(from.is_directory());
  keep_node_type(from, create);
  create->set_acl(format_acl(from.acl()));
  create->set_inode(from.inode());
  proto::PosixMeta* meta = create->mutable_meta();
  meta->set_uid(from.attrs().uid);
  meta->set_gid(from.attrs().gid);
  meta->set_mode(from.attrs().mode);
  meta->set_atime_ns(from.attrs().atime_ns);
  meta->set_mtime_ns(from.attrs().mtime_ns);
  proto::DeleteOp* remove = txn->add_ops()->mutable_remove();
  remove->set_path(source_path);
  remove->set_expected_version(from.stat().version);
  return 0;
}

uint32_t mode_without_privileges(uint32_t mode) {
  uint32_t kept = mode & ~S_ISUID;
  if ((mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP)) kept &= ~S_ISGID;
  return kept;
}

proto::Txn commit_txn(const std::string& path, uint32_t current_mode, const CommitContent& content) {
  proto::Txn txn;
  proto::SetDataOp* set = txn.add_ops()->mutable_set_data();
  set->set_path(path);
  set->set_data(content.data);
  set->set_expected_version(-1);
  const bool kill = content.kill_privileges && mode_without_privileges(current_mode) != current_mode;
  if (content.atime_ns || content.mtime_ns || kill) {
    proto::SetMetaOp* meta = txn.add_ops()->mutable_set_meta();
    meta->set_path(path);
    if (content.atime_ns) meta->mutable_meta()->set_atime_ns(*content.atime_ns);
    if (content.mtime_ns) meta->mutable_meta()->set_mtime_ns(*content.mtime_ns);
    if (kill) meta->mutable_meta()->set_mode(mode_without_privileges(current_mode));
  }
  return txn;
}

proto::Txn background_create_txn(const BackgroundCreate& create, const CommitContent* content) {
  proto::Txn txn;
  proto::CreateOp* op = txn.add_ops()->mutable_create();
  op->set_path(create.path);
  op->set_inode(create.inode);
  proto::PosixMeta* meta = op->mutable_meta();
  meta->set_uid(create.uid);
  meta->set_gid(create.gid);
  meta->set_mode(create.mode);
  if (content == nullptr) return txn;
  op->set_data(content->data);
  if (content->kill_privileges) meta->set_mode(mode_without_privileges(create.mode));
  if (content->atime_ns) meta->set_atime_ns(*content->atime_ns);
  if (content->mtime_ns) meta->set_mtime_ns(*content->mtime_ns);
  return txn;
}

bool flush_commits(bool only_truncated, bool shared_elsewhere) { return !(only_truncated && shared_elsewhere); }

}  // namespace quorumfs::fusefs
