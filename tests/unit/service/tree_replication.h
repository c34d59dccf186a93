// A replication for tests: every submitted txn is applied at once to its own tree and published on
// the attached service's change feed, as the pipeline does after a commit. With an io_context, the
// submitter's callback runs later on that loop (as after a real commit); without, at once.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <functional>
#include <utility>

#include "daemon/service/service.h"

namespace quorumfs::service {

class TreeReplication : public Replication {
 public:
  explicit TreeReplication(boost::asio::io_context* io = nullptr) : io_(io) {}

  void attach(Service* service) { service_ = service; }

  const DataTree& tree() const override { return tree_; }
  void submit(proto::Txn txn, Submitter submitter, Done done) override {
    if (before_next_submit) std::exchange(before_next_submit, nullptr)();
    if (refuse_with != Code::kOk) {
      ApplyResult refused;
      refused.code = refuse_with;
      return answer(std::move(done), refused);
    }
    ++submitted;
    answer(std::move(done), apply(std::move(txn), true, submitter));
  }
  void sync(std::function<void(Code)> done) override {
    if (io_ == nullptr) return done(Code::kOk);
    boost::asio::post(*io_, [done = std::move(done)] { done(Code::kOk); });
  }
  bool synced() const override { return true; }

  // Applies txn as committed now and publishes it (own: submitted through this replica).
  ApplyResult apply(proto::Txn txn, bool own = false, Submitter submitter = Submitter::kNone) {
    ApplyResult result = apply_unannounced(std::move(txn));
    if (service_ != nullptr) service_->feed().publish(result, own, submitter);
    return result;
  }
  // Applies txn without telling the feed: the tree is ahead of what front ends were told.
  ApplyResult apply_unannounced(proto::Txn txn) {
    if (txn.time_ns() == 0) {
      txn.set_time_ns(std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count());
    }
    return tree_.apply((Zxid{1} << 32) | ++counter_, txn);
  }

  // Runs before the next submitted txn is applied: a txn ordered before it.
  std::function<void()> before_next_submit;
  // Not kOk: every submit is refused with this code (no quorum, a failing disk).
  Code refuse_with = Code::kOk;
  size_t submitted = 0;

 private:
  void answer(Done done, const ApplyResult& result) {
    if (io_ == nullptr) return done(result);
    boost::asio::post(*io_, [result, done = std::move(done)] { done(result); });
  }

  boost::asio::io_context* io_;
  Service* service_ = nullptr;
  DataTree tree_;
  uint64_t counter_ = 0;
};

}  // namespace quorumfs::service
