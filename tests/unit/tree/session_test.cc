// Sessions in the replicated tree: a CreateSession opens one, a CloseSession ends it for good, and
// every replica decides alike whether a txn's session is still open (docs/architecture.md,
// "Sessions and ephemerals").
#include <gtest/gtest.h>

#include "tests/unit/tree/tree_fixture.h"

namespace quorumfs::testing {
namespace {

constexpr uint64_t kHost1 = uint64_t{1} << 56;
constexpr uint64_t kHost2 = uint64_t{2} << 56;

proto::Op ephemeral_op(std::string_view path, uint64_t session) {
  proto::Op op = file_op(path);
  op.mutable_create()->set_ephemeral_owner(session);
  return op;
}

class SessionTest : public TreeTest {
 protected:
  void SetUp() override { must(dir_op("/m")); }

  // A txn made for session (Txn.session_id), as a descriptor that owns it makes its writes.
  ApplyResult apply_for(uint64_t session, std::vector<proto::Op> ops) {
    proto::Txn txn;
    txn.set_time_ns(next_time_ns());
    *txn.mutable_caller() = caller;
    txn.set_session_id(session);
    for (proto::Op& op : ops) *txn.add_ops() = std::move(op);
    return tree.apply(++zxid, txn);
  }

  // The txn fails with expected and the tree is exactly as before.
  void expect_txn_failure(std::vector<proto::Op> ops, Code expected, uint64_t session = 0) {
    std::string before = dump(tree);
    ApplyResult result = apply_for(session, std::move(ops));
    EXPECT_EQ(result.code, expected) << code_name(result.code);
    EXPECT_TRUE(result.ops.empty());
    EXPECT_TRUE(result.changes.empty());
    EXPECT_TRUE(result.closed_sessions.empty());
    EXPECT_EQ(tree.last_applied_zxid(), zxid);
    EXPECT_EQ(dump(tree), before);
  }
};

TEST_F(SessionTest, CreateSession_OpensItAndMarksItsHost) {
  ApplyResult result = apply({create_session_op(kHost1 | 5)});
  ASSERT_EQ(result.code, Code::kOk);
  EXPECT_TRUE(result.changes.empty());
  EXPECT_TRUE(tree.session_open(kHost1 | 5));
  EXPECT_EQ(tree.open_sessions(), std::vector<uint64_t>{kHost1 | 5});
  EXPECT_EQ(tree.highest_session_id(1), kHost1 | 5);
  EXPECT_EQ(tree.highest_session_id(2), 0u);
  EXPECT_TRUE(tree.sessions().empty()) << "no ephemerals yet";
}

TEST_F(SessionTest, CreateSession_AlreadyOpen_ChangesNothing) {
  must(create_session_op(kHost1 | 5));
  std::string before = dump(tree);
  EXPECT_EQ(tree.check(create_session_op(kHost1 | 5), caller), Code::kOk);
  EXPECT_EQ(apply_one(create_session_op(kHost1 | 5)), Code::kOk);
  EXPECT_EQ(dump(tree), before);
}

TEST_F(SessionTest, CreateSession_KeepsItsTimeout) {
  must(create_session_op(kHost1 | 5));
  must(create_session_op(kHost1 | 6, 30000));
  EXPECT_EQ(tree.session_timeout_ms(kHost1 | 5), 0u) << "host-bound";
  EXPECT_EQ(tree.session_timeout_ms(kHost1 | 6), 30000u) << "a ZooKeeper client's";
  EXPECT_EQ(tree.session_timeout_ms(kHost1 | 7), std::nullopt) << "not open";
  must(close_session_op(kHost1 | 6));
  EXPECT_EQ(tree.session_timeout_ms(kHost1 | 6), std::nullopt);
}

TEST_F(SessionTest, CreateSession_AlreadyOpen_KeepsItsTimeout) {
  must(create_session_op(kHost1 | 5, 30000));
  std::string before = dump(tree);
  EXPECT_EQ(apply_one(create_session_op(kHost1 | 5, 4000)), Code::kOk);
  EXPECT_EQ(apply_one(create_session_op(kHost1 | 5)), Code::kOk);
  EXPECT_EQ(tree.session_timeout_ms(kHost1 | 5), 30000u);
  EXPECT_EQ(dump(tree), before);
}

TEST_F(SessionTest, CreateSession_TimeoutAboveTheMaximum_IsRefused) {
  expect_failure(create_session_op(kHost1 | 5, kSessionTimeoutMsMax + 1), Code::kBadArguments);
  EXPECT_FALSE(tree.session_open(kHost1 | 5));
  must(create_session_op(kHost1 | 5, kSessionTimeoutMsMax));
  EXPECT_EQ(tree.session_timeout_ms(kHost1 | 5), kSessionTimeoutMsMax);
}

// 0xFF in the top byte of an ephemeralOwner marks a TTL node.
TEST_F(SessionTest, CreateSession_OfHost255_IsRefused) {
  expect_failure(create_session_op(uint64_t{255} << 56 | 1), Code::kBadArguments);
  expect_failure(create_session_op(uint64_t{255} << 56 | 1, 30000), Code::kBadArguments);
  EXPECT_EQ(tree.highest_session_id(255), 0u);
  must(create_session_op(uint64_t{254} << 56 | 1));
}

TEST_F(SessionTest, ClosedSession_CannotBeReopened) {
  must(create_session_op(kHost1 | 5));
  ApplyResult closed = apply({close_session_op(kHost1 | 5)});
  ASSERT_EQ(closed.code, Code::kOk);
  EXPECT_EQ(closed.closed_sessions, std::vector<uint64_t>{kHost1 | 5});
  EXPECT_FALSE(tree.session_open(kHost1 | 5));
  expect_failure(create_session_op(kHost1 | 5), Code::kSessionExpired);
  EXPECT_FALSE(tree.session_open(kHost1 | 5));
}

TEST_F(SessionTest, CreateSession_AtOrBelowItsHostsHighest_IsRefused) {
  must(create_session_op(kHost1 | 5));
  expect_failure(create_session_op(kHost1 | 3), Code::kSessionExpired);  // never opened, but skipped
  must(create_session_op(kHost2 | 1));  // each host has its own mark
  must(create_session_op(kHost1 | 6));
  EXPECT_EQ(tree.open_sessions(), (std::vector<uint64_t>{kHost1 | 5, kHost1 | 6, kHost2 | 1}));
}

TEST_F(SessionTest, CreateSession_Zero_IsRefused) { expect_failure(create_session_op(0), Code::kBadArguments); }

TEST_F(SessionTest, CloseSession_NotOpen_SucceedsAndClosesNothing) {
  ApplyResult result = apply({close_session_op(kHost1 | 9)});
  EXPECT_EQ(result.code, Code::kOk);
  EXPECT_TRUE(result.closed_sessions.empty());
  // It was never opened, and still may be: a close does not move the host's mark.
  must(create_session_op(kHost1 | 9));
}

TEST_F(SessionTest, CloseSession_OfASessionWithoutEphemerals_ClosesIt) {
  must(create_session_op(kHost1 | 5));
  must(ephemeral_op("/m/e", kHost1 | 5));
  must(delete_op("/m/e"));
  EXPECT_TRUE(tree.sessions().empty());
  EXPECT_TRUE(tree.session_open(kHost1 | 5)) << "an unlinked ephemeral leaves its session open";
  EXPECT_EQ(apply({close_session_op(kHost1 | 5)}).closed_sessions, std::vector<uint64_t>{kHost1 | 5});
  EXPECT_TRUE(tree.open_sessions().empty());
}

TEST_F(SessionTest, EphemeralCreate_ForAnUnknownSession_IsRefused) {
  expect_failure(ephemeral_op("/m/e", kHost1 | 5), Code::kSessionExpired);
  EXPECT_EQ(tree.find("/m/e"), nullptr);
  EXPECT_EQ(node("/m").stat().cversion, 0);
}

TEST_F(SessionTest, EphemeralCreate_ForAClosedSession_IsRefused) {
  must(create_session_op(kHost1 | 5));
  must(ephemeral_op("/m/first", kHost1 | 5));
  must(close_session_op(kHost1 | 5));
  EXPECT_EQ(tree.find("/m/first"), nullptr);
  expect_failure(ephemeral_op("/m/e", kHost1 | 5), Code::kSessionExpired);
  // The mount's shape: [CreateSession S, Create owner S], refused whole.
  expect_txn_failure({create_session_op(kHost1 | 5), ephemeral_op("/m/e", kHost1 | 5)}, Code::kSessionExpired);
  EXPECT_EQ(tree.find("/m/e"), nullptr);
}

TEST_F(SessionTest, EphemeralCreate_WithItsCreateSessionInOneTxn_Succeeds) {
  ApplyResult result = apply({create_session_op(kHost1 | 5), ephemeral_op("/m/e", kHost1 | 5)});
  ASSERT_EQ(result.code, Code::kOk) << code_name(result.code);
  ASSERT_EQ(result.ops.size(), 2u);
  EXPECT_EQ(result.ops[1].path, "/m/e");
  EXPECT_EQ(node("/m/e").stat().ephemeral_owner, kHost1 | 5);
  EXPECT_EQ(tree.sessions(), std::vector<uint64_t>{kHost1 | 5});
  EXPECT_EQ(tree.open_sessions(), std::vector<uint64_t>{kHost1 | 5});
}

TEST_F(SessionTest, FailedMulti_LeavesTheSessionUnopenedAndItsHostUnmarked) {
  expect_txn_failure({create_session_op(kHost1 | 5), ephemeral_op("/missing/e", kHost1 | 5)}, Code::kNoNode);
  EXPECT_FALSE(tree.session_open(kHost1 | 5));
  EXPECT_EQ(tree.highest_session_id(1), 0u);
  must(create_session_op(kHost1 | 5));  // still new: the failed txn never opened it
}

TEST_F(SessionTest, FailedMulti_LeavesAClosedSessionOpenWithItsEphemerals) {
  must(create_session_op(kHost1 | 5));
  must(ephemeral_op("/m/e", kHost1 | 5));
  expect_txn_failure({close_session_op(kHost1 | 5), delete_op("/nothing")}, Code::kNoNode);
  EXPECT_TRUE(tree.session_open(kHost1 | 5));
  EXPECT_NE(tree.find("/m/e"), nullptr);
  // Closed and reopened in one txn: refused, and the close is undone too.
  expect_txn_failure({close_session_op(kHost1 | 5), create_session_op(kHost1 | 5)}, Code::kSessionExpired);
  EXPECT_TRUE(tree.session_open(kHost1 | 5));
}

TEST_F(SessionTest, FailedMulti_GivesAClosedSessionBackItsTimeout) {
  must(create_session_op(kHost1 | 5, 30000));
  expect_txn_failure({close_session_op(kHost1 | 5), delete_op("/nothing")}, Code::kNoNode);
  EXPECT_EQ(tree.session_timeout_ms(kHost1 | 5), 30000u);
}

TEST_F(SessionTest, TxnForAClosedSession_IsRefusedWhole) {
  must(file_op("/f", "before"));
  must(create_session_op(kHost1 | 5));
  ASSERT_EQ(apply_for(kHost1 | 5, {set_data_op("/f", "while open")}).code, Code::kOk);
  must(close_session_op(kHost1 | 5));
  expect_txn_failure({set_data_op("/f", "after close"), file_op("/m/new")}, Code::kSessionExpired, kHost1 | 5);
  EXPECT_EQ(node("/f").data(), "while open");
  EXPECT_EQ(tree.find("/m/new"), nullptr);
  // Its CloseSession too: a closed session has nothing left to do.
  expect_txn_failure({close_session_op(kHost1 | 5)}, Code::kSessionExpired, kHost1 | 5);
}

TEST_F(SessionTest, TxnForAnUnknownSession_IsRefusedWhole) {
  must(file_op("/f", "before"));
  expect_txn_failure({set_data_op("/f", "x")}, Code::kSessionExpired, kHost2 | 1);
  EXPECT_EQ(node("/f").data(), "before");
  // A txn for no session (0) is anyone's.
  EXPECT_EQ(apply_for(0, {set_data_op("/f", "x")}).code, Code::kOk);
}

TEST_F(SessionTest, OpenSessions_AreBounded) {
  // Straight to the tree, without building a million protos twice.
  proto::Txn txn;
  txn.add_ops()->mutable_create_session();
  for (uint64_t counter = 1; counter <= kOpenSessionsLimit; ++counter) {
    txn.mutable_ops(0)->mutable_create_session()->set_session_id(kHost1 | counter);
    ASSERT_EQ(tree.apply(++zxid, txn).code, Code::kOk) << counter;
  }
  EXPECT_EQ(tree.open_sessions().size(), kOpenSessionsLimit);
  const uint64_t one_more = kHost1 | (kOpenSessionsLimit + 1);
  EXPECT_EQ(tree.check(create_session_op(one_more), caller), Code::kTooManySessions);
  EXPECT_EQ(apply_one(create_session_op(one_more)), Code::kTooManySessions);
  EXPECT_FALSE(tree.session_open(one_more));
  EXPECT_EQ(tree.highest_session_id(1), kHost1 | kOpenSessionsLimit) << "a refused id stays free";
  EXPECT_EQ(apply_one(create_session_op(kHost1 | 7)), Code::kOk) << "an open one is no new one";
  must(close_session_op(kHost1 | 7));
  must(create_session_op(one_more));
  EXPECT_EQ(tree.open_sessions().size(), kOpenSessionsLimit);
}

// mntr's zk_ephemerals_count counts nodes, not the sessions that own them; it and the count of
// open sessions follow deletes and closes, a failed multi changes neither, a snapshot keeps both.
TEST_F(SessionTest, Counts_FollowEphemeralNodesAndOpenSessions) {
  must(create_session_op(kHost1 | 5));
  must(ephemeral_op("/m/a", kHost1 | 5));
  must(ephemeral_op("/m/b", kHost1 | 5));
  must(create_session_op(kHost2 | 1));
  must(ephemeral_op("/m/c", kHost2 | 1));
  must(file_op("/m/plain"));
  EXPECT_EQ(tree.ephemeral_count(), 3u);
  EXPECT_EQ(tree.sessions().size(), 2u) << "the sessions that own them";
  EXPECT_EQ(tree.open_session_count(), 2u);
  must(delete_op("/m/b"));
  EXPECT_EQ(tree.ephemeral_count(), 2u);
  expect_txn_failure({close_session_op(kHost1 | 5), delete_op("/nothing")}, Code::kNoNode);
  EXPECT_EQ(tree.ephemeral_count(), 2u);
  EXPECT_EQ(tree.open_session_count(), 2u);
  must(close_session_op(kHost1 | 5));  // deletes /m/a
  EXPECT_EQ(tree.ephemeral_count(), 1u);
  EXPECT_EQ(tree.open_session_count(), 1u);
  const auto loaded = reload(snapshot_of(tree));
  ASSERT_NE(loaded, nullptr);
  EXPECT_EQ(loaded->ephemeral_count(), 1u);
  EXPECT_EQ(loaded->open_session_count(), 1u);
}

class SessionSnapshotTest : public SessionTest {
 protected:
  void SetUp() override {
    SessionTest::SetUp();
    must(create_session_op(kHost1 | 5));
    must(ephemeral_op("/m/a", kHost1 | 5));
    must(create_session_op(kHost1 | 6));  // open, owns nothing
    must(create_session_op(kHost1 | 8));
    must(close_session_op(kHost1 | 8));   // closed: the highest of host 1
    must(create_session_op(kHost2 | 3));
    must(ephemeral_op("/m/b", kHost2 | 3));
    must(create_session_op(kHost2 | 4, 30000));  // a ZooKeeper client's
    must(ephemeral_op("/m/c", kHost2 | 4));
  }
  static Code apply_to(DataTree& tree, Zxid zxid, proto::Op op) {
    proto::Txn txn;
    *txn.add_ops() = std::move(op);
    return tree.apply(zxid, txn).code;
  }
};

TEST_F(SessionSnapshotTest, RoundTrip_KeepsOpenSessionsAndMarks) {
  SnapshotRecords records = snapshot_of(tree);
  ASSERT_TRUE(records.header.has_sessions());
  EXPECT_EQ(std::vector<uint64_t>(records.header.sessions().open().begin(), records.header.sessions().open().end()),
            (std::vector<uint64_t>{kHost1 | 5, kHost1 | 6, kHost2 | 3, kHost2 | 4}));
  EXPECT_EQ(std::vector<uint64_t>(records.header.sessions().highest_opened().begin(),
                                  records.header.sessions().highest_opened().end()),
            (std::vector<uint64_t>{kHost1 | 8, kHost2 | 4}));
  EXPECT_EQ(std::vector<uint32_t>(records.header.sessions().timeouts_ms().begin(),
                                  records.header.sessions().timeouts_ms().end()),
            (std::vector<uint32_t>{0, 0, 0, 30000}));
  std::unique_ptr<DataTree> loaded = reload(records);
  ASSERT_NE(loaded, nullptr);
  EXPECT_EQ(dump(*loaded), dump(tree));
  EXPECT_EQ(loaded->open_sessions(), tree.open_sessions());
  EXPECT_EQ(loaded->session_timeout_ms(kHost2 | 4), 30000u);
  EXPECT_EQ(loaded->session_timeout_ms(kHost2 | 3), 0u);
  EXPECT_EQ(loaded->highest_session_id(1), kHost1 | 8);
  EXPECT_EQ(apply_to(*loaded, zxid + 1, create_session_op(kHost1 | 8)), Code::kSessionExpired);
  EXPECT_EQ(apply_to(*loaded, zxid + 2, create_session_op(kHost1 | 7)), Code::kSessionExpired);
  EXPECT_EQ(apply_to(*loaded, zxid + 3, create_session_op(kHost1 | 6)), Code::kOk);
  EXPECT_EQ(apply_to(*loaded, zxid + 4, create_session_op(kHost1 | 9)), Code::kOk);
}

TEST_F(SessionSnapshotTest, SnapshotWithoutSessions_OpensTheOwnersOfEphemerals) {
  SnapshotRecords records = snapshot_of(tree);
  records.header.clear_sessions();  // as written before the tree kept sessions
  std::unique_ptr<DataTree> loaded = reload(records);
  ASSERT_NE(loaded, nullptr);
  EXPECT_EQ(loaded->open_sessions(), (std::vector<uint64_t>{kHost1 | 5, kHost2 | 3, kHost2 | 4}));
  EXPECT_EQ(loaded->highest_session_id(1), kHost1 | 5);
  EXPECT_EQ(loaded->highest_session_id(2), kHost2 | 4);
  EXPECT_EQ(loaded->highest_session_id(3), 0u);
  EXPECT_EQ(apply_to(*loaded, zxid + 1, create_session_op(kHost1 | 4)), Code::kSessionExpired);
  EXPECT_EQ(apply_to(*loaded, zxid + 2, create_session_op(kHost1 | 6)), Code::kOk);
  EXPECT_EQ(apply_to(*loaded, zxid + 3, ephemeral_op("/m/d", kHost2 | 3)), Code::kOk);
  // Written again, it carries the sessions it inferred.
  EXPECT_TRUE(snapshot_of(*loaded).header.has_sessions());
}

TEST_F(SessionSnapshotTest, SnapshotWithoutTimeouts_LoadsEverySessionHostBound) {
  SnapshotRecords records = snapshot_of(tree);
  records.header.mutable_sessions()->clear_timeouts_ms();  // as written before sessions had them
  std::unique_ptr<DataTree> loaded = reload(records);
  ASSERT_NE(loaded, nullptr);
  EXPECT_EQ(loaded->open_sessions(), tree.open_sessions());
  for (uint64_t session : loaded->open_sessions()) EXPECT_EQ(loaded->session_timeout_ms(session), 0u);
}

TEST_F(SessionSnapshotTest, NotOneTimeoutPerOpenSession_IsRefused) {
  SnapshotRecords records = snapshot_of(tree);
  records.header.mutable_sessions()->mutable_timeouts_ms()->RemoveLast();
  EXPECT_NE(refusal(records).find("not one timeout per open session"), std::string::npos);
}

TEST_F(SessionSnapshotTest, SnapshotWithoutSessionsOrEphemerals_LoadsWithNone) {
  DataTree fresh;
  SnapshotRecords records = snapshot_of(fresh);
  records.header.clear_sessions();
  std::unique_ptr<DataTree> loaded = reload(records);
  ASSERT_NE(loaded, nullptr);
  EXPECT_TRUE(loaded->open_sessions().empty());
  EXPECT_EQ(dump(*loaded), dump(fresh));
}

TEST_F(SessionSnapshotTest, EphemeralOwnerNotOpen_IsRefused) {
  SnapshotRecords records = snapshot_of(tree);
  records.header.mutable_sessions()->mutable_open()->RemoveLast();  // host 2's 4, owner of /m/c
  records.header.mutable_sessions()->mutable_timeouts_ms()->RemoveLast();
  EXPECT_NE(refusal(records).find("is not an open session"), std::string::npos);
}

TEST_F(SessionSnapshotTest, OpenSessionAboveItsHostsMark_IsRefused) {
  SnapshotRecords records = snapshot_of(tree);
  records.header.mutable_sessions()->mutable_highest_opened()->Set(1, kHost2 | 3);
  EXPECT_NE(refusal(records).find("above its host's mark"), std::string::npos);
}

TEST_F(SessionSnapshotTest, TwoMarksForOneHost_AreRefused) {
  SnapshotRecords records = snapshot_of(tree);
  records.header.mutable_sessions()->add_highest_opened(kHost1 | 9);
  EXPECT_NE(refusal(records).find("two session marks"), std::string::npos);
}

TEST_F(SessionSnapshotTest, OpenSessionListedTwice_IsRefused) {
  SnapshotRecords records = snapshot_of(tree);
  records.header.mutable_sessions()->add_open(kHost1 | 5);
  records.header.mutable_sessions()->add_timeouts_ms(0);
  EXPECT_NE(refusal(records).find("listed twice"), std::string::npos);
}

}  // namespace
}  // namespace quorumfs::testing
