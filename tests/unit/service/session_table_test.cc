#include "daemon/service/session_table.h"

#include <gtest/gtest.h>

#include "daemon/service/service.h"
#include "tests/unit/service/tree_replication.h"

namespace quorumfs::service {
namespace {

using namespace std::chrono_literals;

proto::Txn open_session(SessionId session, uint32_t timeout_ms = 0) {
  proto::Txn txn;
  txn.add_ops()->mutable_create_session()->set_session_id(session.value());
  txn.mutable_ops(0)->mutable_create_session()->set_timeout_ms(timeout_ms);
  return txn;
}

class SessionTableTest : public ::testing::Test {
 protected:
  SessionTableTest() { replication_.attach(&service_); }
  SessionTable& sessions() { return service_.sessions(); }

  TreeReplication replication_;
  Service service_{replication_, 3, 10s};
};

TEST(SessionIdTest, HostAndCounter) {
  const SessionId id = SessionId::of(3, 42);
  EXPECT_EQ(id.host(), 3u);
  EXPECT_EQ(id.counter(), 42u);
  EXPECT_EQ(id.value(), (uint64_t{3} << 56) | 42);
  EXPECT_EQ(SessionId::of(1, ~uint64_t{0}).host(), 1u);  // the counter never spills into the host
  EXPECT_LT(SessionId::of(1, 99), SessionId::of(2, 0));
}

TEST_F(SessionTableTest, Ids_AreThisHostsAboveTheClockAndAboveTheTree) {
  replication_.apply(open_session(SessionId::of(3, uint64_t{5000} << 16)));
  sessions().start(replication_.tree(), 1000);  // the clock went back
  const SessionId first = sessions().create(replication_.tree());
  EXPECT_EQ(first.host(), 3u);
  EXPECT_EQ(first, SessionId::of(3, (uint64_t{5000} << 16) + 1));
  EXPECT_EQ(sessions().create(replication_.tree()), SessionId(first.value() + 1));
}

TEST_F(SessionTableTest, Own_TellsThisRunFromEarlierRunsAndOtherHosts) {
  const SessionId earlier = SessionId::of(3, 10);
  const SessionId other = SessionId::of(2, 10);
  replication_.apply(open_session(earlier));
  replication_.apply(open_session(other));
  sessions().start(replication_.tree(), 1000);
  const SessionId mine = sessions().create(replication_.tree());
  replication_.apply(open_session(mine));
  EXPECT_EQ(sessions().own(replication_.tree(), false), (std::vector<SessionId>{earlier, mine}));
  EXPECT_EQ(sessions().own(replication_.tree(), true), (std::vector<SessionId>{earlier}));
}

// A ZooKeeper client's session may have moved to another host: this host's runs do not own it.
TEST_F(SessionTableTest, Own_LeavesOutClientSessions) {
  const SessionId earlier_client = SessionId::of(3, 10);
  replication_.apply(open_session(earlier_client, 30000));
  sessions().start(replication_.tree(), 1000);
  const SessionId client = sessions().create(replication_.tree());
  const SessionId mine = sessions().create(replication_.tree());
  replication_.apply(open_session(client, 30000));
  replication_.apply(open_session(mine));
  EXPECT_EQ(sessions().own(replication_.tree(), false), (std::vector<SessionId>{mine}));
  EXPECT_TRUE(sessions().own(replication_.tree(), true).empty());
}

// A close that finds no leader waits for the next one: the ephemeral must go in the end.
TEST_F(SessionTableTest, CloseWithoutLeader_IsRetriedUntilApplied) {
  const SessionId session = SessionId::of(3, 1);
  replication_.apply(open_session(session));
  replication_.refuse_with = Code::kNotApplied;
  int answered = 0;
  sessions().close(session, true, [&](const ApplyResult& result) {
    ++answered;
    EXPECT_EQ(result.code, Code::kOk);
  });
  EXPECT_EQ(answered, 0);
  sessions().retry_closes();  // still no leader
  EXPECT_EQ(answered, 0);
  replication_.refuse_with = Code::kOk;
  sessions().retry_closes();
  EXPECT_EQ(answered, 1);
  EXPECT_FALSE(replication_.tree().session_open(session.value()));
}

TEST_F(SessionTableTest, CloseWhileStopping_IsNotRetried) {
  replication_.refuse_with = Code::kNotApplied;
  sessions().stop_retrying();
  Code code = Code::kOk;
  sessions().close(SessionId::of(3, 1), true, [&](const ApplyResult& result) { code = result.code; });
  EXPECT_EQ(code, Code::kNotApplied);
}

TEST_F(SessionTableTest, Leader_ExpiresOnlySilentHostsSessions_Once) {
  const SessionId silent = SessionId::of(1, 1);
  const SessionId heard = SessionId::of(2, 1);
  const SessionId own = SessionId::of(3, 1);
  for (SessionId s : {silent, heard, own}) replication_.apply(open_session(s));
  const auto start = SessionTable::Clock::now();
  sessions().start_leading();
  EXPECT_EQ(sessions().expire_silent(replication_.tree(), start), 0u);  // everyone gets a whole timeout
  sessions().heard_from(2, start + 9s);
  replication_.refuse_with = Code::kNotApplied;  // the close is under way...
  EXPECT_EQ(sessions().expire_silent(replication_.tree(), start + 11s), 1u);
  replication_.refuse_with = Code::kOk;
  EXPECT_TRUE(replication_.tree().session_open(silent.value()));
  EXPECT_EQ(sessions().expire_silent(replication_.tree(), start + 12s), 1u);  // ...and failed: again
  EXPECT_FALSE(replication_.tree().session_open(silent.value()));
  EXPECT_TRUE(replication_.tree().session_open(heard.value()));
  EXPECT_TRUE(replication_.tree().session_open(own.value()));
  EXPECT_EQ(sessions().expire_silent(replication_.tree(), start + 12s), 0u);
}

TEST_F(SessionTableTest, Leader_LeavesClientSessionsOfASilentHostOpen) {
  const SessionId host_bound = SessionId::of(1, 1);
  const SessionId client = SessionId::of(1, 2);
  replication_.apply(open_session(host_bound));
  replication_.apply(open_session(client, 30000));
  const auto start = SessionTable::Clock::now();
  sessions().start_leading();
  EXPECT_EQ(sessions().expire_silent(replication_.tree(), start), 0u);
  sessions().touch(client.value(), start + 10s);
  EXPECT_EQ(sessions().expire_silent(replication_.tree(), start + 11s), 1u);
  EXPECT_FALSE(replication_.tree().session_open(host_bound.value()));
  EXPECT_TRUE(replication_.tree().session_open(client.value()));
}

TEST_F(SessionTableTest, Leader_ExpiresClientSessionsUntouchedForTheirOwnTimeout_Once) {
  const SessionId touched = SessionId::of(1, 1);
  const SessionId untouched = SessionId::of(3, 1);  // this host's too: the client may be anywhere
  const SessionId longer = SessionId::of(2, 1);
  replication_.apply(open_session(touched, 5000));
  replication_.apply(open_session(untouched, 5000));
  replication_.apply(open_session(longer, 20000));
  const auto start = SessionTable::Clock::now();
  sessions().start_leading();
  EXPECT_EQ(sessions().expire_silent(replication_.tree(), start), 0u);  // each gets a whole timeout
  sessions().touch(touched.value(), start + 4s);
  replication_.refuse_with = Code::kNotApplied;  // the close is under way...
  EXPECT_EQ(sessions().expire_silent(replication_.tree(), start + 5s), 1u);
  replication_.refuse_with = Code::kOk;
  EXPECT_TRUE(replication_.tree().session_open(untouched.value()));
  EXPECT_EQ(sessions().expire_silent(replication_.tree(), start + 6s), 1u);  // ...and failed: again
  EXPECT_FALSE(replication_.tree().session_open(untouched.value()));
  EXPECT_EQ(sessions().expire_silent(replication_.tree(), start + 8900ms), 0u);
  EXPECT_EQ(sessions().expire_silent(replication_.tree(), start + 9s), 1u);
  EXPECT_FALSE(replication_.tree().session_open(touched.value()));
  EXPECT_TRUE(replication_.tree().session_open(longer.value()));
  EXPECT_EQ(sessions().expire_silent(replication_.tree(), start + 20s), 1u);
  EXPECT_FALSE(replication_.tree().session_open(longer.value()));
}

TEST_F(SessionTableTest, Leader_CountsAClientSessionFromWhenItFirstSawItOpen) {
  const SessionId client = SessionId::of(1, 1);
  const auto start = SessionTable::Clock::now();
  sessions().start_leading();
  EXPECT_EQ(sessions().expire_silent(replication_.tree(), start), 0u);
  replication_.apply(open_session(client, 5000));
  EXPECT_EQ(sessions().expire_silent(replication_.tree(), start + 10s), 0u);
  EXPECT_EQ(sessions().expire_silent(replication_.tree(), start + 14s), 0u);
  EXPECT_EQ(sessions().expire_silent(replication_.tree(), start + 15s), 1u);
}

TEST_F(SessionTableTest, NewLeader_GivesEveryClientSessionAWholeTimeout) {
  const SessionId client = SessionId::of(1, 1);
  replication_.apply(open_session(client, 5000));
  const auto start = SessionTable::Clock::now();
  sessions().start_leading();
  sessions().touch(client.value(), start);
  EXPECT_EQ(sessions().expire_silent(replication_.tree(), start + 4s), 0u);
  sessions().start_leading();  // leads again, having lost the lead meanwhile
  EXPECT_EQ(sessions().expire_silent(replication_.tree(), start + 6s), 0u);
  EXPECT_EQ(sessions().expire_silent(replication_.tree(), start + 10s), 0u);
  EXPECT_EQ(sessions().expire_silent(replication_.tree(), start + 11s), 1u);
}

}  // namespace
}  // namespace quorumfs::service
