// Txns for the daemon's tests.
#pragma once

#include <string>

#include "daemon/proto/txn.pb.h"

namespace quorumfs::testing {

// Creates path (a file owned by root, mode 0644) with data "data of <path>".
inline proto::Txn create_txn(const std::string& path) {
  proto::Txn txn;
  auto* op = txn.add_ops()->mutable_create();
  op->set_path(path);
  op->set_data("data of " + path);
  op->mutable_meta()->set_uid(0);
  op->mutable_meta()->set_gid(0);
  op->mutable_meta()->set_mode(0644);
  return txn;
}

}  // namespace quorumfs::testing
