#include "daemon/service/locks.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <string_view>

namespace quorumfs::service {

namespace {

// Waiter nodes end in "lock-" and the sequential suffix, as Curator's InterProcessMutex names
// its own ("_c_<uuid>-lock-N"): a Curator mutex on /.locks/<inode> and the mount's locks of that
// file then queue in one line and exclude each other (docs/mount.md, "Locks").
constexpr std::string_view kReadPrefix = "read-lock-";
constexpr std::string_view kWritePrefix = "write-lock-";
constexpr std::string_view kLockMark = "lock-";
constexpr size_t kSequenceDigits = 10;  // ZooKeeper's sequential suffix

void add_directory(proto::Txn& txn, const std::string& path) {
  proto::CreateOp* create = txn.add_ops()->mutable_create();
  create->set_path(path);
  create->set_directory(true);
  // Root's: people may list holders and waiters, not remove them (the kernel checks the mode).
  create->mutable_meta()->set_uid(0);
  create->mutable_meta()->set_gid(0);
  create->mutable_meta()->set_mode(0755);
}

// A waiter node's mode and sequence number from its name; nullopt for a name no waiter has. A
// name of another client's ("...lock-N", Curator's) is an exclusive waiter.
std::optional<std::pair<LockMode, uint64_t>> parse_waiter(std::string_view name) {
  if (name.size() < kLockMark.size() + kSequenceDigits) return std::nullopt;
  const std::string_view digits = name.substr(name.size() - kSequenceDigits);
  if (name.substr(name.size() - kSequenceDigits - kLockMark.size(), kLockMark.size()) != kLockMark) {
    return std::nullopt;
  }
  uint64_t sequence = 0;
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), sequence);
  if (error != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  const LockMode mode = name.starts_with(kReadPrefix) ? LockMode::kShared : LockMode::kExclusive;
  return std::pair(mode, sequence);
}

bool conflict(LockMode a, LockMode b) { return a == LockMode::kExclusive || b == LockMode::kExclusive; }

}  // namespace

LockService::LockService(Service& service) : service_(service) {
  subscription_ = service_.feed().subscribe([this](const Applied& applied) { on_applied(applied); });
}

LockService::~LockService() { service_.feed().unsubscribe(subscription_); }

std::string LockService::directory_of(uint64_t key) { return fmt::format("{}/{}", kLocksPath, key); }

SessionId LockService::acquire(Request request, Done done) {
  size_t& of_uid = active_by_uid_[request.uid];
  if (waiters_.size() >= kLocksPerHostMax || of_uid >= kLocksPerUidMax) {
    spdlog::warn("lock {}: {} acquisitions on this host, {} of uid {}: refused (ENOLCK)", request.key,
                 waiters_.size(), of_uid, request.uid);
    if (of_uid == 0) active_by_uid_.erase(request.uid);
    done(Code::kTooManyLocks);
    return SessionId();
  }
  // A try-lock that this replica sees taken fails at once, without a txn.
  if (!request.wait && conflicting(request.key, request.mode, SessionId())) {
    if (of_uid == 0) active_by_uid_.erase(request.uid);
    done(Code::kWouldBlock);
    return SessionId();
  }
  ++of_uid;
  const SessionId id = service_.sessions().create(service_.tree());
  Waiter waiter;
  waiter.request = std::move(request);
  waiter.done = std::move(done);
  waiters_.emplace(id, std::move(waiter));
  submit_create(id, kLockCreateAttempts);
  return id;
}

