#include "fusefs/filesystem.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/fs.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>

#include "daemon/tree/ephemeral_type.h"
#include "daemon/tree/limits.h"
#include "consensus/check.h"
#include "fusefs/descriptors.h"
#include "fusefs/echo.h"
#include "fusefs/errors.h"
#include "fusefs/open_file.h"
#include "fusefs/times.h"
#include "fusefs/txn_rules.h"
#include "fusefs/xattrs.h"

namespace quorumfs::fusefs {

namespace {


Filesystem* self(fuse_req_t req) { return static_cast<Filesystem*>(fuse_req_userdata(req)); }

proto::Op* add_op(proto::Txn& txn) { return txn.add_ops(); }

// Times a read's handler (index into kMountReadNames) into the mount's histograms.
class ReadTimer {
 public:
  ReadTimer(fuse_req_t req, size_t read) : histogram_(self(req)->read_latency()[read]) {}
  ~ReadTimer() { histogram_.record(std::chrono::steady_clock::now() - started_); }
  ReadTimer(const ReadTimer&) = delete;
  ReadTimer& operator=(const ReadTimer&) = delete;

 private:
  metrics::LatencyHistogram& histogram_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace

// A directory listing taken at offset 0, so that offsets stay valid while the directory changes.
struct Filesystem::OpenDir {
  struct Entry {
    std::string name;
    uint64_t inode;
    bool directory;
  };
  std::vector<Entry> entries;
};

namespace {

// The C entry points libfuse calls; each forwards to the Filesystem.
const fuse_lowlevel_ops kOperations = [] {
  fuse_lowlevel_ops ops{};
  ops.init = [](void* data, fuse_conn_info* conn) { static_cast<Filesystem*>(data)->init(conn); };
  ops.lookup = [](fuse_req_t r, fuse_ino_t p, const char* n) {
    const ReadTimer timer(r, 0);
    self(r)->lookup(r, p, n);
  };
  ops.forget = [](fuse_req_t r, fuse_ino_t, uint64_t) { fuse_reply_none(r); };
  ops.forget_multi = [](fuse_req_t r, size_t, fuse_forget_data*) { fuse_reply_none(r); };
  ops.getattr = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* f) {
    const ReadTimer timer(r, 1);
    self(r)->getattr(r, self(r)->alias_of(i), f);
  };
  ops.setattr = [](fuse_req_t r, fuse_ino_t i, struct stat* a, int s, fuse_file_info* f) {
    self(r)->setattr(r, self(r)->alias_of(i), a, s, f);
  };
  ops.mknod = [](fuse_req_t r, fuse_ino_t p, const char* n, mode_t m, dev_t d) {
    self(r)->mknod(r, p, n, m, d);
  };
  ops.mkdir = [](fuse_req_t r, fuse_ino_t p, const char* n, mode_t m) { self(r)->mkdir(r, p, n, m); };
  ops.unlink = [](fuse_req_t r, fuse_ino_t p, const char* n) { self(r)->unlink(r, p, n, false); };
  ops.rmdir = [](fuse_req_t r, fuse_ino_t p, const char* n) { self(r)->unlink(r, p, n, true); };
  ops.symlink = [](fuse_req_t r, const char*, fuse_ino_t, const char*) { fuse_reply_err(r, EPERM); };
  ops.link = [](fuse_req_t r, fuse_ino_t, fuse_ino_t, const char*) { fuse_reply_err(r, EPERM); };
  ops.rename = [](fuse_req_t r, fuse_ino_t p, const char* n, fuse_ino_t np, const char* nn,
                  unsigned int f) { self(r)->rename(r, p, n, np, nn, f); };
  ops.open = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* f) { self(r)->open(r, self(r)->alias_of(i), f); };
  ops.create = [](fuse_req_t r, fuse_ino_t p, const char* n, mode_t m, fuse_file_info* f) {
    self(r)->create(r, p, n, m, f);
  };
  ops.read = [](fuse_req_t r, fuse_ino_t i, size_t s, off_t o, fuse_file_info* f) {
    const ReadTimer timer(r, 2);
    self(r)->read(r, self(r)->alias_of(i), s, o, f);
  };
  ops.write = [](fuse_req_t r, fuse_ino_t i, const char* b, size_t s, off_t o, fuse_file_info* f) {
    self(r)->write(r, self(r)->alias_of(i), b, s, o, f);
  };
  ops.flush = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* f) { self(r)->flush(r, self(r)->alias_of(i), f); };
  ops.fsync = [](fuse_req_t r, fuse_ino_t i, int, fuse_file_info* f) { self(r)->fsync(r, self(r)->alias_of(i), f); };
  ops.release = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* f) { self(r)->release(r, i, f); };
  ops.opendir = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* f) { self(r)->opendir(r, i, f); };
  ops.readdir = [](fuse_req_t r, fuse_ino_t i, size_t s, off_t o, fuse_file_info* f) {
    const ReadTimer timer(r, 3);
    self(r)->readdir(r, i, s, o, f, false);
  };
  ops.readdirplus = [](fuse_req_t r, fuse_ino_t i, size_t s, off_t o, fuse_file_info* f) {
    const ReadTimer timer(r, 3);
    self(r)->readdir(r, i, s, o, f, true);
  };
  ops.releasedir = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* f) { self(r)->releasedir(r, i, f); };
  ops.fsyncdir = [](fuse_req_t r, fuse_ino_t, int, fuse_file_info*) { self(r)->sync(r); };
  ops.statfs = [](fuse_req_t r, fuse_ino_t i) { self(r)->statfs(r, i); };
  ops.setxattr = [](fuse_req_t r, fuse_ino_t i, const char* n, const char* v, size_t s, int f) {
    self(r)->setxattr(r, self(r)->alias_of(i), n, v, s, f);
  };
  ops.getxattr = [](fuse_req_t r, fuse_ino_t i, const char* n, size_t s) {
    const ReadTimer timer(r, 4);
    self(r)->getxattr(r, self(r)->alias_of(i), n, s);
  };
  ops.listxattr = [](fuse_req_t r, fuse_ino_t i, size_t s) { self(r)->listxattr(r, self(r)->alias_of(i), s); };
  ops.removexattr = [](fuse_req_t r, fuse_ino_t i, const char* n) { self(r)->removexattr(r, self(r)->alias_of(i), n); };
  ops.flock = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* f, int op) { self(r)->flock(r, self(r)->alias_of(i), f, op); };
  ops.getlk = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* f, struct flock* l) {
    self(r)->getlk(r, self(r)->alias_of(i), f, l);
  };
  ops.setlk = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* f, struct flock* l, int sleep) {
    self(r)->setlk(r, self(r)->alias_of(i), f, l, sleep);
  };
  return ops;
}();

}  // namespace

Filesystem::Filesystem(boost::asio::io_context& io, service::Service& service, MountOptions options)
    : io_(io), service_(service), options_(std::move(options)) {
  subscription_ = service_.feed().subscribe([this](const service::Applied& applied) { on_applied(applied); });
  locks_ = std::make_unique<service::LockService>(service_);
  locks_->set_on_lost([this](SessionId id) { lock_lost(id); });
}

Filesystem::~Filesystem() {
  service_.feed().unsubscribe(subscription_);
  teardown();
}

// ---- mount and the event loop ----------------------------------------------------------------

