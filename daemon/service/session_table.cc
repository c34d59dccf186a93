#include "daemon/service/session_table.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>

namespace quorumfs::service {

SessionTable::SessionTable(uint32_t host, std::chrono::milliseconds timeout, Submit submit)
    : host_(host), timeout_(timeout), submit_(std::move(submit)) {}

// The counter starts at the clock's milliseconds shifted up 16 bits (ZooKeeper's initializeNextSession),
// so a restart starts above the last run's ids even before the tree says so.
void SessionTable::start(const DataTree& tree, int64_t now_ms) {
  const SessionId by_clock = SessionId::of(host_, static_cast<uint64_t>(now_ms) << 16);
  const SessionId by_tree(tree.highest_session_id(host_) + 1);
  next_ = std::max(by_clock, by_tree);
  first_ = next_;
}

SessionId SessionTable::create(const DataTree& tree) {
  next_ = std::max(next_, SessionId(tree.highest_session_id(host_) + 1));
  const SessionId created = next_;
  next_ = SessionId(next_.value() + 1);
  return created;
}

void SessionTable::close(SessionId session, bool retry, Done done) {
  submit_close(session, retry && retrying_, std::move(done));
}

void SessionTable::close_all(std::vector<SessionId> sessions, bool retry, std::function<void()> then) {
  if (sessions.empty()) {
    if (then) then();
    return;
  }
  // Counted before any submit: a refused submit answers at once.
  auto remaining = std::make_shared<size_t>(sessions.size());
  auto finished = std::make_shared<std::function<void()>>(std::move(then));
  for (SessionId session : sessions) {
    close(session, retry, [remaining, finished](const ApplyResult&) {
      if (--*remaining == 0 && *finished) (*finished)();
    });
  }
}

void SessionTable::submit_close(SessionId session, bool retry, Done done) {
  proto::Txn txn;
  txn.add_ops()->mutable_close_session()->set_session_id(session.value());
  submit_(std::move(txn), [this, session, retry, done = std::move(done)](const ApplyResult& result) mutable {
    expiring_.erase(session);
    const bool unapplied = result.code == Code::kNotApplied || result.code == Code::kOutcomeUnknown ||
                           result.code == Code::kStorageFailed;
    if (unapplied && retry && retrying_) {
      to_retry_.emplace_back(session, std::move(done));
      return;
    }
    if (done) done(result);
  });
}

void SessionTable::retry_closes() {
  for (auto& [session, done] : std::exchange(to_retry_, {})) submit_close(session, true, std::move(done));
}

std::vector<SessionId> SessionTable::own(const DataTree& tree, bool earlier_runs_only) const {
  std::vector<SessionId> own;
  for (uint64_t value : tree.open_sessions()) {
    const SessionId session(value);
    if (session.host() != host_ || tree.session_timeout_ms(value) != 0u) continue;
    if (earlier_runs_only && session >= first_) continue;
    own.push_back(session);
  }
  return own;
}

void SessionTable::start_leading() {
  last_heard_.clear();
  last_touched_.clear();
  expiring_.clear();
}

// A host first looked at is counted from then.
bool SessionTable::host_silent(SessionId session, Clock::time_point now) {
  if (session.host() == host_) return false;
  const auto heard = last_heard_.try_emplace(session.host(), now).first->second;
  return now - heard >= timeout_;
}

// A client session first looked at (or not touched since this replica leads) is counted from then,
// as ZooKeeper's new leader gives every session a whole timeout.
bool SessionTable::client_silent(SessionId session, uint32_t timeout_ms, Clock::time_point now) {
  const auto touched = last_touched_.try_emplace(session.value(), now).first->second;
  return now - touched >= std::chrono::milliseconds(timeout_ms);
}

size_t SessionTable::expire_silent(const DataTree& tree, Clock::time_point now) {
  std::vector<SessionId> hosts_sessions, clients_sessions;
  for (uint64_t value : tree.open_sessions()) {
    const SessionId session(value);
    if (expiring_.contains(session)) continue;
    if (const uint32_t timeout_ms = *tree.session_timeout_ms(value); timeout_ms > 0) {
      if (client_silent(session, timeout_ms, now)) clients_sessions.push_back(session);
    } else if (host_silent(session, now)) {
      hosts_sessions.push_back(session);
    }
  }
  absl::erase_if(last_touched_, [&](const auto& touched) { return !tree.session_open(touched.first); });
  if (!hosts_sessions.empty()) {
    spdlog::info("expiring {} session(s) of silent host(s) after {} ms", hosts_sessions.size(), timeout_.count());
  }
  if (!clients_sessions.empty()) {
    spdlog::info("expiring {} client session(s) not heard of for their timeout", clients_sessions.size());
  }
  std::vector<SessionId> expired = std::move(hosts_sessions);
  expired.insert(expired.end(), clients_sessions.begin(), clients_sessions.end());
  for (SessionId session : expired) expiring_.insert(session);
  close_all(expired, false, nullptr);
  return expired.size();
}

}  // namespace quorumfs::service
