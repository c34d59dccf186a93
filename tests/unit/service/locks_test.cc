#include "daemon/service/locks.h"

#include <gtest/gtest.h>

#include <optional>

#include "tests/unit/service/tree_replication.h"
#include "tests/unit/tree/tree_fixture.h"

namespace quorumfs::service {
namespace {

using namespace std::chrono_literals;

constexpr uint64_t kKey = 42;

class Locks : public ::testing::Test {
 protected:
  Locks() {
    replication_.attach(&service_);
    service_.sessions().start(replication_.tree(), 1000);
  }

  // Starts an acquisition; its outcome lands in *outcome when it is known.
  SessionId acquire(LockMode mode, std::optional<Code>* outcome, bool wait = true, uint64_t key = kKey) {
    LockService::Request request;
    request.key = key;
    request.mode = mode;
    request.wait = wait;
    request.owner = "test";
    return locks_.acquire(request, [outcome](Code code) { *outcome = code; });
  }

  std::vector<std::string> nodes(uint64_t key = kKey) const {
    std::vector<std::string> names;
    const Node* directory = replication_.tree().find(LockService::directory_of(key));
    if (directory == nullptr) return names;
    directory->for_each_child("", [&](const Node& child) {
      names.emplace_back(child.name());
      return true;
    });
    return names;
  }

  // Another host's closeSession of session, as the leader's expiry of a silent host.
  void expire(SessionId session) {
    proto::Txn txn;
    txn.add_ops()->mutable_close_session()->set_session_id(session.value());
    replication_.apply(txn);
  }