namespace {

// libfuse's own messages go to the daemon's log, in its format (docs/operations.md, "Logs").
// Its debug lines come only with --debug-fuse, which asks for them: they are logged at info.
void log_libfuse(enum fuse_log_level level, const char* format, va_list arguments) {
  char text[1024];
  int length = std::vsnprintf(text, sizeof text, format, arguments);
  if (length < 0) return;
  std::string_view message(text, std::min(static_cast<size_t>(length), sizeof text - 1));
  while (!message.empty() && message.back() == '\n') message.remove_suffix(1);
  spdlog::level::level_enum spdlog_level = level <= FUSE_LOG_ERR       ? spdlog::level::err
                                           : level == FUSE_LOG_WARNING ? spdlog::level::warn
                                                                       : spdlog::level::info;
  spdlog::log(spdlog_level, "libfuse: {}", message);
}

}  // namespace

bool Filesystem::mount(std::function<void()> on_exit, std::string* error) {
  on_exit_ = std::move(on_exit);
  fuse_set_log_func(log_libfuse);
  std::vector<std::string> arguments = {"quorumfs", "-o", "fsname=quorumfs,subtype=quorumfs,default_permissions"};
  if (options_.allow_other) arguments.back() += ",allow_other";
  if (options_.auto_unmount) arguments.back() += ",auto_unmount";
  if (options_.debug) arguments.push_back("-d");
  std::vector<char*> argv;
  for (auto& argument : arguments) argv.push_back(argument.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  session_ = fuse_session_new(&args, &kOperations, sizeof(kOperations), this);
  // Parsing replaced args' argv with one libfuse allocated; the session keeps copies of what it
  // needs.
  fuse_opt_free_args(&args);
  if (session_ == nullptr) {
    *error = "cannot create the FUSE session (bad mount options?)";
    return false;
  }
  // Before the mount: afterwards resolving the path would be a call on the mount itself.
  char* canonical = realpath(options_.mountpoint.c_str(), nullptr);
  std::string mountpoint_path = canonical ? canonical : options_.mountpoint;
  free(canonical);
  if (fuse_session_mount(session_, options_.mountpoint.c_str()) != 0) {
    fuse_session_destroy(session_);
    session_ = nullptr;
    *error = "cannot mount on " + options_.mountpoint;
    return false;
  }
  mounted_ = true;
  if (auto mountinfo = read_proc_file("/proc/self/mountinfo")) mount_device_ = mount_device(*mountinfo, mountpoint_path);
  if (mount_device_.empty()) spdlog::warn("mount: {} not found in /proc/self/mountinfo: every close commits", mountpoint_path);
  int fd = fuse_session_fd(session_);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  notifier_ = std::make_unique<Notifier>(session_);
  echo_ = std::make_unique<Echo>(session_, options_.mountpoint, [this](uint64_t step_id) {
    boost::asio::post(io_, [this, step_id] { echo_finished(step_id); });
  });
  // The descriptor stays libfuse's; asio only waits on a duplicate of it.
  device_ = std::make_unique<boost::asio::posix::stream_descriptor>(io_, dup(fd));
  wait_readable();
  reserve_inodes();
  return true;
}

void Filesystem::wait_readable() {
  device_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                      [this](const boost::system::error_code& error) {
                        if (error) return;  // cancelled at unmount
                        serve_ready();
                      });
}

// Serves every request the kernel has queued, then waits again. One thread owns the tree, so
// the loop is single-threaded on purpose (docs/kernel.md: faster than multi-threaded on 2 vCPUs).
// The device is waited on edge-triggered, so it is read until EAGAIN; after a burst of requests
// the rest is served from a fresh handler, so that commits waiting on the loop get their turn.
void Filesystem::serve_ready() {
  for (int served = 0; served < 64; ++served) {
    int result = fuse_session_receive_buf(session_, &buffer_);
    if (result == -EAGAIN || result == -EINTR) return wait_readable();
    if (result <= 0 || fuse_session_exited(session_)) {
      spdlog::info("mount {} went away", options_.mountpoint);
      if (on_exit_) boost::asio::post(io_, on_exit_);
      return;
    }
    fuse_session_process_buf(session_, &buffer_);
  }
  boost::asio::post(io_, [this] { serve_ready(); });
}

// The helper threads may be inside a call on the mount that only this loop can answer, so the
// loop goes on serving until they have stopped; then the mount goes.
void Filesystem::unmount(std::function<void()> done) {
  if (!mounted_) {
    if (done) done();
    return;
  }
  notifier_->thread().request_stop();
  echo_->thread().request_stop();
  finish_unmount(std::move(done));
}

void Filesystem::finish_unmount(std::function<void()> done) {
  if (!notifier_->thread().finished() || !echo_->thread().finished()) {
    helpers_timer_.expires_after(std::chrono::milliseconds(1));
    helpers_timer_.async_wait([this, done = std::move(done)](const boost::system::error_code&) mutable {
      finish_unmount(std::move(done));
    });
    return;
  }
  teardown();
  if (done) done();
}

// Closing the device aborts whatever the kernel still waits for, so helpers blocked in a call on
// the mount return before they are joined.
void Filesystem::teardown() {
  if (!mounted_) return;
  mounted_ = false;
  if (device_) {
    device_->cancel();
    device_.reset();
  }
  fuse_session_unmount(session_);
  notifier_.reset();
  echo_.reset();
  fuse_session_destroy(session_);
  session_ = nullptr;
  free(buffer_.mem);
  buffer_ = fuse_buf{};
}

