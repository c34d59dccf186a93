#include "daemon/pipeline.h"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <stdexcept>

namespace quorumfs {

namespace {
int64_t wall_clock_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Pipeline::Pipeline(boost::asio::io_context& io, DataTree& tree, TxnLog& log,
                   consensus::Replica& replica,
                   std::function<void(const consensus::HardState&)> persist_hard_state)
    : io_(io), tree_(tree), log_(log), replica_(replica),
      persist_hard_state_(std::move(persist_hard_state)) {
  // The writer thread reports durability; hop to the loop thread, which owns everything here.
  log_.set_on_durable([this](Zxid zxid) { boost::asio::post(io_, [this, zxid] { on_durable(zxid); }); });
}

void Pipeline::submit(proto::Txn txn, Done done) {
  if (!replica_.can_propose()) {
    ApplyResult refused;
    refused.code = Code::kNotApplied;
    done(refused);
    return;
  }
  if (txn.time_ns() == 0) txn.set_time_ns(wall_clock_ns());
  auto payload = std::make_shared<std::string>();
  txn.SerializeToString(payload.get());
  Zxid zxid = replica_.propose(std::move(payload));
  pending_.emplace(zxid, Pending{std::move(txn), std::move(done)});
  drain();
}

void Pipeline::on_durable(Zxid zxid) {
  replica_.persisted(zxid);
  drain();
}

void Pipeline::drain() {
  consensus::Ready ready = replica_.ready();
  if (ready.hard_state) persist_hard_state_(*ready.hard_state);
  if (!ready.to_persist.empty()) {
    std::vector<LogEntry> records;
    records.reserve(ready.to_persist.size());
    for (const auto& entry : ready.to_persist) records.push_back({entry.zxid, *entry.payload});
    log_.append(std::move(records));
  }
  for (const auto& entry : ready.to_apply) apply(entry);
}

void Pipeline::apply(const consensus::Entry& entry) {
  auto it = pending_.find(entry.zxid);
  ApplyResult result;
  if (it != pending_.end()) {
    result = tree_.apply(entry.zxid, it->second.txn);
  } else {
    // A txn this replica did not originate (a learner applying the leader's).
    proto::Txn txn;
    if (!txn.ParseFromString(*entry.payload)) {
      throw std::runtime_error("unparsable committed txn " + std::to_string(entry.zxid));
    }
    result = tree_.apply(entry.zxid, txn);
  }
  ++applied_count_;
  if (on_applied_) on_applied_(result);
  if (it != pending_.end()) {
    Done done = std::move(it->second.done);
    pending_.erase(it);
    done(result);
  }
}

}  // namespace quorumfs
