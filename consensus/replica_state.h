// Internal to consensus/: the state behind Replica, shared by replica.cc (log, inputs),
// election.cc (fast leader election), leader.cc and learner.cc (discovery, sync, broadcast).
#pragma once

#include <deque>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "consensus/replica.h"

// Messages are built with designated initializers; GCC 12's -Wextra flags every member left to
// its default initializer there, which is exactly what C++20 defines them to do.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace quorumfs::consensus {

struct Vote {
  NodeId leader = 0;
  Zxid zxid = 0;
  uint32_t epoch = 0;  // the proposed leader's currentEpoch (peerEpoch)
  uint64_t round = 0;
  Role state = Role::kLooking;
};

// The leader's view of one connected learner (ZooKeeper's LearnerHandler).
struct LearnerHandler {
  enum class Phase { kInfo, kAckedEpoch, kSyncing, kSynced };
  bool observer = false;
  Phase phase = Phase::kInfo;
  uint32_t accepted_epoch = 0;
  uint32_t current_epoch = 0;
  Zxid last_zxid = 0;
  Zxid snapshot_zxid = 0;   // its log cannot be cut below this
  bool promised = false;    // its ACKEPOCH accepted my epoch just now: it counts for the epoch
  bool needs_sync = false;  // built in ready(), where a SNAP can name the final applied zxid
  Zxid sync_end = 0;        // last zxid sent before NEWLEADER
  Zxid acked = 0;           // ACKs cover everything up to it
  Zxid durable_sent = 0;    // the last kDurable sent to it
  uint64_t heard_tick = 0;
};

// What a learner receives between ACKEPOCH and NEWLEADER. Nothing of it touches the disk before
// NEWLEADER: a sync abandoned earlier leaves the durable state as it was (ZOOKEEPER-3642).
struct LearnerSync {
  bool started = false;  // the DIFF, TRUNC or SNAP came: a second one is a confused leader
  std::optional<Zxid> truncate_after;
  std::optional<Ready::Snapshot> snapshot;
  std::vector<Entry> entries;
  Zxid last = 0;       // the learner's log would end here
  Zxid committed = 0;  // highest COMMIT seen
};

enum class LearnerPhase {
  kDiscovery,       // FOLLOWERINFO sent
  kSync,            // ACKEPOCH sent, buffering the sync
  kPersistingSync,  // NEWLEADER received, its history handed to the daemon
  kSynced,          // NEWLEADER acked, waiting for UPTODATE
  kServing,
};

struct Replica::State {
  State(Config config, const DurableState& disk);

  // replica.cc: log and delivery
  void load_window(const DurableState& disk);
  bool is_voter(NodeId id) const { return config.voters.count(id) != 0; }
  // The leader and one follower make a quorum (two or three voters): a follower that knows both
  // logs durable knows the txn committed (docs/zab.md, "A follower's own commit").
  bool leader_and_follower_are_quorum() const { return quorum <= 2; }
  bool knows(Zxid zxid) const;
  std::deque<Entry>::const_iterator after(Zxid zxid) const;
  void append(Entry entry);
  void truncate_log(Zxid zxid);
  void install_snapshot(const Ready::Snapshot& snapshot);
  void deliver_committed();
  void trim_window();
  void push_log(Entry entry);
  static size_t payload_bytes(const Entry& entry) { return entry.payload ? entry.payload->size() : 0; }
  void send(Message message);
  void persist_hard_state() { out.hard_state = hard; }
  void go_looking();
  void report_lost_tokens();

  // election.cc
  Vote initial_vote() const;
  void start_election();
  void broadcast_vote();
  void reply_vote(NodeId to);
  void on_vote(const Message& message);
  void on_looking_vote(NodeId from, const Vote& vote);
  void on_settled_vote(NodeId from, const Vote& vote);
  void check_looking_quorum();
  bool agrees(const std::map<NodeId, Vote>& votes, NodeId leader) const;
  bool leader_confirmed(const std::map<NodeId, Vote>& votes, const Vote& vote) const;
  void decide(NodeId leader);
  void election_tick();

