// The Zab core: a value you feed and drain, with no sockets, threads, clocks or files inside
// (etcd-io/raft's Ready/Advance shape). The daemon calls propose()/persisted() and takes ready():
//
//   ready.hard_state  -> write durably (acceptedEpoch, currentEpoch) before anything below
//   ready.to_persist  -> append to the txn log, fsync, then call persisted(highest zxid)
//   ready.to_apply    -> committed txns, in zxid order: apply to the tree
//
// This version runs an ensemble of one voter (the standalone default): the replica leads a new
// epoch at once, and a proposal commits when its own log record is durable, which is Zab's
// broadcast with a quorum of one. Election, discovery/sync and learners build on the same
// interface (step(message) and to_send) when the ensemble grows.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "consensus/zxid.h"

namespace quorumfs::consensus {

struct Entry {
  Zxid zxid = 0;
  std::shared_ptr<const std::string> payload;  // shared: the log and the applier both read it
};

struct HardState {
  uint32_t accepted_epoch = 0;
  uint32_t current_epoch = 0;
};

struct Ready {
  std::optional<HardState> hard_state;
  std::vector<Entry> to_persist;
  std::vector<Entry> to_apply;
  bool empty() const { return !hard_state && to_persist.empty() && to_apply.empty(); }
};

enum class Role { kLooking, kLeading };

// What a replica finds on disk at start (ZAB-NOTES §1).
struct DurableState {
  uint32_t accepted_epoch = 0;
  uint32_t current_epoch = 0;
  Zxid last_logged_zxid = 0;  // snapshot + full log replay
};

class Replica {
 public:
  Replica(uint64_t my_id, const DurableState& durable);

  Role role() const { return role_; }
  uint32_t epoch() const { return zxid_epoch(next_zxid_); }
  bool can_propose() const { return role_ == Role::kLeading; }

  // Leader only: orders a txn, returns its zxid.
  Zxid propose(std::shared_ptr<const std::string> payload);
  // The log is durable through zxid.
  void persisted(Zxid zxid);
  // Drains what the daemon must do now.
  Ready ready();

  Zxid last_committed_zxid() const { return committed_zxid_; }

 private:
  void lead_new_epoch(const DurableState& durable);
  void commit_through(Zxid zxid);

  uint64_t my_id_;
  Role role_ = Role::kLooking;
  Zxid next_zxid_ = 0;           // the next proposal's zxid
  Zxid committed_zxid_ = 0;
  std::deque<Entry> outstanding_;  // proposed, not yet committed, in zxid order
  Ready ready_;
};

}  // namespace quorumfs::consensus