void Filesystem::init(fuse_conn_info* conn) {
  // No atomic O_TRUNC: with it the kernel sets the shared inode's size to 0 as soon as an
  // open(O_TRUNC) is answered, and other readers on this host read the file empty until the
  // commit. Without it the truncation comes as a SETATTR right after the OPEN, which the mount
  // folds into that descriptor's commit (setattr) and answers with the committed size.
  conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
  // The kernel clears set-user-ID/set-group-ID itself through SETATTR(mode) at truncate and
  // chown; a write through a direct-I/O descriptor sends none, so the commit does it (write).
  conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
  // Splice would need a pipe per read on a non-blocking device; the requests are small.
  conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
  // Data changes are committed by the daemon; a kernel write-back cache would reorder them.
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

// ---- helpers ---------------------------------------------------------------------------------

proto::Caller Filesystem::caller_of(fuse_req_t req) const {
  const fuse_ctx* context = fuse_req_ctx(req);
  proto::Caller caller;
  caller.set_uid(context->uid);
  caller.set_gid(context->gid);
  return caller;
}

// Adds the supplementary groups (read from /proc by libfuse), unless the caller is the super user,
// whom no ACL stops.
void Filesystem::add_groups(fuse_req_t req, proto::Caller* caller) const {
  if (caller->uid() == 0 || caller->groups_size() > 0) return;
  gid_t groups[64];
  int count = fuse_req_getgroups(req, 64, groups);
  for (int i = 0; i < count && i < 64; ++i) caller->add_groups(groups[i]);
}

// A write's caller, groups included: the txn carries them, so the ACL check at apply time sees
// who really asked.
proto::Caller Filesystem::writer_of(fuse_req_t req) const {
  proto::Caller caller = caller_of(req);
  add_groups(req, &caller);
  return caller;
}

// ZooKeeper's ACL check, on top of the kernel's POSIX one (default_permissions). The groups are
// read only when the uid and primary gid do not settle it (reads stay off /proc).
bool Filesystem::permitted(fuse_req_t req, const Node& node, uint32_t perm, proto::Caller* caller) const {
  if (service_.tree().permits(node, perm, *caller)) return true;
  if (caller->uid() == 0 || caller->groups_size() > 0) return false;
  add_groups(req, caller);
  return caller->groups_size() > 0 && service_.tree().permits(node, perm, *caller);
}

// An ephemeral node whose session is being closed is gone for this host's callers already: the
// closeSession txn is on its way, and close(2) has returned (docs/guarantees.md §4: "deleted at
// once").
const Node* Filesystem::visible(const Node* node) const {
  if (node == nullptr) return nullptr;
  uint64_t owner = node->stat().ephemeral_owner;
  return owner != 0 && closing_sessions_.contains(owner) ? nullptr : node;
}

const Node* Filesystem::node_or_reply(fuse_req_t req, fuse_ino_t ino) {
  const Node* node = visible(service_.tree().by_inode(ino));
  if (node == nullptr) fuse_reply_err(req, missing_error(ino));
  return node;
}

int Filesystem::missing_error(fuse_ino_t ino) const { return expired_inodes_.contains(ino) ? ESTALE : ENOENT; }

// The node of an inode that descriptors of this host have open. A closing session's ephemeral
// (visible()) is still theirs until the delete is applied: they opened it before.
const Node* Filesystem::opened_node(fuse_ino_t ino) const {
  const Node* node = service_.tree().by_inode(ino);
  return unlinked_.is_open(ino) ? node : visible(node);
}

// The committed data a descriptor reads: its node's, or the last of a file deleted while it was
// open (docs/guarantees.md §3, as on ext4).
std::optional<std::string_view> Filesystem::opened_data(fuse_ino_t ino) const {
  if (pending_create(ino) != nullptr) return std::string_view();  // created, not yet committed
  if (const Node* node = opened_node(ino)) return node->data();
  if (const DeletedNode* kept = unlinked_.find(ino)) return kept->data.view();
  return std::nullopt;
}

// The tree may have closed the session before this mount was told (the answer to a commit of
// its own, a tree replaced by SNAP): a live descriptor's session is open until its release.
bool Filesystem::reply_if_expired(fuse_req_t req, OpenFile* file) {
  if (file == nullptr) return false;
  if (file->session_id != 0 && !service_.tree().session_open(file->session_id)) expire_session(file->session_id);
  if (!file->expired) return false;
  fuse_reply_err(req, ESTALE);
  return true;
}

bool Filesystem::resolve(fuse_req_t req, fuse_ino_t parent, const char* name, Child* out,
                         std::string_view call) {
  const Node* directory = node_or_reply(req, parent);
  if (directory == nullptr) return false;
  std::string_view base(name);
  std::string path = join_path(service_.tree().path_of(*directory), base);
  if (std::string reason = bounds_error(base, path); !reason.empty()) {
    log_refusal(call, path, ENAMETOOLONG, reason);
    fuse_reply_err(req, ENAMETOOLONG);
    return false;
  }
  if (!directory->is_directory()) {
    fuse_reply_err(req, ENOTDIR);
    return false;
  }
  if (call != "lookup" && in_lock_tree(path)) {
    fuse_reply_err(req, EPERM);  // the lock service's own (docs/mount.md, "Locks")
    return false;
  }
  out->parent = directory;
  out->node = visible(service_.tree().child(*directory, base));
  out->path = std::move(path);
  return true;
}

struct stat Filesystem::attributes_of(const Node& node) const {
  struct stat attr {};
  const PosixAttrs& posix = node.attrs();
  attr.st_ino = node.inode();
  attr.st_mode = (node.is_directory() ? S_IFDIR : S_IFREG) | (posix.mode & 07777);
  // A directory is linked from its parent, its own "." and each subdirectory's "..".
  attr.st_nlink = node.is_directory() ? 2 + node.num_subdirectories() : 1;
  attr.st_uid = posix.uid;
  attr.st_gid = posix.gid;
  attr.st_size = static_cast<off_t>(node.data().size());
  attr.st_blksize = 4096;
  attr.st_blocks = (attr.st_size + 511) / 512;
  attr.st_atim = ns_timespec(posix.atime_ns);
  attr.st_mtim = ns_timespec(posix.mtime_ns);
  attr.st_ctim = ns_timespec(posix.ctime_ns);
  return attr;
}

// A file deleted while open, as its descriptors see it: its last attributes, no links (ext4's
// answer; `stat -L /proc/self/fd/N`, `tail -f` and `cat <&N` need only that it answers).
struct stat Filesystem::attributes_of_deleted(uint64_t inode, const DeletedNode& node) {
  struct stat attr {};
  attr.st_ino = inode;
  attr.st_mode = S_IFREG | (node.attrs.mode & 07777);
  attr.st_nlink = 0;
  attr.st_uid = node.attrs.uid;
  attr.st_gid = node.attrs.gid;
  attr.st_size = static_cast<off_t>(node.data.view().size());
  attr.st_blksize = 4096;
  attr.st_blocks = (attr.st_size + 511) / 512;
  attr.st_atim = ns_timespec(node.attrs.atime_ns);
  attr.st_mtim = ns_timespec(node.attrs.mtime_ns);
  attr.st_ctim = ns_timespec(node.attrs.ctime_ns);
  return attr;
}

// Ephemeral nodes are never cached by the kernel: their deletion when the owner closes must be
// seen by the very next call, before any invalidation could arrive. (Containers and TTL nodes are
// removed by the leader's txns, which invalidate as any other host's write.)
double Filesystem::cache_timeout(const Node& node) const {
  return options_.kernel_cache && !is_session_owner(node.stat().ephemeral_owner) ? options_.cache_timeout_s : 0.0;
}

fuse_entry_param Filesystem::entry_of(const Node& node, bool cacheable) const {
  fuse_entry_param entry{};
  entry.ino = node.inode();
  entry.generation = 1;
  entry.attr = attributes_of(node);
  entry.attr_timeout = cache_timeout(node);
  // A sequential create answers for a name the caller did not ask for: that name must not be
  // cached as if it existed (docs/kernel.md: then `stat item-` is ENOENT, `ls` shows the real
  // name).
  entry.entry_timeout = cacheable ? cache_timeout(node) : 0.0;
  return entry;
}

void Filesystem::reply_entry(fuse_req_t req, const Node& node, bool cacheable) {
  fuse_entry_param entry = entry_of(node, cacheable);
  fuse_reply_entry(req, &entry);
}

void Filesystem::submit(fuse_req_t req, proto::Txn txn, service::Service::Done done) {
  *txn.mutable_caller() = writer_of(req);
  service_.submit(std::move(txn), service::Submitter::kMount, std::move(done));
}

void Filesystem::lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  if (is_echo(req)) return answer_echo_lookup(req, parent, name);
  if (lookup_pending(req, parent, name)) return;
  lookup_node(req, parent, name);
}

void Filesystem::lookup_node(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Child child;
  // A create, mkdir or rename of a new name is refused here: the kernel looks the name up first.
  if (!resolve(req, parent, name, &child, "lookup")) return;
  if (child.node == nullptr) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  reply_entry(req, *child.node, !echo_shadowed_.contains(child.path));
}