  // leader.cc
  void become_leader();
  void on_leader_message(const Message& message);
  void on_follower_info(const Message& message);
  void on_ack_epoch(LearnerHandler& handler, const Message& message);
  void on_ack(NodeId from, LearnerHandler& handler, Zxid zxid);
  void try_choose_epoch();
  void try_ack_epoch();
  void try_establish();
  void try_commit();
  void announce_durable();
  bool follower_commits_itself(const LearnerHandler& handler, Zxid zxid) const;
  size_t synced_voters() const;
  void build_sync(NodeId to, LearnerHandler& handler);
  std::optional<Zxid> trunc_point(Zxid peer_zxid) const;
  bool propose(std::shared_ptr<const std::string> payload, NodeId origin, uint64_t token);
  void leader_sync(NodeId from, uint64_t token);
  void answer_pending_syncs();
  void leader_tick();

  // learner.cc
  void become_learner();
  void on_learner_message(const Message& message);
  void on_leader_info(const Message& message);
  void on_sync_message(const Message& message);
  void on_broadcast_message(const Message& message);
  bool follows_gaplessly(Zxid previous, Zxid zxid) const;
  Zxid shared_history_end(Zxid base, const std::vector<Entry>& entries) const;
  void apply_sync();
  void maybe_ack_newleader();
  void ack_durable();
  void commit_durable_on_both();
  void check_sync_waits();
  void learner_tick();
  void send_follower_info();

  Config config;
  bool observer = false;
  size_t quorum = 1;
  HardState hard;
  Ready out;
  uint64_t now = 0;  // ticks since start
  Role role = Role::kLooking;
  NodeId leader = 0;
  bool serving = false;

  // The log as far as this replica knows it: every entry after log_base (the window for DIFFs,
  // plus anything not applied yet). The daemon's tree has applied everything through `applied`.
  std::deque<Entry> log;
  std::optional<Zxid> log_base;  // the zxid just before log.front(), when known
  size_t log_bytes = 0;          // the payload bytes `log` holds
  Zxid logged = 0;     // last entry handed to to_persist (or on disk at start)
  Zxid durable = 0;    // persisted() through here
  Zxid committed = 0;
  Zxid applied = 0;
  Zxid snapshot_zxid = 0;  // my newest snapshot: a snapshot may hold txns never committed (1549)

  // election
  Vote vote;
  uint64_t round = 0;
  std::map<NodeId, Vote> received;         // this round's votes (voters only)
  std::map<NodeId, Vote> out_of_election;  // votes of peers that already follow or lead
  std::optional<uint64_t> finalize_tick;
  uint64_t vote_heard_tick = 0;
  int resend_ticks = 0;

  // leader
  std::map<NodeId, LearnerHandler> learners;
  uint32_t new_epoch = 0;  // 0 until a FOLLOWERINFO quorum chose it
  bool epoch_acked = false;
  bool established = false;
  Zxid history_end = 0;  // the leader's log when elected: committed once established
  uint64_t lead_tick = 0;
  uint64_t ping_tick = 0;
  Zxid next_zxid = 0;
  struct PendingSync {
    Zxid zxid;
    NodeId from;
    uint64_t token;
  };
  std::vector<PendingSync> pending_syncs;

  // learner
  LearnerPhase phase = LearnerPhase::kDiscovery;
  LearnerSync sync;
  Zxid sync_target = 0;      // NEWLEADER is acked once this is durable
  bool sync_handed_over = false;  // the Ready carrying the sync's truncate/snapshot was taken
  Zxid last_ack = 0;
  Zxid leader_durable = 0;  // the leader's last kDurable
  uint64_t leader_heard_tick = 0;
  uint64_t follower_info_tick = 0;  // the last FOLLOWERINFO sent
  std::set<uint64_t> forwarded;          // kRequest tokens not applied yet
  std::set<uint64_t> sync_requests;      // kSync tokens without a reply yet
  std::map<uint64_t, Zxid> sync_waits;   // token -> apply through this zxid, then synced
};

}  // namespace quorumfs::consensus
