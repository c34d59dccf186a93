// The service core: what every front end of a replica calls (the mount today; a ZooKeeper client
// port or an admin endpoint later), kept apart from how writes are replicated.
//
//   front end --submit(txn, submitter)--> Service --> Replication (the pipeline: Zab, log, apply)
//   front end <--done(result)------------ Service <-- applied on this replica
//   every subscriber <--ChangeFeed------- Service <-- every applied txn, in zxid order
//
// Everything here runs on the replica's event-loop thread, which also owns the tree: reads take
// no lock (docs/architecture.md, "The service core").
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include "daemon/proto/txn.pb.h"
#include "daemon/service/change_feed.h"
#include "daemon/service/session_table.h"
#include "daemon/tree/data_tree.h"

namespace quorumfs::service {

// How writes reach the ensemble; the daemon's Server implements it over its pipeline.
class Replication {
 public:
  using Done = std::function<void(const ApplyResult&)>;
  virtual ~Replication() = default;
  virtual const DataTree& tree() const = 0;
  // Orders, logs, commits and applies txn; done runs after the apply (and after the change feed
  // saw it), or with kNotApplied/kOutcomeUnknown/kStorageFailed if it could not be committed.
  virtual void submit(proto::Txn txn, Submitter submitter, Done done) = 0;
  // ZooKeeper's sync(): done(kOk) once every write committed before the call is applied here.
  virtual void sync(std::function<void(Code)> done) = 0;
  // In sync with a leader of a quorum (or one), and able to write its log.
  virtual bool synced() const = 0;
};

class Service {
 public:
  using Done = Replication::Done;

  Service(Replication& replication, uint32_t host, std::chrono::milliseconds session_timeout);

  const DataTree& tree() const { return replication_.tree(); }
  void submit(proto::Txn txn, Submitter submitter, Done done) {
    replication_.submit(std::move(txn), submitter, std::move(done));
  }
  void sync(std::function<void(Code)> done) { replication_.sync(std::move(done)); }
  bool synced() const { return replication_.synced(); }

  SessionTable& sessions() { return sessions_; }
  ChangeFeed& feed() { return feed_; }

 private:
  Replication& replication_;
  SessionTable sessions_;
  ChangeFeed feed_;
};

}  // namespace quorumfs::service