// One txn: open the session, make the lock's directories when this replica sees them missing,
// create the waiter node. Another host may make or remove a directory meanwhile: then the txn
// fails whole and is built again.
void LockService::submit_create(SessionId id, int attempts_left) {
  const Waiter& waiter = waiters_.at(id);
  const std::string directory = directory_of(waiter.request.key);
  proto::Txn txn;
  txn.add_ops()->mutable_create_session()->set_session_id(id.value());
  if (service_.tree().find(kLocksPath) == nullptr) add_directory(txn, std::string(kLocksPath));
  if (service_.tree().find(directory) == nullptr) add_directory(txn, directory);
  proto::CreateOp* create = txn.add_ops()->mutable_create();
  create->set_path(fmt::format("{}/{}", directory,
                               waiter.request.mode == LockMode::kExclusive ? kWritePrefix : kReadPrefix));
  create->set_sequential(true);
  create->set_ephemeral_owner(id.value());
  create->set_data(waiter.request.owner);
  create->mutable_meta()->set_uid(waiter.request.uid);
  create->mutable_meta()->set_gid(waiter.request.gid);
  create->mutable_meta()->set_mode(0644);
  txn.mutable_caller()->set_uid(0);  // the front end checked the caller's access to the locked file
  service_.submit(std::move(txn), Submitter::kLocks, [this, id, attempts_left](const ApplyResult& result) {
    created(id, result, attempts_left);
  });
}

void LockService::created(SessionId id, const ApplyResult& result, int attempts_left) {
  auto it = waiters_.find(id);
  if (it == waiters_.end()) return;
  Waiter& waiter = it->second;
  const bool withdrawn = waiter.state == State::kWithdrawn;
  if (result.code != Code::kOk) {
    const bool raced = result.code == Code::kNodeExists || result.code == Code::kNoNode;
    if (raced && attempts_left > 1 && !withdrawn) return submit_create(id, attempts_left - 1);
    // A create lost with its leader may still commit: its session must not outlive the waiter.
    if (result.code == Code::kOutcomeUnknown) service_.sessions().close(id, true, nullptr);
    if (withdrawn) return erase(id);
    return finish(id, result.code);
  }
  const std::string& path = result.ops.back().path;
  waiter.name = path.substr(path.rfind('/') + 1);
  const uint64_t key = waiter.request.key;
  if (withdrawn) return close(id, key);
  waiter.state = State::kWaiting;
  watch(id, key);
  evaluate(id);
}

// ZooKeeper's recipes: an exclusive waiter holds the lock when its node is the lowest; a shared
// one when no exclusive node is lower than its own.
void LockService::evaluate(SessionId id) {
  Waiter& waiter = waiters_.at(id);
  const std::vector<Entry> entries = entries_of(waiter.request.key);
  auto own = std::find_if(entries.begin(), entries.end(), [&](const Entry& e) { return e.name == waiter.name; });
  if (own == entries.end()) {
    // Its node is gone though its session is open (someone removed it): the lock is not had.
    spdlog::warn("lock {}: waiter node {} was removed", waiter.request.key, waiter.name);
    service_.sessions().close(id, true, nullptr);
    return finish(id, Code::kSessionExpired);
  }
  if (waiter.state == State::kHeld) return;
  const bool blocked = std::any_of(entries.begin(), own, [&](const Entry& e) { return conflict(e.mode, own->mode); });
  if (blocked) {
    if (waiter.request.wait) return;
    Done done = std::move(waiter.done);
    close(id, waiter.request.key);  // a try-lock leaves nothing behind
    return done(Code::kWouldBlock);
  }
  waiter.state = State::kHeld;  // still watched: its node must stay (check_holder)
  waiter.token = own->czxid;
  Done done = std::move(waiter.done);
  done(Code::kOk);
}

std::vector<LockService::Entry> LockService::entries_of(uint64_t key) const {
  std::vector<Entry> entries;
  const Node* directory = service_.tree().find(directory_of(key));
  if (directory == nullptr) return entries;
  directory->for_each_child("", [&](const Node& child) {
    if (auto parsed = parse_waiter(child.name())) {
      entries.push_back({parsed->second, parsed->first, child.name(), child.stat().czxid});
    }
    return true;
  });
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.sequence < b.sequence; });
  return entries;
}

// A waiter that will not hold the lock: it is told why and forgotten.
void LockService::finish(SessionId id, Code code) {
  auto it = waiters_.find(id);
  if (it == waiters_.end()) return;
  Done done = std::move(it->second.done);
  erase(id);
  if (done) done(code);
}

void LockService::erase(SessionId id) {
  auto it = waiters_.find(id);
  if (it == waiters_.end()) return;
  forget_watch(id, it->second.request.key);
  auto of_uid = active_by_uid_.find(it->second.request.uid);
  if (of_uid != active_by_uid_.end() && --of_uid->second == 0) active_by_uid_.erase(of_uid);
  waiters_.erase(it);
}

