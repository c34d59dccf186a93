// Creates in the background (background_create.h; docs/mount.md, "Creates in the background").
//
//   $ echo x > /mnt/q/new        # CREATE answered at once; the close orders ONE create with "x"
//   $ exec 3>/mnt/q/log; ls /mnt/q   # `log` is not listed yet: its create waits for fd 3...
//   $ stat /mnt/q/log            # ...or for its creator to use the name: then it is ordered
//
// The kernel holds the directory's lock for a whole CREATE request, so creates in one directory
// run one at a time: answering without waiting for a quorum lets many writers share a directory.
#include "fusefs/background_create.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <boost/asio/post.hpp>
#include <algorithm>

#include "consensus/check.h"
#include "fusefs/descriptors.h"
#include "fusefs/errors.h"
#include "fusefs/filesystem.h"
#include "fusefs/open_file.h"
#include "fusefs/times.h"
#include "fusefs/txn_rules.h"

namespace quorumfs::fusefs {

namespace {

// How far up a caller's ancestors the creator of a pending file is looked for.
constexpr int kCreatorAncestors = 8;
// Threads whose process is remembered while creates are pending (process_of).
constexpr size_t kThreadsCachedMax = 4096;

}  // namespace

uint64_t InodeBlocks::take() {
  if (next_ == end_) {
    next_ = std::exchange(spare_next_, 0);
    end_ = std::exchange(spare_end_, 0);
  }
  return next_ == end_ ? 0 : next_++;
}

void InodeBlocks::add(uint64_t first, uint32_t count) {
  if (next_ == end_) {
    next_ = first;
    end_ = first + count;
  } else {
    spare_next_ = first;
    spare_end_ = first + count;
  }
}

void Filesystem::reserve_inodes() {
  if (!inode_blocks_.wants_more()) return;
  inode_blocks_.set_reserving(true);
  proto::Txn txn;
  txn.add_ops()->mutable_reserve_inodes()->set_count(InodeBlocks::kBlockInodes);
  service_.submit(std::move(txn), service::Submitter::kMount, [this](const ApplyResult& result) {
    inode_blocks_.set_reserving(false);
    // Until one is answered, creates wait for their txn as O_EXCL ones do; the next one asks again.
    if (result.code == Code::kOk) inode_blocks_.add(result.ops[0].inode, InodeBlocks::kBlockInodes);
  });
}

PendingCreate* Filesystem::pending_create(uint64_t inode) const {
  if (pending_creates_.empty()) return nullptr;
  auto it = pending_creates_.find(inode);
  return it == pending_creates_.end() ? nullptr : it->second.get();
}

PendingCreate* Filesystem::pending_named(fuse_ino_t parent, std::string_view name) const {
  if (pending_names_.empty()) return nullptr;
  auto it = pending_names_.find(std::pair(static_cast<uint64_t>(parent), name));
  return it == pending_names_.end() ? nullptr : pending_create(it->second);
}

fuse_ino_t Filesystem::alias_of(fuse_ino_t ino) const {
  if (aliases_.empty()) return ino;
  auto it = aliases_.find(ino);
  return it == aliases_.end() ? ino : it->second;
}

// An open(O_CREAT) without O_EXCL of a free name, for writing, of a plain file that this host's
// tree says may be created now: answered at once. Anything else (an ephemeral or sequential
// file, a refusal the synchronous path words, no reserved inode left) returns false.
bool Filesystem::create_in_background(fuse_req_t req, const Child& child, std::string_view name, const CreateFlags& flags,
                                      fuse_file_info* fi) {
  if ((fi->flags & O_ACCMODE) == O_RDONLY || flags.exclusive || flags.ephemeral) return false;
  // What the descriptor writes must mean the same if another host's create wins the name: the
  // whole content (O_TRUNC) or more at its end (O_APPEND). An overwrite in place would not.
  if (!(fi->flags & (O_TRUNC | O_APPEND))) return false;
  // Without a quorum or a writable log the create would fail: the open says so, as before.
  if (!service_.synced()) return false;
  reserve_inodes();
  if (pending_creates_.size() >= kPendingCreatesMax) return false;
  const fuse_ctx* context = fuse_req_ctx(req);
  BackgroundCreate create{child.path, 0, flags.mode, context->uid, context->gid};
  proto::Caller caller = writer_of(req);
  if (service_.tree().check(background_create_txn(create, nullptr).ops(0), caller) != Code::kOk) return false;
  const uint64_t inode = inode_blocks_.take();
  if (inode == 0) return false;

  auto pending = std::make_unique<PendingCreate>();
  pending->inode = inode;
  pending->parent_inode = child.parent->inode();
  pending->name = std::string(name);
  pending->mode = flags.mode;
  pending->uid = context->uid;
  pending->gid = context->gid;
  pending->truncate = fi->flags & O_TRUNC;
  pending->opened_ns = wall_ns();
  pending->attempts_left = kRenameAttempts;
  pending->thread = context->pid;
  pending->process = process_of(context->pid);

  auto file = std::make_unique<OpenFile>();
  file->inode = inode;
  file->writable = true;
  file->append = fi->flags & O_APPEND;
  // Empty and to be committed, though nothing is written yet: the close orders the create.
  file->loaded = file->dirty = file->only_truncated = true;
  file->caller = std::move(caller);
  file->created_inode = inode;
  pending->file = file.get();
  fi->fh = reinterpret_cast<uint64_t>(file.get());
  fi->direct_io = true;

  fuse_entry_param entry{};
  entry.ino = inode;
  entry.generation = 1;
  entry.attr = pending_attributes(*pending);
  // The name is not cached (other processes must ask, and get ENOENT), its attributes are: the
  // creator's permission check at the end of its open(2) then asks nothing more. The answer drops
  // them (create_answered).
  entry.attr_timeout = options_.kernel_cache ? options_.cache_timeout_s : 0.0;
  if (fuse_reply_create(req, &entry, fi) != 0) return true;  // interrupted: nothing was ordered
  writers_.emplace(inode, file.get());
  adopt(std::move(file));
  pending_names_.emplace(std::pair(pending->parent_inode, pending->name), inode);
  if (pending->process != 0) unsubmitted_of_process_[pending->process] = inode;
  pending_creates_.emplace(inode, std::move(pending));
  return true;
}

struct stat Filesystem::pending_attributes(const PendingCreate& pending) const {
  struct stat attr {};
  attr.st_ino = pending.inode;
  attr.st_mode = S_IFREG | (pending.mode & 07777);
  attr.st_nlink = 1;
  attr.st_uid = pending.uid;
  attr.st_gid = pending.gid;
  attr.st_size = pending.file && pending.file->loaded ? static_cast<off_t>(pending.file->buffer.size()) : 0;
  attr.st_blksize = 4096;
  attr.st_blocks = (attr.st_size + 511) / 512;
  const OpenFile* file = pending.file;
  attr.st_atim = ns_timespec(file && file->atime_ns ? *file->atime_ns : pending.opened_ns);
  attr.st_mtim = ns_timespec(file && file->mtime_ns ? *file->mtime_ns : pending.opened_ns);
  attr.st_ctim = ns_timespec(pending.opened_ns);
  return attr;
}

// Orders the create now, as an empty file (what its descriptor wrote is committed at its close),
// unless it is ordered already.
void Filesystem::order_create(PendingCreate& pending) {
  if (pending.submitted) return;
  // Nothing written yet: the close has nothing more to commit, once the create is applied.
  if (pending.file != nullptr && pending.file->only_truncated) pending.file->dirty = false;
  submit_create(pending, nullptr, nullptr);
}

// Writes of one process are applied in the order it made them (docs/guarantees.md §2): a create
// it left pending is ordered before its next write (except_inode: the file this write commits).
void Filesystem::order_creates_of_process(fuse_req_t req, uint64_t except_inode) {
  if (unsubmitted_of_process_.empty()) return;
  auto it = unsubmitted_of_process_.find(process_of(fuse_req_ctx(req)->pid));
  if (it == unsubmitted_of_process_.end() || it->second == except_inode) return;
  PendingCreate* pending = pending_create(it->second);
  QFS_CHECK(pending != nullptr && !pending->submitted, "a process's unordered create is pending");
  order_create(*pending);
}

// The process of a thread, from /proc once per thread while creates are pending (the cache is
// dropped when none is, or when it holds kThreadsCachedMax threads); 0 when the thread is gone.
pid_t Filesystem::process_of(pid_t thread) {
  if (auto it = process_of_thread_.find(thread); it != process_of_thread_.end()) return it->second;
  if (process_of_thread_.size() >= kThreadsCachedMax) process_of_thread_.clear();
  const pid_t process = process_and_parent(thread).first;
  if (process != 0) process_of_thread_.emplace(thread, process);
  return process;
}

bool Filesystem::wait_for_create(uint64_t inode, std::function<void()> retry) {
  PendingCreate* pending = pending_create(inode);
  if (pending == nullptr) return false;
  pending->waiters.push_back(std::move(retry));
  order_create(*pending);
  return true;
}

// Whether the caller is the creating process or a descendant of it (`exec 3>f; cat f`): they see
// the name before its create is applied (the create is ordered then, and they wait for it);
// other processes do not see it until then. /proc is read only for calls that meet such a name.
// lineage: the caller's (descriptors.h), read on first need.
bool Filesystem::sees_pending(fuse_req_t req, std::optional<std::vector<pid_t>>& lineage, PendingCreate& pending) {
  if (fuse_req_ctx(req)->pid == pending.thread) return true;
  if (pending.process == 0) return false;  // unknown (its thread was gone at once)
  if (!lineage) lineage = lineage_of(fuse_req_ctx(req)->pid, kCreatorAncestors);
  return std::find(lineage->begin(), lineage->end(), pending.process) != lineage->end();
}

bool Filesystem::lookup_pending(fuse_req_t req, fuse_ino_t parent, const char* name) {
  PendingCreate* pending = pending_named(parent, name);
  if (pending == nullptr) return false;
  const Node* directory = service_.tree().by_inode(parent);
  if (directory != nullptr && visible(service_.tree().child(*directory, name)) != nullptr) {
    // Another host's create of the name is applied here: everyone sees that node, and the
    // pending create, ordered now, will find the name taken (create_answered).
    order_create(*pending);
    return false;
  }
  std::optional<std::vector<pid_t>> lineage;
  if (!sees_pending(req, lineage, *pending)) {
    fuse_reply_err(req, ENOENT);
    return true;
  }
  wait_for_create(pending->inode, [this, req, parent, copy = std::string(name)] { lookup_node(req, parent, copy.c_str()); });
  return true;
}

// A listing by the creator (or a descendant) shows its files: their creates are ordered first.
bool Filesystem::opendir_pending(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  std::optional<std::vector<pid_t>> lineage;
  for (auto& [inode, pending] : pending_creates_) {
    if (pending->parent_inode != ino || !sees_pending(req, lineage, *pending)) continue;
    wait_for_create(inode, [this, req, ino, copy = *fi]() mutable { opendir(req, ino, &copy); });
    return true;
  }
  return false;
}

// chmod, chown, utimensat and ftruncate by the creator of a file whose create is not ordered yet
// change what that create will carry (it stays one txn); anything else waits for the create.
bool Filesystem::setattr_pending(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
  PendingCreate* pending = pending_create(ino);
  if (pending == nullptr) return false;
  constexpr int kFolded = FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID | FUSE_SET_ATTR_ATIME |
                          FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW |
                          FUSE_SET_ATTR_CTIME | FUSE_SET_ATTR_SIZE;
  OpenFile* file = pending->file;
  const bool foldable = !pending->submitted && file != nullptr && (to_set & ~kFolded) == 0 &&
                        (fi != nullptr ? open_file(fi) == file : fuse_req_ctx(req)->pid == pending->thread);
  if (!foldable) {
    std::optional<fuse_file_info> fi_copy = fi ? std::optional(*fi) : std::nullopt;
    wait_for_create(ino, [this, req, ino, copy = *attr, to_set, fi_copy]() mutable {
      setattr(req, ino, &copy, to_set, fi_copy ? &*fi_copy : nullptr);
    });
    return true;
  }
  if (to_set & FUSE_SET_ATTR_SIZE) {
    if (static_cast<uint64_t>(attr->st_size) > options_.data_bytes_max) return (void)fuse_reply_err(req, EFBIG), true;
    if (!budget_.charge(*file, attr->st_size)) return (void)fuse_reply_err(req, ENOSPC), true;
    file->buffer.resize(attr->st_size);
    file->only_truncated = false;
  }
  order_creates_of_process(req, ino);
  if (to_set & FUSE_SET_ATTR_MODE) pending->mode = attr->st_mode & 07777;
  if (to_set & FUSE_SET_ATTR_UID) pending->uid = attr->st_uid;
  if (to_set & FUSE_SET_ATTR_GID) pending->gid = attr->st_gid;
  const int64_t now = wall_ns();
  if (to_set & FUSE_SET_ATTR_ATIME_NOW) file->atime_ns = now;
  else if (to_set & FUSE_SET_ATTR_ATIME) file->atime_ns = timespec_ns(attr->st_atim);
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) file->mtime_ns = now;
  else if (to_set & FUSE_SET_ATTR_MTIME) file->mtime_ns = timespec_ns(attr->st_mtim);
  struct stat answer = pending_attributes(*pending);
  fuse_reply_attr(req, &answer, 0.0);
  return true;
}

