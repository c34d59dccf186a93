// The mount: POSIX calls on the znode tree, through libfuse's low-level API.
//
//   $ quorumfs --data /var/lib/quorumfs /mnt/q &
//   $ echo hello > /mnt/q/greeting            # create, then one setData at close
//   $ cat /mnt/q/greeting                     # getData
//   hello
//   $ mkdir -m 1755 /mnt/q/queue              # sticky bit: children are sequential
//   $ touch /mnt/q/queue/job- && ls /mnt/q/queue
//   job-0000000000
//   $ mkdir -m 2755 /mnt/q/members            # set-gid: files inside are ephemeral
//   $ exec 3>/mnt/q/members/$(hostname)       # lives while fd 3 is open
//   $ getfattr -d -m - /mnt/q/greeting        # ZooKeeper's stat as user.zk.* xattrs
//
// Threading: every handler runs on the daemon's event-loop thread, which also owns the tree, so
// reads take no lock. A write handler builds a txn, submits it and returns; its reply is sent when
// the txn is applied. Kernel caches (entry, attr, page) stay on; what the kernel cannot know is
// invalidated through the Notifier.
#pragma once

#include <fuse_lowlevel.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "daemon/metrics/histogram.h"
#include "daemon/service/locks.h"
#include "daemon/service/service.h"
#include "fusefs/background_create.h"
#include "fusefs/echo.h"
#include "fusefs/errors.h"
#include "fusefs/notifier.h"
#include "fusefs/open_file.h"
#include "fusefs/txn_rules.h"
#include "fusefs/unlinked.h"

namespace quorumfs::fusefs {

struct MountOptions {
  std::string mountpoint;
  bool allow_other = true;
  bool auto_unmount = true;
  bool kernel_cache = true;   // entry/attr timeouts and page cache; off: every call reaches us
  double cache_timeout_s = 1.0;
  size_t data_bytes_max = 1 << 20;  // a file's content, as the tree's limit
  // Bytes written to open files and not yet committed, over all descriptors of this host: a write
  // past it fails with ENOSPC (docs/mount.md).
  size_t buffered_bytes_max = 256u << 20;
  bool debug = false;
  // The daemon's control socket ("@quorumfs-PID"), the root's user.quorumfs.control; empty: none.
  std::string control_socket;
};

// The mount's reads whose time on the loop is kept (/metrics): a read is answered in its handler.
inline constexpr std::array<const char*, 5> kMountReadNames{"lookup", "getattr", "read", "readdir", "getxattr"};

class Filesystem {
 public:
  Filesystem(boost::asio::io_context& io, service::Service& service, MountOptions options);
  ~Filesystem();

  // Mounts and starts serving on the io_context. on_exit runs when the mount goes away
  // (fusermount3 -u) so the daemon can stop.
  bool mount(std::function<void()> on_exit, std::string* error);
  // Stops the helper threads while still serving, then unmounts; done runs after.
  void unmount(std::function<void()> done);

  // Every txn applied on this replica, from the change feed, in zxid order. One that did not come
  // through a call on this mount (another host, a closed session, another front end): its caches
  // go, then the echo raises the inotify events a local change would have raised (docs/mount.md,
  // "Watches"; echo.h). A local descriptor whose session it closed is expired: its next call fails
  // with ESTALE.
  void on_applied(const service::Applied& applied);
  // The replica rebuilt its tree from disk (Zab's TRUNC or SNAP): drops every cached attribute
  // and page. Raises no events for what changed; names of nodes that are gone stay cached until
  // the entry timeout (docs/mount.md). Descriptors whose session the new tree has closed expire.
  void on_tree_replaced();
  // Runs fn on the event loop once every change applied so far has had its kernel caches dropped
  // and its echo made: a write another front end made for a local caller (quorumctl's control
  // socket, docs/quorumctl.md) is answered after that, so the caller reads it back on the mount.
  void after_echoes(std::function<void()> fn);
  // How many of the echo's requests reached a handler (each handler asks is_echo once); on the
  // loop. Each is a round trip to the kernel on every member for every change (docs/kernel.md,
  // "Echo requests").
  uint64_t echo_requests() const { return echo_requests_; }
  // Changes applied here whose echo has not finished yet: the echo's queue; on the loop. The mount
  // cannot refuse a change that was applied, so the bound is kept where writes enter: observer
  // gets the backlog each time it changes, on the loop (the client port holds its writes past a
  // limit: docs/zk-protocol.md, "Limits").
  size_t echo_backlog() const { return echo_steps_.size(); }
  void set_echo_backlog_observer(std::function<void(size_t backlog)> observer) {
    echo_backlog_observer_ = std::move(observer);
  }

