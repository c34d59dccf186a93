// The echo responder: changes the kernel did not see (another host's, a closed session's, another
// front end's) come from the change feed; their caches are dropped and the echo thread makes on
// the mount the calls that raise the inotify events a local change would have raised (echo.h;
// docs/mount.md, "Watches"). The echo's calls are answered here, from the announced step, without
// a txn.
#include <boost/asio/post.hpp>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include "fusefs/echo.h"
#include "fusefs/filesystem.h"
#include "fusefs/open_file.h"
#include "fusefs/txn_rules.h"

namespace quorumfs::fusefs {

void Filesystem::on_tree_replaced() {
  std::vector<uint64_t> closed;
  for (const auto& [session_id, file] : session_owners_) {
    if (!service_.tree().session_open(session_id)) closed.push_back(session_id);
  }
  for (uint64_t session_id : closed) expire_session(session_id);
  locks_->on_tree_replaced();
  if (!notifier_) return;
  paged_inodes_.clear();
  std::vector<const Node*> pending{&service_.tree().root()};
  while (!pending.empty()) {
    const Node* node = pending.back();
    pending.pop_back();
    notifier_->invalidate_inode(node->inode(), !node->is_directory());
    if (!node->is_directory()) continue;
    node->for_each_child("", [&](const Node& child) {
      pending.push_back(&child);
      return true;
    });
  }
}

void Filesystem::on_applied(const service::Applied& applied) {
  keep_deleted(applied.result);
  for (uint64_t session_id : applied.result.closed_sessions) expire_session(session_id);
  if (!notifier_) return;
  // What this mount did through a call the kernel saw raised its events already; the rest (other
  // hosts, closed sessions, other front ends, lock waiter nodes) is echoed.
  if (applied.submitter == service::Submitter::kMount && applied.origin != service::Origin::kSessionClose) return;
  for (const EchoChange& change : group_renames(applied.result.changes)) announce(change);
}

// Behind the Notifier's invalidations, then behind the Echo's steps (queued by the Notifier in
// that order), then back on the loop. The task queued on the Echo's thread only posts: it makes
// no call on the mount, so nothing waits behind it.
void Filesystem::after_echoes(std::function<void()> fn) {
  // The io_context, not this: the mount may be gone by the time the Echo's thread runs it.
  auto on_loop = [&io = io_, fn = std::move(fn)]() mutable { boost::asio::post(io, std::move(fn)); };
  if (!notifier_ || !echo_) return on_loop();
  notifier_->then([echo = echo_.get(), on_loop = std::move(on_loop)]() mutable {
    if (!echo->thread().push(on_loop)) on_loop();  // stopped (unmounting): nothing left to wait for
  });
}

// Every delete, whoever made it (this mount, another host, a closed session, a rename over the
// file): descriptors of this host opened before it keep reading its last state (unlinked.h). A
// rename's delete of its source is none: the inode lives on in the target.
void Filesystem::keep_deleted(const ApplyResult& result) {
  for (const Change& change : result.changes) {
    if (change.kind != Change::Kind::kDeleted || change.directory) continue;
    if (service_.tree().by_inode(change.inode) != nullptr) continue;
    unlinked_.deleted(change.inode, change.deleted);
  }
}

bool Filesystem::is_echo(fuse_req_t req) const {
  const bool echo = echo_ && fuse_req_ctx(req)->pid == echo_->thread_id();
  if (echo) ++echo_requests_;
  return echo;
}

std::optional<EchoLocation> Filesystem::location_of(const Change& change) const {
  const Node* parent = service_.tree().by_inode(change.parent_inode);
  if (parent == nullptr) return std::nullopt;  // removed by the same txn: nothing to name it by
  return EchoLocation{join_path(service_.tree().path_of(*parent), change.name), change.parent_inode, change.name};
}

// Drops what the kernel may cache of the change (on the Notifier, which may block), then queues
// its echo behind that.
void Filesystem::announce(const EchoChange& grouped) {
  const Change& change = *grouped.change;
  std::optional<EchoLocation> at = location_of(change);
  if (!at) return;
  EchoStep step;
  step.at = *at;
  step.inode = change.inode;
  step.directory = change.directory;
  switch (change.kind) {
    case Change::Kind::kCreated:
      step.kind = EchoStep::Kind::kCreate;
      if (grouped.moved_from != nullptr) {
        std::optional<EchoLocation> from = location_of(*grouped.moved_from);
        if (!from) return;
        step.kind = EchoStep::Kind::kMove;
        step.from = *from;
        step.replaced_inode = grouped.replaced ? grouped.replaced->inode : 0;
        notifier_->invalidate_inode(step.from.parent_inode, false);
      }
      notifier_->invalidate_inode(change.parent_inode, false);
      break;
    case Change::Kind::kDeleted:
      step.kind = EchoStep::Kind::kRemove;
      notifier_->invalidate_inode(change.parent_inode, false);
      break;
    case Change::Kind::kData: {
      step.kind = EchoStep::Kind::kModify;
      const Node* node = service_.tree().by_inode(change.inode);
      step.data_bytes = node ? node->data().size() : 0;
      paged_inodes_.erase(change.inode);
      notifier_->invalidate_inode(change.inode, true);
      break;
    }
    case Change::Kind::kAttrs:
      step.kind = EchoStep::Kind::kAttributes;
      notifier_->invalidate_inode(change.inode, false);
      break;
    case Change::Kind::kBecameDirectory:
      // The next lookup of its name (the echo's, before the child's create) finds a directory of
      // the same inode number; the kernel then replaces its cached inode (docs/kernel.md).
      step.kind = EchoStep::Kind::kRetype;
      paged_inodes_.erase(change.inode);
      notifier_->invalidate_inode(change.inode, true);
      break;
  }
  echo(std::move(step));
}

void Filesystem::echo(EchoStep step) {
  if (!echo_) return;
  uint64_t step_id = next_echo_step_++;
  // With --log-level debug: when each change was applied here, against the steady clock
  // (CLOCK_MONOTONIC), which tools/bench/echolag compares with its watcher's events.
  if (spdlog::should_log(spdlog::level::debug)) {
    spdlog::debug("echo step {} queued: {} {} at {} ns", step_id, echo_kind_name(step.kind), step.at.path,
                  steady_ns());
  }
  for (const std::string* path : {&step.at.path, &step.from.path}) {
    if (!path->empty()) ++echo_shadowed_[*path];
  }
  echo_steps_.emplace(step_id, step);
  if (echo_backlog_observer_) echo_backlog_observer_(echo_steps_.size());
  // Behind the invalidations queued so far: a process woken by the event reads the new state.
  notifier_->then([echo = echo_.get(), step_id, step = std::move(step)] { echo->push(step_id, step); });
}

void Filesystem::echo_finished(uint64_t step_id) {
  auto step = echo_steps_.find(step_id);
  if (step == echo_steps_.end()) return;
  for (const std::string* path : {&step->second.at.path, &step->second.from.path}) {
    auto shadowed = echo_shadowed_.find(*path);
    if (shadowed != echo_shadowed_.end() && --shadowed->second == 0) echo_shadowed_.erase(shadowed);
  }
  echo_steps_.erase(step);
  if (echo_backlog_observer_) echo_backlog_observer_(echo_steps_.size());
}

// The echo makes one step's calls at a time and says which before the first: every echo request
// belongs to that step.
const EchoStep* Filesystem::current_echo() const {
  auto step = echo_steps_.find(echo_->current_step());
  return step == echo_steps_.end() ? nullptr : &step->second;
}

std::optional<std::string> Filesystem::echo_path(fuse_ino_t parent, const char* name) const {
  const Node* directory = service_.tree().by_inode(parent);
  if (directory == nullptr) return std::nullopt;
  return join_path(service_.tree().path_of(*directory), name);
}

bool Filesystem::echo_step_is(EchoStep::Kind kind, const std::optional<std::string>& path,
                              const std::optional<std::string>& from) const {
  const EchoStep* step = current_echo();
  return step != nullptr && step->kind == kind && path == step->at.path &&
         (kind != EchoStep::Kind::kMove || from == step->from.path);
}

// A node the current step announces is seen by its calls even once the tree has dropped it (a
// later change removed it): as a ghost with plain attributes, which the kernel is about to drop.
std::optional<struct stat> Filesystem::echo_attributes(fuse_ino_t ino) const {
  if (const Node* node = service_.tree().by_inode(ino)) return attributes_of(*node);
  const EchoStep* step = current_echo();
  if (step == nullptr || (ino != step->inode && ino != step->replaced_inode)) return std::nullopt;
  struct stat attr {};
  attr.st_ino = ino;
  attr.st_mode = step->directory ? S_IFDIR | 0755 : S_IFREG | 0644;
  attr.st_nlink = step->directory ? 2 : 1;
  return attr;
}

// Never cached: the name may be the step's view rather than the tree's (EchoStep::shadow).
fuse_entry_param Filesystem::echo_entry(uint64_t inode, bool directory) const {
  if (const Node* node = service_.tree().by_inode(inode)) return entry_of(*node, false);
  fuse_entry_param entry{};  // a ghost: no timeouts either
  entry.ino = inode;
  entry.generation = 1;
  entry.attr.st_ino = inode;
  entry.attr.st_mode = directory ? S_IFDIR | 0755 : S_IFREG | 0644;
  entry.attr.st_nlink = directory ? 2 : 1;
  return entry;
}

void Filesystem::answer_echo_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  const EchoStep* step = current_echo();
  std::optional<std::string> path = echo_path(parent, name);
  std::optional<uint64_t> shadow = step && path ? step->shadow(*path) : std::nullopt;
  // Its path's directories resolve as for anyone; only the names of the step are special.
  if (!shadow) return lookup_node(req, parent, name);
  if (*shadow == 0) return (void)fuse_reply_err(req, ENOENT);
  fuse_entry_param entry = echo_entry(*shadow, step->directory);
  fuse_reply_entry(req, &entry);
}