// The close (or fsync) of the descriptor that created the file: ONE create with everything it
// wrote; if its create was ordered already, the usual setData once that create is applied.
void Filesystem::commit_pending(OpenFile& file, PendingCreate& pending, std::function<void(int)> reply) {
  if (pending.submitted) {
    pending.waiters.push_back([this, &file, reply = std::move(reply)]() mutable { commit(file, std::move(reply)); });
    return;
  }
  CommitContent content{budget_.take(file), file.atime_ns, file.mtime_ns, file.kill_privileges};
  auto commit = std::make_shared<PendingCommit>(PendingCommit{file.inode, std::move(content), file.caller, 0});
  budget_.reset(file);  // the bytes stay charged until the create is answered
  submit_create(pending, std::move(commit), std::move(reply));
}

void Filesystem::submit_create(PendingCreate& pending, std::shared_ptr<PendingCommit> content,
                               std::function<void(int)> reply) {
  pending.submitted = true;
  if (auto it = unsubmitted_of_process_.find(pending.process);
      it != unsubmitted_of_process_.end() && it->second == pending.inode) {
    unsubmitted_of_process_.erase(it);
  }
  const uint64_t inode = pending.inode;
  const Node* parent = visible(service_.tree().by_inode(pending.parent_inode));
  if (parent == nullptr || !parent->is_directory()) {
    // Its directory went (or became a file's) while the create was pending: answered as the
    // create's txn would be, on the loop's next turn like any answer.
    ApplyResult missing;
    missing.code = parent == nullptr ? Code::kNoNode : Code::kNotDirectory;
    boost::asio::post(io_, [this, inode, missing, content, reply] { create_answered(inode, missing, "", content, reply); });
    return;
  }
  BackgroundCreate create{join_path(service_.tree().path_of(*parent), pending.name), inode, pending.mode,
                          pending.uid, pending.gid};
  proto::Txn txn = background_create_txn(create, content ? &content->content : nullptr);
  txn.set_time_ns(wall_ns());
  *txn.mutable_caller() = pending.file ? pending.file->caller : content ? content->caller : proto::Caller();
  // Answered on a later turn of the loop, also when submit answers at once (a refusal, a failed
  // disk, a stopping host): the caller of submit_create still holds the PendingCreate.
  service_.submit(std::move(txn), service::Submitter::kMount,
                  [this, inode, path = create.path, content, reply](const ApplyResult& result) {
                    boost::asio::post(io_, [=, this] { create_answered(inode, result, path, content, reply); });
                  });
}

