// consensus::Message <-> its protobuf form (daemon/proto/peer.proto). Only the types of the
// consensus core are used here, not its code.
#pragma once

#include <optional>
#include <string>

#include "consensus/replica.h"
#include "daemon/proto/peer.pb.h"

namespace quorumfs::peer {

// Copies the payload and snapshot bytes into the proto once (protobuf 3.21 cannot borrow them).
void to_proto(const consensus::Message& message, proto::ConsensusMessage* out);

// Takes the payload and snapshot strings out of *proto without copying them. A type or role this
// build does not know: nullopt and *error says which.
std::optional<consensus::Message> from_proto(proto::ConsensusMessage* proto, std::string* error);

}  // namespace quorumfs::peer
