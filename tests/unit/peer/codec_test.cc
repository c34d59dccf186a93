#include "daemon/peer/codec.h"

#include <gtest/gtest.h>

#include "consensus/log_format.h"

namespace quorumfs::peer {
namespace {

consensus::Message every_field_set() {
  consensus::Message message;
  message.type = consensus::MessageType::kProposal;
  message.from = 3;
  message.to = 0xfedcba9876543210ull;
  message.state = consensus::Role::kObserving;
  message.leader = 7;
  message.round = 0x1122334455667788ull;
  message.epoch = 0xfffffffeu;
  message.zxid = make_zxid(0xfffffffeu, 42);
  message.flag = true;
  message.token = 99;
  message.entry.zxid = make_zxid(5, 6);
  message.entry.payload = std::make_shared<const std::string>(std::string("pay\0load", 8));
  message.entry.origin = 2;
  message.entry.token = 0xffffffffffffffffull;
  message.snapshot = std::make_shared<const std::string>(std::string(1000, '\xff'));
  message.snapshot_zxid = make_zxid(4, 0xfffffff0u);
  return message;
}

consensus::Message round_trip(const consensus::Message& message) {
  proto::ConsensusMessage proto;
  to_proto(message, &proto);
  std::string bytes = proto.SerializeAsString();
  proto::ConsensusMessage parsed;
  EXPECT_TRUE(parsed.ParseFromString(bytes));
  std::string error;
  std::optional<consensus::Message> decoded = from_proto(&parsed, &error);
  EXPECT_TRUE(decoded) << error;
  return decoded.value_or(consensus::Message{});
}

TEST(Codec, RoundTrip_KeepsEveryField) {
  const consensus::Message sent = every_field_set();
  const consensus::Message got = round_trip(sent);
  EXPECT_EQ(got.type, sent.type);
  EXPECT_EQ(got.from, sent.from);
  EXPECT_EQ(got.snapshot_zxid, sent.snapshot_zxid);
  EXPECT_EQ(got.to, sent.to);
  EXPECT_EQ(got.state, sent.state);
  EXPECT_EQ(got.leader, sent.leader);
  EXPECT_EQ(got.round, sent.round);
  EXPECT_EQ(got.epoch, sent.epoch);
  EXPECT_EQ(got.zxid, sent.zxid);
  EXPECT_EQ(got.flag, sent.flag);
  EXPECT_EQ(got.token, sent.token);
  EXPECT_EQ(got.entry.zxid, sent.entry.zxid);
  ASSERT_TRUE(got.entry.payload);
  EXPECT_EQ(*got.entry.payload, *sent.entry.payload);
  EXPECT_EQ(got.entry.origin, sent.entry.origin);
  EXPECT_EQ(got.entry.token, sent.entry.token);
  ASSERT_TRUE(got.snapshot);
  EXPECT_EQ(*got.snapshot, *sent.snapshot);
}

TEST(Codec, RoundTrip_EveryMessageTypeAndRole) {
  for (int type = 1; type <= 19; ++type) {
    for (int role = 0; role <= 3; ++role) {
      consensus::Message sent = every_field_set();
      sent.type = static_cast<consensus::MessageType>(type);
      sent.state = static_cast<consensus::Role>(role);
      const consensus::Message got = round_trip(sent);
      EXPECT_EQ(got.type, sent.type);
      EXPECT_EQ(got.state, sent.state);
    }
  }
}

TEST(Codec, AbsentPayloadAndSnapshot_StayNull_EmptyOnesStayEmpty) {
  consensus::Message sent;
  sent.type = consensus::MessageType::kPing;
  EXPECT_FALSE(round_trip(sent).snapshot);
  EXPECT_FALSE(round_trip(sent).entry.payload);

  sent.snapshot = std::make_shared<const std::string>();
  sent.entry.payload = std::make_shared<const std::string>();
  const consensus::Message got = round_trip(sent);
  ASSERT_TRUE(got.snapshot);
  EXPECT_TRUE(got.snapshot->empty());
  ASSERT_TRUE(got.entry.payload);
  EXPECT_TRUE(got.entry.payload->empty());
}

// A peer's message the core would trip over is refused (the connection then drops).
TEST(Codec, TxnOrSnapMessageMissingWhatItCarries_IsRefusedWithReason) {
  auto refusal = [](const consensus::Message& message) {
    proto::ConsensusMessage proto;
    to_proto(message, &proto);
    std::string error;
    EXPECT_FALSE(from_proto(&proto, &error));
    return error;
  };
  consensus::Message proposal = every_field_set();
  proposal.entry.payload.reset();
  EXPECT_EQ(refusal(proposal), "a txn message without its txn");
  proposal = every_field_set();
  proposal.entry.zxid = 0;
  EXPECT_EQ(refusal(proposal), "a txn without its zxid");
  proposal = every_field_set();
  proposal.type = consensus::MessageType::kRequest;
  proposal.entry.payload = std::make_shared<const std::string>(log_format::kPayloadBytesMax + 1, 'x');
  EXPECT_EQ(refusal(proposal), "a txn of 67108865 bytes, above the log's 67108864");
  consensus::Message snap = every_field_set();
  snap.type = consensus::MessageType::kSnap;
  snap.snapshot.reset();
  EXPECT_EQ(refusal(snap), "a SNAP without its snapshot");
}

TEST(Codec, DefaultEntry_IsNotOnTheWire) {
  consensus::Message message;
  message.type = consensus::MessageType::kAck;
  proto::ConsensusMessage proto;
  to_proto(message, &proto);
  EXPECT_FALSE(proto.has_entry());
}

TEST(Codec, UnknownTypeOrRole_IsRefusedWithReason) {
  std::string error;
  proto::ConsensusMessage proto;
  proto.set_type(20);
  EXPECT_FALSE(from_proto(&proto, &error));
  EXPECT_EQ(error, "unknown consensus message type 20");
  proto.set_type(0);
  EXPECT_FALSE(from_proto(&proto, &error));
  proto.set_type(1);
  proto.set_state(4);
  EXPECT_FALSE(from_proto(&proto, &error));
  EXPECT_EQ(error, "unknown role 4");
}

}  // namespace
}  // namespace quorumfs::peer
