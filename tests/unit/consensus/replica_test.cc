#include "consensus/replica.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace quorumfs::consensus {
namespace {

std::shared_ptr<const std::string> payload(const char* text) { return std::make_shared<std::string>(text); }

TEST(Replica, Start_LeadsNextEpochAndAsksToPersistItFirst) {
  Replica replica(1, DurableState{4, 4, make_zxid(4, 17)});
  EXPECT_TRUE(replica.can_propose());
  Ready ready = replica.ready();
  ASSERT_TRUE(ready.hard_state.has_value());
  EXPECT_EQ(ready.hard_state->accepted_epoch, 5u);
  EXPECT_EQ(ready.hard_state->current_epoch, 5u);
  EXPECT_TRUE(replica.ready().empty());
}

TEST(Replica, Propose_NumbersFromCounterOneOfTheNewEpoch) {
  Replica replica(1, DurableState{});
  replica.ready();
  EXPECT_EQ(replica.propose(payload("a")), make_zxid(1, 1));
  EXPECT_EQ(replica.propose(payload("b")), make_zxid(1, 2));
  Ready ready = replica.ready();
  ASSERT_EQ(ready.to_persist.size(), 2u);
  EXPECT_TRUE(ready.to_apply.empty()) << "nothing commits before it is durable";
}

TEST(Replica, Persisted_CommitsInOrderUpToTheDurableZxid) {
  Replica replica(1, DurableState{});
  replica.ready();
  for (const char* text : {"a", "b", "c"}) replica.propose(payload(text));
  replica.ready();
  replica.persisted(make_zxid(1, 2));
  Ready ready = replica.ready();
  ASSERT_EQ(ready.to_apply.size(), 2u);
  EXPECT_EQ(*ready.to_apply[0].payload, "a");
  EXPECT_EQ(*ready.to_apply[1].payload, "b");
  EXPECT_EQ(replica.last_committed_zxid(), make_zxid(1, 2));
  replica.persisted(make_zxid(1, 3));
  ready = replica.ready();
  ASSERT_EQ(ready.to_apply.size(), 1u);
  EXPECT_EQ(ready.to_apply[0].zxid, make_zxid(1, 3));
}

TEST(Replica, Start_RefusesEpochsInconsistentWithTheLog) {
  EXPECT_THROW(Replica(1, DurableState{2, 3, 0}), std::runtime_error);       // accepted < current
  EXPECT_THROW(Replica(1, DurableState{3, 3, make_zxid(4, 1)}), std::runtime_error);  // log ahead
}

}  // namespace
}  // namespace quorumfs::consensus
