#include "daemon/service/service.h"

namespace quorumfs::service {

Service::Service(Replication& replication, uint32_t host, std::chrono::milliseconds session_timeout)
    : replication_(replication),
      sessions_(host, session_timeout, [this](proto::Txn txn, SessionTable::Done done) {
        replication_.submit(std::move(txn), Submitter::kSessions, std::move(done));
      }) {}

}  // namespace quorumfs::service
