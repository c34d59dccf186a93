// The request pipeline: the one path every write takes, on the event-loop thread.
//
//   submit(txn) -> consensus::Replica::submit (leader: proposed; learner: forwarded) -> the
//   leader's PROPOSAL reaches a quorum's logs (ReplicaStore::append, group commit, fsync) ->
//   COMMIT -> DataTree::apply on every replica -> done(result) on the replica that took it
//
// It also carries out the rest of the core's Ready in the documented order (replica.h) and holds
// writes that arrive while there is no leader for up to write_wait, then fails them as "certainly
// not applied"; a write whose leader was lost after it was sent fails as "outcome unknown".
// Standalone is the ensemble of one through this same path; nothing is acknowledged before its
// record is durable on a quorum.
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

#include "consensus/replica.h"
#include "daemon/proto/txn.pb.h"
#include "daemon/metrics/histogram.h"
#include "daemon/replica_store.h"
#include "daemon/service/change_feed.h"
#include "daemon/tree/data_tree.h"

namespace quorumfs {

// What a txn does, for its latency (/metrics): its one op's kind (proto::Op's kind_case), or multi.
inline constexpr std::array<const char*, 11> kTxnKindNames{
    "none", "create", "delete", "set_data", "set_acl", "set_meta", "check", "close_session", "create_session",
    "reserve_inodes", "multi"};
size_t txn_kind(const proto::Txn& txn);

class Pipeline {
 public:
  using Done = std::function<void(const ApplyResult&)>;
  // After every applied txn, before its done callback; own: it was submitted here, by submitter.
  using Applied = std::function<void(const ApplyResult&, bool own, service::Submitter submitter)>;
  using Send = std::function<void(const consensus::Message&)>;
  using Clock = std::chrono::steady_clock;

  Pipeline(ReplicaStore& store, consensus::Replica& replica, consensus::NodeId my_id,
           std::chrono::milliseconds write_wait);

  void submit(proto::Txn txn, Done done, service::Submitter submitter = service::Submitter::kNone);
  // done(kOk) once every write committed before the call is applied here; kNotApplied after
  // write_wait without a leader, kOutcomeUnknown if the leader was lost meanwhile.
  void sync(std::function<void(Code)> done);
  void set_on_applied(Applied on_applied) { on_applied_ = std::move(on_applied); }
  void set_send(Send send) { send_ = std::move(send); }
  // Runs before the log is cut or the tree replaced (TRUNC, SNAP): a background snapshot must
  // finish.
  void set_before_reload(std::function<void()> before_reload) { before_reload_ = std::move(before_reload); }
  // Runs after the tree was replaced by a leader's snapshot (the mount drops its caches).
  void set_after_reload(std::function<void()> after_reload) { after_reload_ = std::move(after_reload); }

  // Inputs from the network and the clock; each drains what the replica has ready.
  void step(const consensus::Message& message);
  void tick();
  void peer_down(consensus::NodeId peer);
  // Carries out what the replica has ready now (also the first epoch at start).
  void drain();

  // This replica's storage fails (a Ready's storage step, or the log writer): it takes no writes
  // (kStorageFailed), drops what peers send and stands its core's clock still until it works.
  bool blocked() const;

  uint64_t applied_count() const { return applied_count_; }
  // Submit to done of the writes submitted here, by kTxnKindNames, whatever their outcome.
  const std::array<metrics::LatencyHistogram, kTxnKindNames.size()>& write_latency() const { return write_latency_; }
  size_t pending_count() const { return pending_.size(); }
  // No write submitted here is waiting to be committed and answered.
  bool idle() const { return pending_.empty() && waiting_.empty(); }

 private:
  struct Pending {
    proto::Txn txn;
    Done done;
    std::shared_ptr<const std::string> payload;
    Clock::time_point deadline;  // waiting: for a leader to take it; sent: for its commit
    service::Submitter submitter;
    bool sent = false;
    Clock::time_point submitted = Clock::now();
  };
  struct WaitingSync {
    uint64_t token;
    Clock::time_point deadline;
  };
  struct Sync {
    std::function<void(Code)> done;
    Clock::time_point deadline;
  };
  // The steps of a Ready that touch the disk and can fail, in order.
  enum class StorageStep { kHardState, kLogCut };
  bool handle(consensus::Ready& ready, StorageStep from);
  bool unblock();
  bool snapshot_sound(const consensus::Message& message) const;
  bool request_sound(const consensus::Message& message) const;
  void apply(const consensus::Entry& entry);
  void fail(uint64_t token, Code code);
  void record_latency(const Pending& pending);
  void finish_sync(uint64_t token, Code code);
  void wait_again(uint64_t token);
  bool is_own(const consensus::Entry& entry, const Pending& pending) const;
  void send_waiting();
  void expire_waiting();
  void expire_sent();

  ReplicaStore& store_;
  consensus::Replica& replica_;
  const consensus::NodeId my_id_;
  const std::chrono::milliseconds write_wait_;
  Applied on_applied_;
  Send send_;
  std::function<void()> before_reload_;
  std::function<void()> after_reload_;
  uint64_t next_token_;  // starts at random: a token of an earlier run must never match (restart)
  std::unordered_map<uint64_t, Pending> pending_;  // by token: sent, or waiting for a leader
  std::deque<uint64_t> waiting_;                    // tokens not yet taken by the replica, in order
  std::unordered_map<uint64_t, Sync> syncs_;
  std::deque<WaitingSync> waiting_syncs_;
  bool draining_ = false;
  std::optional<consensus::Ready> stuck_;  // the rest of a Ready whose storage step failed
  StorageStep stuck_step_ = StorageStep::kHardState;
  bool stuck_logged_ = false;
  std::set<consensus::NodeId> dropped_from_;  // peers whose messages were dropped while blocked
  uint64_t applied_count_ = 0;
  std::array<metrics::LatencyHistogram, kTxnKindNames.size()> write_latency_;
  uint64_t ticks_ = 0;
};

}  // namespace quorumfs
