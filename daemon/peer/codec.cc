#include "daemon/peer/codec.h"

#include <memory>

#include "consensus/log_format.h"

namespace quorumfs::peer {
namespace {

// The wire carries enums as numbers; these pin the ranges from_proto accepts. Adding a message
// type or role is a protocol change: update the bound here (and the version if an older build
// could receive it).
constexpr uint32_t kMessageTypeFirst = static_cast<uint32_t>(consensus::MessageType::kVote);
constexpr uint32_t kMessageTypeLast = static_cast<uint32_t>(consensus::MessageType::kDurable);
constexpr uint32_t kRoleLast = static_cast<uint32_t>(consensus::Role::kObserving);
static_assert(kMessageTypeFirst == 1 && kMessageTypeLast == 19, "consensus::MessageType changed");
static_assert(kRoleLast == 3, "consensus::Role changed");

bool entry_is_default(const consensus::Entry& entry) {
  return entry.zxid == 0 && !entry.payload && entry.origin == 0 && entry.token == 0;
}

// Owns a string released from a proto: the proto gave up its ownership, no bytes move.
std::shared_ptr<const std::string> adopt(std::string* released) {
  return std::shared_ptr<const std::string>(released);
}

}  // namespace

void to_proto(const consensus::Message& message, proto::ConsensusMessage* out) {
  out->set_type(static_cast<uint32_t>(message.type));
  out->set_from(message.from);
  out->set_to(message.to);
  out->set_state(static_cast<uint32_t>(message.state));
  out->set_leader(message.leader);
  out->set_round(message.round);
  out->set_epoch(message.epoch);
  out->set_zxid(message.zxid);
  out->set_flag(message.flag);
  out->set_token(message.token);
  if (!entry_is_default(message.entry)) {
    proto::ConsensusEntry* entry = out->mutable_entry();
    entry->set_zxid(message.entry.zxid);
    if (message.entry.payload) entry->set_payload(*message.entry.payload);
    entry->set_origin(message.entry.origin);
    entry->set_token(message.entry.token);
  }
  if (message.snapshot) out->set_snapshot(*message.snapshot);
  out->set_snapshot_zxid(message.snapshot_zxid);
}

namespace {

// What the core relies on but a peer could leave out: a txn to log (within what one log record
// carries, docs/formats.md), a snapshot to install.
std::string malformed(const consensus::Message& message) {
  using consensus::MessageType;
  const bool carries_txn = message.type == MessageType::kProposal || message.type == MessageType::kInform ||
                           message.type == MessageType::kRequest;
  if (carries_txn && !message.entry.payload) return "a txn message without its txn";
  if (carries_txn && message.entry.payload->size() > log_format::kPayloadBytesMax) {
    return "a txn of " + std::to_string(message.entry.payload->size()) + " bytes, above the log's " +
           std::to_string(log_format::kPayloadBytesMax);
  }
  if (carries_txn && message.type != MessageType::kRequest && message.entry.zxid <= 0) return "a txn without its zxid";
  if (message.type == MessageType::kSnap && !message.snapshot) return "a SNAP without its snapshot";
  return "";
}

}  // namespace

std::optional<consensus::Message> from_proto(proto::ConsensusMessage* proto, std::string* error) {
  if (proto->type() < kMessageTypeFirst || proto->type() > kMessageTypeLast) {
    *error = "unknown consensus message type " + std::to_string(proto->type());
    return std::nullopt;
  }
  if (proto->state() > kRoleLast) {
    *error = "unknown role " + std::to_string(proto->state());
    return std::nullopt;
  }
  consensus::Message message;
  message.type = static_cast<consensus::MessageType>(proto->type());
  message.from = proto->from();
  message.to = proto->to();
  message.state = static_cast<consensus::Role>(proto->state());
  message.leader = proto->leader();
  message.round = proto->round();
  message.epoch = proto->epoch();
  message.zxid = proto->zxid();
  message.flag = proto->flag();
  message.token = proto->token();
  if (proto->has_entry()) {
    proto::ConsensusEntry* entry = proto->mutable_entry();
    message.entry.zxid = entry->zxid();
    if (entry->has_payload()) message.entry.payload = adopt(entry->release_payload());
    message.entry.origin = entry->origin();
    message.entry.token = entry->token();
  }
  if (proto->has_snapshot()) message.snapshot = adopt(proto->release_snapshot());
  message.snapshot_zxid = proto->snapshot_zxid();
  if (std::string reason = malformed(message); !reason.empty()) {
    *error = reason;
    return std::nullopt;
  }
  return message;
}

}  // namespace quorumfs::peer