void Filesystem::create_answered(uint64_t inode, const ApplyResult& result, const std::string& path,
                                 std::shared_ptr<PendingCommit> content, std::function<void(int)> reply) {
  auto it = pending_creates_.find(inode);
  QFS_CHECK(it != pending_creates_.end(), "an answered create was pending");
  if (result.code == Code::kNoNode && it->second->attempts_left > 1 &&
      visible(service_.tree().by_inode(it->second->parent_inode)) != nullptr) {
    // Its directory was renamed between the txn's making and its apply: made again, new path.
    --it->second->attempts_left;
    return submit_create(*it->second, std::move(content), std::move(reply));
  }
  std::unique_ptr<PendingCreate> pending = std::move(it->second);
  pending_creates_.erase(it);
  auto named = pending_names_.find(std::pair(pending->parent_inode, std::string_view(pending->name)));
  QFS_CHECK(named != pending_names_.end(), "a pending create is known by its name");
  pending_names_.erase(named);
  OpenFile* file = pending->file;
  const Node* winner = result.code == Code::kNodeExists ? visible(service_.tree().find(path)) : nullptr;
  if (winner != nullptr && !winner->is_directory() && file != nullptr) {
    // Another host created the name first: this descriptor opened that file, as POSIX's O_CREAT
    // does, and what it wrote (or its O_TRUNC) is committed to it.
    adopt_winner(*file, *pending, winner->inode());
    if (content) {
      content->inode = winner->inode();
      if (!pending->truncate && !append_to_winner(*winner, content->content.data)) {
        budget_.settle(content->content.data.size());
        reply(ENOSPC);
      } else {
        submit_commit(std::move(content), std::move(reply), kRenameAttempts);
      }
    }
    for (auto& waiter : pending->waiters) waiter();
    return;
  }
  const int error = result.code == Code::kNodeExists && winner != nullptr ? EISDIR : errno_of(result.code);
  if (content) budget_.settle(content->content.data.size());
  // An error at close says the create may not have happened; ordered early, the close says it.
  if (error != 0 && file != nullptr && !content) file->write_error = error;
  // The directory's size and times changed (a create that did not happen changes nothing); the
  // new file's attributes are the txn's now, and the kernel holds those of the open.
  if (error == 0) fuse_lowlevel_notify_inval_inode(session_, pending->parent_inode, -1, 0);
  fuse_lowlevel_notify_inval_inode(session_, inode, -1, 0);
  if (pending_creates_.empty()) process_of_thread_.clear();
  for (auto& waiter : pending->waiters) waiter();
  if (reply) reply(error);
}

