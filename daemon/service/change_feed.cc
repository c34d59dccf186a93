#include "daemon/service/change_feed.h"

namespace quorumfs::service {

ChangeFeed::Subscription ChangeFeed::subscribe(Subscriber subscriber) {
  const Subscription subscription = next_++;
  subscribers_.emplace(subscription, std::move(subscriber));
  return subscription;
}

void ChangeFeed::unsubscribe(Subscription subscription) { subscribers_.erase(subscription); }

void ChangeFeed::publish(const ApplyResult& result, bool own, Submitter submitter) {
  Origin origin = own ? Origin::kThisHost : Origin::kOtherHost;
  if (!result.closed_sessions.empty()) origin = Origin::kSessionClose;
  const Applied applied{result, origin, own ? submitter : Submitter::kNone};
  // By id, so that a subscriber may add or remove subscribers (itself too) while it is called:
  // ids only grow, and each one is looked up afresh.
  const Subscription last = next_ - 1;
  for (auto it = subscribers_.begin(); it != subscribers_.end() && it->first <= last;) {
    const Subscription current = it->first;
    Subscriber subscriber = it->second;  // a copy: it may unsubscribe itself
    subscriber(applied);
    it = subscribers_.upper_bound(current);
  }
}

}  // namespace quorumfs::service
