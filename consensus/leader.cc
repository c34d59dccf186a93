// The leader: discovery (choose and persist the new epoch), synchronization (DIFF, TRUNC or SNAP,
// then NEWLEADER), and broadcast (PROPOSAL, ACK, COMMIT/INFORM), docs/zab.md §3-5.
#include <algorithm>
#include <stdexcept>
#include <tuple>

#include "consensus/check.h"
#include "consensus/replica_state.h"

namespace quorumfs::consensus {

using Phase = LearnerHandler::Phase;

void Replica::State::become_leader() {
  role = Role::kLeading;
  serving = false;
  established = false;
  epoch_acked = false;
  new_epoch = 0;
  learners.clear();
  history_end = logged;
  lead_tick = ping_tick = now;
  try_choose_epoch();
}

void Replica::State::on_leader_message(const Message& message) {
  if (message.type == MessageType::kFollowerInfo) {
    on_follower_info(message);
    return;
  }
  auto it = learners.find(message.from);
  if (it == learners.end()) return;  // dropped, or not connected through discovery
  LearnerHandler& handler = it->second;
  handler.heard_tick = now;
  switch (message.type) {
    case MessageType::kAckEpoch: on_ack_epoch(handler, message); break;
    case MessageType::kAck: on_ack(message.from, handler, message.zxid); break;
    case MessageType::kRequest:
      if (!serving || !propose(message.entry.payload, message.from, message.token)) {
        send(Message{.type = MessageType::kRequestRefused, .to = message.from, .token = message.token});
      }
      break;
    case MessageType::kSync:
      if (serving) {
        leader_sync(message.from, message.token);
      } else {
        send(Message{.type = MessageType::kRequestRefused, .to = message.from, .token = message.token});
      }
      break;
    default: break;  // kPing echoes only refresh heard_tick
  }
}

void Replica::State::on_follower_info(const Message& message) {
  bool known = is_voter(message.from) || config.observers.count(message.from) != 0;
  if (!known || message.from == config.my_id) return;
  auto known_learner = learners.find(message.from);
  if (known_learner != learners.end() && known_learner->second.phase == Phase::kInfo &&
      known_learner->second.accepted_epoch == message.epoch) {
    // A resent FOLLOWERINFO that crossed my LEADERINFO (connections are FIFO, so it comes before
    // the learner's ACKEPOCH): answer again, nothing else changes. Past kInfo, a FOLLOWERINFO
    // is a learner starting over, and resets it below.
    if (new_epoch != 0) send(Message{.type = MessageType::kLeaderInfo, .to = message.from, .epoch = new_epoch});
    return;
  }
  LearnerHandler& handler = learners[message.from] = LearnerHandler{};
  handler.observer = !is_voter(message.from);
  handler.accepted_epoch = message.epoch;
  handler.heard_tick = now;
  if (new_epoch != 0 && message.epoch > new_epoch && !handler.observer) {
    // It would refuse my epoch and come back forever: elect again, and choose past its epoch.
    go_looking();
  } else if (new_epoch != 0) {
    send(Message{.type = MessageType::kLeaderInfo, .to = message.from, .epoch = new_epoch});
  } else {
    try_choose_epoch();
  }
}

// The new epoch is durable (hard_state comes first in the Ready) before any LEADERINFO.
void Replica::State::try_choose_epoch() {
  size_t voters_in = 1;
  uint32_t highest = hard.accepted_epoch;
  for (const auto& [id, handler] : learners) {
    voters_in += handler.observer ? 0 : 1;
    highest = std::max(highest, handler.accepted_epoch);
  }
  if (voters_in < quorum) return;
  if (highest == UINT32_MAX) throw std::runtime_error("epoch counter exhausted");
  new_epoch = highest + 1;
  hard.accepted_epoch = new_epoch;
  persist_hard_state();
  for (const auto& [id, handler] : learners) {
    send(Message{.type = MessageType::kLeaderInfo, .to = id, .epoch = new_epoch});
  }
  try_ack_epoch();
}

void Replica::State::on_ack_epoch(LearnerHandler& handler, const Message& message) {
  if (handler.phase != Phase::kInfo) return;
  // A follower with a later history than mine (docs/zab.md §3): elect again rather than risk
  // leading without a committed txn. (A late joiner may have synced in my epoch already.)
  if (!handler.observer &&
      std::tie(message.epoch, message.zxid) > std::tie(hard.current_epoch, logged)) {
    go_looking();
    return;
  }
  handler.phase = Phase::kAckedEpoch;
  handler.promised = message.flag;
  handler.current_epoch = message.epoch;
  handler.last_zxid = message.zxid;
  handler.snapshot_zxid = message.snapshot_zxid;
  if (epoch_acked) {
    handler.needs_sync = true;
  } else {
    try_ack_epoch();
  }
}

// currentEpoch is durable before any NEWLEADER (ours, not ZooKeeper's race: docs/zab.md §1.4), and
// only once my own history is: a crash must not leave the new epoch over a shorter log, which
// would win the next election and lose txns (ZOOKEEPER-4643, on the leader's side).
//
// Only voters that accepted my epoch with this ACKEPOCH count. One that had accepted it before
// may have promised it to another leader that chose the same epoch; counting it again could
// give two leaders one epoch (ZooKeeper's Leader.waitForEpochAck does not count it either). It
// is still synced once the epoch stands.
void Replica::State::try_ack_epoch() {
  if (new_epoch == 0 || epoch_acked || durable < history_end) return;
  size_t voters_in = 1;
  for (const auto& [id, handler] : learners) {
    voters_in += !handler.observer && handler.phase == Phase::kAckedEpoch && handler.promised ? 1 : 0;
  }
  if (voters_in < quorum) return;
  epoch_acked = true;
  hard.current_epoch = new_epoch;
  persist_hard_state();
  for (auto& [id, handler] : learners) {
    if (handler.phase == Phase::kAckedEpoch) handler.needs_sync = true;
  }
  try_establish();
}

void Replica::State::on_ack(NodeId from, LearnerHandler& handler, Zxid zxid) {
  if (zxid == make_zxid(new_epoch, 0)) {
    if (handler.phase != Phase::kSyncing) return;
    handler.phase = Phase::kSynced;
    handler.acked = std::max(handler.acked, handler.sync_end);  // it persisted all of the sync
    if (established) {
      send(Message{.type = MessageType::kUpToDate, .to = from});
      try_commit();
    } else {
      try_establish();
    }
  } else if (handler.phase == Phase::kSynced && !handler.observer) {
    handler.acked = std::max(handler.acked, zxid);
    try_commit();
  }
}

size_t Replica::State::synced_voters() const {
  size_t count = 0;
  for (const auto& [id, handler] : learners) {
    count += !handler.observer && handler.phase == Phase::kSynced ? 1 : 0;
  }
  return count;
}

// NEWLEADER acked by a voter quorum, counting myself only once my history is durable: the
// history is committed, proposals may start.
void Replica::State::try_establish() {
  if (!epoch_acked || established || durable < history_end) return;
  if (synced_voters() + 1 < quorum) return;
  established = serving = true;
  committed = std::max(committed, history_end);
  next_zxid = make_zxid(new_epoch, 1);
  vote.epoch = new_epoch;  // ZOOKEEPER-1732: answer looking peers with the new epoch
  for (auto& [id, handler] : learners) {
    if (handler.phase == Phase::kSynced) send(Message{.type = MessageType::kUpToDate, .to = id});
  }
  deliver_committed();
  try_commit();
}

// ACKs are cumulative: the quorum-th highest of (my durable point, each synced voter's ACK).
void Replica::State::try_commit() {
  std::vector<Zxid> acks{durable};
  for (const auto& [id, handler] : learners) {
    if (!handler.observer && handler.phase == Phase::kSynced) acks.push_back(handler.acked);
  }
  if (acks.size() < quorum) return;
  std::nth_element(acks.begin(), acks.begin() + (quorum - 1), acks.end(), std::greater<>());
  Zxid upto = std::min(acks[quorum - 1], logged);
  if (upto <= committed) return;
  auto first_new = after(committed);
  committed = upto;
  for (const auto& [id, handler] : learners) {
    if (handler.phase < Phase::kSyncing || follower_commits_itself(handler, upto)) continue;
    if (!handler.observer) {
      send(Message{.type = MessageType::kCommit, .to = id, .zxid = upto});
      continue;
    }
    for (auto it = first_new; it != log.end() && it->zxid <= upto; ++it) {
      send(Message{.type = MessageType::kInform, .to = id, .entry = *it});
    }
  }
  deliver_committed();
  answer_pending_syncs();
}

// docs/zab.md, "A follower's own commit": where the leader and one follower are a quorum, the
// leader tells its followers how far its log is durable; a follower whose own log is durable as
// far commits by itself, two network hops before the leader's COMMIT could reach it. Only what
// is not committed yet is announced: a COMMIT already covers the rest.
void Replica::State::announce_durable() {
  if (!leader_and_follower_are_quorum() || durable <= committed) return;
  for (auto& [id, handler] : learners) {
    if (handler.observer || handler.phase != Phase::kSynced || handler.durable_sent >= durable) continue;
    handler.durable_sent = durable;
    send(Message{.type = MessageType::kDurable, .to = id, .zxid = durable});
  }
}

// A follower that acked zxid and was told my log is durable through it has committed it already,
// or will when my kDurable (sent earlier on the same connection) arrives: no COMMIT needed. One
// that has not acked still gets the COMMIT, as before.
bool Replica::State::follower_commits_itself(const LearnerHandler& handler, Zxid zxid) const {
  return !handler.observer && handler.phase == Phase::kSynced && handler.acked >= zxid &&
         handler.durable_sent >= zxid;
}

// Where the learner's log continues from (docs/zab.md §4): DIFF when I know its last zxid, TRUNC
// to my last entry of its last epoch below it if that is not below its snapshot, else SNAP of my
// tree (the daemon fills it with the tree at `applied`, this Ready's deliveries included: built
// in ready() for that reason).
void Replica::State::build_sync(NodeId to, LearnerHandler& handler) {
  handler.needs_sync = false;
  Zxid from = handler.last_zxid;
  if (knows(from)) {
    send(Message{.type = MessageType::kDiff, .to = to, .zxid = from});
  } else if (auto point = trunc_point(from); point && *point >= handler.snapshot_zxid) {
    from = *point;
    send(Message{.type = MessageType::kTrunc, .to = to, .zxid = from});
  } else {
    from = applied;
    send(Message{.type = MessageType::kSnap, .to = to, .zxid = from});
  }
  // Observers learn committed txns only; followers also get the open proposals.
  Zxid history = std::max(committed, history_end);
  Zxid last_sent = from;
  for (auto it = after(from); it != log.end(); ++it) {
    if (handler.observer && it->zxid > history) break;
    Entry entry = *it;
    if (entry.zxid <= history_end) entry.origin = entry.token = 0;
    send(Message{.type = MessageType::kProposal, .to = to, .entry = entry});
    last_sent = entry.zxid;
  }
  // Also when nothing was sent: the learner's own tail may be history it has not seen committed.
  send(Message{.type = MessageType::kCommit, .to = to, .zxid = std::min(last_sent, history)});
  send(Message{.type = MessageType::kNewLeader, .to = to, .zxid = make_zxid(new_epoch, 0)});
  handler.sync_end = last_sent;
  handler.phase = Phase::kSyncing;
}

// Within one epoch zxids name the same txn everywhere, so a learner ahead of me in an epoch has
// my last entry of that epoch (unless I have none of it).
std::optional<Zxid> Replica::State::trunc_point(Zxid peer_zxid) const {
  auto it = std::lower_bound(log.begin(), log.end(), peer_zxid,
                             [](const Entry& entry, Zxid z) { return entry.zxid < z; });
  Zxid below = 0;
  if (it != log.begin()) {
    below = std::prev(it)->zxid;
  } else if (log_base && *log_base < peer_zxid) {
    below = *log_base;
  } else {
    return std::nullopt;
  }
  if (zxid_epoch(below) != zxid_epoch(peer_zxid)) return std::nullopt;
  return below;
}

bool Replica::State::propose(std::shared_ptr<const std::string> payload, NodeId origin,
                             uint64_t token) {
  QFS_CHECK(established, "only an established leader proposes");
  // ZOOKEEPER-1277: the counter would roll over into a zxid that is already taken.
  if (zxid_counter(next_zxid) == UINT32_MAX) {
    go_looking();
    return false;
  }
  Entry entry{next_zxid++, std::move(payload), origin, token};
  append(entry);
  for (const auto& [id, handler] : learners) {
    if (!handler.observer && handler.phase >= Phase::kSyncing) {
      send(Message{.type = MessageType::kProposal, .to = id, .entry = entry});
    }
  }
  return true;
}

// ZooKeeper's processSync: answered once every proposal made before it has committed.
void Replica::State::leader_sync(NodeId from, uint64_t token) {
  pending_syncs.push_back(PendingSync{logged, from, token});
  answer_pending_syncs();
}

void Replica::State::answer_pending_syncs() {
  auto done = [this](const PendingSync& pending) { return pending.zxid <= committed; };
  for (const PendingSync& pending : pending_syncs) {
    if (!done(pending)) continue;
    if (pending.from == config.my_id) {
      out.synced.push_back(pending.token);
    } else {
      send(Message{.type = MessageType::kSyncReply, .to = pending.from, .zxid = pending.zxid,
                   .token = pending.token});
    }
  }
  std::erase_if(pending_syncs, done);
}

// Learners silent too long are dropped; without a live voter quorum the leader steps down.
void Replica::State::leader_tick() {
  if (!established && now - lead_tick >= static_cast<uint64_t>(config.init_limit_ticks)) {
    go_looking();
    return;
  }
  std::erase_if(learners, [this](const auto& item) {
    const LearnerHandler& handler = item.second;
    int limit = handler.phase == Phase::kSynced ? config.sync_limit_ticks : config.init_limit_ticks;
    return now - handler.heard_tick >= static_cast<uint64_t>(limit);
  });
  if (established && synced_voters() + 1 < quorum) {
    go_looking();
    return;
  }
  if (now - ping_tick >= static_cast<uint64_t>(config.ping_ticks)) {
    ping_tick = now;
    for (const auto& [id, handler] : learners) {
      send(Message{.type = MessageType::kPing, .to = id, .zxid = committed});
    }
  }
}

}  // namespace quorumfs::consensus
