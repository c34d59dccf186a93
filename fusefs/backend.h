// What the mount needs from the replica: the tree to read, a way to submit writes, and fresh
// session ids. fusefs knows nothing of Zab: a write goes in as a txn and comes back as the
// tree's ApplyResult once it is committed and applied (or refused).
#pragma once

#include <cstdint>
#include <functional>

#include "daemon/proto/txn.pb.h"
#include "daemon/tree/data_tree.h"

namespace quorumfs::fusefs {

class Backend {
 public:
  using Done = std::function<void(const ApplyResult&)>;
  virtual ~Backend() = default;

  // Read access; only on the event-loop thread, like every call here.
  virtual const DataTree& tree() const = 0;
  // Orders, logs, commits and applies txn; done runs on the loop thread after the apply, with
  // the result (or kNotApplied/kOutcomeUnknown if it could not be committed).
  virtual void submit(proto::Txn txn, Done done) = 0;
  // A new session id, unique across the ensemble and across restarts (ZooKeeper's layout).
  virtual uint64_t new_session_id() = 0;
  // ZooKeeper's sync(): done(kOk) once every write committed before the call is applied here;
  // kNotApplied when no leader could be reached within the write wait, kOutcomeUnknown when the
  // leader was lost meanwhile.
  virtual void sync(std::function<void(Code)> done) = 0;
  // Ends a session: its ephemerals are deleted everywhere. Unlike submit(), it does not give up:
  // it is retried until it is applied (a closeSession is idempotent), so an ephemeral whose
  // descriptor is gone never outlives a leader change. done (may be empty) gets the result.
  virtual void close_session(uint64_t session_id, Done done) = 0;
  // The replica is in sync with a leader of a quorum (or is one): false while it looks for one,
  // when its reads may be behind the ensemble (the root's user.zk.state says so).
  virtual bool synced() const = 0;
};

}  // namespace quorumfs::fusefs
