// The change feed: every txn this replica applies, delivered right after it is applied (before the
// submitter's own callback), in zxid order, to any number of subscribers: the mount's echo, lock
// waiters, and the watches of front ends to come (docs/architecture.md, "The service core").
#pragma once

#include <cstdint>
#include <functional>
#include <map>

#include "daemon/tree/data_tree.h"

namespace quorumfs::service {

// Who submitted a txn through this replica. A front end skips what it made itself through a call
// its caller already saw (the kernel raised the mount's own events); everything else it announces.
enum class Submitter : uint8_t {
  kNone,      // not submitted here: another host's, or ours but its writer was told "unknown"
  kMount,     // a POSIX call on this host's mount
  kSessions,  // a closeSession: a descriptor's release, this host stopping, or the leader's expiry
  kLocks,     // the lock service's waiter nodes (docs/mount.md, "Locks")
  kClients,   // a ZooKeeper client's request on this host's client port (docs/zk-protocol.md)
  kReaper,    // the leader's removal of containers and TTL nodes (reaper.h)
};

enum class Origin : uint8_t {
  kThisHost,      // submitted through this replica
  kOtherHost,     // taken by another replica
  kSessionClose,  // closed sessions (from any host): their ephemerals went with them
};

struct Applied {
  const ApplyResult& result;  // its zxid, changes and closed sessions
  Origin origin;
  Submitter submitter;        // kNone unless origin is kThisHost or a close submitted here
};

class ChangeFeed {
 public:
  using Subscriber = std::function<void(const Applied&)>;
  using Subscription = uint64_t;

  // Subscribers added while a txn is delivered get the next one first; one removed meanwhile gets
  // nothing more.
  Subscription subscribe(Subscriber subscriber);
  void unsubscribe(Subscription subscription);

  // Called once per applied txn, in zxid order. own: submitted through this replica.
  void publish(const ApplyResult& result, bool own, Submitter submitter);

  size_t subscriber_count() const { return subscribers_.size(); }

 private:
  std::map<Subscription, Subscriber> subscribers_;
  Subscription next_ = 1;
};

}  // namespace quorumfs::service
