// The replicated messages carry whatever bytes a user or a peer chose: each must parse back from its
// own encoding, or one such message in the log (or on the wire) stops every replica that reads it.
#include <gtest/gtest.h>

#include <string>

#include "daemon/proto/peer.pb.h"
#include "daemon/proto/txn.pb.h"

namespace quorumfs {
namespace {

// Not UTF-8: a lone continuation byte, an invalid lead byte, a control character and a NUL.
const std::string kNotUtf8 = std::string("digest:\xff\x80:x\x01", 12) + std::string(1, '\0') + ":cdrwa";

template <typename Message>
Message round_trip(const Message& message) {
  std::string bytes;
  EXPECT_TRUE(message.SerializeToString(&bytes));
  Message parsed;
  EXPECT_TRUE(parsed.ParseFromString(bytes)) << message.GetTypeName() << " does not parse back";
  return parsed;
}

TEST(TxnProto, CreateAndSetAclWithNonUtf8Acl_ParseBack) {
  proto::Txn txn;
  txn.add_ops()->mutable_create()->set_acl(kNotUtf8);
  txn.add_ops()->mutable_set_acl()->set_acl(kNotUtf8);
  proto::Txn parsed = round_trip(txn);
  ASSERT_EQ(parsed.ops_size(), 2);
  EXPECT_EQ(parsed.ops(0).create().acl(), kNotUtf8);
  EXPECT_EQ(parsed.ops(1).set_acl().acl(), kNotUtf8);
}

TEST(TxnProto, SnapshotNodeWithNonUtf8Acl_ParsesBack) {
  proto::SnapshotNode node;
  node.set_acl(kNotUtf8);
  EXPECT_EQ(round_trip(node).acl(), kNotUtf8);
}

TEST(PeerProto, RefusalWithNonUtf8Reason_ParsesBack) {
  proto::PeerFrame frame;
  frame.mutable_refusal()->set_reason(kNotUtf8);
  EXPECT_EQ(round_trip(frame).refusal().reason(), kNotUtf8);
}

}  // namespace
}  // namespace quorumfs