// The kernel keeps ONE size per inode, for every process of the host: a descriptor with uncommitted
// writes (lseek(SEEK_END) and ftruncate ask through it) is told its buffer's size only when that
// does not cut the committed data, else other readers here would see a cut file (docs/guarantees.md
// §3).
void Filesystem::getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  if (is_echo(req)) return answer_echo_attributes(req, ino, true);
  OpenFile* file = fi ? open_file(fi) : nullptr;
  if (reply_if_expired(req, file)) return;
  struct stat attr {};
  double timeout_s = 0.0;  // a deleted file's attributes are not cached
  if (const Node* node = opened_node(ino)) {
    attr = attributes_of(*node);
    timeout_s = cache_timeout(*node);
  } else if (const PendingCreate* pending = pending_create(ino)) {
    attr = pending_attributes(*pending);
  } else if (const DeletedNode* kept = expired_inodes_.contains(ino) ? nullptr : unlinked_.find(ino)) {
    // fstat, or stat of /proc/PID/fd/N (no descriptor in the request), of a file deleted while
    // open. An expired descriptor's inode answers ESTALE instead (expired_inodes_).
    attr = attributes_of_deleted(ino, *kept);
  } else {
    return (void)fuse_reply_err(req, missing_error(ino));
  }
  if (file != nullptr && file->loaded) {
    attr.st_size = std::max(attr.st_size, static_cast<off_t>(file->buffer.size()));
    attr.st_blocks = (attr.st_size + 511) / 512;
    timeout_s = 0.0;
  }
  fuse_reply_attr(req, &attr, timeout_s);
}

void Filesystem::mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t) {
  // Devices and fifos have no znode meaning: refused, nothing created (docs/guarantees.md §3).
  if (!S_ISREG(mode)) {
    fuse_reply_err(req, EPERM);
    return;
  }
  create_node(req, parent, name, mode, false, nullptr);
}

void Filesystem::mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  create_node(req, parent, name, mode, true, nullptr);
}

void Filesystem::create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
                        fuse_file_info* fi) {
  create_node(req, parent, name, mode, false, fi);
}

// mkdir, mknod and open(O_CREAT). The parent's sticky bit makes the new node sequential, its
// set-gid bit makes a new file ephemeral; on a file, the same bits in mode add to those
// (docs/guarantees.md §4). The ephemeral owner is the open file description created here.
void Filesystem::create_node(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
                             bool directory, fuse_file_info* fi) {
  if (is_echo(req)) return answer_echo_creation(req, parent, name, fi);
  if (PendingCreate* pending = pending_named(parent, name)) {
    // Its create first: then this one finds the name taken (EEXIST, or an open of that file).
    std::optional<fuse_file_info> fi_copy = fi ? std::optional(*fi) : std::nullopt;
    wait_for_create(pending->inode, [=, this, copy = std::string(name)]() mutable {
      create_node(req, parent, copy.c_str(), mode, directory, fi_copy ? &*fi_copy : nullptr);
    });
    return;
  }
  order_creates_of_process(req);
  Child child;
  if (!resolve(req, parent, name, &child, directory ? "mkdir" : "create")) return;
  const CreateFlags flags = create_flags(child.parent->attrs().mode, mode, directory,
                                         fi ? std::optional<int>(fi->flags) : std::nullopt);
  const bool exclusive = flags.exclusive;
  if (child.node != nullptr) {
    if (!exclusive) return open_created_elsewhere(req, child.path, fi);
    fuse_reply_err(req, EEXIST);
    return;
  }
  if (fi != nullptr && create_in_background(req, child, name, flags, fi)) return;
  const fuse_ctx* context = fuse_req_ctx(req);
  const uint64_t session_id = flags.ephemeral ? service_.sessions().create(service_.tree()).value() : 0;
  int create_index = 0;
  proto::Txn txn = create_txn(child.path, directory, flags, context->uid, context->gid, session_id, &create_index);

  fuse_file_info info = fi ? *fi : fuse_file_info{};
  std::string requested(name);
  proto::Caller caller = writer_of(req);
  *txn.mutable_caller() = caller;
  service_.submit(std::move(txn), service::Submitter::kMount, [this, req, info, session_id, create_index, requested, caller,
                                   exclusive, path = child.path, with_file = fi != nullptr](const ApplyResult& result) mutable {
    if (result.code == Code::kNodeExists && !exclusive) return open_created_elsewhere(req, path, &info);
    if (result.code != Code::kOk) {
      // A create lost with its leader may still commit; its session is nobody's: close it then.
      if (result.code == Code::kOutcomeUnknown && session_id != 0) {
        service_.sessions().close(SessionId(session_id), true, {});
      }
      fuse_reply_err(req, errno_of(result.code));
      return;
    }
    const Node* node = service_.tree().by_inode(result.ops[create_index].inode);
    bool same_name = node->name() == requested;
    if (!same_name) {
      // The kernel announces the asked-for name; the echo announces the real one.
      Change created{Change::Kind::kCreated, node->inode(), node->parent()->inode(),
                     std::string(node->name()), node->is_directory()};
      announce({&created});
    }
    if (!with_file) {
      reply_entry(req, *node, same_name);
      return;
    }
    auto file = std::make_unique<OpenFile>();
    file->inode = node->inode();
    file->writable = (info.flags & O_ACCMODE) != O_RDONLY;
    file->append = info.flags & O_APPEND;
    file->loaded = true;  // a new node's content is empty
    file->session_id = session_id;
    file->caller = caller;
    info.fh = reinterpret_cast<uint64_t>(file.get());
    info.direct_io = file->writable;
    fuse_entry_param entry = entry_of(*node, same_name);
    if (fuse_reply_create(req, &entry, &info) == 0) {
      if (file->writable) writers_.emplace(file->inode, file.get());
      if (session_id != 0) session_owners_.emplace(session_id, file.get());
      adopt(std::move(file));
    } else if (session_id != 0) {
      close_session(session_id);  // the caller is gone (interrupted): its ephemeral goes too
    }
  });
}

void Filesystem::unlink(fuse_req_t req, fuse_ino_t parent, const char* name, bool directory) {
  if (is_echo(req)) {
    // The removal is applied already; answering lets the kernel raise its events.
    bool announced = echo_step_is(EchoStep::Kind::kRemove, echo_path(parent, name));
    return (void)fuse_reply_err(req, announced ? 0 : ENOENT);
  }
  order_creates_of_process(req);
  Child child;
  if (!resolve(req, parent, name, &child, directory ? "rmdir" : "unlink")) return;
  if (child.node == nullptr) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  submit(req, delete_txn(child.path, directory),
         [req](const ApplyResult& result) { fuse_reply_err(req, errno_of(result.code)); });
}

void Filesystem::rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t new_parent,
                        const char* new_name, unsigned int flags) {
  if (is_echo(req)) {
    bool announced = echo_step_is(EchoStep::Kind::kMove, echo_path(new_parent, new_name),
                                  echo_path(parent, name));
    return (void)fuse_reply_err(req, announced ? 0 : ENOENT);
  }
  if (flags & RENAME_EXCHANGE) {
    fuse_reply_err(req, EINVAL);  // two creates and two deletes; not offered
    return;
  }
  order_creates_of_process(req);
  rename_attempt(req, parent, name, new_parent, new_name, flags, kRenameAttempts);
}