// A holder whose node is gone while its session is open (someone removed the node; a SNAP said
// so) has lost the lock: the next waiter may hold it already.
void LockService::check_holder(SessionId id) {
  const Waiter& holder = waiters_.at(id);
  const Node* directory = service_.tree().find(directory_of(holder.request.key));
  if (directory != nullptr && service_.tree().child(*directory, holder.name) != nullptr) return;
  spdlog::warn("lock {}: the node {} of its holder was removed: the lock is lost", holder.request.key, holder.name);
  lose(id);
}

void LockService::lose(SessionId id) {
  erase(id);
  if (service_.tree().session_open(id.value())) service_.sessions().close(id, true, nullptr);
  if (on_lost_) on_lost_(id);
}

void LockService::release(SessionId id) {
  auto it = waiters_.find(id);
  if (it == waiters_.end()) return;
  if (it->second.state == State::kCreating) {
    it->second.state = State::kWithdrawn;  // closed once its create is answered
    return;
  }
  if (it->second.state == State::kWithdrawn) return;
  close(id, it->second.request.key);
}

// Closes the waiter's session, which removes its node everywhere. A lock's directory stays while
// its file exists (made once, not at every acquisition: hosts taking a lock in turn would race to
// make and remove it); the last node of a lock whose file is gone takes the directory with it, in
// the same txn. If another host's waiter came meanwhile that txn fails whole and the session is
// closed alone.
void LockService::close(SessionId id, uint64_t key) {
  if (auto it = waiters_.find(id); it != waiters_.end() && !it->second.name.empty()) {
    releasing_[id] = {key, it->second.name};
  }
  erase(id);
  const std::string directory = directory_of(key);
  const Node* node = service_.tree().find(directory);
  if (node == nullptr || node->num_children() != 1 || service_.tree().by_inode(key) != nullptr) {
    return service_.sessions().close(id, true, nullptr);
  }
  proto::Txn txn;
  txn.add_ops()->mutable_close_session()->set_session_id(id.value());
  proto::DeleteOp* remove = txn.add_ops()->mutable_remove();
  remove->set_path(directory);
  remove->set_expected_version(-1);
  remove->set_must_be_directory(true);
  txn.mutable_caller()->set_uid(0);
  service_.submit(std::move(txn), Submitter::kLocks, [this, id](const ApplyResult& result) {
    if (result.code != Code::kOk) service_.sessions().close(id, true, nullptr);
  });
}

void LockService::watch(SessionId id, uint64_t key) {
  watched_[key].insert(id);
  if (const Node* directory = service_.tree().find(directory_of(key))) key_of_directory_[directory->inode()] = key;
}

void LockService::forget_watch(SessionId id, uint64_t key) {
  auto watched = watched_.find(key);
  if (watched == watched_.end()) return;
  watched->second.erase(id);
  if (!watched->second.empty()) return;
  watched_.erase(watched);
  std::erase_if(key_of_directory_, [key](const auto& entry) { return entry.second == key; });
}

// Only a node that goes can let a waiter in (or take a holder's lock); a closed session ends its
// waiter or holder.
void LockService::on_applied(const Applied& applied) {
  for (uint64_t closed : applied.result.closed_sessions) {
    releasing_.erase(SessionId(closed));
    auto it = waiters_.find(SessionId(closed));
    if (it == waiters_.end() || it->second.state == State::kCreating) continue;
    if (it->second.state == State::kHeld) {
      lose(SessionId(closed));
    } else {
      finish(SessionId(closed), Code::kSessionExpired);
    }
  }
  std::set<uint64_t> keys;
  // Lock directories a txn of this host may have left without a use: it removed their last node,
  // or the file they lock.
  std::set<std::string> unused;
  // Only deletes this host submitted, and only while some lock was ever taken: a plain unlink
  // costs no string here.
  const Node* locks_root = applied.submitter != Submitter::kNone ? service_.tree().find(kLocksPath) : nullptr;
  for (const Change& change : applied.result.changes) {
    if (change.kind != Change::Kind::kDeleted) continue;
    if (auto key = key_of_directory_.find(change.parent_inode); key != key_of_directory_.end()) {
      keys.insert(key->second);
    }
    if (locks_root == nullptr) continue;
    const Node* parent = service_.tree().by_inode(change.parent_inode);
    if (parent != nullptr && parent->parent() == locks_root) unused.insert(service_.tree().path_of(*parent));
    if (service_.tree().child(*locks_root, std::to_string(change.inode)) != nullptr) unused.insert(directory_of(change.inode));
  }
  for (uint64_t key : keys) {
    auto watched = watched_.find(key);
    if (watched == watched_.end()) continue;
    for (SessionId id : std::vector<SessionId>(watched->second.begin(), watched->second.end())) {
      auto it = waiters_.find(id);
      if (it == waiters_.end()) continue;
      if (it->second.state == State::kHeld) {
        check_holder(id);
      } else {
        evaluate(id);
      }
    }
  }
  for (const std::string& path : unused) {
    if (const Node* directory = service_.tree().find(path)) remove_if_unused(*directory);
  }
}

