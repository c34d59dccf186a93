// The Zab core: a value you feed and drain, with no sockets, threads, clocks or files inside
// (etcd-io/raft's Ready/Advance shape). Inputs: step(message), tick(), peer_down(id), submit(),
// sync(), persisted(zxid). Output: ready(), which the daemon handles IN THIS ORDER:
//
//   1. hard_state       -> write durably (acceptedEpoch, then currentEpoch)
//   2. truncate_after   -> finish the appends handed over earlier, cut the log after that zxid
//                          (durably) and drop snapshots newer than it. The tree stays as it is:
//                          it holds only applied (committed) txns, never any beyond the cut
//   3. install_snapshot -> replace the tree with the leader's snapshot, cut the log after its zxid,
//                          drop snapshots newer than it, write it as a snapshot file, all durable
//                          before going on
//   4. to_persist       -> append to the txn log (group commit), recording with the records the
//                          zxid the tree has applied so far (DurableState::applied_zxid at the
//                          next start); when durable call persisted(zxid)
//   5. to_apply         -> committed txns, in zxid order: apply to the tree
//   6. synced           -> sync() tokens whose writes are now applied here: answer them
//   7. messages         -> send; a kSnap message from this replica has snapshot == nullptr and
//                          must be filled with the tree as it is AFTER step 5 (its zxid equals the
//                          last applied zxid then)
//   8. lost / refused   -> tokens of submit() whose outcome is unknown / certainly not applied
//
// Everything a message depends on (epochs, log records) is asked for in an earlier or the same
// Ready, before the message: a daemon that follows the order above never sends an ACK for a
// record that is not durable (docs/zab.md §1).
//
// Call ready() after every input (an empty Ready is fine). A learner's NEWLEADER ACK waits for a
// ready() call after the one that carried the sync's truncate_after/install_snapshot: that is
// how the core knows the daemon carried them out (docs/zab.md §1.2).
//
// A learner keeps everything a leader sends during synchronization in memory until NEWLEADER;
// only then does it ask for the truncate, snapshot and txns. A sync abandoned before NEWLEADER
// (leader lost) therefore leaves the disk and the tree as they were (ZOOKEEPER-3642).
//
// The same core runs the ensemble of one (the standalone default): it leads at once, and a
// proposal commits when its own record is durable.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "consensus/zxid.h"