// rename(2) is ONE multi txn: [delete the target it replaces], create the target with the
// source's data, ACL, owner and inode, delete the source. Version checks make it fail whole if
// the source or target changed since we read them; then it is rebuilt and tried again.
void Filesystem::rename_attempt(fuse_req_t req, fuse_ino_t parent, std::string name,
                                fuse_ino_t new_parent, std::string new_name, unsigned int flags,
                                int attempts_left) {
  Child source;
  Child target;
  if (!resolve(req, parent, name.c_str(), &source, "rename")) return;
  if (!resolve(req, new_parent, new_name.c_str(), &target, "rename")) return;
  if (source.node == nullptr) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  if (source.node == target.node) {
    fuse_reply_err(req, 0);
    return;
  }
  proto::Txn txn;
  if (int error = rename_txn(*source.node, target.node, source.path, target.path, flags, &txn); error != 0) {
    return (void)fuse_reply_err(req, error);
  }
  submit(req, std::move(txn), [=, this](const ApplyResult& result) {
    if (result.code == Code::kBadVersion && attempts_left > 1) {
      rename_attempt(req, parent, name, new_parent, new_name, flags, attempts_left - 1);
      return;
    }
    fuse_reply_err(req, errno_of(result.code));
  });
}

// ---- attributes ------------------------------------------------------------------------------

void Filesystem::setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
                         fuse_file_info* fi) {
  if (is_echo(req)) return answer_echo_attributes(req, ino, false);  // utimensat, ftruncate: no txn
  OpenFile* file = fi ? open_file(fi) : nullptr;
  if (reply_if_expired(req, file)) return;
  if (setattr_pending(req, ino, attr, to_set, fi)) return;
  order_creates_of_process(req);
  const Node* node = node_or_reply(req, ino);
  if (node == nullptr) return;
  if (in_lock_tree(service_.tree().path_of(*node))) return (void)fuse_reply_err(req, EPERM);
  proto::Txn txn;
  std::string path = service_.tree().path_of(*node);

  if ((to_set & FUSE_SET_ATTR_SIZE) && file == nullptr && attr->st_size == 0) {
    if (OpenFile* opened = truncating_open(req, ino)) {
      // The O_TRUNC of the open this thread just made: part of that descriptor's commit.
      budget_.charge(*opened, 0);
      opened->buffer.clear();
      opened->loaded = opened->dirty = opened->only_truncated = true;
      to_set &= ~FUSE_SET_ATTR_SIZE;
    }
  }
  if (to_set & FUSE_SET_ATTR_SIZE) {
    if (node->is_directory()) {
      fuse_reply_err(req, EISDIR);
      return;
    }
    if (static_cast<uint64_t>(attr->st_size) > options_.data_bytes_max &&
        static_cast<uint64_t>(attr->st_size) > node->data().size()) {
      fuse_reply_err(req, EFBIG);
      return;
    }
    if (file != nullptr) {
      // ftruncate: part of this descriptor's pending commit.
      if (!budget_.charge(*file, attr->st_size)) {
        fuse_reply_err(req, ENOSPC);
        return;
      }
      if (!file->loaded) file->buffer = node->data();
      file->loaded = true;
      file->buffer.resize(attr->st_size);
      file->dirty = true;
      file->only_truncated = false;
    } else {
      std::string data(node->data());
      data.resize(attr->st_size);
      proto::SetDataOp* set = add_op(txn)->mutable_set_data();
      set->set_path(path);
      set->set_data(std::move(data));
      set->set_expected_version(-1);
    }
  }
  proto::PosixMeta meta;
  if (to_set & FUSE_SET_ATTR_MODE) meta.set_mode(attr->st_mode & 07777);
  if (to_set & FUSE_SET_ATTR_UID) meta.set_uid(attr->st_uid);
  if (to_set & FUSE_SET_ATTR_GID) meta.set_gid(attr->st_gid);
  int64_t now = wall_ns();
  if (to_set & FUSE_SET_ATTR_ATIME_NOW) meta.set_atime_ns(now);
  else if (to_set & FUSE_SET_ATTR_ATIME) meta.set_atime_ns(timespec_ns(attr->st_atim));
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) meta.set_mtime_ns(now);
  else if (to_set & FUSE_SET_ATTR_MTIME) meta.set_mtime_ns(timespec_ns(attr->st_mtim));
  pin_times_of_writers(ino, meta);
  if (meta.ByteSizeLong() > 0) {
    proto::SetMetaOp* set = add_op(txn)->mutable_set_meta();
    set->set_path(path);
    *set->mutable_meta() = meta;
  }
  if (txn.ops_size() == 0) {
    getattr(req, ino, fi);  // e.g. only ctime, or a truncate kept for the commit
    return;
  }
  txn.set_time_ns(now);
  const uint64_t session_id = file ? file->session_id : 0;
  txn.set_session_id(session_id);
  submit(req, std::move(txn), [this, req, ino, session_id, fi_copy = fi ? std::optional(*fi) : std::nullopt](
                                  const ApplyResult& result) mutable {
    if (result.code != Code::kOk) {
      if (result.code == Code::kSessionExpired) expire_session(session_id);
      fuse_reply_err(req, errno_of(result.code));
      return;
    }
    getattr(req, ino, fi_copy ? &*fi_copy : nullptr);
  });
}

// ---- files -----------------------------------------------------------------------------------

void Filesystem::open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  if (is_echo(req)) {
    if (!echo_attributes(ino)) return (void)fuse_reply_err(req, ENOENT);
    return answer_echo_open(req, ino, fi, nullptr);
  }
  if (wait_for_create(ino, [this, req, ino, copy = *fi]() mutable { open(req, ino, &copy); })) return;
  const Node* node = node_or_reply(req, ino);
  if (node == nullptr) return;
  std::unique_ptr<OpenFile> file = describe_open(req, *node, fi);
  if (file == nullptr) return;
  const pid_t thread = fuse_req_ctx(req)->pid;  // the request is gone once answered
  if (fuse_reply_open(req, fi) == 0) {
    if (file->writable) {
      writers_.emplace(file->inode, file.get());
      // An O_TRUNC follows as a SETATTR from this thread, before anything else it asks (init).
      opened_by_thread_[thread] = file.get();
    }
    adopt(std::move(file));
  }
}

// The open file description of an open(2) of an existing node, its flags set in fi; null, and
// EACCES replied, when the ACL refuses the access.
std::unique_ptr<OpenFile> Filesystem::describe_open(fuse_req_t req, const Node& node, fuse_file_info* fi) {
  const uint64_t ino = node.inode();
  int access = fi->flags & O_ACCMODE;
  // A descriptor that may write keeps its opener's groups for the commits at close.
  proto::Caller caller = access == O_RDONLY ? caller_of(req) : writer_of(req);
  if ((access != O_WRONLY && !permitted(req, node, kRead, &caller)) ||
      (access != O_RDONLY && !permitted(req, node, kWrite, &caller))) {
    fuse_reply_err(req, EACCES);
    return nullptr;
  }
  auto file = std::make_unique<OpenFile>();
  file->inode = ino;
  file->caller = caller;
  file->writable = access != O_RDONLY;
  file->append = fi->flags & O_APPEND;
  // Writers bypass the page cache, so a half-written buffer is never seen by other readers;
  // readers keep it, and every committed change of the data invalidates it.
  fi->direct_io = file->writable;
  fi->keep_cache = !file->writable && options_.kernel_cache;
  if (fi->keep_cache) paged_inodes_.insert(ino);
  fi->fh = reinterpret_cast<uint64_t>(file.get());
  return file;
}

