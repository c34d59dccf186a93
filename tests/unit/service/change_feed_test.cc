#include "daemon/service/change_feed.h"

#include <gtest/gtest.h>

#include <vector>

namespace quorumfs::service {
namespace {

ApplyResult applied(Zxid zxid, std::vector<uint64_t> closed = {}) {
  ApplyResult result;
  result.zxid = zxid;
  result.closed_sessions = std::move(closed);
  return result;
}

TEST(ChangeFeed, EverySubscriberGetsEveryTxn_InOrder) {
  ChangeFeed feed;
  std::vector<Zxid> first, second;
  feed.subscribe([&](const Applied& a) { first.push_back(a.result.zxid); });
  feed.subscribe([&](const Applied& a) { second.push_back(a.result.zxid); });
  for (Zxid zxid : {Zxid{1}, Zxid{2}, Zxid{3}}) feed.publish(applied(zxid), false, Submitter::kNone);
  EXPECT_EQ(first, (std::vector<Zxid>{1, 2, 3}));
  EXPECT_EQ(second, first);
}

TEST(ChangeFeed, Origin_TellsThisHostOtherHostAndSessionClose) {
  ChangeFeed feed;
  std::vector<std::pair<Origin, Submitter>> seen;
  feed.subscribe([&](const Applied& a) { seen.emplace_back(a.origin, a.submitter); });
  feed.publish(applied(1), true, Submitter::kMount);
  feed.publish(applied(2), false, Submitter::kMount);  // not ours: no submitter
  feed.publish(applied(3, {7}), true, Submitter::kSessions);
  feed.publish(applied(4, {8}), false, Submitter::kNone);
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0], std::pair(Origin::kThisHost, Submitter::kMount));
  EXPECT_EQ(seen[1], std::pair(Origin::kOtherHost, Submitter::kNone));
  EXPECT_EQ(seen[2], std::pair(Origin::kSessionClose, Submitter::kSessions));
  EXPECT_EQ(seen[3], std::pair(Origin::kSessionClose, Submitter::kNone));
}

TEST(ChangeFeed, Unsubscribed_GetsNothingMore) {
  ChangeFeed feed;
  int calls = 0;
  auto subscription = feed.subscribe([&](const Applied&) { ++calls; });
  feed.publish(applied(1), false, Submitter::kNone);
  feed.unsubscribe(subscription);
  feed.publish(applied(2), false, Submitter::kNone);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(feed.subscriber_count(), 0u);
}

// A lock waiter unsubscribes itself when it is granted, and may subscribe another one meanwhile.
TEST(ChangeFeed, SubscribersChangedDuringDelivery_TakeEffectFromTheNextTxn) {
  ChangeFeed feed;
  std::vector<std::string> calls;
  ChangeFeed::Subscription self = 0;
  self = feed.subscribe([&](const Applied& a) {
    calls.push_back("once@" + std::to_string(a.result.zxid));
    feed.unsubscribe(self);
    feed.subscribe([&](const Applied& b) { calls.push_back("later@" + std::to_string(b.result.zxid)); });
  });
  ChangeFeed::Subscription removed = 0;
  feed.subscribe([&](const Applied& a) { calls.push_back("second@" + std::to_string(a.result.zxid)); });
  removed = feed.subscribe([&](const Applied&) { calls.push_back("never"); });
  feed.subscribe([&](const Applied&) {});
  // The first subscriber's call removes a later one before its turn.
  feed.unsubscribe(removed);
  feed.publish(applied(1), false, Submitter::kNone);
  feed.publish(applied(2), false, Submitter::kNone);
  EXPECT_EQ(calls, (std::vector<std::string>{"once@1", "second@1", "second@2", "later@2"}));
}

}  // namespace
}  // namespace quorumfs::service
