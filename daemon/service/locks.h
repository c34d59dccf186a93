// Locks for the whole ensemble: ZooKeeper's lock and read/write-lock recipes over
// ephemeral-sequential waiter nodes, for any front end (the mount's flock and fcntl today).
//
// A lock is named by a key: the inode of the locked node (the same on every replica, kept by a
// rename). Each acquisition opens its own session and, in the same txn, creates its waiter node
// under the lock's directory, made when missing and kept while the locked node exists:
//
//   /.locks/<key>/write-0000000007    exclusive; granted when no node has a lower number
//   /.locks/<key>/read-0000000008     shared; granted when no write- node has a lower number
//
// The waiter node's data says who waits (host, pid, mode); `ls /.locks/<key>` shows holders and
// waiters in order (docs/mount.md, "Locks"). A waiter is looked at again only when a node of its
// own lock goes, on this replica, from the change feed: no herd, no polling. Releasing closes the
// session, so its node goes on every replica; a host that is cut off loses its locks when the
// leader expires its sessions. The fencing token of a held lock is its node's czxid: ever
// increasing per lock, since holders are granted in the order of their nodes.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "daemon/service/service.h"

namespace quorumfs::service {

inline constexpr std::string_view kLocksPath = "/.locks";
// Tries of an acquisition whose lock directory another host created or removed at the same time.
inline constexpr int kLockCreateAttempts = 5;
// Acquisitions (held or waiting) at once on one host, and of one uid there: each holds a session
// of the ensemble's table (kOpenSessionsLimit), so one user cannot fill it. Past them: kTooManyLocks.
inline constexpr size_t kLocksPerHostMax = 65536;  // acquisitions
inline constexpr size_t kLocksPerUidMax = 4096;    // acquisitions

enum class LockMode : uint8_t { kShared, kExclusive };

class LockService {
 public:
  // kOk: held. kWouldBlock: asked not to wait and the lock is held. kSessionExpired: the ensemble
  // closed the waiter's session (its host was cut off). kTooManyLocks: past kLocksPerHostMax or
  // kLocksPerUidMax. Otherwise why the waiter node could not be created (no quorum, a failing
  // disk, too many sessions).
  using Done = std::function<void(Code)>;

  struct Request {
    uint64_t key = 0;
    LockMode mode = LockMode::kExclusive;
    bool wait = true;
    uint32_t uid = 0;   // owner of the waiter node
    uint32_t gid = 0;
    std::string owner;  // the waiter node's data: who waits, for people reading `ls`
  };

  explicit LockService(Service& service);
  ~LockService();
  LockService(const LockService&) = delete;
  LockService& operator=(const LockService&) = delete;

  // Starts an acquisition; done runs once, maybe before this returns (a refusal). The id names it
  // until done reports anything but kOk, or until release().
  SessionId acquire(Request request, Done done);
  // Releases a held lock or withdraws a waiter (done is then never called): its node goes on
  // every replica (a closeSession, retried until applied).
  void release(SessionId id);

  // The fencing token of a held lock: its waiter node's czxid.
  std::optional<Zxid> token(SessionId id) const;
  bool held(SessionId id) const;
  // The mode of a node of this lock, other than except's, that conflicts with mode (F_GETLK).
  std::optional<LockMode> conflicting(uint64_t key, LockMode mode, SessionId except) const;
  // Called when a held lock is gone without its holder letting go: the ensemble closed its session
  // (its host was cut off past the session timeout) or its node was removed. Its holder must learn it.
  void set_on_lost(std::function<void(SessionId)> on_lost) { on_lost_ = std::move(on_lost); }
  // The tree was replaced (SNAP): waiters whose session is gone are told, holders whose session or
  // node is gone are lost, the others are looked at again.
  void on_tree_replaced();
  // The host is stopping: acquisitions whose waiter node is not created yet are withdrawn (their
  // session is closed once it is); the others' sessions are closed with the host's.
  void stop();

  size_t active() const { return waiters_.size(); }
  static std::string directory_of(uint64_t key);

 private:
  enum class State { kCreating, kWaiting, kHeld, kWithdrawn };
  struct Waiter {
    Request request;
    Done done;
    State state = State::kCreating;
    std::string name;  // of its node, once created
    Zxid token = 0;
  };
  struct Entry {  // a node of a lock directory, by sequence number
    uint64_t sequence;
    LockMode mode;
    std::string_view name;
    Zxid czxid;
  };

  void submit_create(SessionId id, int attempts_left);
  void created(SessionId id, const ApplyResult& result, int attempts_left);
  void evaluate(SessionId id);
  void check_holder(SessionId id);
  void erase(SessionId id);
  void lose(SessionId id);
  void remove_if_unused(const Node& directory);
  std::vector<Entry> entries_of(uint64_t key) const;
  void finish(SessionId id, Code code);
  void close(SessionId id, uint64_t key);
  void on_applied(const Applied& applied);
  void forget_watch(SessionId id, uint64_t key);
  void watch(SessionId id, uint64_t key);

  Service& service_;
  ChangeFeed::Subscription subscription_;
  std::map<SessionId, Waiter> waiters_;
  // Lock directory inode -> key, and key -> this replica's waiters and holders whose node exists:
  // looked at when a node of their lock goes.
  std::unordered_map<uint64_t, uint64_t> key_of_directory_;
  std::unordered_map<uint64_t, std::set<SessionId>> watched_;
  // Nodes released here whose close is not applied yet, by session: a try-lock of the same owner
  // right after (a conversion) must not see them.
  std::map<SessionId, std::pair<uint64_t, std::string>> releasing_;
  std::map<uint32_t, size_t> active_by_uid_;
  std::function<void(SessionId)> on_lost_;
};

}  // namespace quorumfs::service