// open(O_CREAT) without O_EXCL that lost the create race to another host (or to a create the
// kernel had not seen): it opens the file that won, as POSIX says (docs/guarantees.md §3). The
// kernel thinks it created the file and sends no truncate: an O_TRUNC is part of the commit at
// close.
void Filesystem::open_created_elsewhere(fuse_req_t req, const std::string& path, fuse_file_info* fi) {
  const Node* node = visible(service_.tree().find(path));
  if (node == nullptr) return (void)fuse_reply_err(req, EEXIST);  // and gone again already
  if (node->is_directory()) return (void)fuse_reply_err(req, EISDIR);
  std::unique_ptr<OpenFile> file = describe_open(req, *node, fi);
  if (file == nullptr) return;
  if (file->writable && (fi->flags & O_TRUNC)) file->loaded = file->dirty = file->only_truncated = true;
  fuse_entry_param entry = entry_of(*node, true);
  if (fuse_reply_create(req, &entry, fi) == 0) {
    if (file->writable) writers_.emplace(file->inode, file.get());
    adopt(std::move(file));
  }
}

// The descriptor this thread opened for writing on ino just before, if that open is the last
// thing the thread did: the SETATTR(size 0) without a descriptor that follows is its O_TRUNC.
OpenFile* Filesystem::truncating_open(fuse_req_t req, fuse_ino_t ino) {
  auto opened = opened_by_thread_.find(fuse_req_ctx(req)->pid);
  if (opened == opened_by_thread_.end()) return nullptr;
  OpenFile* file = opened->second;
  opened_by_thread_.erase(opened);
  return file->inode == ino && !file->dirty ? file : nullptr;
}

void Filesystem::forget_open_of_thread(fuse_req_t req) { opened_by_thread_.erase(fuse_req_ctx(req)->pid); }

void Filesystem::read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* fi) {
  OpenFile* file = open_file(fi);
  forget_open_of_thread(req);
  if (reply_if_expired(req, file)) return;
  std::string_view data;
  if (file->loaded) {
    data = file->buffer;  // this descriptor's own pending writes
  } else {
    std::optional<std::string_view> committed = opened_data(ino);
    if (!committed) return (void)fuse_reply_err(req, missing_error(ino));
    data = *committed;
  }
  if (static_cast<size_t>(offset) >= data.size()) {
    fuse_reply_buf(req, nullptr, 0);
    return;
  }
  size_t length = std::min(size, data.size() - offset);
  fuse_reply_buf(req, data.data() + offset, length);
}

void Filesystem::write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t offset,
                       fuse_file_info* fi) {
  if (is_echo(req)) return (void)fuse_reply_write(req, size);  // the echo's MODIFY: no change
  OpenFile* file = open_file(fi);
  forget_open_of_thread(req);
  if (reply_if_expired(req, file)) return;
  std::string_view loaded_data;
  if (!file->loaded) {
    // A file deleted while open takes the write too; its commit fails with ENOENT
    // (docs/guarantees.md §3).
    std::optional<std::string_view> committed = opened_data(ino);
    if (!committed) return (void)fuse_reply_err(req, missing_error(ino));
    loaded_data = *committed;
  }
  // CAP_FSETID is the super user's here: the write kills set-user-ID/set-group-ID at commit.
  if (fuse_req_ctx(req)->uid != 0) file->kill_privileges = true;
  const size_t buffered = file->loaded ? file->buffer.size() : loaded_data.size();
  size_t position = file->append ? buffered : static_cast<size_t>(offset);
  if (position + size > options_.data_bytes_max) {
    // Nothing of this descriptor's writes will be committed: a half file is never stored.
    file->write_error = EFBIG;
    fuse_reply_err(req, EFBIG);
    return;
  }
  if (!budget_.charge(*file, std::max(buffered, position + size))) {
    file->write_error = ENOSPC;
    fuse_reply_err(req, ENOSPC);
    return;
  }
  if (!file->loaded) {
    file->buffer = loaded_data;
    file->loaded = true;
  }
  if (file->buffer.size() < position + size) file->buffer.resize(position + size);
  file->buffer.replace(position, size, buf, size);
  file->dirty = true;
  file->only_truncated = false;
  fuse_reply_write(req, size);
}

// Every close(2) commits (docs/guarantees.md §3): the close that returned must be durable and
// answer for its own errors. One exception: a flush that carries only the O_TRUNC while another
// descriptor still shares the description (`echo x > f` closes such a copy before writing) waits
// for the data, so that the redirection is ONE setData; the last close of the description commits.
void Filesystem::flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  // A POSIX lock owner's close sends no unlock, only this FLUSH: its locks on the file go, after
  // the commit is submitted (this host's txns keep their order: the next holder reads the data).
  const LockOwner posix_owner{true, fi->lock_owner, ino};
  OpenFile* file = open_file(fi);
  forget_open_of_thread(req);
  if (reply_if_expired(req, file)) return unlock(posix_owner);
  order_creates_of_process(req, file->inode);
  if (!flush_commits(file->only_truncated, file->only_truncated && shared_elsewhere(req, *file))) {
    fuse_reply_err(req, 0);
    return unlock(posix_owner);
  }
  commit(*file, [req](int error) { fuse_reply_err(req, error); });
  unlock(posix_owner);
}

// Whether the flushing task (or a child of its process) still holds this description. The kernel
// does not say; /proc says which descriptors are open for writing on the inode, and they are this
// one when it is the only description open for writing on it here (descriptors.h). Uncertain
// answers are "no": then the flush commits, as every other close does.
bool Filesystem::shared_elsewhere(fuse_req_t req, const OpenFile& file) const {
  return writers_.count(file.inode) == 1 &&
         holds_writable_descriptor(fuse_req_ctx(req)->pid, mount_device_, file.inode);
}

// fsync(2) commits like close, then is ZooKeeper's sync() (docs/guarantees.md §2): it returns once
// every write committed anywhere before it is applied here.
void Filesystem::fsync(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  if (reply_if_expired(req, open_file(fi))) return;
  order_creates_of_process(req, open_file(fi)->inode);
  commit(*open_file(fi), [this, req](int error) {
    if (error != 0) return (void)fuse_reply_err(req, error);
    // The commit may answer on the notifier's thread; the service lives on the loop's.
    boost::asio::post(io_, [this, req] { service_.sync([req](Code code) { fuse_reply_err(req, errno_of(code)); }); });
  });
}

// The one setData of everything this descriptor wrote since the last commit (docs/guarantees.md
// §3).
void Filesystem::commit(OpenFile& file, std::function<void(int)> reply) {
  if (file.write_error != 0) {
    // Nothing of this descriptor's writes is stored: a half file is never committed.
    const int error = file.write_error;
    budget_.reset(file);
    reply(error);
    return;
  }
  if (PendingCreate* pending = pending_create(file.inode)) return commit_pending(file, *pending, std::move(reply));
  if (!file.dirty) {
    reply(0);
    return;
  }
  const Node* node = visible(service_.tree().by_inode(file.inode));
  if (node == nullptr) {
    budget_.reset(file);
    reply(ENOENT);
    return;
  }
  CommitContent content{budget_.take(file), file.atime_ns, file.mtime_ns, file.kill_privileges};
  auto pending = std::make_shared<PendingCommit>(PendingCommit{file.inode, std::move(content), file.caller, file.session_id});
  budget_.reset(file);  // the bytes moved on: they stay charged until the commit is answered
  submit_commit(std::move(pending), std::move(reply), kRenameAttempts);
}

