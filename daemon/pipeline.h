// The request pipeline: the one path every write takes, on the event-loop thread.
//
//   submit(txn) -> consensus::Replica::propose (zxid) -> TxnLog::append (writer thread, group
//   commit, fsync) -> Replica::persisted -> committed -> DataTree::apply -> done(result)
//
// Standalone is the ensemble of one through this same path; nothing is acknowledged before its
// record is durable.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "consensus/replica.h"
#include "daemon/proto/txn.pb.h"
#include "daemon/storage/txn_log.h"
#include "daemon/tree/data_tree.h"

namespace quorumfs {

class Pipeline {
 public:
  using Done = std::function<void(const ApplyResult&)>;
  // Called after every applied txn, before its done callback.
  using Applied = std::function<void(const ApplyResult&)>;

  Pipeline(boost::asio::io_context& io, DataTree& tree, TxnLog& log, consensus::Replica& replica,
           std::function<void(const consensus::HardState&)> persist_hard_state);

  void submit(proto::Txn txn, Done done);
  void set_on_applied(Applied on_applied) { on_applied_ = std::move(on_applied); }
  // Handles what the replica has ready now (also the new epoch at start).
  void drain();
  uint64_t applied_count() const { return applied_count_; }
  // No txn of this replica's is waiting to be committed and answered.
  bool idle() const { return pending_.empty(); }

 private:
  struct Pending {
    proto::Txn txn;
    Done done;
  };
  void on_durable(Zxid zxid);  // loop thread
  void apply(const consensus::Entry& entry);

  boost::asio::io_context& io_;
  DataTree& tree_;
  TxnLog& log_;
  consensus::Replica& replica_;
  std::function<void(const consensus::HardState&)> persist_hard_state_;
  Applied on_applied_;
  std::unordered_map<Zxid, Pending> pending_;
  std::string scratch_;
  uint64_t applied_count_ = 0;
};

}  // namespace quorumfs
