// The sessions this host opens, and the leader's expiry of other hosts' sessions.
//
// A session is opened by a CreateSession op inside the txn that first needs it (an ephemeral's
// create, a lock's waiter node) and closed by a closeSession txn, which deletes its ephemerals on
// every replica. Ids follow ZooKeeper's layout (session_id.h). A host keeps its host-bound sessions
// (timeout 0 in the tree) alive by being heard by the leader (one keepalive stream per host, not one
// per session); the leader closes every session of a host it has not heard from for the session
// timeout (docs/architecture.md, "Sessions and ephemerals"). A ZooKeeper client session (a timeout
// above 0) belongs to no host, since its client may move to another: the leader closes it on its
// own once nobody reported it alive (touch) for its timeout.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "daemon/proto/txn.pb.h"
#include "daemon/tree/data_tree.h"

namespace quorumfs::service {

class SessionTable {
 public:
  using Done = std::function<void(const ApplyResult&)>;
  // Hands a closeSession txn to the replica (the service's submit).
  using Submit = std::function<void(proto::Txn, Done)>;
  using Clock = std::chrono::steady_clock;

  SessionTable(uint32_t host, std::chrono::milliseconds timeout, Submit submit);

  // At the start of serving: ids of this run start above the wall clock's milliseconds and above
  // every id of this host the tree ever opened (a closed session never comes back).
  void start(const DataTree& tree, int64_t now_ms);
  // A new id, above what the tree has applied of this host's sessions even if it was behind.
  SessionId create(const DataTree& tree);
  bool started() const { return first_ != SessionId(); }
  uint32_t host() const { return host_; }

  // Submits a closeSession. With retry, a close that found no leader (or lost it) waits for the
  // next one (retry_closes): an ephemeral whose owner is gone must go (docs/guarantees.md §4). done
  // (may be empty) gets the final result.
  void close(SessionId session, bool retry, Done done);
  // Closes several; then() once every one is answered.
  void close_all(std::vector<SessionId> sessions, bool retry, std::function<void()> then);
  // Submits again the closes that found no leader; call while the replica serves.
  void retry_closes();
  // From now on a close is not retried (the host is stopping: the leader expires what is left).
  void stop_retrying() { retrying_ = false; }

  // This host's open host-bound sessions: all, or only an earlier run's (ids below this run's
  // first).
  std::vector<SessionId> own(const DataTree& tree, bool earlier_runs_only) const;

  // Leader side. heard_from: any traffic from that host keeps its host-bound sessions alive.
  void heard_from(uint32_t host, Clock::time_point now) { last_heard_[host] = now; }
  // A member reports a client session alive.
  void touch(uint64_t session, Clock::time_point now) { last_touched_[session] = now; }
  // This replica starts to lead: every host and every client session gets a whole timeout from
  // when this replica first looks at it.
  void start_leading();
  // Closes (once each) the host-bound sessions of hosts silent for the timeout and the client
  // sessions not touched for their own; returns how many.
  size_t expire_silent(const DataTree& tree, Clock::time_point now);

 private:
  void submit_close(SessionId session, bool retry, Done done);
  bool host_silent(SessionId session, Clock::time_point now);
  bool client_silent(SessionId session, uint32_t timeout_ms, Clock::time_point now);

  const uint32_t host_;
  const std::chrono::milliseconds timeout_;
  Submit submit_;
  SessionId next_;
  SessionId first_;  // this run's first: lower ids of this host are an earlier run's
  bool retrying_ = true;
  std::vector<std::pair<SessionId, Done>> to_retry_;
  std::map<uint32_t, Clock::time_point> last_heard_;
  absl::flat_hash_map<uint64_t, Clock::time_point> last_touched_;  // leader: client sessions
  std::set<SessionId> expiring_;  // leader: closes under way
};

}  // namespace quorumfs::service
