// Followers and observers: discovery (accept the new epoch durably before ACKEPOCH), sync
// (buffered until NEWLEADER, persisted before currentEpoch and the NEWLEADER ACK), then
// broadcast (log and ACK proposals, apply on COMMIT or INFORM), docs/zab.md §3-5.
#include <algorithm>

#include "consensus/replica_state.h"

namespace quorumfs::consensus {

void Replica::State::become_learner() {
  role = observer ? Role::kObserving : Role::kFollowing;
  phase = LearnerPhase::kDiscovery;
  serving = false;
  sync = {};
  sync_handed_over = false;
  leader_durable = 0;
  leader_heard_tick = now;
  send_follower_info();
}

// Resent until LEADERINFO comes: the first one can reach the leader while it is still waiting
// out its election, and a LOOKING replica drops it (ZooKeeper's learner retries its connect).
void Replica::State::send_follower_info() {
  follower_info_tick = now;
  send(Message{.type = MessageType::kFollowerInfo, .to = leader, .epoch = hard.accepted_epoch,
               .flag = observer});
}

void Replica::State::on_learner_message(const Message& message) {
  // Only what a leader sends shows it leads: two replicas that each think the other leads
  // exchange FOLLOWERINFOs, and those must not keep either from timing out.
  switch (message.type) {
    case MessageType::kFollowerInfo:
    case MessageType::kAckEpoch:
    case MessageType::kAck:
    case MessageType::kRequest:
    case MessageType::kSync:
      return;
    default: break;
  }
  leader_heard_tick = now;
  switch (message.type) {
    case MessageType::kLeaderInfo: on_leader_info(message); break;
    case MessageType::kPing:
      if (phase != LearnerPhase::kDiscovery) {
        send(Message{.type = MessageType::kPing, .to = leader, .zxid = message.zxid});
      }
      break;
    case MessageType::kRequestRefused:
      if (forwarded.erase(message.token) + sync_requests.erase(message.token) > 0) {
        out.refused.push_back(message.token);
      }
      break;
    case MessageType::kSyncReply:
      if (sync_requests.erase(message.token) > 0) {
        sync_waits[message.token] = message.zxid;
        check_sync_waits();
      }
      break;
    default:
      if (phase == LearnerPhase::kSync) {
        on_sync_message(message);
      } else if (phase != LearnerPhase::kDiscovery) {
        on_broadcast_message(message);
      }
  }
}

// acceptedEpoch is durable before the ACKEPOCH: hard_state comes first in the same Ready.
void Replica::State::on_leader_info(const Message& message) {
  if (phase != LearnerPhase::kDiscovery) return;
  if (message.epoch < hard.accepted_epoch) {
    go_looking();
    return;
  }
  bool accepted_now = message.epoch > hard.accepted_epoch;
  if (accepted_now) {
    hard.accepted_epoch = message.epoch;
    persist_hard_state();
  }
  phase = LearnerPhase::kSync;
  sync = LearnerSync{};
  sync.last = logged;
  send(Message{.type = MessageType::kAckEpoch, .to = leader, .epoch = hard.current_epoch,
               .zxid = logged, .flag = accepted_now, .snapshot_zxid = snapshot_zxid});
}

void Replica::State::on_sync_message(const Message& message) {
  bool ok = true;
  const bool starts_sync = message.type == MessageType::kDiff || message.type == MessageType::kTrunc ||
                           message.type == MessageType::kSnap;
  if (starts_sync) {
    // One way to line up with the leader per sync: a second would reset where the resent txns
    // start, and they would no longer follow each other.
    ok = !sync.started;
    sync.started = true;
  }
  switch (message.type) {
    case MessageType::kDiff: ok = ok && message.zxid == logged; break;
    case MessageType::kTrunc:
      // The disk has it, even if my window no longer does; a snapshot cannot be cut, nor what
      // I applied (committed, so in every leader's history).
      ok = ok && message.zxid <= logged && message.zxid >= std::max(snapshot_zxid, applied);
      sync.truncate_after = sync.last = message.zxid;
      break;
    case MessageType::kSnap:
      sync.snapshot = Ready::Snapshot{message.zxid, message.snapshot};
      sync.last = message.zxid;
      break;
    case MessageType::kProposal:
    case MessageType::kInform:
      ok = sync.started && follows_gaplessly(sync.last, message.entry.zxid);
      sync.entries.push_back(message.entry);
      sync.last = message.entry.zxid;
      if (message.type == MessageType::kInform) sync.committed = message.entry.zxid;
      break;
    case MessageType::kCommit: sync.committed = std::max(sync.committed, message.zxid); break;
    case MessageType::kNewLeader:
      ok = sync.started && zxid_epoch(message.zxid) == hard.accepted_epoch;
      if (ok) apply_sync();
      break;
    default: break;
  }
  if (!ok) go_looking();  // a sync that does not fit my log: start over
}

// The end of the history my log shares with a sync that resends the leader's log after `base`:
// the last of my records that the sync holds too, walking both from their first common zxid
// while they agree (one leader per epoch, so a zxid names one txn; and logs that share a txn
// share everything before it). At least `applied`: what I applied was committed, and every
// leader's history holds it.
Zxid Replica::State::shared_history_end(Zxid base, const std::vector<Entry>& entries) const {
  Zxid shared = applied;
  auto mine = after(base);
  auto theirs = entries.begin();
  if (mine == log.end()) return shared;
  while (theirs != entries.end() && theirs->zxid < mine->zxid) ++theirs;
  for (; mine != log.end() && theirs != entries.end(); ++mine, ++theirs) {
    if (mine->zxid != theirs->zxid || !mine->payload || !theirs->payload || *mine->payload != *theirs->payload) break;
    shared = std::max(shared, mine->zxid);
  }
  return shared;
}

// Within an epoch a log has no holes (ZOOKEEPER-4925); a new epoch starts at counter 1.
bool Replica::State::follows_gaplessly(Zxid previous, Zxid zxid) const {
  if (zxid_epoch(zxid) == zxid_epoch(previous)) return zxid == previous + 1;
  return zxid > previous && zxid_counter(zxid) == 1;
}

// NEWLEADER: hand the whole sync to the daemon (truncate or snapshot, then the txns, committed
// or not: all were sent before NEWLEADER, and the leader counts its ACK as covering them,
// ZOOKEEPER-3911). Only the COMMITted ones will be applied, and only after UPTODATE (4394).
//
// A SNAP is installed only when my log shares less of the leader's history than the snapshot
// holds. Otherwise it becomes a cut after the shared part: a leader sends its snapshot at its
// applied point, which can lie below its log's end, and dropping my log down to that point
// would leave my currentEpoch over a history shorter than the one I had, missing txns committed
// in an earlier epoch until the resent ones are durable. A crash in between would let me win an
// election and cut those txns everywhere (docs/architecture.md, "Sync never shortens a history").
void Replica::State::apply_sync() {
  if (sync.snapshot) {
    Zxid shared = shared_history_end(sync.snapshot->zxid, sync.entries);
    if (shared >= sync.snapshot->zxid) {
      sync.snapshot.reset();
      sync.truncate_after = shared;
    }
  }
  if (sync.truncate_after && *sync.truncate_after < logged) {
    out.truncate_after = *sync.truncate_after;
    truncate_log(*sync.truncate_after);
  }
  if (sync.snapshot) {
    out.install_snapshot = *sync.snapshot;
    install_snapshot(*sync.snapshot);
  }
  auto first_new = std::find_if(sync.entries.begin(), sync.entries.end(),
                                [this](const Entry& entry) { return entry.zxid > logged; });
  if (first_new != sync.entries.end() && !follows_gaplessly(logged, first_new->zxid)) {
    go_looking();  // the sync does not continue what I keep: start over
    return;
  }
  for (auto it = first_new; it != sync.entries.end(); ++it) append(std::move(*it));
  committed = std::max(committed, std::min(sync.committed, logged));
  sync_target = logged;
  sync = {};
  phase = LearnerPhase::kPersistingSync;
  sync_handed_over = false;
}

// docs/zab.md §1.2 (ZOOKEEPER-4785/4643): currentEpoch and the ACK only once the truncate or
// snapshot was carried out (an earlier Ready was taken) and the sync's txns are durable.
void Replica::State::maybe_ack_newleader() {
  if (role == Role::kLooking || role == Role::kLeading) return;
  if (phase != LearnerPhase::kPersistingSync || !sync_handed_over || durable < sync_target) return;
  hard.current_epoch = hard.accepted_epoch;
  persist_hard_state();
  vote.epoch = hard.current_epoch;
  send(Message{.type = MessageType::kAck, .to = leader, .zxid = make_zxid(hard.current_epoch, 0)});
  last_ack = sync_target;
  phase = LearnerPhase::kSynced;
  ack_durable();  // proposals that arrived after NEWLEADER are acked only now (ZOOKEEPER-4685)
}

void Replica::State::ack_durable() {
  if (observer || phase < LearnerPhase::kSynced || durable <= last_ack) return;
  last_ack = durable;
  send(Message{.type = MessageType::kAck, .to = leader, .zxid = durable});
}

// docs/zab.md, "A follower's own commit": my log and the leader's, both durable through a zxid,
// are a quorum's copies of it once the leader and one follower make a quorum.
void Replica::State::commit_durable_on_both() {
  if (observer || phase < LearnerPhase::kSynced || !leader_and_follower_are_quorum()) return;
  committed = std::max(committed, std::min({durable, leader_durable, logged}));
}

void Replica::State::on_broadcast_message(const Message& message) {
  switch (message.type) {
    case MessageType::kProposal:
    case MessageType::kInform:
      if (!follows_gaplessly(logged, message.entry.zxid)) {
        go_looking();
        return;
      }
      append(message.entry);
      if (message.type == MessageType::kInform) committed = message.entry.zxid;
      break;
    case MessageType::kCommit:
      // COMMIT names a proposal I logged (FollowerZooKeeperServer.commit).
      if (message.zxid > logged) {
        go_looking();
        return;
      }
      committed = std::max(committed, message.zxid);
      break;
    case MessageType::kDurable:
      leader_durable = std::max(leader_durable, message.zxid);
      commit_durable_on_both();
      break;
    case MessageType::kUpToDate:
      if (phase != LearnerPhase::kSynced) return;
      phase = LearnerPhase::kServing;
      serving = true;
      break;
    default: return;
  }
  deliver_committed();
}

void Replica::State::check_sync_waits() {
  for (auto it = sync_waits.begin(); it != sync_waits.end();) {
    if (it->second > applied) {
      ++it;
      continue;
    }
    out.synced.push_back(it->first);
    it = sync_waits.erase(it);
  }
}

void Replica::State::learner_tick() {
  maybe_ack_newleader();
  if (phase == LearnerPhase::kDiscovery && now - follower_info_tick >= static_cast<uint64_t>(config.election_resend_ticks)) {
    send_follower_info();
  }
  int limit = phase >= LearnerPhase::kSynced ? config.sync_limit_ticks : config.init_limit_ticks;
  if (now - leader_heard_tick >= static_cast<uint64_t>(limit)) go_looking();
}

}  // namespace quorumfs::consensus
