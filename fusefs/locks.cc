// flock(2), fcntl(2) and lockf(3) on the mount: locks for the whole ensemble (docs/guarantees.md
// §6), held through the service core's LockService (daemon/service/locks.h).
//
//   $ flock /mnt/q/app.lock -c 'critical section'     # on any number of hosts at once
//   $ ls /mnt/q/.locks/$(stat -c %i /mnt/q/app.lock)   # who holds it, who waits, in order
//   write-0000000003  write-0000000004
//   $ flock /mnt/q/app.lock getfattr -n user.zk.lock.token /mnt/q/app.lock   # the fencing token
//
// A flock lock belongs to its open file description, a POSIX lock to its process (the kernel's
// lock owner); the two kinds are one lock here, so they exclude each other. Byte ranges are not
// served: a POSIX lock on less than the whole file fails with ENOLCK (docs/mount.md, "Locks").
#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>

#include <boost/asio/post.hpp>
#include <string>

#include "fusefs/descriptors.h"
#include "fusefs/errors.h"
#include "fusefs/filesystem.h"
#include "fusefs/open_file.h"

namespace quorumfs::fusefs {

namespace {

// How far up a caller's ancestors the holder of a lock is looked for: `flock FILE cmd` locks in
// flock(1) and runs cmd as its child, whose own children read the token.
constexpr int kTokenAncestors = 8;

}  // namespace

void Filesystem::flock(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, int op) {
  OpenFile* file = open_file(fi);
  if (reply_if_expired(req, file)) return;
  // A lock names its file's node: a pending create is applied first (another host's node may
  // win the name, and the lock must be that node's).
  if (wait_for_create(ino, [=, this, copy = *fi]() mutable { flock(req, alias_of(ino), &copy, op); })) return;
  const LockOwner owner{false, reinterpret_cast<uint64_t>(file), ino};
  if (op & LOCK_UN) return commit_and_unlock(req, file, owner);
  const auto mode = (op & LOCK_EX) ? service::LockMode::kExclusive : service::LockMode::kShared;
  lock(req, owner, mode, !(op & LOCK_NB), file);
}

void Filesystem::setlk(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, struct flock* request, int sleep) {
  OpenFile* file = open_file(fi);
  if (reply_if_expired(req, file)) return;
  auto retry = [=, this, copy = *fi, lock = *request]() mutable { setlk(req, alias_of(ino), &copy, &lock, sleep); };
  if (wait_for_create(ino, retry)) return;
  if (request->l_start != 0 || request->l_len != 0) return (void)fuse_reply_err(req, ENOLCK);
  const LockOwner owner{true, fi->lock_owner, ino};
  if (request->l_type == F_UNLCK) return commit_and_unlock(req, file, owner);
  const auto mode = request->l_type == F_WRLCK ? service::LockMode::kExclusive : service::LockMode::kShared;
  lock(req, owner, mode, sleep != 0, file);
}

// F_GETLK: whether a lock of the asked kind would have to wait, by this replica's view.
void Filesystem::getlk(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, struct flock* request) {
  if (reply_if_expired(req, open_file(fi))) return;
  const auto mode = request->l_type == F_WRLCK ? service::LockMode::kExclusive : service::LockMode::kShared;
  auto own = owned_locks_.find(LockOwner{true, fi->lock_owner, ino});
  const SessionId except = own != owned_locks_.end() ? own->second.id : SessionId();
  struct flock answer = *request;
  answer.l_type = F_UNLCK;
  if (auto other = locks_->conflicting(ino, mode, except)) {
    answer.l_type = *other == service::LockMode::kExclusive ? F_WRLCK : F_RDLCK;
    answer.l_whence = SEEK_SET;
    answer.l_start = 0;
    answer.l_len = 0;
    answer.l_pid = 0;  // the holder may be on another host
  }
  fuse_reply_lock(req, &answer);
}

// An unlock commits what the descriptor wrote first (as NFS does), then lets go: the next holder,
// on any host, reads it. The unlock returns the commit's error, if any.
void Filesystem::commit_and_unlock(fuse_req_t req, OpenFile* file, LockOwner owner) {
  commit(*file, [req](int error) { fuse_reply_err(req, error); });
  unlock(owner);
}

// A lock this owner holds in the same mode is kept; in the other mode it is let go first (as
// Linux converts a flock: not atomically). A blocking request is answered when granted, or with
// EINTR when its caller is interrupted (a signal, flock -w's alarm, kill).
void Filesystem::lock(fuse_req_t req, LockOwner owner, service::LockMode mode, bool wait, OpenFile* file) {
  order_creates_of_process(req);
  if (auto it = owned_locks_.find(owner); it != owned_locks_.end()) {
    if (it->second.held && it->second.mode == mode) return (void)fuse_reply_err(req, 0);
    unlock(owner);
  }
  const uint64_t attempt = next_lock_attempt_++;
  const fuse_ctx* context = fuse_req_ctx(req);
  const pid_t process = process_and_parent(context->pid).first;
  owned_locks_.emplace(owner, OwnedLock{attempt, SessionId(), mode, false, req, file, process});
  service::LockService::Request request;
  request.key = owner.inode;
  request.mode = mode;
  request.wait = wait;
  request.uid = context->uid;
  request.gid = context->gid;
  request.owner = fmt::format("host={} pid={} mode={} kind={}\n", service_.sessions().host(), process,
                              mode == service::LockMode::kExclusive ? "exclusive" : "shared",
                              owner.posix ? "fcntl" : "flock");
  const SessionId id = locks_->acquire(std::move(request), [this, owner, attempt](Code code) {
    lock_answered(owner, attempt, code);
  });
  auto it = owned_locks_.find(owner);
  if (it == owned_locks_.end() || it->second.attempt != attempt) return;  // answered already
  it->second.id = id;
  blocked_requests_.emplace(req, owner);
  // Also a try-lock: without a quorum its txn may wait up to the write wait. The reply is posted:
  // libfuse calls this at once if the caller was interrupted already, with the request locked.
  // By then the request may be answered and gone: only its address is used, as a key.
  fuse_req_interrupt_func(
      req,
      [](fuse_req_t r, void* data) {
        auto* filesystem = static_cast<Filesystem*>(data);
        boost::asio::post(filesystem->io(), [filesystem, r] { filesystem->interrupted(r); });
      },
      this);
}

void Filesystem::lock_answered(LockOwner owner, uint64_t attempt, Code code) {
  auto it = owned_locks_.find(owner);
  if (it == owned_locks_.end() || it->second.attempt != attempt) return;
  OwnedLock& owned = it->second;
  fuse_req_t req = std::exchange(owned.waiting, nullptr);
  if (req != nullptr) blocked_requests_.erase(req);
  if (code == Code::kOk) {
    owned.held = true;
  } else {
    owned_locks_.erase(it);
  }
  if (req == nullptr) return;
  // Behind the cache invalidations of every change applied before the grant: the new holder reads
  // what the previous one wrote (docs/guarantees.md §5's ordering, which a lock needs most).
  if (code == Code::kOk && notifier_) return notifier_->then([req] { fuse_reply_err(req, 0); });
  fuse_reply_err(req, errno_of(code));
}

// The waiter's caller was interrupted: its waiter node goes, and it gets EINTR (flock -w prints
// its timeout, a killed process exits).
void Filesystem::interrupted(fuse_req_t req) {
  auto blocked = blocked_requests_.find(req);
  if (blocked == blocked_requests_.end()) return;
  const LockOwner owner = blocked->second;
  blocked_requests_.erase(blocked);
  auto it = owned_locks_.find(owner);
  if (it != owned_locks_.end() && it->second.waiting == req) {
    locks_->release(it->second.id);
    owned_locks_.erase(it);
  }
  fuse_reply_err(req, EINTR);
}

void Filesystem::unlock(LockOwner owner) {
  auto it = owned_locks_.find(owner);
  if (it == owned_locks_.end()) return;
  if (fuse_req_t req = it->second.waiting) {
    blocked_requests_.erase(req);
    fuse_reply_err(req, EINTR);  // its owner let go of the file meanwhile
  }
  if (!it->second.id.empty()) locks_->release(it->second.id);
  owned_locks_.erase(it);
}

// The description is released: its flock lock goes, and POSIX locks taken through it whose
// owner's FLUSH did not drop them already.
void Filesystem::unlock_all_of(OpenFile* file) {
  std::vector<LockOwner> owners;
  for (const auto& [owner, owned] : owned_locks_) {
    if (owned.file == file) owners.push_back(owner);
  }
  for (const LockOwner& owner : owners) unlock(owner);
}

// The ensemble closed a held lock's session (this host was cut off past the session timeout) and
// handed the lock on: the descriptor it was taken through fails from now on (ESTALE).
void Filesystem::lock_lost(SessionId id) {
  for (auto it = owned_locks_.begin(); it != owned_locks_.end(); ++it) {
    if (it->second.id != id) continue;
    spdlog::warn("lock on inode {} lost: its session {:#x} was closed by the ensemble", it->first.inode, id.value());
    expire_file(*it->second.file);
    owned_locks_.erase(it);
    return;
  }
}

// user.zk.lock.token: the fencing token of a lock on this file held by the caller's process or
// one of its ancestors (docs/guarantees.md §6); ENODATA when it holds none.
void Filesystem::reply_lock_token(fuse_req_t req, fuse_ino_t ino, size_t size) {
  for (pid_t tgid : lineage_of(fuse_req_ctx(req)->pid, kTokenAncestors)) {
    for (const auto& [owner, owned] : owned_locks_) {
      if (owner.inode != ino || !owned.held || owned.process != tgid) continue;
      std::optional<Zxid> token = locks_->token(owned.id);
      if (!token) continue;
      std::string value = fmt::format("{:#x}", *token);
      if (size == 0) return (void)fuse_reply_xattr(req, value.size());
      if (value.size() > size) return (void)fuse_reply_err(req, ERANGE);
      return (void)fuse_reply_buf(req, value.data(), value.size());
    }
  }
  fuse_reply_err(req, ENODATA);
}

}  // namespace quorumfs::fusefs
