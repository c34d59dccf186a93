// Replica's inputs and the log every role shares: append, truncate, snapshot, delivery in order.
#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>

#include "consensus/check.h"
#include "consensus/replica_state.h"

namespace quorumfs::consensus {

namespace {

// docs/zab.md §1, relaxed by one case: a log whose last epoch is above currentEpoch but not above
// acceptedEpoch is a NEWLEADER sync cut short by a crash (its history was durable, currentEpoch
// not yet); ZooKeeper's updatingEpoch file covers the same window.
void check_epochs(const DurableState& durable) {
  if (durable.accepted_epoch < durable.current_epoch ||
      zxid_epoch(durable.last_logged_zxid) > durable.accepted_epoch) {
    throw std::runtime_error("inconsistent epochs: acceptedEpoch " +
                             std::to_string(durable.accepted_epoch) + ", currentEpoch " +
                             std::to_string(durable.current_epoch) + ", last zxid epoch " +
                             std::to_string(zxid_epoch(durable.last_logged_zxid)));
  }
}

}  // namespace

Replica::State::State(Config config_in, const DurableState& disk) : config(std::move(config_in)) {
  check_epochs(disk);
  observer = !is_voter(config.my_id);
  if (observer && config.observers.count(config.my_id) == 0) {
    throw std::runtime_error("my_id is neither a voter nor an observer");
  }
  quorum = config.voters.size() / 2 + 1;
  hard = {disk.accepted_epoch, disk.current_epoch};
  logged = durable = disk.last_logged_zxid;
  applied = committed = disk.applied_zxid;
  snapshot_zxid = disk.snapshot_zxid;
  load_window(disk);
  start_election();
}

// The window starts after the newest snapshot: records below it may belong to a history the
// snapshot replaced. It holds every record the tree has not applied (they are applied from it
// once committed) and, for DIFFs, up to diff_window records in all.
void Replica::State::load_window(const DurableState& disk) {
  if (disk.applied_zxid > disk.last_logged_zxid || disk.applied_zxid < disk.snapshot_zxid) {
    throw std::runtime_error("the tree's applied zxid " + std::to_string(disk.applied_zxid) +
                             " is outside the snapshot and log");
  }
  log_base = std::max(disk.recent_after, snapshot_zxid);
  for (const Entry& entry : disk.recent) {
    if (entry.zxid > *log_base) push_log(Entry{entry.zxid, entry.payload, 0, 0});
  }
  if (log.empty()) {
    log_base = logged;  // the log (or snapshot) ends here; nothing before it is at hand
  } else if (log.back().zxid != logged) {
    throw std::runtime_error("the log's recent records do not end at its last zxid");
  }
  if (applied < *log_base) throw std::runtime_error("the unapplied end of the log was not read");
  trim_window();
}

bool Replica::State::knows(Zxid zxid) const {
  if (zxid == logged || (log_base && zxid == *log_base)) return true;
  auto it = std::lower_bound(log.begin(), log.end(), zxid,
                             [](const Entry& entry, Zxid z) { return entry.zxid < z; });
  return it != log.end() && it->zxid == zxid;
}

std::deque<Entry>::const_iterator Replica::State::after(Zxid zxid) const {
  return std::upper_bound(log.begin(), log.end(), zxid,
                          [](Zxid z, const Entry& entry) { return z < entry.zxid; });
}

void Replica::State::append(Entry entry) {
  QFS_CHECK(entry.zxid > logged, "log appends rise strictly");
  logged = entry.zxid;
  push_log(entry);
  out.to_persist.push_back(std::move(entry));
}

// The daemon cuts its log; its tree, which holds only applied txns, stays as it is. What was
// applied was committed, so every leader's history holds it: no sync cuts below it.
void Replica::State::truncate_log(Zxid zxid) {
  QFS_CHECK(zxid <= logged, "a truncation point is within the log");
  QFS_CHECK(zxid >= applied, "a truncation keeps every applied txn");
  for (auto it = after(zxid); it != log.end(); ++it) log_bytes -= payload_bytes(*it);
  log.erase(after(zxid), log.end());
  if (log.empty()) log_base = zxid;
  logged = durable = zxid;
  committed = std::min(committed, zxid);
}

void Replica::State::install_snapshot(const Ready::Snapshot& snapshot) {
  log.clear();
  log_bytes = 0;
  log_base = snapshot.zxid;
  logged = durable = committed = applied = snapshot_zxid = snapshot.zxid;
}

// Hands over committed entries in zxid order. Leaders deliver once established, learners after
// UPTODATE: before that a txn may belong to a history that never gets a quorum.
void Replica::State::deliver_committed() {
  bool may_apply = role == Role::kLeading ? established : serving;
  if (!may_apply) return;
  Zxid upto = std::min(committed, logged);
  for (auto it = after(applied); it != log.end() && it->zxid <= upto; ++it) {
    out.to_apply.push_back(*it);
    applied = it->zxid;
    if (it->origin == config.my_id) forwarded.erase(it->token);
  }
  check_sync_waits();
  trim_window();
}

// Keeps diff_window records, and diff_window_bytes of them, besides those not applied yet.
void Replica::State::trim_window() {
  while ((log.size() > config.diff_window || log_bytes > config.diff_window_bytes) && !log.empty() &&
         log.front().zxid <= applied) {
    log_base = log.front().zxid;
    log_bytes -= payload_bytes(log.front());
    log.pop_front();
  }
}

void Replica::State::push_log(Entry entry) {
  log_bytes += payload_bytes(entry);
  log.push_back(std::move(entry));
}

void Replica::State::send(Message message) {
  message.from = config.my_id;
  out.messages.push_back(std::move(message));
}

// Tokens whose fate this replica can no longer learn: its own unapplied writes and syncs.
void Replica::State::report_lost_tokens() {
  for (auto it = after(applied); it != log.end(); ++it) {
    if (it->origin == config.my_id) forwarded.insert(it->token);
  }
  for (const PendingSync& pending : pending_syncs) {
    if (pending.from == config.my_id) sync_requests.insert(pending.token);
  }
  for (const auto& [token, zxid] : sync_waits) sync_requests.insert(token);
  out.lost.insert(out.lost.end(), forwarded.begin(), forwarded.end());
  out.lost.insert(out.lost.end(), sync_requests.begin(), sync_requests.end());
  forwarded.clear();
  sync_requests.clear();
  sync_waits.clear();
  pending_syncs.clear();
  // A later leader may still commit these entries; nobody waits for them any more.
  for (auto it = log.begin() + (after(applied) - log.begin()); it != log.end(); ++it) {
    it->origin = 0;
    it->token = 0;
  }
}

void Replica::State::go_looking() {
  report_lost_tokens();
  learners.clear();
  sync = {};
  serving = false;
  established = false;
  start_election();
}

// --- Replica

Replica::Replica(Config config, const DurableState& durable)
    : state_(std::make_unique<State>(std::move(config), durable)) {}

Replica::~Replica() = default;

void Replica::step(const Message& message) {
  State& s = *state_;
  if (message.type == MessageType::kVote) {
    s.on_vote(message);
  } else if (s.role == Role::kLeading) {
    s.on_leader_message(message);
  } else if (s.role != Role::kLooking && message.from == s.leader) {
    s.on_learner_message(message);
  }
}

void Replica::tick() {
  State& s = *state_;
  ++s.now;
  switch (s.role) {
    case Role::kLooking: s.election_tick(); break;
    case Role::kLeading: s.leader_tick(); break;
    default: s.learner_tick(); break;
  }
}

void Replica::peer_down(NodeId peer) {
  State& s = *state_;
  if (s.role == Role::kLeading) {
    s.learners.erase(peer);
  } else if (s.role != Role::kLooking && peer == s.leader) {
    s.go_looking();
  }
}

bool Replica::submit(uint64_t token, std::shared_ptr<const std::string> payload) {
  State& s = *state_;
  if (!s.serving) return false;
  if (s.role == Role::kLeading) return s.propose(std::move(payload), s.config.my_id, token);
  Message request{.type = MessageType::kRequest, .to = s.leader, .token = token};
  request.entry.payload = std::move(payload);
  s.send(std::move(request));
  s.forwarded.insert(token);
  return true;
}

bool Replica::sync(uint64_t token) {
  State& s = *state_;
  if (!s.serving) return false;
  if (s.role == Role::kLeading) {
    s.leader_sync(s.config.my_id, token);
  } else {
    s.send(Message{.type = MessageType::kSync, .to = s.leader, .token = token});
    s.sync_requests.insert(token);
  }
  return true;
}

void Replica::persisted(Zxid zxid) {
  State& s = *state_;
  // An append handed over before a truncation may report after it: only what is still logged
  // counts.
  s.durable = std::max(s.durable, std::min(zxid, s.logged));
  if (s.role == Role::kLeading) {
    if (s.established) {
      s.try_commit();
      s.announce_durable();
    } else {
      s.try_ack_epoch();
      s.try_establish();
    }
  } else if (s.role != Role::kLooking) {
    s.maybe_ack_newleader();
    s.ack_durable();
    s.commit_durable_on_both();
    s.deliver_committed();
  }
}

Ready Replica::ready() {
  State& s = *state_;
  s.maybe_ack_newleader();
  if (s.role == Role::kLeading) {
    for (auto& [id, handler] : s.learners) {
      if (handler.needs_sync) s.build_sync(id, handler);
    }
  }
  Ready ready = std::exchange(s.out, Ready{});
  if (s.phase == LearnerPhase::kPersistingSync && s.role != Role::kLooking &&
      s.role != Role::kLeading) {
    s.sync_handed_over = true;
  }
  return ready;
}

Role Replica::role() const { return state_->role; }
NodeId Replica::leader() const { return state_->leader; }
bool Replica::serving() const { return state_->serving; }
uint32_t Replica::epoch() const { return state_->hard.current_epoch; }
Zxid Replica::last_committed_zxid() const { return state_->committed; }
Zxid Replica::last_logged_zxid() const { return state_->logged; }

std::vector<LearnerStatus> Replica::learners() const {
  std::vector<LearnerStatus> statuses;
  if (state_->role != Role::kLeading) return statuses;
  for (const auto& [id, handler] : state_->learners) {
    statuses.push_back(LearnerStatus{id, handler.observer, handler.phase == LearnerHandler::Phase::kSynced,
                                     handler.acked});
  }
  return statuses;
}

}  // namespace quorumfs::consensus
