#include "tests/sim/cluster.h"

#include <algorithm>
#include <iostream>
#include <sstream>

namespace quorumfs::sim {

using consensus::MessageType;
using consensus::Role;

namespace {

std::string zx(Zxid zxid) {
  return std::to_string(zxid_epoch(zxid)) + "." + std::to_string(zxid_counter(zxid));
}

Zxid last_of(const std::vector<Entry>& entries) { return entries.empty() ? 0 : entries.back().zxid; }

// The snapshot format: one "zxid payload" line per applied entry.
std::string encode(const std::vector<Entry>& tree) {
  std::string data;
  for (const Entry& entry : tree) data += std::to_string(entry.zxid) + " " + *entry.payload + "\n";
  return data;
}

std::vector<Entry> decode(const std::string& data) {
  std::vector<Entry> tree;
  std::istringstream in(data);
  Zxid zxid;
  std::string payload;
  while (in >> zxid >> payload) tree.push_back(Entry{zxid, std::make_shared<std::string>(payload)});
  return tree;
}

const Entry* find(const std::vector<Entry>& entries, Zxid zxid) {
  auto it = std::lower_bound(entries.begin(), entries.end(), zxid,
                             [](const Entry& entry, Zxid z) { return entry.zxid < z; });
  return it != entries.end() && it->zxid == zxid ? &*it : nullptr;
}

}  // namespace

Cluster::Cluster(int voters, int observers, uint64_t seed, bool verbose, size_t diff_window)
    : diff_window_(diff_window), rng_(seed), verbose_(verbose) {
  for (int i = 1; i <= voters; ++i) voters_.insert(i);
  for (int i = 1; i <= observers; ++i) observers_.insert(voters + i);
  for (NodeId id : voters_) nodes_[id].id = id;
  for (NodeId id : observers_) nodes_[id].id = id;
  for (auto& [id, node] : nodes_) {
    node.up = false;
    restart(id);
  }
}

consensus::Config Cluster::config_for(NodeId id) const {
  consensus::Config config;
  config.my_id = id;
  config.voters = voters_;
  config.observers = observers_;
  config.election_finalize_ticks = 2;
  config.election_resend_ticks = 4;
  config.init_limit_ticks = 30;
  config.sync_limit_ticks = 15;
  config.ping_ticks = 3;
  config.diff_window = diff_window_;
  return config;
}

void Cluster::log(const std::string& line) const {
  if (verbose_) std::cout << "[" << step_count_ << "] " << line << "\n";
}

void Cluster::fail(const std::string& reason) const {
  throw SimFailure("step " + std::to_string(step_count_) + ": " + reason);
}

// --- faults and scripted control

void Cluster::crash(NodeId id, bool lose_unsynced) {
  Node& node = nodes_.at(id);
  if (!node.up) return;
  log("crash " + std::to_string(id));
  // Torn tail: some of the unsynced records made it to the platter, the rest is gone. (Their
  // applied mark is written with them: only a complete write makes it durable.)
  size_t kept = node.disk.pending.empty() || lose_unsynced ? 0 : rng_() % (node.disk.pending.size() + 1);
  node.disk.log.insert(node.disk.log.end(), node.disk.pending.begin(), node.disk.pending.begin() + kept);
  node.disk.pending.clear();
  node.up = false;
  node.replica.reset();
  node.writes.clear();
  node.syncs.clear();
  node.was_leading = false;
  for (auto& [other, peer] : nodes_) {
    if (other != id) break_connection(id, other);
  }
}

// The daemon's restart: epochs, the newest snapshot, the log; the tree is rebuilt through the
// applied mark only (the rest of the log waits for a leader to commit it).
void Cluster::restart(NodeId id) {
  Node& node = nodes_.at(id);
  if (node.up) return;
  consensus::DurableState durable;
  durable.accepted_epoch = node.disk.accepted_epoch;
  durable.current_epoch = node.disk.current_epoch;
  if (!node.disk.snapshots.empty()) durable.snapshot_zxid = node.disk.snapshots.back().first;
  durable.last_logged_zxid = std::max(last_of(node.disk.log), durable.snapshot_zxid);
  reload_tree(node, std::min(std::max(node.disk.applied_mark, durable.snapshot_zxid), durable.last_logged_zxid));
  check_tree(node);
  durable.applied_zxid = last_of(node.tree);
  durable.recent_after = durable.snapshot_zxid;
  for (const Entry& entry : node.disk.log) {
    if (entry.zxid > durable.snapshot_zxid) durable.recent.push_back(entry);
  }
  // Keep diff_window records, and every one the tree has not applied.
  size_t drop = 0;
  while (durable.recent.size() - drop > diff_window_ && durable.recent[drop].zxid <= durable.applied_zxid) ++drop;
  if (drop > 0) durable.recent_after = durable.recent[drop - 1].zxid;
  durable.recent.erase(durable.recent.begin(), durable.recent.begin() + drop);
  log("restart " + std::to_string(id) + " at " + zx(durable.last_logged_zxid) + ", tree at " +
      zx(durable.applied_zxid));
  node.replica = std::make_unique<Replica>(config_for(id), durable);
  node.up = true;
  drain(node);
}

void Cluster::break_connection(NodeId a, NodeId b) {
  if (a == b) return;
  channels_[{a, b}].clear();
  channels_[{b, a}].clear();
  if (nodes_.at(a).up) {
    nodes_.at(a).replica->peer_down(b);
    drain(nodes_.at(a));
  }
  if (nodes_.at(b).up) {
    nodes_.at(b).replica->peer_down(a);
    drain(nodes_.at(b));
  }
}

void Cluster::cut(NodeId a, NodeId b) {
  if (a == b) return;
  log("partition " + std::to_string(a) + "|" + std::to_string(b));
  partitions_.insert({std::min(a, b), std::max(a, b)});
  break_connection(a, b);
}

void Cluster::heal(NodeId a, NodeId b) {
  log("heal " + std::to_string(a) + "|" + std::to_string(b));
  partitions_.erase({std::min(a, b), std::max(a, b)});
}

bool Cluster::deliver_head(NodeId from, NodeId to) {
  auto& queue = channels_[{from, to}];
  if (queue.empty()) return false;
  Message message = queue.front();
  queue.pop_front();
  deliver(message);
  return true;
}

void Cluster::complete_storage(NodeId id) {
  Node& node = nodes_.at(id);
  if (!node.up || node.disk.pending.empty()) return;
  Zxid last = node.disk.pending.back().zxid;
  node.disk.log.insert(node.disk.log.end(), node.disk.pending.begin(), node.disk.pending.end());
  node.disk.pending.clear();
  node.disk.applied_mark = node.disk.pending_mark;
  node.replica->persisted(last);
  drain(node);
}

uint64_t Cluster::submit(NodeId id) {
  Node& node = nodes_.at(id);
  if (!node.up) return 0;
  uint64_t token = next_token_++;
  auto payload = std::make_shared<std::string>("w" + std::to_string(token));
  if (!node.replica->submit(token, payload)) return 0;
  log("submit " + *payload + " at " + std::to_string(id));
  node.writes.insert(token);
  drain(node);
  return token;
}

NodeId Cluster::leader() const {
  for (const auto& [id, node] : nodes_) {
    if (node.up && node.replica->role() == Role::kLeading && node.replica->serving()) return id;
  }
  return 0;
}

// --- the scheduler

void Cluster::run(int steps) {
  for (int i = 0; i < steps; ++i) {
    step();
    check();
  }
}

void Cluster::step() {
  ++step_count_;
  std::vector<NodeId> ids;
  for (const auto& [id, node] : nodes_) ids.push_back(id);
  NodeId id = pick(ids);
  // Ticks are rare next to deliveries: a tick is 10 ms, a message well under 1 ms.
  int roll = static_cast<int>(rng_() % 1000);
  if (roll < 650) {
    deliver_random();
  } else if (roll < 690) {
    tick_all();
  } else if (roll < 800) {
    if (!faults.storage_held.count(id)) complete_storage(id);
  } else if (roll < 860) {
    submit(id);
  } else if (roll < 870) {
    Node& node = nodes_.at(id);
    uint64_t token = next_token_++;
    Zxid required = acknowledged_.empty() ? 0 : acknowledged_.rbegin()->first;
    if (node.up && node.replica->sync(token)) node.syncs[token] = required;
    if (node.up) drain(node);
  } else if (!faults.enabled) {
    deliver_random();
  } else if (roll < 873) {
    crash(id);
  } else if (roll < 888) {
    restart(id);
  } else if (roll < 891) {
    cut(id, pick(ids));
  } else if (roll < 901) {
    if (!partitions_.empty()) log("heal");
    partitions_.clear();
  } else if (roll < 904) {
    break_connection(id, pick(ids));  // a lost packet on TCP: the connection breaks
  } else if (roll < 925) {
    vote_fault();
  } else {
    deliver_random();
  }
}

// Election messages may be duplicated, swapped with the next one or lost: FLE copes with all three.
void Cluster::vote_fault() {
  std::vector<std::deque<Message>*> queues;
  for (auto& [pair, queue] : channels_) {
    if (!queue.empty() && queue.front().type == MessageType::kVote) queues.push_back(&queue);
  }
  if (queues.empty()) return;
  std::deque<Message>& queue = *pick(queues);
  int fault = static_cast<int>(rng_() % 3);
  if (fault == 0) {
    queue.push_front(queue.front());
  } else if (fault == 1 && queue.size() > 1 && queue[1].type == MessageType::kVote) {
    std::swap(queue[0], queue[1]);
  } else {
    queue.pop_front();
  }
}

void Cluster::tick_all() {
  for (auto& [id, node] : nodes_) {
    if (!node.up) continue;
    node.replica->tick();
    drain(node);
  }
}

void Cluster::deliver_random() {
  std::vector<std::pair<NodeId, NodeId>> ready;
  for (const auto& [pair, queue] : channels_) {
    if (!queue.empty() && !faults.channels_held.count(pair)) ready.push_back(pair);
  }
  if (ready.empty()) return;
  auto [from, to] = pick(ready);
  deliver_head(from, to);
}

void Cluster::deliver(const Message& message) {
  Node& node = nodes_.at(message.to);
  if (!node.up) return;
  node.replica->step(message);
  drain(node);
}

// --- the daemon's side of a Ready, in the documented order

void Cluster::drain(Node& node) {
  for (int round = 0; round < 4; ++round) {
    consensus::Ready ready = node.replica->ready();
    if (ready.empty()) break;
    if (ready.hard_state) handle_hard_state(node, *ready.hard_state);
    if (ready.truncate_after) handle_truncate(node, *ready.truncate_after);
    if (ready.install_snapshot) {
      handle_snapshot(node, ready.install_snapshot->zxid, *ready.install_snapshot->data);
    }
    for (const Entry& entry : ready.to_persist) handle_persist(node, entry);
    for (const Entry& entry : ready.to_apply) handle_apply(node, entry);
    for (uint64_t token : ready.synced) {
      auto it = node.syncs.find(token);
      if (it == node.syncs.end()) fail("unknown sync token");
      if (last_of(node.tree) < it->second) fail("sync answered before an acknowledged write applied");
      node.syncs.erase(it);
    }
    for (Message& message : ready.messages) handle_message(node, std::move(message));
    for (uint64_t token : ready.lost) node.writes.erase(token), node.syncs.erase(token);
    for (uint64_t token : ready.refused) {
      if (node.writes.erase(token) > 0) refused_.insert(token);
      node.syncs.erase(token);
    }
  }
}

void Cluster::handle_hard_state(Node& node, const consensus::HardState& hard) {
  if (hard.accepted_epoch < hard.current_epoch) fail("acceptedEpoch < currentEpoch");
  if (hard.accepted_epoch < node.disk.accepted_epoch || hard.current_epoch < node.disk.current_epoch) {
    fail("epoch decreased on node " + std::to_string(node.id));
  }
  node.disk.accepted_epoch = hard.accepted_epoch;
  node.disk.current_epoch = hard.current_epoch;
  check_history(node);
}

// The log is cut; the tree, which holds only committed txns, must not need to change.
void Cluster::handle_truncate(Node& node, Zxid zxid) {
  log("node " + std::to_string(node.id) + " truncates after " + zx(zxid));
  auto beyond = [zxid](const Entry& entry) { return entry.zxid > zxid; };
  node.disk.log.insert(node.disk.log.end(), node.disk.pending.begin(), node.disk.pending.end());
  node.disk.pending.clear();
  std::erase_if(node.disk.log, beyond);
  std::erase_if(node.disk.snapshots, [zxid](const auto& snapshot) { return snapshot.first > zxid; });
  Zxid end = last_of(node.disk.log);
  if (!node.disk.snapshots.empty()) end = std::max(end, node.disk.snapshots.back().first);
  if (end != zxid) fail("truncate point " + zx(zxid) + " not on disk");
  if (last_of(node.tree) > zxid) fail("truncate after " + zx(zxid) + " below the applied " + zx(last_of(node.tree)));
  check_history(node);
}

void Cluster::handle_snapshot(Node& node, Zxid zxid, const std::string& data) {
  log("node " + std::to_string(node.id) + " installs snapshot " + zx(zxid));
  std::vector<Entry> tree = decode(data);
  if (last_of(tree) != zxid) fail("snapshot content does not end at its zxid");
  for (const Entry& entry : tree) note_txn(entry);
  node.tree = tree;
  std::erase_if(node.disk.snapshots, [zxid](const auto& snapshot) { return snapshot.first >= zxid; });
  node.disk.snapshots.emplace_back(zxid, tree);
  auto beyond = [zxid](const Entry& entry) { return entry.zxid > zxid; };
  std::erase_if(node.disk.log, beyond);
  std::erase_if(node.disk.pending, beyond);
  check_tree(node);
  check_history(node);
}

// A zxid never names two different txns anywhere.
void Cluster::note_txn(const Entry& entry) {
  auto [it, fresh] = seen_.emplace(entry.zxid, *entry.payload);
  if (!fresh && it->second != *entry.payload) fail("zxid " + zx(entry.zxid) + " names two txns");
}

void Cluster::handle_persist(Node& node, const Entry& entry) {
  note_txn(entry);
  Zxid last = std::max(last_of(node.disk.log), last_of(node.disk.pending));
  if (!node.disk.snapshots.empty()) last = std::max(last, node.disk.snapshots.back().first);
  if (entry.zxid <= last) fail("log append out of order on node " + std::to_string(node.id));
  node.disk.pending.push_back(Entry{entry.zxid, entry.payload});
  node.disk.pending_mark = last_of(node.tree);
}

void Cluster::handle_apply(Node& node, const Entry& entry) {
  Zxid previous = last_of(node.tree);
  if (entry.zxid <= previous) {
    fail("applied " + zx(entry.zxid) + " after " + zx(previous) + " on node " + std::to_string(node.id));
  }
  if (zxid_epoch(entry.zxid) == zxid_epoch(previous) && entry.zxid != previous + 1) {
    fail("gap in applied txns on node " + std::to_string(node.id) + " after " + zx(previous));
  }
  auto [it, first] = committed_.emplace(entry.zxid, *entry.payload);
  if (!first && it->second != *entry.payload) fail("two txns committed as " + zx(entry.zxid));
  if (first) record_commit(node, entry);
  // Committed prefixes agree: nothing committed is skipped.
  auto next = committed_.upper_bound(previous);
  if (next->first != entry.zxid) {
    fail("node " + std::to_string(node.id) + " applied " + zx(entry.zxid) + " without the committed " + zx(next->first));
  }
  node.tree.push_back(Entry{entry.zxid, entry.payload});
  if (entry.origin == node.id && node.writes.erase(entry.token) > 0) {
    if (refused_.count(entry.token)) fail("a refused write was applied");
    acknowledged_.emplace(entry.zxid, *entry.payload);
  }
}

// Committed means durable on a voter quorum (observers never count, ACKs follow fsync). Every
// replica already past its epoch must hold it, and none may have applied beyond it without it.
void Cluster::record_commit(const Node& node, const Entry& entry) {
  size_t holders = 0;
  for (NodeId voter : voters_) holders += durable_on(nodes_.at(voter), entry.zxid, *entry.payload);
  if (holders < voters_.size() / 2 + 1) fail(zx(entry.zxid) + " committed without a durable quorum");
  commit_epoch_[entry.zxid] = node.replica->epoch();
  for (const auto& [id, other] : nodes_) {
    if (last_of(other.tree) > entry.zxid) {
      fail("node " + std::to_string(id) + " applied past " + zx(entry.zxid) + " before it was committed");
    }
    check_history(other);
  }
}

void Cluster::handle_message(Node& node, Message message) {
  if (message.type == MessageType::kSnap) {
    if (message.zxid != last_of(node.tree)) fail("SNAP zxid is not the applied point");
    message.snapshot = std::make_shared<std::string>(encode(node.tree));
  }
  if (message.type == MessageType::kAck) {
    bool newleader = zxid_counter(message.zxid) == 0;
    if (newleader && node.disk.current_epoch != zxid_epoch(message.zxid)) {
      fail("NEWLEADER ACK before currentEpoch was durable");
    }
    if (!newleader && !durable_on(node, message.zxid, seen_.at(message.zxid))) {
      fail("ACK of " + zx(message.zxid) + " before it was durable");
    }
    if (newleader) check_newleader_ack(message);
  }
  NodeId a = std::min(message.from, message.to), b = std::max(message.from, message.to);
  if (partitions_.count({a, b}) || !nodes_.at(message.to).up) return;
  channels_[{message.from, message.to}].push_back(std::move(message));
}

bool Cluster::durable_on(const Node& node, Zxid zxid, const std::string& payload) const {
  if (const Entry* entry = find(node.disk.log, zxid)) return *entry->payload == payload;
  for (const auto& [at, tree] : node.disk.snapshots) {
    if (const Entry* entry = find(tree, zxid)) return *entry->payload == payload;
  }
  return false;
}

// The tree after a restart or a truncate: the newest snapshot not beyond upto, then the log.
void Cluster::reload_tree(Node& node, Zxid upto) {
  node.tree.clear();
  Zxid base = 0;
  for (const auto& [at, tree] : node.disk.snapshots) {
    if (at <= upto && at >= base) base = at, node.tree = tree;
  }
  for (const Entry& entry : node.disk.log) {
    if (entry.zxid > base && entry.zxid <= upto) node.tree.push_back(entry);
  }
}

// --- invariants

// A replica whose durable currentEpoch is e holds, durably, every txn committed in an epoch
// below e: it may win an election on that epoch, and the winner's log is what survives.
void Cluster::check_history(const Node& node) {
  for (const auto& [zxid, epoch] : commit_epoch_) {
    if (epoch >= node.disk.current_epoch) continue;
    if (!durable_on(node, zxid, committed_.at(zxid))) {
      fail("node " + std::to_string(node.id) + " has currentEpoch " + std::to_string(node.disk.current_epoch) +
           " without " + zx(zxid) + ", committed in epoch " + std::to_string(epoch));
    }
  }
}

// A tree holds committed txns only, all of them up to its last.
void Cluster::check_tree(const Node& node) {
  auto committed = committed_.begin();
  for (const Entry& entry : node.tree) {
    auto it = committed_.find(entry.zxid);
    if (it == committed_.end() || it->second != *entry.payload) {
      fail("node " + std::to_string(node.id) + "'s tree holds " + zx(entry.zxid) + ", never committed");
    }
    if (it != committed) fail("node " + std::to_string(node.id) + "'s tree lacks the committed " + zx(committed->first));
    ++committed;
  }
}

// A voter acks NEWLEADER of an epoch for one leader only: with quorums intersecting, no two
// leaders can establish the same epoch.
void Cluster::check_newleader_ack(const Message& message) {
  if (!voters_.count(message.from)) return;
  auto [it, fresh] = newleader_acked_.emplace(std::make_pair(message.from, zxid_epoch(message.zxid)), message.to);
  if (!fresh && it->second != message.to) {
    fail("node " + std::to_string(message.from) + " acked NEWLEADER of epoch " + std::to_string(zxid_epoch(message.zxid)) +
         " for two leaders");
  }
}

void Cluster::check() {
  for (auto& [id, node] : nodes_) {
    if (!node.up) continue;
    const Replica& replica = *node.replica;
    if (node.disk.accepted_epoch < node.disk.current_epoch) fail("disk: accepted < current");
    if (replica.role() == Role::kObserving && voters_.count(id)) fail("voter observing");
    if (replica.role() == Role::kFollowing && observers_.count(id)) fail("observer following");
    if (replica.role() == Role::kLeading && observers_.count(id)) fail("observer leading");
    if (replica.role() != node.role) {
      static const char* names[] = {"LOOKING", "FOLLOWING", "LEADING", "OBSERVING"};
      log("node " + std::to_string(id) + " " + names[static_cast<int>(replica.role())] + " " +
          std::to_string(replica.leader()));
      node.role = replica.role();
    }
    bool leading = replica.role() == Role::kLeading && replica.serving();
    if (leading && !node.was_leading) check_new_leader(node);
    node.was_leading = leading;
  }
}

// One established leader per epoch, and its history holds every acknowledged write.
void Cluster::check_new_leader(Node& node) {
  uint32_t epoch = node.replica->epoch();
  log("node " + std::to_string(node.id) + " leads epoch " + std::to_string(epoch));
  auto [it, fresh] = epoch_leader_.emplace(epoch, node.id);
  if (!fresh && it->second != node.id) fail("two leaders in epoch " + std::to_string(epoch));
  for (const auto& [zxid, payload] : acknowledged_) {
    const Entry* entry = find(node.tree, zxid);
    if (!entry || *entry->payload != payload) {
      fail("acknowledged " + zx(zxid) + " missing from the new leader " + std::to_string(node.id));
    }
  }
}

void Cluster::pump(int steps) {
  for (int i = 0; i < steps; ++i) {
    ++step_count_;
    int roll = static_cast<int>(rng_() % 100);
    if (roll < 85) {
      deliver_random();
    } else if (roll < 97) {
      for (auto& [id, node] : nodes_) {
        if (!faults.storage_held.count(id)) complete_storage(id);
      }
    } else {
      tick_all();
    }
    check();
  }
}

void Cluster::flush() {
  for (bool quiet = false; !quiet;) {
    quiet = true;
    for (auto& [id, node] : nodes_) {
      if (node.up && !node.disk.pending.empty() && !faults.storage_held.count(id)) {
        complete_storage(id);
        quiet = false;
      }
    }
    for (auto& [pair, queue] : channels_) {
      while (!queue.empty() && !faults.channels_held.count(pair)) {
        deliver_head(pair.first, pair.second);
        quiet = false;
      }
    }
    check();
  }
}

bool Cluster::converged() const {
  const std::vector<Entry>* reference = nullptr;
  for (const auto& [id, node] : nodes_) {
    if (!node.replica->serving() || !node.disk.pending.empty()) return false;
    if (reference && (reference->size() != node.tree.size() ||
                      last_of(*reference) != last_of(node.tree))) {
      return false;
    }
    reference = &node.tree;
  }
  for (const auto& [pair, queue] : channels_) {
    if (!queue.empty()) return false;
  }
  return true;
}

void Cluster::settle(int max_steps) {
  log("settle");
  faults.enabled = false;
  faults.storage_held.clear();
  faults.channels_held.clear();
  partitions_.clear();
  for (auto& [id, node] : nodes_) restart(id);
  for (int i = 0; i < max_steps && !converged(); ++i) pump(1);
  if (!converged()) {
    std::string roles;
    for (const auto& [id, node] : nodes_) {
      roles += " " + std::to_string(id) + ":" + std::to_string(static_cast<int>(node.replica->role())) +
               (node.replica->serving() ? "s" : "") + "@" + zx(last_of(node.tree)) + "/" +
               zx(node.replica->last_logged_zxid());
    }
    fail("did not converge after healing:" + roles);
  }
  for (const auto& [id, node] : nodes_) {
    for (const auto& [zxid, payload] : committed_) {
      const Entry* entry = find(node.tree, zxid);
      if (!entry || *entry->payload != payload) {
        fail("committed " + zx(zxid) + " missing on node " + std::to_string(id) + " at the end");
      }
    }
  }
}

// The configuration comes from the seed too, so a seed alone replays a run.
std::string run_seed(uint64_t seed, bool verbose) {
  int voters = seed % 3 == 0 ? 5 : 3;
  int observers = seed % 4 == 0 ? 1 : 0;
  size_t diff_window = seed % 2 == 0 ? 4 : 64;  // small windows exercise SNAP
  try {
    Cluster cluster(voters, observers, seed, verbose, diff_window);
    cluster.run(4000);
    cluster.settle();
    if (verbose) {
      std::cout << cluster.acknowledged() << " writes acknowledged, " << cluster.committed()
                << " txns committed\n";
    }
  } catch (const SimFailure& failure) {
    return failure.what();
  }
  return "";
}

}  // namespace quorumfs::sim