// The txn names the node by path; a rename applied between building it and applying it moves
// the node away (kNoNode) though it still exists: then the commit is rebuilt with the new path.
void Filesystem::submit_commit(std::shared_ptr<PendingCommit> pending, std::function<void(int)> reply,
                               int attempts_left) {
  // Its bytes stop counting against the budget once it is answered (on this, the loop's, thread).
  auto settled = [this, pending] { budget_.settle(pending->content.data.size()); };
  const Node* node = visible(service_.tree().by_inode(pending->inode));
  if (node == nullptr) {
    settled();
    return reply(ENOENT);
  }
  proto::Txn txn = commit_txn(service_.tree().path_of(*node), node->attrs().mode, pending->content);
  *txn.mutable_caller() = pending->caller;
  txn.set_session_id(pending->session_id);
  uint64_t inode = pending->inode;
  service_.submit(std::move(txn), service::Submitter::kMount, [this, pending, inode, attempts_left, settled,
                                   reply = std::move(reply)](const ApplyResult& result) mutable {
    if (result.code == Code::kNoNode && attempts_left > 1 && visible(service_.tree().by_inode(inode))) {
      submit_commit(std::move(pending), std::move(reply), attempts_left - 1);
      return;
    }
    settled();
    if (result.code != Code::kOk) {
      if (result.code == Code::kSessionExpired) expire_session(pending->session_id);
      reply(errno_of(result.code));
      return;
    }
    // Readers' cached pages and the kernel's size must go before the writer's close returns: a
    // process that sees the close (IN_CLOSE_WRITE) and then reads must get the new data
    // (docs/guarantees.md §5). Dropping attributes alone takes no inode or page lock in the
    // kernel, so the loop thread may do it; pages go through the notifier, and only when a reader
    // may have cached some.
    if (paged_inodes_.erase(inode) == 0) {
      fuse_lowlevel_notify_inval_inode(session_, inode, -1, 0);
      return reply(0);
    }
    notifier_->invalidate_inode(inode, true);
    notifier_->then([reply] { reply(0); });
  });
}

// Explicit times set while a descriptor has uncommitted data are re-applied by its commit.
void Filesystem::pin_times_of_writers(uint64_t inode, const proto::PosixMeta& meta) {
  auto [begin, end] = writers_.equal_range(inode);
  for (auto it = begin; it != end; ++it) {
    OpenFile& file = *it->second;
    if (!file.dirty) continue;
    if (meta.has_atime_ns()) file.atime_ns = meta.atime_ns();
    if (meta.has_mtime_ns()) file.mtime_ns = meta.mtime_ns();
  }
}

// Open file descriptions belong to the mount from the reply that handed them to the kernel until
// their RELEASE, or until the mount goes (the kernel sends no RELEASE after an unmount).
void Filesystem::adopt(std::unique_ptr<OpenFile> file) {
  OpenFile* key = file.get();
  unlinked_.opened(key->inode);
  open_files_.emplace(key, std::move(file));
}

void Filesystem::release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  auto owned = open_files_.extract(open_file(fi));
  QFS_CHECK(!owned.empty(), "a released file description is one the mount handed out");
  std::unique_ptr<OpenFile> file = std::move(owned.mapped());
  release_pending(*file);
  if (file->created_inode != 0) aliases_.erase(file->created_inode);
  budget_.reset(*file);  // its uncommitted bytes no longer count
  unlinked_.released(file->inode);  // the last one lets go of a file deleted while open
  std::erase_if(opened_by_thread_, [&](const auto& opened) { return opened.second == file.get(); });
  fuse_reply_err(req, 0);
  unlock_all_of(file.get());
  if (file->expired) {
    auto expired = expired_inodes_.find(file->inode);
    QFS_CHECK(expired != expired_inodes_.end(), "an expired descriptor counts for its inode");
    if (--expired->second == 0) expired_inodes_.erase(expired);
  }
  if (file->writable) {
    auto [begin, end] = writers_.equal_range(file->inode);
    for (auto it = begin; it != end; ++it) {
      if (it->second == file.get()) {
        writers_.erase(it);
        break;
      }
    }
  }
  if (file->session_id == 0) return;
  session_owners_.erase(file->session_id);
  // Expired by a lost lock, its own session may still be open.
  if (file->expired && !service_.tree().session_open(file->session_id)) return;
  // The last reference to the description that created ephemerals is gone: so are they.
  close_session(file->session_id);
}

void Filesystem::close_session(uint64_t session_id) {
  closing_sessions_.insert(session_id);
  // The kernel did not see its deletes: the change feed has the echo raise their events.
  service_.sessions().close(SessionId(session_id), true,
                            [this, session_id](const ApplyResult&) { closing_sessions_.erase(session_id); });
}

// A session closed by someone else than its descriptor's release: the leader expired it, as this
// host was not heard for sessionTimeout (a partition, a stopped daemon). Like a ZooKeeper handle
// whose session expired, the descriptor is done for; the release that comes later closes nothing.
void Filesystem::expire_session(uint64_t session_id) {
  auto owner = session_owners_.find(session_id);
  if (owner == session_owners_.end() || owner->second->expired) return;
  spdlog::info("session {:#x} was closed while its descriptor (inode {}) is open: that descriptor fails with "
               "ESTALE from now on", session_id, owner->second->inode);
  expire_file(*owner->second);
}

void Filesystem::expire_file(OpenFile& file) {
  if (file.expired) return;
  file.expired = true;
  budget_.reset(file);
  ++expired_inodes_[file.inode];
}

// ---- directories -----------------------------------------------------------------------------

void Filesystem::opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  if (!pending_creates_.empty() && opendir_pending(req, ino, fi)) return;
  const Node* node = node_or_reply(req, ino);
  if (node == nullptr) return;
  proto::Caller caller = caller_of(req);
  if (!permitted(req, *node, kRead, &caller)) {
    fuse_reply_err(req, EACCES);
    return;
  }
  auto dir = std::make_unique<OpenDir>();
  fi->fh = reinterpret_cast<uint64_t>(dir.get());
  if (fuse_reply_open(req, fi) == 0) dir.release();
}