// The descriptor's inode becomes the winner's for every call that names it (alias_of).
void Filesystem::adopt_winner(OpenFile& file, const PendingCreate& pending, uint64_t winner) {
  aliases_[pending.inode] = winner;
  auto [begin, end] = writers_.equal_range(pending.inode);
  for (auto writer = begin; writer != end; ++writer) {
    if (writer->second != &file) continue;
    writers_.erase(writer);
    break;
  }
  writers_.emplace(winner, &file);
  unlinked_.released(pending.inode);
  unlinked_.opened(winner);
  file.inode = winner;
  if (pending.truncate) {
    if (file.only_truncated) file.dirty = true;  // its O_TRUNC empties that file
    return;
  }
  // O_APPEND: what it wrote goes after that file's data; read through it, the file shows both.
  // (A close that ordered the create carries its data in the commit instead: create_answered.)
  const Node* node = service_.tree().by_inode(winner);
  if (node == nullptr) return;
  if (!budget_.charge(file, file.buffer.size() + node->data().size())) {
    file.write_error = ENOSPC;
    return;
  }
  file.buffer.insert(0, node->data());
}

// Puts the winner's data before what an O_APPEND descriptor's close commits, within the host's
// budget (the added bytes count until the commit is answered); false, nothing changed, past it.
bool Filesystem::append_to_winner(const Node& winner, std::string& written) {
  if (!budget_.reserve(winner.data().size())) return false;
  written.insert(0, winner.data());
  return true;
}

// The last reference to the description went before any close committed it (a flush that
// waited for data that never came): its create is ordered all the same.
void Filesystem::release_pending(OpenFile& file) {
  PendingCreate* pending = pending_create(file.inode);
  if (pending == nullptr) return;
  QFS_CHECK(pending->file == &file, "a pending create belongs to the descriptor that made it");
  order_create(*pending);
  pending->file = nullptr;  // answered on a later turn of the loop (submit_create)
}

}  // namespace quorumfs::fusefs
