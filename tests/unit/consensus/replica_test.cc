// The ensemble of one (the standalone daemon): leads at once, commits on its own durable record.
#include "consensus/replica.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace quorumfs::consensus {
namespace {

std::shared_ptr<const std::string> payload(const char* text) { return std::make_shared<std::string>(text); }

DurableState disk(uint32_t accepted_epoch, uint32_t current_epoch, Zxid last_logged_zxid) {
  DurableState durable;
  durable.accepted_epoch = accepted_epoch;
  durable.current_epoch = current_epoch;
  durable.last_logged_zxid = last_logged_zxid;
  durable.applied_zxid = last_logged_zxid;  // the tree holds the whole log
  return durable;
}

Replica alone(const DurableState& durable) { return Replica(Config{}, durable); }

TEST(Replica, Start_LeadsNextEpochAndAsksToPersistItFirst) {
  Replica replica(Config{}, disk(4, 4, make_zxid(4, 17)));
  EXPECT_EQ(replica.role(), Role::kLeading);
  EXPECT_TRUE(replica.serving());
  Ready ready = replica.ready();
  ASSERT_TRUE(ready.hard_state.has_value());
  EXPECT_EQ(ready.hard_state->accepted_epoch, 5u);
  EXPECT_EQ(ready.hard_state->current_epoch, 5u);
  EXPECT_TRUE(ready.messages.empty());
  EXPECT_TRUE(replica.ready().empty());
}

TEST(Replica, Submit_NumbersFromCounterOneOfTheNewEpoch) {
  Replica replica(Config{}, DurableState{});
  replica.ready();
  EXPECT_TRUE(replica.submit(7, payload("a")));
  EXPECT_TRUE(replica.submit(8, payload("b")));
  Ready ready = replica.ready();
  ASSERT_EQ(ready.to_persist.size(), 2u);
  EXPECT_EQ(ready.to_persist[0].zxid, make_zxid(1, 1));
  EXPECT_EQ(ready.to_persist[1].zxid, make_zxid(1, 2));
  EXPECT_TRUE(ready.to_apply.empty()) << "nothing commits before it is durable";
}

TEST(Replica, Persisted_CommitsInOrderUpToTheDurableZxid) {
  Replica replica(Config{}, DurableState{});
  replica.ready();
  uint64_t token = 1;
  for (const char* text : {"a", "b", "c"}) replica.submit(token++, payload(text));
  replica.ready();
  replica.persisted(make_zxid(1, 2));
  Ready ready = replica.ready();
  ASSERT_EQ(ready.to_apply.size(), 2u);
  EXPECT_EQ(*ready.to_apply[0].payload, "a");
  EXPECT_EQ(*ready.to_apply[1].payload, "b");
  EXPECT_EQ(ready.to_apply[1].origin, 1u);
  EXPECT_EQ(ready.to_apply[1].token, 2u);
  EXPECT_EQ(replica.last_committed_zxid(), make_zxid(1, 2));
  replica.persisted(make_zxid(1, 3));
  ready = replica.ready();
  ASSERT_EQ(ready.to_apply.size(), 1u);
  EXPECT_EQ(ready.to_apply[0].zxid, make_zxid(1, 3));
}

TEST(Replica, Sync_AnsweredOnceEarlierWritesCommitted) {
  Replica replica(Config{}, DurableState{});
  replica.ready();
  EXPECT_TRUE(replica.sync(1));
  EXPECT_EQ(replica.ready().synced, std::vector<uint64_t>{1});
  replica.submit(2, payload("a"));
  replica.sync(3);
  EXPECT_TRUE(replica.ready().synced.empty());
  replica.persisted(make_zxid(1, 1));
  EXPECT_EQ(replica.ready().synced, std::vector<uint64_t>{3});
}

TEST(Replica, Start_RefusesEpochsInconsistentWithTheLog) {
  EXPECT_THROW(alone(disk(2, 3, 0)), std::runtime_error);               // accepted < current
  EXPECT_THROW(alone(disk(3, 3, make_zxid(4, 1))), std::runtime_error);  // log ahead
  EXPECT_NO_THROW(alone(disk(4, 3, make_zxid(4, 1))));  // NEWLEADER sync cut by a crash
}

}  // namespace
}  // namespace quorumfs::consensus
