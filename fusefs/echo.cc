#include "fusefs/echo.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

namespace quorumfs::fusefs {

namespace {

// "/a/b" -> "a/b", for the *at() calls relative to the mount's root.
const char* relative(const std::string& path) { return path.c_str() + 1; }

bool same_place(const Change& a, const Change& b) {
  return a.parent_inode == b.parent_inode && a.name == b.name;
}

}  // namespace

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

const char* echo_kind_name(EchoStep::Kind kind) {
  switch (kind) {
    case EchoStep::Kind::kCreate: return "creation";
    case EchoStep::Kind::kRemove: return "removal";
    case EchoStep::Kind::kModify: return "data change";
    case EchoStep::Kind::kAttributes: return "attribute change";
    case EchoStep::Kind::kMove: return "rename";
    case EchoStep::Kind::kRetype: return "type change";
  }
  return "change";
}

namespace {

// open + a one-byte write + close: OPEN, MODIFY, CLOSE_WRITE, as a local write's (docs/kernel.md,
// "Events"); the daemon takes the write without changing anything. A write through the echo's
// direct-I/O descriptor costs one request where ftruncate costs two (the kernel asks for
// security.capability first). An empty node takes ftruncate(0): the write would leave the
// kernel's cached size at 1 until it asked again.
int modify(int root_fd, const EchoStep& step) {
  int fd = ::openat(root_fd, relative(step.at.path), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int result = step.data_bytes == 0 ? ::ftruncate(fd, 0) : (::pwrite(fd, "", 1, 0) == 1 ? 0 : -1);
  int saved = errno;
  ::close(fd);
  errno = saved;
  return result;
}

int create(int root_fd, const EchoStep& step) {
  if (step.directory) return ::mkdirat(root_fd, relative(step.at.path), 0755);
  int fd = ::openat(root_fd, relative(step.at.path), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  ::close(fd);
  return 0;
}

}  // namespace

std::optional<uint64_t> EchoStep::shadow(std::string_view path) const {
  if (path == at.path) {
    if (kind == Kind::kCreate) return 0;
    if (kind == Kind::kMove) return replaced_inode;
    return inode;
  }
  if (kind == Kind::kMove && path == from.path) return inode;
  return std::nullopt;
}

const EchoLocation* EchoStep::entry_to_drop() const {
  return kind == Kind::kCreate || kind == Kind::kMove || kind == Kind::kRetype ? &at : nullptr;
}

// A rename's create reuses the source's inode, and the source's delete follows it in the same
// txn; a create and a delete of one inode at the same place are two changes (a multi that made
// and removed a node), not a rename.
std::vector<EchoChange> group_renames(const std::vector<Change>& changes) {
  std::vector<EchoChange> slots;
  for (const Change& change : changes) slots.push_back({&change});
  std::vector<bool> folded(changes.size(), false);
  for (size_t i = 0; i < changes.size(); ++i) {
    const Change& created = changes[i];
    if (created.kind != Change::Kind::kCreated) continue;
    for (size_t j = i + 1; j < changes.size(); ++j) {
      const Change& removed = changes[j];
      if (folded[j] || removed.kind != Change::Kind::kDeleted || removed.inode != created.inode ||
          same_place(removed, created)) {
        continue;
      }
      slots[i].moved_from = &removed;
      folded[j] = true;
      for (size_t k = 0; k < i; ++k) {
        if (!folded[k] && changes[k].kind == Change::Kind::kDeleted && same_place(changes[k], created)) {
          slots[i].replaced = &changes[k];
          folded[k] = true;
          break;
        }
      }
      break;
    }
  }
  std::vector<EchoChange> grouped;
  for (size_t i = 0; i < slots.size(); ++i) {
    if (!folded[i]) grouped.push_back(slots[i]);
  }
  return grouped;
}

Echo::Echo(fuse_session* session, std::string mountpoint, Done done)
    : session_(session), mountpoint_(std::move(mountpoint)), done_(std::move(done)) {
  thread_.push([this] {
    struct stat root {};
    if (::stat(mountpoint_.c_str(), &root) == 0) mount_device_ = root.st_dev;
  });
}

// The owner stops the echo only once its calls can end (the loop serves, or the device is closed).
Echo::~Echo() {
  thread_.request_stop();
  while (!thread_.finished()) std::this_thread::yield();
}

int Echo::open_root() const {
  int fd = ::open(mountpoint_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  struct stat root {};
  if (fd >= 0 && (mount_device_ == 0 || ::fstat(fd, &root) != 0 || root.st_dev != mount_device_)) {
    ::close(fd);
    fd = -1;
  }
  return fd;
}

void Echo::push(uint64_t step_id, EchoStep step) {
  thread_.push([this, step_id, step = std::move(step)] {
    // Set before the first call, so that the loop knows which step the calls belong to.
    current_step_.store(step_id, std::memory_order_release);
    run(step);
    current_step_.store(0, std::memory_order_release);
    if (spdlog::should_log(spdlog::level::debug)) spdlog::debug("echo step {} done at {} ns", step_id, steady_ns());
    done_(step_id);
  });
}

// The entry is dropped here rather than by the Notifier: the notify waits for the directory's
// lock, and a local caller holding that lock (setxattr on the directory) may be waiting for a
// reply queued on the Notifier behind it. Nothing is ever queued behind an echo.
void Echo::run(const EchoStep& step) {
  if (const EchoLocation* entry = step.entry_to_drop()) {
    fuse_lowlevel_notify_inval_entry(session_, entry->parent_inode, entry->name.data(), entry->name.size());
  }
  int root_fd = open_root();
  if (root_fd < 0) return;
  int result = call(root_fd, step);
  int saved = errno;
  ::close(root_fd);
  // ENOENT on a removal: the kernel no longer had the name, so there is nothing to announce.
  if (result != 0 && !(step.kind == EchoStep::Kind::kRemove && saved == ENOENT)) {
    spdlog::debug("echo of the {} of {}: {}", echo_kind_name(step.kind), step.at.path, std::strerror(saved));
  }
}

int Echo::call(int root_fd, const EchoStep& step) {
  const char* path = relative(step.at.path);
  switch (step.kind) {
    case EchoStep::Kind::kCreate:
      return create(root_fd, step);
    case EchoStep::Kind::kRemove:
      return ::unlinkat(root_fd, path, step.directory ? AT_REMOVEDIR : 0);
    case EchoStep::Kind::kModify:
      // A directory's data is an xattr to the mount: its local change raises IN_ATTRIB.
      if (!step.directory) return modify(root_fd, step);
      [[fallthrough]];
    case EchoStep::Kind::kAttributes:
    case EchoStep::Kind::kRetype:
      return ::utimensat(root_fd, path, nullptr, 0);
    case EchoStep::Kind::kMove:
      return ::renameat(root_fd, relative(step.from.path), root_fd, path);
  }
  return -1;
}

}  // namespace quorumfs::fusefs
