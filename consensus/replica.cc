#include "consensus/replica.h"

#include <cassert>
#include <stdexcept>
#include <utility>

namespace quorumfs::consensus {

Replica::Replica(uint64_t my_id, const DurableState& durable) : my_id_(my_id) {
  // ZAB-NOTES §1: refuse an inconsistent disk rather than lead from it.
  if (durable.accepted_epoch < durable.current_epoch ||
      zxid_epoch(durable.last_logged_zxid) > durable.current_epoch) {
    throw std::runtime_error("inconsistent epochs: acceptedEpoch " +
                             std::to_string(durable.accepted_epoch) + ", currentEpoch " +
                             std::to_string(durable.current_epoch) + ", last zxid epoch " +
                             std::to_string(zxid_epoch(durable.last_logged_zxid)));
  }
  committed_zxid_ = durable.last_logged_zxid;
  lead_new_epoch(durable);
}

// An ensemble of one is its own quorum: discovery yields epoch acceptedEpoch + 1 at once, and the
// epoch must be durable (both files) before the first proposal of it (ZAB-NOTES §1, rules 1 and 4).
void Replica::lead_new_epoch(const DurableState& durable) {
  uint32_t epoch = durable.accepted_epoch + 1;
  if (epoch == 0) throw std::runtime_error("epoch counter exhausted");
  ready_.hard_state = HardState{epoch, epoch};
  next_zxid_ = make_zxid(epoch, 1);
  role_ = Role::kLeading;
}

Zxid Replica::propose(std::shared_ptr<const std::string> payload) {
  assert(can_propose());
  // ZOOKEEPER-1277: a counter about to roll over would reuse zxids; a new epoch must start.
  if (zxid_counter(next_zxid_) == 0xffffffffu) throw std::runtime_error("zxid counter exhausted");
  Entry entry{next_zxid_++, std::move(payload)};
  outstanding_.push_back(entry);
  ready_.to_persist.push_back(std::move(entry));
  return outstanding_.back().zxid;
}

void Replica::persisted(Zxid zxid) {
  // With one voter, the leader's own durable ACK is the quorum.
  commit_through(zxid);
}

void Replica::commit_through(Zxid zxid) {
  while (!outstanding_.empty() && outstanding_.front().zxid <= zxid) {
    committed_zxid_ = outstanding_.front().zxid;
    ready_.to_apply.push_back(std::move(outstanding_.front()));
    outstanding_.pop_front();
  }
}

Ready Replica::ready() { return std::exchange(ready_, Ready{}); }

}  // namespace quorumfs::consensus