  boost::asio::io_context io_;
  TreeReplication replication_;
  Service service_{replication_, 1, 10s};
  LockService locks_{service_};
};

TEST_F(Locks, Exclusive_IsGrantedAtOnceWhenFree_WithItsNodeVisible) {
  std::optional<Code> outcome;
  const SessionId id = acquire(LockMode::kExclusive, &outcome);
  EXPECT_EQ(outcome, Code::kOk);
  EXPECT_TRUE(locks_.held(id));
  EXPECT_EQ(nodes(), (std::vector<std::string>{"write-lock-0000000000"}));
  const Node* node = replication_.tree().find("/.locks/42/write-lock-0000000000");
  ASSERT_NE(node, nullptr);
  EXPECT_EQ(node->stat().ephemeral_owner, id.value());
  EXPECT_EQ(locks_.token(id), node->stat().czxid);
}

// Each waiter waits on its predecessor; they are served in the order they came.
TEST_F(Locks, Waiters_AreServedInArrivalOrder) {
  std::optional<Code> first, second, third;
  const SessionId a = acquire(LockMode::kExclusive, &first);
  const SessionId b = acquire(LockMode::kExclusive, &second);
  const SessionId c = acquire(LockMode::kExclusive, &third);
  EXPECT_EQ(first, Code::kOk);
  EXPECT_FALSE(second.has_value());
  EXPECT_FALSE(third.has_value());
  locks_.release(a);
  EXPECT_EQ(second, Code::kOk);
  EXPECT_FALSE(third.has_value());
  EXPECT_GT(*locks_.token(b), 0u);
  locks_.release(b);
  EXPECT_EQ(third, Code::kOk);
  EXPECT_GT(*locks_.token(c), 0u);
  locks_.release(c);
  // The last one out takes the lock's directory with it.
  EXPECT_EQ(replication_.tree().find("/.locks/42"), nullptr);
  EXPECT_NE(replication_.tree().find("/.locks"), nullptr);
}

TEST_F(Locks, FencingTokens_IncreaseFromHolderToHolder) {
  std::optional<Code> first, second;
  const SessionId a = acquire(LockMode::kExclusive, &first);
  const Zxid token_a = *locks_.token(a);
  const SessionId b = acquire(LockMode::kExclusive, &second);
  locks_.release(a);
  EXPECT_GT(*locks_.token(b), token_a);
}

TEST_F(Locks, Shared_AreHeldTogether_ExclusiveWaitsForAllOfThem) {
  std::optional<Code> r1, r2, w, r3;
  const SessionId a = acquire(LockMode::kShared, &r1);
  const SessionId b = acquire(LockMode::kShared, &r2);
  acquire(LockMode::kExclusive, &w);
  acquire(LockMode::kShared, &r3);
  EXPECT_EQ(r1, Code::kOk);
  EXPECT_EQ(r2, Code::kOk);
  EXPECT_FALSE(w.has_value());
  EXPECT_FALSE(r3.has_value());  // behind the writer: no writer starves
  locks_.release(a);
  EXPECT_FALSE(w.has_value());
  locks_.release(b);
  EXPECT_EQ(w, Code::kOk);
  EXPECT_FALSE(r3.has_value());
}

TEST_F(Locks, TryLockOfAHeldLock_FailsWithoutATxnAndLeavesNothing) {
  std::optional<Code> held, tried;
  acquire(LockMode::kExclusive, &held);
  const size_t submitted = replication_.submitted;
  acquire(LockMode::kShared, &tried, false);
  EXPECT_EQ(tried, Code::kWouldBlock);
  EXPECT_EQ(replication_.submitted, submitted);
  EXPECT_EQ(nodes().size(), 1u);
}

// The holder's node appears between the try-lock's look and its own create.
TEST_F(Locks, TryLockThatLosesTheRace_FailsAndRemovesItsNode) {
  std::optional<Code> other, tried;
  replication_.before_next_submit = [&] {
    proto::Txn txn;
    txn.add_ops()->mutable_create_session()->set_session_id(SessionId::of(2, 1).value());
    proto::CreateOp* create = txn.add_ops()->mutable_create();
    create->set_path("/.locks");
    create->set_directory(true);
    create->mutable_meta()->set_uid(0);
    create->mutable_meta()->set_gid(0);
    create->mutable_meta()->set_mode(0755);
    *txn.add_ops()->mutable_create() = *create;
    txn.mutable_ops(2)->mutable_create()->set_path("/.locks/42");
    *txn.add_ops()->mutable_create() = txn.ops(2).create();
    txn.mutable_ops(3)->mutable_create()->set_path("/.locks/42/write-lock-");
    txn.mutable_ops(3)->mutable_create()->set_directory(false);
    txn.mutable_ops(3)->mutable_create()->set_sequential(true);
    txn.mutable_ops(3)->mutable_create()->set_ephemeral_owner(SessionId::of(2, 1).value());
    EXPECT_EQ(replication_.apply(txn).code, Code::kOk);
  };
  acquire(LockMode::kExclusive, &tried, false);
  // The first attempt raced on the directories it saw missing; the second found the holder.
  EXPECT_EQ(tried, Code::kWouldBlock);
  EXPECT_EQ(nodes(), (std::vector<std::string>{"write-lock-0000000000"}));
}

// SIGINT of a waiter: its node goes, the next in line is served when the holder leaves.
TEST_F(Locks, WithdrawnWaiter_LeavesNoNodeAndIsNeverTold) {
  std::optional<Code> first, second, third;
  const SessionId a = acquire(LockMode::kExclusive, &first);
  const SessionId b = acquire(LockMode::kExclusive, &second);
  acquire(LockMode::kExclusive, &third);
  locks_.release(b);
  EXPECT_EQ(nodes().size(), 2u);
  locks_.release(a);
  EXPECT_FALSE(second.has_value());
  EXPECT_EQ(third, Code::kOk);
}

// The holder's host was cut off: the leader closed its session, the next waiter gets the lock and
// the old holder learns that it lost it.
TEST_F(Locks, HolderSessionExpired_HandsTheLockOnAndTellsTheHolder) {
  std::optional<Code> first, second;
  std::vector<SessionId> lost;
  locks_.set_on_lost([&](SessionId id) { lost.push_back(id); });
  const SessionId a = acquire(LockMode::kExclusive, &first);
  const SessionId b = acquire(LockMode::kExclusive, &second);
  expire(a);
  EXPECT_EQ(lost, (std::vector<SessionId>{a}));
  EXPECT_FALSE(locks_.held(a));
  EXPECT_EQ(second, Code::kOk);
  EXPECT_TRUE(locks_.held(b));
}

TEST_F(Locks, WaiterSessionExpired_IsToldSo) {
  std::optional<Code> first, second;
  acquire(LockMode::kExclusive, &first);
  const SessionId b = acquire(LockMode::kExclusive, &second);
  expire(b);
  EXPECT_EQ(second, Code::kSessionExpired);
}

TEST_F(Locks, NoQuorum_FailsTheAcquisitionAndChangesNothing) {
  replication_.refuse_with = Code::kNotApplied;
  std::optional<Code> outcome;
  acquire(LockMode::kExclusive, &outcome);
  EXPECT_EQ(outcome, Code::kNotApplied);
  EXPECT_EQ(locks_.active(), 0u);
  EXPECT_EQ(replication_.tree().find("/.locks"), nullptr);
}

TEST_F(Locks, LocksOfDifferentKeys_AreIndependent) {
  std::optional<Code> a, b;
  acquire(LockMode::kExclusive, &a, true, 1);
  acquire(LockMode::kExclusive, &b, true, 2);
  EXPECT_EQ(a, Code::kOk);
  EXPECT_EQ(b, Code::kOk);
}

TEST_F(Locks, Conflicting_ReportsOtherHoldersOnly) {
  std::optional<Code> outcome;
  const SessionId a = acquire(LockMode::kShared, &outcome);
  EXPECT_EQ(locks_.conflicting(kKey, LockMode::kShared, SessionId()), std::nullopt);
  EXPECT_EQ(locks_.conflicting(kKey, LockMode::kExclusive, SessionId()), LockMode::kShared);
  EXPECT_EQ(locks_.conflicting(kKey, LockMode::kExclusive, a), std::nullopt);
}

// flock -s then flock -x -n on one descriptor, as the only holder: the shared node is released
// but its close is not applied yet; it must not count against the exclusive try-lock.
TEST_F(Locks, ReleasedNodeStillInTheTree_IsNotAConflict) {
  std::optional<Code> shared;
  const SessionId a = acquire(LockMode::kShared, &shared);
  // The close is refused (no quorum): the node stays, the session table will retry the close.
  replication_.refuse_with = Code::kNotApplied;
  locks_.release(a);
  replication_.refuse_with = Code::kOk;
  EXPECT_EQ(nodes().size(), 1u);
  EXPECT_EQ(locks_.conflicting(kKey, LockMode::kExclusive, SessionId()), std::nullopt);
}

// Someone removed the holder's node (its session still open): the lock is lost, the next waiter
// is served, the holder is told.
TEST_F(Locks, HolderNodeRemoved_IsLost) {
  std::optional<Code> first, second;
  std::vector<SessionId> lost;
  locks_.set_on_lost([&](SessionId id) { lost.push_back(id); });
  const SessionId a = acquire(LockMode::kExclusive, &first);
  acquire(LockMode::kExclusive, &second);
  proto::Txn txn;
  txn.add_ops()->mutable_remove()->set_path("/.locks/42/write-lock-0000000000");
  txn.mutable_ops(0)->mutable_remove()->set_expected_version(-1);
  ASSERT_EQ(replication_.apply(txn).code, Code::kOk);
  EXPECT_EQ(lost, (std::vector<SessionId>{a}));
  EXPECT_FALSE(replication_.tree().session_open(a.value()));  // its session goes too
  EXPECT_EQ(second, Code::kOk);
}

// A ZooKeeper client's Curator mutex on /.locks/<inode> ("_c_<uuid>-lock-N") queues with the
// mount's waiters by number: a mount waiter behind it waits, and one ahead of it holds.
TEST_F(Locks, CuratorMutexNode_IsAnExclusiveWaiterInTheSameLine) {
  std::optional<Code> first, second;
  const SessionId a = acquire(LockMode::kShared, &first);
  ASSERT_EQ(first, Code::kOk);
  proto::Txn curator;
  proto::CreateOp* create = curator.add_ops()->mutable_create();
  create->set_path("/.locks/42/_c_0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0-lock-");
  create->set_sequential(true);
  create->mutable_meta()->set_uid(0);
  create->mutable_meta()->set_gid(0);
  create->mutable_meta()->set_mode(0644);
  ASSERT_EQ(replication_.apply(curator).code, Code::kOk);
  acquire(LockMode::kShared, &second);
  EXPECT_FALSE(second.has_value());  // behind the client's exclusive node
  locks_.release(a);
  EXPECT_FALSE(second.has_value());
  proto::Txn unlock;
  unlock.add_ops()->mutable_remove()->set_path("/.locks/42/_c_0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0-lock-0000000001");
  unlock.mutable_ops(0)->mutable_remove()->set_expected_version(-1);
  ASSERT_EQ(replication_.apply(unlock).code, Code::kOk);
  EXPECT_EQ(second, Code::kOk);
}

// A SNAP brought the tree forward past the holder's release: no delete was seen, yet the waiter
// is served once the tree is replaced.
TEST_F(Locks, TreeReplaced_ServesWaitersWhoseTurnCame) {
  std::optional<Code> first, second;
  const SessionId a = acquire(LockMode::kExclusive, &first);
  acquire(LockMode::kExclusive, &second);
  proto::Txn close;
  close.add_ops()->mutable_close_session()->set_session_id(a.value());
  replication_.apply_unannounced(close);
  EXPECT_FALSE(second.has_value());
  locks_.on_tree_replaced();
  EXPECT_EQ(second, Code::kOk);
}

TEST_F(Locks, TreeReplaced_WithoutTheHoldersSession_LosesTheLock) {
  std::optional<Code> first;
  std::vector<SessionId> lost;
  locks_.set_on_lost([&](SessionId id) { lost.push_back(id); });
  const SessionId a = acquire(LockMode::kExclusive, &first);
  proto::Txn close;
  close.add_ops()->mutable_close_session()->set_session_id(a.value());
  replication_.apply_unannounced(close);
  locks_.on_tree_replaced();
  EXPECT_EQ(lost, (std::vector<SessionId>{a}));
  EXPECT_FALSE(locks_.held(a));
}

// The leader expired a holder alone on its lock: the lock's directory goes with the expiry.
TEST_F(Locks, DirectoryEmptiedByAnExpiryHere_IsRemoved) {
  std::optional<Code> first;
  const SessionId a = acquire(LockMode::kExclusive, &first);
  service_.sessions().close(a, false, nullptr);  // this host's session table: the leader's expiry
  EXPECT_EQ(replication_.tree().find("/.locks/42"), nullptr);
}

TEST_F(Locks, PerUidLimit_RefusesWithTooManyLocks) {
  std::vector<std::optional<Code>> outcomes(kLocksPerUidMax + 1);
  for (size_t i = 0; i < outcomes.size(); ++i) {
    LockService::Request request;
    request.key = i;  // all different locks: every one is granted
    request.uid = 1000;
    locks_.acquire(request, [&outcomes, i](Code code) { outcomes[i] = code; });
  }
  EXPECT_EQ(outcomes[kLocksPerUidMax - 1], Code::kOk);
  EXPECT_EQ(outcomes[kLocksPerUidMax], Code::kTooManyLocks);
  EXPECT_EQ(locks_.active(), kLocksPerUidMax);
  LockService::Request other_user;
  other_user.key = 1;
  other_user.uid = 1001;
  other_user.wait = false;
  std::optional<Code> other;
  locks_.acquire(other_user, [&](Code code) { other = code; });
  EXPECT_EQ(other, Code::kWouldBlock);  // held by uid 1000; not refused for the limit
}

TEST_F(Locks, Stop_WithdrawsAcquisitionsNotYetOrdered) {
  TreeReplication later(&io_);  // answers on the loop, as after a commit
  Service service(later, 1, 10s);
  later.attach(&service);
  service.sessions().start(later.tree(), 1000);
  LockService locks(service);
  std::optional<Code> outcome;
  LockService::Request request;
  request.key = kKey;
  const SessionId id = locks.acquire(request, [&](Code code) { outcome = code; });
  locks.stop();
  io_.run();
  EXPECT_FALSE(outcome.has_value());
  EXPECT_FALSE(later.tree().session_open(id.value()));
  EXPECT_EQ(locks.active(), 0u);
}

// The directory of a lock on an existing file stays between acquisitions (hosts taking the lock in
// turn would race to make and remove it); the file's delete takes it away.
TEST_F(Locks, DirectoryOfALiveFile_StaysUntilTheFileGoes) {
  proto::Txn create_file;
  *create_file.add_ops() = quorumfs::testing::file_op("/f");
  ASSERT_EQ(replication_.apply(create_file).code, Code::kOk);
  const uint64_t inode = replication_.tree().find("/f")->inode();
  std::optional<Code> outcome;
  locks_.release(acquire(LockMode::kExclusive, &outcome, true, inode));
  ASSERT_EQ(outcome, Code::kOk);
  EXPECT_NE(replication_.tree().find(LockService::directory_of(inode)), nullptr);
  EXPECT_TRUE(nodes(inode).empty());
  proto::Txn remove_file;
  *remove_file.add_ops() = quorumfs::testing::delete_op("/f");
  ASSERT_EQ(replication_.apply(remove_file, true, Submitter::kMount).code, Code::kOk);
  EXPECT_EQ(replication_.tree().find(LockService::directory_of(inode)), nullptr);
}

}  // namespace
}  // namespace quorumfs::service