// The echo's getattr and setattr (utimensat, ftruncate): what the node is now; nothing changes.
// The step's own node is never cached (its name may be the step's view). Any other node is a
// directory on the step's path, which the kernel asks about for its permission check: that one
// is answered as for anyone, cacheable, or every echo's path walk would ask again for each
// directory on the way (docs/kernel.md, "Echo requests").
void Filesystem::answer_echo_attributes(fuse_req_t req, fuse_ino_t ino, bool from_getattr) {
  std::optional<struct stat> attr = echo_attributes(ino);
  if (!attr) return (void)fuse_reply_err(req, ENOENT);
  double timeout_s = 0.0;
  const EchoStep* step = current_echo();
  const bool of_step = step != nullptr && (ino == step->inode || ino == step->replaced_inode);
  if (from_getattr && !of_step) {
    if (const Node* node = service_.tree().by_inode(ino)) timeout_s = cache_timeout(*node);
  }
  fuse_reply_attr(req, &*attr, timeout_s);
}

// A descriptor the echo opens and closes without writing: its close commits nothing.
void Filesystem::answer_echo_open(fuse_req_t req, uint64_t inode, fuse_file_info* fi,
                                  const fuse_entry_param* created) {
  auto file = std::make_unique<OpenFile>();
  file->inode = inode;
  fi->fh = reinterpret_cast<uint64_t>(file.get());
  fi->direct_io = true;
  fi->keep_cache = false;
  // No FLUSH at the echo's close (FOPEN_NOFLUSH): if the daemon is killed while the echo thread
  // holds this descriptor, the exiting process closes it and would wait forever for a FLUSH
  // answer that only this dead process could give (seen with kill -9 under load).
  fi->noflush = true;
  int result = created ? fuse_reply_create(req, created, fi) : fuse_reply_open(req, fi);
  if (result == 0) adopt(std::move(file));
}

// The echo's create of the node the current step announces, which exists already (or existed:
// a later change may have removed it).
void Filesystem::answer_echo_creation(fuse_req_t req, fuse_ino_t parent, const char* name,
                                      fuse_file_info* fi) {
  if (!echo_step_is(EchoStep::Kind::kCreate, echo_path(parent, name))) {
    return (void)fuse_reply_err(req, EEXIST);
  }
  const EchoStep& step = *current_echo();
  fuse_entry_param entry = echo_entry(step.inode, step.directory);
  if (fi == nullptr) return (void)fuse_reply_entry(req, &entry);
  answer_echo_open(req, step.inode, fi, &entry);
}

}  // namespace quorumfs::fusefs