// A lock directory without nodes whose file is gone goes, removed by the host whose txn made it
// so (the file's delete, the last close, an expiry): locks of deleted files leave nothing behind.
// If a waiter came meanwhile, the remove fails (NotEmpty) and the directory stays for it.
void LockService::remove_if_unused(const Node& directory) {
  const Node* parent = directory.parent();
  if (directory.num_children() != 0 || parent == nullptr || service_.tree().path_of(*parent) != kLocksPath) return;
  uint64_t key = 0;
  const std::string_view name = directory.name();
  if (std::from_chars(name.data(), name.data() + name.size(), key).ec != std::errc() ||
      service_.tree().by_inode(key) != nullptr) {
    return;
  }
  proto::Txn txn;
  proto::DeleteOp* remove = txn.add_ops()->mutable_remove();
  remove->set_path(service_.tree().path_of(directory));
  remove->set_expected_version(-1);
  remove->set_must_be_directory(true);
  txn.mutable_caller()->set_uid(0);
  service_.submit(std::move(txn), Submitter::kLocks, [](const ApplyResult&) {});
}

void LockService::on_tree_replaced() {
  key_of_directory_.clear();
  for (const auto& [key, ids] : watched_) {
    if (const Node* directory = service_.tree().find(directory_of(key))) key_of_directory_[directory->inode()] = key;
  }
  std::erase_if(releasing_, [this](const auto& entry) { return !service_.tree().session_open(entry.first.value()); });
  std::vector<SessionId> ids;
  for (const auto& [id, waiter] : waiters_) ids.push_back(id);
  for (SessionId id : ids) {
    auto it = waiters_.find(id);
    if (it == waiters_.end() || it->second.state == State::kCreating || it->second.state == State::kWithdrawn) continue;
    const bool open = service_.tree().session_open(id.value());
    if (it->second.state == State::kHeld) {
      if (open) {
        check_holder(id);
      } else {
        lose(id);
      }
    } else if (open) {
      evaluate(id);
    } else {
      finish(id, Code::kSessionExpired);
    }
  }
}

void LockService::stop() {
  for (auto& [id, waiter] : waiters_) {
    if (waiter.state == State::kCreating) waiter.state = State::kWithdrawn;
  }
}

std::optional<Zxid> LockService::token(SessionId id) const {
  auto it = waiters_.find(id);
  if (it == waiters_.end() || it->second.state != State::kHeld) return std::nullopt;
  return it->second.token;
}

bool LockService::held(SessionId id) const { return token(id).has_value(); }

std::optional<LockMode> LockService::conflicting(uint64_t key, LockMode mode, SessionId except) const {
  std::string_view own_name;
  if (auto it = waiters_.find(except); it != waiters_.end()) own_name = it->second.name;
  for (const Entry& entry : entries_of(key)) {
    if (entry.name == own_name || !conflict(entry.mode, mode)) continue;
    const bool released_here = std::any_of(releasing_.begin(), releasing_.end(), [&](const auto& released) {
      return released.second.first == key && released.second.second == entry.name;
    });
    if (!released_here) return entry.mode;
  }
  return std::nullopt;
}

}  // namespace quorumfs::service
