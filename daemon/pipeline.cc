#include "daemon/pipeline.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>
#include <stdexcept>
#include <utility>

#include "consensus/log_format.h"
#include "daemon/tree/validate.h"

namespace quorumfs {

namespace {
// The answer to a write refused before it was ordered.
ApplyResult refused(Code code) {
  ApplyResult result;
  result.code = code;
  return result;
}

int64_t wall_clock_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Pipeline::Pipeline(ReplicaStore& store, consensus::Replica& replica, consensus::NodeId my_id,
                   std::chrono::milliseconds write_wait)
    : store_(store), replica_(replica), my_id_(my_id), write_wait_(write_wait) {
  // A learner that restarts can be sent its earlier run's forwarded writes (origin = my id): their
  // tokens must not name this run's writes. 62 random bits make a collision practically impossible.
  std::random_device random;
  next_token_ = ((static_cast<uint64_t>(random()) << 32) | random()) >> 2;
  store_.set_on_durable([this](Zxid zxid) {
    replica_.persisted(zxid);
    drain();
  });
}

void Pipeline::submit(proto::Txn txn, Done done, service::Submitter submitter) {
  // This replica cannot log it: certainly not applied (docs/operations.md, "A full or failing
  // disk").
  if (blocked()) return done(refused(Code::kStorageFailed));
  if (txn.time_ns() == 0) txn.set_time_ns(wall_clock_ns());
  // What no replica would apply (a bad path, data past the limit, more than a log record holds:
  // docs/mount.md, "Limits") is refused here, never proposed.
  if (Code code = validate_txn(txn, store_.tree().txn_limits()); code != Code::kOk) {
    return done(refused(code));
  }
  auto payload = std::make_shared<std::string>();
  txn.SerializeToString(payload.get());
  const uint64_t token = next_token_++;
  pending_.emplace(token, Pending{std::move(txn), std::move(done), std::move(payload), Clock::now() + write_wait_, submitter});
  waiting_.push_back(token);  // behind earlier waiting writes: one writer's order is kept
  send_waiting();
  drain();
}

void Pipeline::sync(std::function<void(Code)> done) {
  if (blocked()) {
    // Out of the ensemble: it cannot know what was committed elsewhere meanwhile.
    done(Code::kStorageFailed);
    return;
  }
  const uint64_t token = next_token_++;
  const auto deadline = Clock::now() + write_wait_;
  syncs_.emplace(token, Sync{std::move(done), deadline});
  if (!replica_.sync(token)) waiting_syncs_.push_back({token, deadline});
  drain();
}

void Pipeline::step(const consensus::Message& message) {
  if (blocked() || (!dropped_from_.empty() && !unblock())) {
    // Dropped: this replica stays out of the ensemble until its disk works. The peer counts as
    // lost then, as after a broken connection (unblock() says so before anything else reaches
    // the core), so the core never sees a stream with a hole.
    dropped_from_.insert(message.from);
    return;
  }
  if (message.type == consensus::MessageType::kRequest && !request_sound(message)) {
    // Never proposed: the learner's write fails as not applied (an honest one checked it too).
    consensus::Message refused;
    refused.type = consensus::MessageType::kRequestRefused;
    refused.from = my_id_;
    refused.to = message.from;
    refused.token = message.token;
    if (send_) send_(refused);
    return;
  }
  if (message.type == consensus::MessageType::kSnap && !snapshot_sound(message)) {
    replica_.peer_down(message.from);  // that sync cannot be carried out: start over
    drain();
    return;
  }
  replica_.step(message);
  send_waiting();
  drain();
}

// A learner's request is checked as a local write is before the leader proposes it: it parses,
// and every replica would apply it (validate_txn).
bool Pipeline::request_sound(const consensus::Message& message) const {
  proto::Txn txn;
  const std::string& payload = *message.entry.payload;  // the codec refuses a request without one
  Code code = Code::kBadArguments;
  if (txn.ParseFromString(payload)) code = validate_txn(txn, store_.tree().txn_limits());
  if (code == Code::kOk) return true;
  spdlog::warn("request of {} bytes from server {} refused: {}", payload.size(), message.from, code_name(code));
  return false;
}

// A leader's snapshot is checked whole before the core takes it: once the core has, installing
// it must not fail but for the disk (then it is retried).
bool Pipeline::snapshot_sound(const consensus::Message& message) const {
  std::string error;
  if (message.snapshot && SnapshotStore::check(message.zxid, *message.snapshot, &error)) return true;
  spdlog::error("SNAP at {:#x} from server {} refused: {}", message.zxid, message.from,
                message.snapshot ? error : "no snapshot");
  return false;
}

void Pipeline::tick() {
  ++ticks_;
  // Blocked, a failed storage step is tried again every 10 ticks: a failing disk is not hammered.
  if (blocked() && (ticks_ % 10 != 0 || !unblock())) {
    expire_waiting();
    if (ticks_ % 10 == 0) expire_sent();
    return;  // the core's clock stands still: it neither times out nor starts anything
  }
  replica_.tick();
  send_waiting();
  expire_waiting();
  if (ticks_ % 10 == 0) expire_sent();
  drain();
}

void Pipeline::peer_down(consensus::NodeId peer) {
  if (blocked()) {
    dropped_from_.insert(peer);
    return;
  }
  replica_.peer_down(peer);
  drain();
}

bool Pipeline::blocked() const { return stuck_.has_value() || store_.log_failing(); }

// Carries out the rest of a Ready whose storage step failed, and tells the core of every peer
// whose messages were dropped meanwhile. True once nothing blocks the replica any more.
bool Pipeline::unblock() {
  if (stuck_) {
    consensus::Ready ready = std::move(*stuck_);
    stuck_.reset();
    // As in drain(): a callback that submits while this Ready is handled must not start another.
    draining_ = true;
    const bool handled = handle(ready, stuck_step_);
    draining_ = false;
    if (!handled) return false;
    spdlog::info("storage works again: the replica goes on");
  }
  if (store_.log_failing()) return false;
  for (consensus::NodeId peer : std::exchange(dropped_from_, {})) replica_.peer_down(peer);
  drain();
  return true;
}

// Hands waiting writes and syncs to the replica, oldest first, while it takes them.
void Pipeline::send_waiting() {
  while (!waiting_.empty()) {
    auto it = pending_.find(waiting_.front());
    if (it != pending_.end()) {
      if (!replica_.submit(it->first, it->second.payload)) break;
      it->second.sent = true;
      it->second.deadline = Clock::now() + write_wait_;
    }
    waiting_.pop_front();
  }
  while (!waiting_syncs_.empty() && replica_.sync(waiting_syncs_.front().token)) waiting_syncs_.pop_front();
}

// A write a leader took but did not commit within write_wait (a quorum that went slow without
// losing its leader): its outcome is unknown; if it commits later, it is applied as foreign. A
// sync whose answer did not come within write_wait fails the same way.
void Pipeline::expire_sent() {
  const auto now = Clock::now();
  std::vector<uint64_t> expired;
  for (const auto& [token, pending] : pending_) {
    if (pending.sent && pending.deadline <= now) expired.push_back(token);
  }
  for (uint64_t token : expired) fail(token, Code::kOutcomeUnknown);
  expired.clear();
  for (const auto& [token, sync] : syncs_) {
    const bool waiting = std::any_of(waiting_syncs_.begin(), waiting_syncs_.end(),
                                     [token](const WaitingSync& waiting) { return waiting.token == token; });
    if (!waiting && sync.deadline <= now) expired.push_back(token);
  }
  for (uint64_t token : expired) finish_sync(token, Code::kOutcomeUnknown);
}

// No leader took them within write_wait: certainly not applied (docs/guarantees.md §8).
void Pipeline::expire_waiting() {
  const auto now = Clock::now();
  while (!waiting_.empty()) {
    auto it = pending_.find(waiting_.front());
    if (it != pending_.end() && it->second.deadline > now) break;
    waiting_.pop_front();
    if (it != pending_.end()) fail(it->first, Code::kNotApplied);
  }
  while (!waiting_syncs_.empty() && waiting_syncs_.front().deadline <= now) {
    const uint64_t token = waiting_syncs_.front().token;
    waiting_syncs_.pop_front();
    finish_sync(token, Code::kNotApplied);
  }
}

void Pipeline::drain() {
  if (draining_ || stuck_) return;  // a callback below submitted: the loop here picks it up
  draining_ = true;
  for (;;) {
    consensus::Ready ready = replica_.ready();
    if (ready.empty() || !handle(ready, StorageStep::kHardState)) break;
  }
  draining_ = false;
}

// The order replica.h prescribes: durable state first, messages after what they depend on. A
// storage step that fails keeps the Ready from that step on, and the replica blocked (nothing
// after it happens) until unblock() carries it out: false then.
bool Pipeline::handle(consensus::Ready& ready, StorageStep from) {
  StorageStep step = from;
  try {
    if (step == StorageStep::kHardState && ready.hard_state) store_.persist_hard_state(*ready.hard_state);
    step = StorageStep::kLogCut;
    if (ready.truncate_after || ready.install_snapshot) {
      // A background snapshot must finish first: a cut could remove it half written.
      if (before_reload_) before_reload_();
      if (ready.truncate_after) store_.truncate_after(*ready.truncate_after);
      if (ready.install_snapshot) {
        store_.install_snapshot(ready.install_snapshot->zxid, *ready.install_snapshot->data);
        if (after_reload_) after_reload_();
      }
    }
  } catch (const std::runtime_error& failure) {
    if (!stuck_logged_) spdlog::error("storage: {}; the replica waits until it works (retried every 10 ticks)", failure.what());
    stuck_logged_ = true;
    stuck_ = std::move(ready);
    stuck_step_ = step;
    return false;
  }
  stuck_logged_ = false;
  store_.append(ready.to_persist);
  for (const auto& entry : ready.to_apply) apply(entry);
  for (uint64_t token : ready.synced) finish_sync(token, Code::kOk);
  std::shared_ptr<const std::string> snapshot;  // one encoding for every SNAP of this Ready
  for (auto& message : ready.messages) {
    if (message.type == consensus::MessageType::kSnap && !message.snapshot) {
      if (!snapshot) {
        const auto started = Clock::now();
        snapshot = store_.encode_snapshot();
        spdlog::info("snapshot at {:#x} for a learner: {} bytes encoded in {} ms", message.zxid, snapshot->size(),
                     std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count());
      }
      message.snapshot = snapshot;
    }
    if (send_) send_(message);
  }
  for (uint64_t token : ready.lost) {
    fail(token, Code::kOutcomeUnknown);
    finish_sync(token, Code::kOutcomeUnknown);
  }
  for (uint64_t token : ready.refused) wait_again(token);
  return true;
}

// The leader would not take it (not serving): it waits again for a leader until its deadline, in
// token order (a writer's order) among the writes still waiting.
void Pipeline::wait_again(uint64_t token) {
  if (auto it = pending_.find(token); it != pending_.end()) {
    it->second.sent = false;
    waiting_.insert(std::upper_bound(waiting_.begin(), waiting_.end(), token), token);
    return;
  }
  auto it = syncs_.find(token);
  if (it == syncs_.end()) return;
  WaitingSync waiting{token, it->second.deadline};
  waiting_syncs_.insert(std::upper_bound(waiting_syncs_.begin(), waiting_syncs_.end(), waiting,
                                         [](const WaitingSync& a, const WaitingSync& b) { return a.token < b.token; }),
                        waiting);
}

void Pipeline::finish_sync(uint64_t token, Code code) {
  auto it = syncs_.find(token);
  if (it == syncs_.end()) return;
  auto done = std::move(it->second.done);
  syncs_.erase(it);
  if (code != Code::kOk) spdlog::warn("sync: {}", code == Code::kNotApplied ? "no leader within the write wait" : "the leader was lost");
  done(code);
}

// Ours: submitted in this run under this token (an entry of an earlier run of this replica can
// carry the same origin; its bytes tell it apart).
bool Pipeline::is_own(const consensus::Entry& entry, const Pending& pending) const {
  return entry.payload == pending.payload || (entry.payload && *entry.payload == *pending.payload);
}

void Pipeline::apply(const consensus::Entry& entry) {
  auto it = entry.origin == my_id_ ? pending_.find(entry.token) : pending_.end();
  if (it != pending_.end() && !is_own(entry, it->second)) it = pending_.end();
  const bool own = it != pending_.end();
  ApplyResult result;
  if (own) {
    result = store_.tree().apply(entry.zxid, it->second.txn);
  } else {
    // A txn another replica took (or one of ours whose writer was already told "unknown"). One
    // that does not parse is a failed txn on every replica alike: it never stops a replica.
    proto::Txn txn;
    if (txn.ParseFromString(*entry.payload)) {
      result = store_.tree().apply(entry.zxid, txn);
    } else {
      spdlog::error("txn {:#x} ({} bytes) does not parse: applied as a failed txn", entry.zxid, entry.payload->size());
      result = store_.tree().apply_unparsable(entry.zxid);
    }
  }
  ++applied_count_;
  if (on_applied_) on_applied_(result, own, own ? it->second.submitter : service::Submitter::kNone);
  if (own) {
    record_latency(it->second);
    Done done = std::move(it->second.done);
    pending_.erase(it);
    done(result);
  }
}

size_t txn_kind(const proto::Txn& txn) {
  if (txn.ops_size() > 1) return kTxnKindNames.size() - 1;
  const size_t kind = txn.ops_size() == 0 ? 0 : static_cast<size_t>(txn.ops(0).kind_case());
  return kind < kTxnKindNames.size() - 1 ? kind : 0;
}

void Pipeline::record_latency(const Pending& pending) {
  write_latency_[txn_kind(pending.txn)].record(Clock::now() - pending.submitted);
}

void Pipeline::fail(uint64_t token, Code code) {
  auto it = pending_.find(token);
  if (it == pending_.end()) return;
  record_latency(it->second);
  Done done = std::move(it->second.done);
  pending_.erase(it);
  done(refused(code));
}

}  // namespace quorumfs