void Filesystem::readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
                         fuse_file_info* fi, bool plus) {
  auto* dir = reinterpret_cast<OpenDir*>(fi->fh);
  const Node* node = node_or_reply(req, ino);
  if (node == nullptr) return;
  if (offset == 0) {
    dir->entries.clear();
    dir->entries.push_back({".", node->inode(), true});
    const Node* up = node->parent() ? node->parent() : node;
    dir->entries.push_back({"..", up->inode(), true});
    node->for_each_child("", [dir](const Node& child) {
      dir->entries.push_back({std::string(child.name()), child.inode(), child.is_directory()});
      return true;
    });
  }
  // Names a queued echo step needs to resolve its own way are not cached (echo_shadowed_).
  std::string directory_path = echo_shadowed_.empty() ? "" : service_.tree().path_of(*node);
  auto cacheable = [&](const std::string& name) {
    return directory_path.empty() || !echo_shadowed_.contains(join_path(directory_path, name));
  };
  std::string reply(size, '\0');
  size_t used = 0;
  for (size_t index = offset; index < dir->entries.size(); ++index) {
    const auto& entry = dir->entries[index];
    size_t room = size - used;
    size_t needed;
    off_t next = static_cast<off_t>(index + 1);
    const Node* child = service_.tree().by_inode(entry.inode);
    if (index >= 2) child = visible(child);
    if (plus && child != nullptr && index >= 2) {
      fuse_entry_param param = entry_of(*child, cacheable(entry.name));
      needed = fuse_add_direntry_plus(req, reply.data() + used, room, entry.name.c_str(), &param, next);
    } else {
      if (index >= 2 && child == nullptr) continue;  // deleted since the listing was taken
      struct stat attr {};
      attr.st_ino = entry.inode;
      attr.st_mode = entry.directory ? S_IFDIR : S_IFREG;
      if (plus) {
        fuse_entry_param param{};  // "." and "..": no entry for the kernel to keep
        param.attr = attr;
        needed = fuse_add_direntry_plus(req, reply.data() + used, room, entry.name.c_str(), &param, next);
      } else {
        needed = fuse_add_direntry(req, reply.data() + used, room, entry.name.c_str(), &attr, next);
      }
    }
    if (needed > room) break;
    used += needed;
  }
  fuse_reply_buf(req, reply.data(), used);
}

void Filesystem::releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  delete reinterpret_cast<OpenDir*>(fi->fh);
  fuse_reply_err(req, 0);
}

void Filesystem::statfs(fuse_req_t req, fuse_ino_t) {
  struct statvfs info {};
  info.f_bsize = 4096;
  info.f_frsize = 4096;
  info.f_blocks = 1u << 20;
  info.f_bfree = info.f_bavail = 1u << 19;
  info.f_files = 1u << 24;
  info.f_ffree = info.f_favail = info.f_files - service_.tree().node_count();
  info.f_namemax = kNameBytesMax;
  fuse_reply_statfs(req, &info);
}

// ---- extended attributes ---------------------------------------------------------------------

namespace {
void reply_value(fuse_req_t req, std::string_view value, size_t size) {
  if (size == 0) {
    fuse_reply_xattr(req, value.size());
  } else if (value.size() > size) {
    fuse_reply_err(req, ERANGE);
  } else {
    fuse_reply_buf(req, value.data(), value.size());
  }
}
}  // namespace

void Filesystem::getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  // The echo's only getxattr is the kernel's security.capability check before its ftruncate.
  if (is_echo(req)) return (void)fuse_reply_err(req, ENODATA);
  XattrKind kind = classify_xattr(name);
  // Everything else (security.capability is asked on every first write) is simply absent.
  if (kind == XattrKind::kUnknown) {
    if (std::string_view(name) != kControlXattr || options_.control_socket.empty()) {
      fuse_reply_err(req, ENODATA);
      return;
    }
    const Node* node = node_or_reply(req, ino);
    if (node == nullptr) return;
    if (node->parent() != nullptr) return (void)fuse_reply_err(req, ENODATA);  // the daemon's, on the root
    return reply_value(req, options_.control_socket, size);
  }
  if (wait_for_create(ino, [=, this, copy = std::string(name)] { getxattr(req, ino, copy.c_str(), size); })) return;
  const Node* node = node_or_reply(req, ino);
  if (node == nullptr) return;
  proto::Caller caller = caller_of(req);
  switch (kind) {
    case XattrKind::kData:
      if (!permitted(req, *node, kRead, &caller)) return (void)fuse_reply_err(req, EACCES);
      return reply_value(req, node->data(), size);
    case XattrKind::kAcl:
      // ZooKeeper's getACL asks for READ or ADMIN.
      if (!permitted(req, *node, kRead, &caller) && !permitted(req, *node, kAdmin, &caller)) {
        return (void)fuse_reply_err(req, EACCES);
      }
      return reply_value(req, format_acl(node->acl()), size);
    case XattrKind::kLockToken:
      return reply_lock_token(req, ino, size);
    case XattrKind::kState:
      if (node->parent() != nullptr) return (void)fuse_reply_err(req, ENODATA);  // the replica's, on the root
      return reply_value(req, state_xattr(service_.synced(), !expired_inodes_.empty()), size);
    default:
      return reply_value(req, *stat_xattr(service_.tree(), *node, name), size);
  }
}

void Filesystem::listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  if (wait_for_create(ino, [=, this] { listxattr(req, ino, size); })) return;
  const Node* node = node_or_reply(req, ino);
  if (node == nullptr) return;
  reply_value(req, list_xattrs(*node), size);
}

void Filesystem::setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value,
                          size_t size, int) {
  XattrKind kind = classify_xattr(name);
  if (kind == XattrKind::kUnknown) {
    fuse_reply_err(req, ENOTSUP);  // no free-form attributes (cp -a skips them quietly)
    return;
  }
  if (kind != XattrKind::kAcl && kind != XattrKind::kData) {
    fuse_reply_err(req, EPERM);  // stat, name and path are read-only
    return;
  }
  auto retry = [=, this, copy = std::string(name), bytes = std::string(value, size)] {
    setxattr(req, ino, copy.c_str(), bytes.data(), bytes.size(), 0);
  };
  if (wait_for_create(ino, retry)) return;
  order_creates_of_process(req);
  const Node* node = node_or_reply(req, ino);
  if (node == nullptr) return;
  if (in_lock_tree(service_.tree().path_of(*node))) return (void)fuse_reply_err(req, EPERM);
  proto::Txn txn;
  std::string path = service_.tree().path_of(*node);
  if (kind == XattrKind::kAcl) {
    // Refused here, so that a bad text never reaches the log (the tree would refuse it too).
    if (std::string reason = acl_value_error(std::string_view(value, size)); !reason.empty()) {
      log_refusal("setxattr user.zk.acl", path, EINVAL, reason);
      return (void)fuse_reply_err(req, EINVAL);
    }
    proto::SetAclOp* set = add_op(txn)->mutable_set_acl();
    set->set_path(path);
    set->set_acl(std::string(value, size));
    set->set_expected_aversion(-1);
  } else {
    if (size > options_.data_bytes_max) return (void)fuse_reply_err(req, EFBIG);
    proto::SetDataOp* set = add_op(txn)->mutable_set_data();
    set->set_path(path);
    set->set_data(std::string(value, size));
    set->set_expected_version(-1);
  }
  submit(req, std::move(txn), [this, req, ino, kind](const ApplyResult& result) {
    if (result.code != Code::kOk) {
      fuse_reply_err(req, errno_of(result.code));
      return;
    }
    if (kind == XattrKind::kData) paged_inodes_.erase(ino);
    notifier_->invalidate_inode(ino, kind == XattrKind::kData);
    notifier_->then([req] { fuse_reply_err(req, 0); });
  });
}

void Filesystem::removexattr(fuse_req_t req, fuse_ino_t, const char* name) {
  fuse_reply_err(req, classify_xattr(name) == XattrKind::kUnknown ? ENODATA : EPERM);
}

}  // namespace quorumfs::fusefs