namespace quorumfs::consensus {

using NodeId = uint64_t;

struct Entry {
  Zxid zxid = 0;
  std::shared_ptr<const std::string> payload;  // shared: the log, the applier and messages read it
  // Who submitted it and their token (not logged: after a restart both are 0). A replica whose
  // own entry is applied answers that token's writer.
  NodeId origin = 0;
  uint64_t token = 0;
};

struct HardState {
  uint32_t accepted_epoch = 0;
  uint32_t current_epoch = 0;
};

enum class Role { kLooking, kFollowing, kLeading, kObserving };

enum class MessageType : uint8_t {
  kVote = 1,       // election notification: state, leader, zxid, round, epoch (= peerEpoch)
  kFollowerInfo,   // learner -> leader: epoch = acceptedEpoch, observer flag
  kLeaderInfo,     // leader -> learner: epoch = the new epoch
  kAckEpoch,       // learner -> leader: epoch = currentEpoch, zxid = last logged zxid, accepted flag
  kDiff,           // leader -> learner: zxid = where the learner's log continues from
  kTrunc,          // leader -> learner: zxid = cut the log after this
  kSnap,           // leader -> learner: zxid, snapshot = the leader's tree at zxid
  kNewLeader,      // leader -> learner: zxid = (epoch, 0)
  kUpToDate,       // leader -> learner
  kProposal,       // leader -> follower: entry
  kAck,            // follower -> leader: zxid (covers everything up to it)
  kCommit,         // leader -> follower: zxid (covers everything up to it)
  kInform,         // leader -> observer: entry, committed
  kRequest,        // learner -> leader: entry.payload to propose; token = the learner's token
  kRequestRefused, // leader -> learner: token; the leader did not propose it (not serving)
  kSync,           // learner -> leader: token
  kSyncReply,      // leader -> learner: token; zxid = last proposal at the time of the kSync
  kPing,           // leader -> learner: zxid = last committed; learner echoes it back
  kDurable,        // leader -> follower: zxid = the leader's log is durable through it
};

struct Message {
  MessageType type = MessageType::kPing;
  NodeId from = 0;
  NodeId to = 0;
  // kVote
  Role state = Role::kLooking;  // the sender's
  NodeId leader = 0;            // proposed or known leader
  uint64_t round = 0;           // election round (logicalclock)
  // several
  uint32_t epoch = 0;
  Zxid zxid = 0;
  bool flag = false;     // kFollowerInfo: sender is an observer; kAckEpoch: epoch newly accepted
  uint64_t token = 0;    // kRequest/kRequestRefused/kSync/kSyncReply
  Entry entry;           // kProposal/kInform/kRequest
  Zxid snapshot_zxid = 0;  // kAckEpoch: the learner's newest snapshot; its log cannot be cut below
  std::shared_ptr<const std::string> snapshot;  // kSnap
};

struct Ready {
  std::optional<HardState> hard_state;
  std::optional<Zxid> truncate_after;
  struct Snapshot {
    Zxid zxid = 0;
    std::shared_ptr<const std::string> data;
  };
  std::optional<Snapshot> install_snapshot;
  std::vector<Entry> to_persist;
  std::vector<Entry> to_apply;
  std::vector<uint64_t> synced;  // sync() tokens
  std::vector<Message> messages;
  std::vector<uint64_t> lost;     // submit() tokens: outcome unknown; sync() tokens: failed
  std::vector<uint64_t> refused;  // submit() tokens: certainly not applied; sync() tokens: failed
  bool empty() const {
    return !hard_state && !truncate_after && !install_snapshot && to_persist.empty() &&
           to_apply.empty() && synced.empty() && messages.empty() && lost.empty() && refused.empty();
  }
};

struct Config {
  NodeId my_id = 1;
  std::set<NodeId> voters{1};  // participants, my_id among them unless an observer
  std::set<NodeId> observers;
  // Times in ticks (the daemon ticks every tick interval; ZooKeeper's tickTime is several ticks).
  int election_finalize_ticks = 2;  // FLE finalizeWait: wait for better votes after a quorum
  int election_resend_ticks = 3;    // resend the vote when nothing arrives (then backing off)
  int init_limit_ticks = 100;       // discovery + sync must finish within this
  int sync_limit_ticks = 50;        // a learner silent this long is dropped / leader presumed lost
  int ping_ticks = 5;               // leader pings learners this often
  size_t diff_window = 100000;      // committed txns kept for DIFF; older learners get a SNAP...
  size_t diff_window_bytes = 256u << 20;  // ...and at most this many bytes of them
};

// What a replica finds on disk at start (docs/architecture.md, "What a restart shows").
struct DurableState {
  uint32_t accepted_epoch = 0;
  uint32_t current_epoch = 0;
  Zxid last_logged_zxid = 0;   // the end of snapshot + log: what votes and ACKEPOCH advertise
  // What the tree holds: the newest snapshot plus the log through the last point the replica
  // had applied (recorded in the log), so known committed. The rest of the log is applied only
  // once a leader commits it, or is cut by a sync: a restart never shows what may be taken back.
  Zxid applied_zxid = 0;
  Zxid snapshot_zxid = 0;      // the newest snapshot (0: none): a TRUNC below it needs a SNAP
  // The log's last records after the newest snapshot, ending at last_logged_zxid: every record
  // after applied_zxid, and up to diff_window in all for DIFFs if leading. recent_after is the
  // zxid just before the first of them (the snapshot's when they start right after it). The
  // constructor throws when they do not reach back to applied_zxid.
  std::vector<Entry> recent;
  Zxid recent_after = 0;
};

// The leader's view of one learner, for reports (the admin endpoint's voting_view).
struct LearnerStatus {
  NodeId id = 0;
  bool observer = false;
  bool synced = false;  // past NEWLEADER: it takes proposals (or, an observer, INFORMs)
  Zxid acked = 0;       // a follower's ACKs cover everything up to it (an observer's: its sync)
};

class Replica {
 public:
  // Throws on inconsistent epochs: acceptedEpoch < currentEpoch, or a log whose last epoch is
  // above acceptedEpoch. A last epoch above currentEpoch alone is a NEWLEADER sync cut short by a
  // crash after its history was durable (ZooKeeper's updatingEpoch case): accepted. Also throws
  // when the recent records do not hold the unapplied part of the log.
  Replica(Config config, const DurableState& durable);
  ~Replica();
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  // --- inputs
  void step(const Message& message);
  void tick();
  void peer_down(NodeId peer);  // the connection to peer broke (its messages may be lost)
  // Orders a write: on the established leader it is proposed at once; on a synced learner it is
  // forwarded (kRequest). The txn comes back through to_apply with origin == my id and this
  // token. Returns false when it cannot be sent now (no established leader):
  // certainly not applied. A forwarded write whose leader is lost is reported in Ready::lost.
  bool submit(uint64_t token, std::shared_ptr<const std::string> payload);
  // ZooKeeper's sync(): token comes back in Ready::synced once every write committed anywhere
  // before the call is applied here. Returns false without an established leader.
  bool sync(uint64_t token);
  // The log is durable through zxid (everything handed over in to_persist up to it).
  void persisted(Zxid zxid);
  Ready ready();

  // --- state
  Role role() const;
  NodeId leader() const;          // 0 when unknown
  bool serving() const;           // established leader, or a learner past UPTODATE
  uint32_t epoch() const;         // currentEpoch
  Zxid last_committed_zxid() const;
  Zxid last_logged_zxid() const;
  // The learners a leader has heard from in this epoch, by id; empty unless leading.
  std::vector<LearnerStatus> learners() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace quorumfs::consensus
