// A deterministic simulated ensemble of consensus::Replica: seeded scheduler (no wall clock),
// simulated disks (records durable only when the simulated storage completes; a crash keeps a
// random prefix of the unsynced tail), a simulated state machine per replica (the list of
// applied entries; its snapshot is that list), a network of FIFO connections whose election
// messages get reordered, duplicated or lost, partitions, crashes and restarts. The invariants of
// docs/simulation.md are checked after every step; a broken one throws SimFailure with the reason.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "consensus/replica.h"

namespace quorumfs::sim {

using consensus::Entry;
using consensus::Message;
using consensus::NodeId;
using consensus::Replica;

struct SimFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Disk {
  uint32_t accepted_epoch = 0;
  uint32_t current_epoch = 0;
  std::vector<Entry> log;  // durable records
  std::vector<std::pair<Zxid, std::vector<Entry>>> snapshots;
  std::vector<Entry> pending;  // appended, not yet synced
  // The tree's applied zxid recorded with the appends (the daemon writes it in the log's batch
  // markers): a restart rebuilds the tree through it, no further.
  Zxid applied_mark = 0;
  Zxid pending_mark = 0;
};

struct Node {
  NodeId id = 0;
  bool up = true;
  std::unique_ptr<Replica> replica;
  Disk disk;
  std::vector<Entry> tree;  // applied entries in zxid order (the state machine)
  std::set<uint64_t> writes;            // submitted tokens awaiting their outcome
  std::map<uint64_t, Zxid> syncs;       // sync token -> acknowledged zxid it must cover
  bool was_leading = false;
  consensus::Role role = consensus::Role::kLooking;
};

struct Faults {
  bool enabled = true;
  std::set<NodeId> storage_held;                      // scripted: these disks never complete
  std::set<std::pair<NodeId, NodeId>> channels_held;  // scripted: these connections stall
};

class Cluster {
 public:
  Cluster(int voters, int observers, uint64_t seed, bool verbose, size_t diff_window = 64);

  // Random steps; every one is followed by check().
  void run(int steps);
  // Heals everything, restarts crashed nodes, runs without faults until all agree.
  void settle(int max_steps = 40000);

  // Scripted control.
  Faults faults;
  void pump(int steps);  // deliveries, storage and ticks only; crashed nodes stay down
  void flush();          // delivers every message and completes every disk until all is quiet
  void tick_all();
  // lose_unsynced: a power loss that keeps none of the records not yet synced (by default a
  // random prefix of them survives, a torn tail).
  void crash(NodeId id, bool lose_unsynced = false);
  void restart(NodeId id);
  void cut(NodeId a, NodeId b);
  void heal(NodeId a, NodeId b);
  bool deliver_head(NodeId from, NodeId to);  // false when that connection is empty
  const std::deque<Message>& channel(NodeId from, NodeId to) { return channels_[{from, to}]; }
  void complete_storage(NodeId id);
  uint64_t submit(NodeId id);  // 0 when refused at once
  NodeId leader() const;       // an established leader, 0 if none
  Node& node(NodeId id) { return nodes_.at(id); }
  size_t acknowledged() const { return acknowledged_.size(); }
  size_t committed() const { return committed_.size(); }
  void check();

 private:
  void step();
  void deliver_random();
  void vote_fault();
  void deliver(const Message& message);
  void drain(Node& node);
  void handle_hard_state(Node& node, const consensus::HardState& hard);
  void handle_truncate(Node& node, Zxid zxid);
  void handle_snapshot(Node& node, Zxid zxid, const std::string& data);
  void note_txn(const Entry& entry);
  void handle_persist(Node& node, const Entry& entry);
  void handle_apply(Node& node, const Entry& entry);
  void handle_message(Node& node, Message message);
  void reload_tree(Node& node, Zxid upto);
  void break_connection(NodeId a, NodeId b);
  bool durable_on(const Node& node, Zxid zxid, const std::string& payload) const;
  void check_new_leader(Node& node);
  void check_history(const Node& node);
  void check_tree(const Node& node);
  void check_newleader_ack(const Message& message);
  void record_commit(const Node& node, const Entry& entry);
  bool converged() const;
  void fail(const std::string& reason) const;
  void log(const std::string& line) const;
  consensus::Config config_for(NodeId id) const;
  template <class T>
  const T& pick(const std::vector<T>& items) { return items[rng_() % items.size()]; }
  bool chance(double p) { return std::uniform_real_distribution<>(0, 1)(rng_) < p; }

  std::set<NodeId> voters_, observers_;
  size_t diff_window_;
  std::mt19937_64 rng_;
  bool verbose_;
  uint64_t step_count_ = 0;
  std::map<NodeId, Node> nodes_;
  std::map<std::pair<NodeId, NodeId>, std::deque<Message>> channels_;  // FIFO connections
  std::set<std::pair<NodeId, NodeId>> partitions_;
  uint64_t next_token_ = 1;
  std::map<Zxid, std::string> seen_;          // every txn ever logged: one payload per zxid
  std::map<Zxid, std::string> committed_;     // every txn ever applied anywhere
  std::map<Zxid, uint32_t> commit_epoch_;     // the epoch of the replica that first applied it
  std::map<Zxid, std::string> acknowledged_;  // applied on its origin: a client got its answer
  std::set<uint64_t> refused_;
  std::map<uint32_t, NodeId> epoch_leader_;
  std::map<std::pair<NodeId, uint32_t>, NodeId> newleader_acked_;  // (voter, epoch) -> the leader
};

// One seeded random run (faults, then healing): "" when every invariant held, else the failure.
std::string run_seed(uint64_t seed, bool verbose);

}  // namespace quorumfs::sim