  // Handlers (public for the C trampolines in filesystem.cc).
  struct OpenDir;
  void init(fuse_conn_info* conn);
  void lookup(fuse_req_t req, fuse_ino_t parent, const char* name);
  void getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void sync(fuse_req_t req) {
    service_.sync([req](Code code) { fuse_reply_err(req, errno_of(code)); });
  }
  void setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi);
  void mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev);
  void mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode);
  void unlink(fuse_req_t req, fuse_ino_t parent, const char* name, bool directory);
  void rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t new_parent,
              const char* new_name, unsigned int flags);
  void open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi);
  void read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* fi);
  void write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t offset,
             fuse_file_info* fi);
  void flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void fsync(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* fi,
               bool plus);
  void releasedir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void statfs(fuse_req_t req, fuse_ino_t ino);
  void setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                int flags);
  void getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size);
  void listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
  void removexattr(fuse_req_t req, fuse_ino_t ino, const char* name);
  // Locks for the whole ensemble (locks.cc; docs/mount.md, "Locks").
  void flock(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, int op);
  void getlk(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, struct flock* lock);
  void setlk(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, struct flock* lock, int sleep);
  void interrupted(fuse_req_t req);
  // The inode a call on ino means: ino, or the node that won its name (background_create.h).
  fuse_ino_t alias_of(fuse_ino_t ino) const;
  boost::asio::io_context& io() { return io_; }
  // The host is stopping: lock acquisitions not yet ordered are withdrawn (service/locks.h).
  void stop_locks() { locks_->stop(); }
  // Each read's time in its handler, by kMountReadNames (recorded in the libfuse entry points).
  std::array<metrics::LatencyHistogram, kMountReadNames.size()>& read_latency() { return read_latency_; }

 private:
  std::array<metrics::LatencyHistogram, kMountReadNames.size()> read_latency_;
  // Whose lock: an open file description (flock) or a POSIX lock owner (fcntl, lockf), on an inode.
  struct LockOwner {
    bool posix;
    uint64_t owner;  // the OpenFile's address, or the kernel's lock_owner
    uint64_t inode;
    auto operator<=>(const LockOwner&) const = default;
  };
  struct OwnedLock {
    uint64_t attempt;          // which acquisition of this owner the entry is
    SessionId id;              // the lock service's (empty until acquire returns)
    service::LockMode mode;
    bool held = false;
    fuse_req_t waiting = nullptr;  // the blocked request, answered when granted
    OpenFile* file;            // the descriptor it came through: expires with the lock
    pid_t process;             // the locking process (user.zk.lock.token)
  };
  // A rename's or a commit's txn names nodes by path; one that a rename applied meanwhile made
  // fail is rebuilt and tried again, at most this many times in all.
  static constexpr int kRenameAttempts = 5;
  struct PendingCommit {
    uint64_t inode;
    CommitContent content;
    proto::Caller caller;
    uint64_t session_id;  // the descriptor's, carried by the txn (Txn.session_id)
  };
  struct Child {
    const Node* parent;
    const Node* node;  // null when the name is free
    std::string path;
  };
  // Resolves parent + name; replies with the error and returns false when it cannot. call names
  // the request in the log line of a refusal.
  bool resolve(fuse_req_t req, fuse_ino_t parent, const char* name, Child* out, std::string_view call);
  const Node* node_or_reply(fuse_req_t req, fuse_ino_t ino);
  const Node* visible(const Node* node) const;
  const Node* opened_node(fuse_ino_t ino) const;
  std::optional<std::string_view> opened_data(fuse_ino_t ino) const;
  int missing_error(fuse_ino_t ino) const;
  void keep_deleted(const ApplyResult& result);
  double cache_timeout(const Node& node) const;
  fuse_entry_param entry_of(const Node& node, bool cacheable) const;
  proto::Caller caller_of(fuse_req_t req) const;
  bool permitted(fuse_req_t req, const Node& node, uint32_t perm, proto::Caller* caller) const;
  void add_groups(fuse_req_t req, proto::Caller* caller) const;
  proto::Caller writer_of(fuse_req_t req) const;
  void reply_entry(fuse_req_t req, const Node& node, bool cacheable);
  struct stat attributes_of(const Node& node) const;
  static struct stat attributes_of_deleted(uint64_t inode, const DeletedNode& node);
  void submit(fuse_req_t req, proto::Txn txn, service::Service::Done done);
  void commit(OpenFile& file, std::function<void(int)> reply);
  void submit_commit(std::shared_ptr<PendingCommit> pending, std::function<void(int)> reply, int attempts_left);
  void lookup_node(fuse_req_t req, fuse_ino_t parent, const char* name);
  OpenFile* truncating_open(fuse_req_t req, fuse_ino_t ino);
  void forget_open_of_thread(fuse_req_t req);
  bool shared_elsewhere(fuse_req_t req, const OpenFile& file) const;
  void adopt(std::unique_ptr<OpenFile> file);
  void pin_times_of_writers(uint64_t inode, const proto::PosixMeta& meta);
  std::unique_ptr<OpenFile> describe_open(fuse_req_t req, const Node& node, fuse_file_info* fi);
  void open_created_elsewhere(fuse_req_t req, const std::string& path, fuse_file_info* fi);
  void create_node(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, bool directory,
                   fuse_file_info* fi);
  void rename_attempt(fuse_req_t req, fuse_ino_t parent, std::string name, fuse_ino_t new_parent,
                      std::string new_name, unsigned int flags, int attempts_left);
  void close_session(uint64_t session_id);
  void expire_session(uint64_t session_id);
  void expire_file(OpenFile& file);
  bool reply_if_expired(fuse_req_t req, OpenFile* file);
  void serve_ready();
  void finish_unmount(std::function<void()> done);
  void teardown();
  bool is_echo(fuse_req_t req) const;
  void announce(const EchoChange& change);
  std::optional<EchoLocation> location_of(const Change& change) const;
  void echo(EchoStep step);
  void echo_finished(uint64_t step_id);
  const EchoStep* current_echo() const;
  std::optional<std::string> echo_path(fuse_ino_t parent, const char* name) const;
  std::optional<struct stat> echo_attributes(fuse_ino_t ino) const;
  fuse_entry_param echo_entry(uint64_t inode, bool directory) const;
  void answer_echo_lookup(fuse_req_t req, fuse_ino_t parent, const char* name);
  void answer_echo_attributes(fuse_req_t req, fuse_ino_t ino, bool from_getattr);
  void answer_echo_open(fuse_req_t req, uint64_t inode, fuse_file_info* fi, const fuse_entry_param* created);
  void answer_echo_creation(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_file_info* fi);
  bool echo_step_is(EchoStep::Kind kind, const std::optional<std::string>& path,
                    const std::optional<std::string>& from = std::nullopt) const;
  void wait_readable();
  void lock(fuse_req_t req, LockOwner owner, service::LockMode mode, bool wait, OpenFile* file);
  void lock_answered(LockOwner owner, uint64_t attempt, Code code);
  void unlock(LockOwner owner);
  void commit_and_unlock(fuse_req_t req, OpenFile* file, LockOwner owner);
  void unlock_all_of(OpenFile* file);
  void lock_lost(SessionId id);
  void reply_lock_token(fuse_req_t req, fuse_ino_t ino, size_t size);
  // Creates in the background (background_create.cc).
  void reserve_inodes();
  PendingCreate* pending_create(uint64_t inode) const;
  PendingCreate* pending_named(fuse_ino_t parent, std::string_view name) const;
  bool create_in_background(fuse_req_t req, const Child& child, std::string_view name, const CreateFlags& flags,
                            fuse_file_info* fi);
  struct stat pending_attributes(const PendingCreate& pending) const;
  void order_create(PendingCreate& pending);
  void order_creates_of_process(fuse_req_t req, uint64_t except_inode = 0);
  pid_t process_of(pid_t thread);
  bool wait_for_create(uint64_t inode, std::function<void()> retry);
  bool sees_pending(fuse_req_t req, std::optional<std::vector<pid_t>>& lineage, PendingCreate& pending);
  bool lookup_pending(fuse_req_t req, fuse_ino_t parent, const char* name);
  bool opendir_pending(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  bool setattr_pending(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi);
  void commit_pending(OpenFile& file, PendingCreate& pending, std::function<void(int)> reply);
  void submit_create(PendingCreate& pending, std::shared_ptr<PendingCommit> content, std::function<void(int)> reply);
  void create_answered(uint64_t inode, const ApplyResult& result, const std::string& path,
                       std::shared_ptr<PendingCommit> content, std::function<void(int)> reply);
  void adopt_winner(OpenFile& file, const PendingCreate& pending, uint64_t winner);
  bool append_to_winner(const Node& winner, std::string& written);
  void release_pending(OpenFile& file);

  boost::asio::io_context& io_;
  service::Service& service_;
  service::ChangeFeed::Subscription subscription_ = 0;
  MountOptions options_;
  fuse_session* session_ = nullptr;
  std::unique_ptr<Notifier> notifier_;
  std::unique_ptr<Echo> echo_;
  std::map<uint64_t, EchoStep> echo_steps_;  // queued on the echo or running, by id
  std::function<void(size_t)> echo_backlog_observer_;
  uint64_t next_echo_step_ = 1;
  mutable uint64_t echo_requests_ = 0;  // counted by is_echo()
  // Paths that a queued step names (EchoStep::shadow), with their count: entries for them are not
  // cached by the kernel meanwhile, so that a lookup by another process cannot hide a name from
  // the echo's calls (an O_EXCL create or a rename that the kernel would answer by itself).
  std::unordered_map<std::string, int> echo_shadowed_;
  boost::asio::steady_timer helpers_timer_{io_};
  std::unique_ptr<boost::asio::posix::stream_descriptor> device_;
  fuse_buf buffer_{};
  std::function<void()> on_exit_;
  bool mounted_ = false;
  std::unordered_multimap<uint64_t, OpenFile*> writers_;  // inode -> descriptors open for writing
  std::unordered_set<uint64_t> closing_sessions_;         // released, closeSession not yet applied
  WriteBudget budget_{options_.buffered_bytes_max};
  // Files deleted while descriptors of this host have them open, kept for those descriptors within
  // budget_ (unlinked.h; docs/guarantees.md §3).
  UnlinkedFiles unlinked_{budget_};
  std::unordered_map<OpenFile*, std::unique_ptr<OpenFile>> open_files_;  // handed to the kernel
  std::unordered_map<uint64_t, OpenFile*> session_owners_;  // session -> the descriptor that owns it
  // Inodes of expired descriptors, with their count: calls on them by inode (getxattr through
  // /proc/PID/fd/N) fail with ESTALE, not ENOENT, while such a descriptor is open.
  std::unordered_map<uint64_t, int> expired_inodes_;
  std::unordered_set<uint64_t> paged_inodes_;  // opened with keep_cache since their last invalidation
  std::unique_ptr<service::LockService> locks_;
  std::map<LockOwner, OwnedLock> owned_locks_;
  std::unordered_map<fuse_req_t, LockOwner> blocked_requests_;  // waiting for a lock: interruptible
  uint64_t next_lock_attempt_ = 1;
  // The last descriptor each thread opened for writing, until that thread's next request about it:
  // the O_TRUNC of an open comes as a SETATTR without a descriptor right after it (init).
  std::unordered_map<pid_t, OpenFile*> opened_by_thread_;
  std::string mount_device_;  // "major:minor" of this mount in /proc/*/mountinfo (descriptors.h)
  // Creates in the background (background_create.h): the inodes reserved for them, the creates
  // not applied yet (by inode and by directory and name), the one each process has not ordered
  // yet, and the inodes of descriptors whose name another host created first (alias_of).
  InodeBlocks inode_blocks_;
  std::unordered_map<uint64_t, std::unique_ptr<PendingCreate>> pending_creates_;
  std::map<std::pair<uint64_t, std::string>, uint64_t, PendingNameLess> pending_names_;
  std::unordered_map<pid_t, uint64_t> unsubmitted_of_process_;
  std::unordered_map<pid_t, pid_t> process_of_thread_;  // process_of's cache
  std::unordered_map<uint64_t, uint64_t> aliases_;
};

}  // namespace quorumfs::fusefs
