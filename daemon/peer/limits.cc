#include "daemon/peer/limits.h"

#include <fmt/format.h>

#include "consensus/check.h"

namespace quorumfs::peer {

std::string address_group(const boost::asio::ip::address& address) {
  if (address.is_v4()) return address.to_v4().to_string();
  const boost::asio::ip::address_v6 v6 = address.to_v6();
  if (v6.is_v4_mapped()) return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_string();
  boost::asio::ip::address_v6::bytes_type bytes = v6.to_bytes();
  for (size_t i = 8; i < bytes.size(); ++i) bytes[i] = 0;
  return boost::asio::ip::address_v6(bytes).to_string() + "/64";
}

LogLimiter::LogLimiter(Clock::duration interval, size_t keys_max) : interval_(interval), keys_max_(keys_max) {
  QFS_CHECK(keys_max > 0, "a log limiter remembers at least one key");
}

std::optional<std::string> LogLimiter::admit(const std::string& key, Clock::time_point now) {
  if (auto it = entries_.find(key); it != entries_.end()) return admit(&it->second, now);
  if (entries_.size() >= keys_max_) forget_expired(now);
  if (entries_.size() < keys_max_) {
    entries_.emplace(key, Entry{.logged_at = now});
    return "";
  }
  if (!others_) others_ = Entry{.logged_at = now - interval_};  // its first line goes through
  std::optional<std::string> note = admit(&*others_, now);
  if (note) *note += fmt::format(" (the log names at most {} addresses at once)", keys_max_);
  return note;
}

std::optional<std::string> LogLimiter::admit(Entry* entry, Clock::time_point now) {
  if (now - entry->logged_at < interval_) {
    ++entry->held_back;
    return std::nullopt;
  }
  std::string note;
  if (entry->held_back > 0) {
    const std::chrono::duration<double> since = now - entry->logged_at;
    note = fmt::format(" (and {} more held back in {:.1f} s)", entry->held_back, since.count());
  }
  *entry = Entry{.logged_at = now};
  return note;
}

// Keys whose last line is an interval old make room; what they held back since is dropped with
// them (the transport's counters keep the totals).
void LogLimiter::forget_expired(Clock::time_point now) {
  std::erase_if(entries_, [&](const auto& item) { return now - item.second.logged_at >= interval_; });
}

}  // namespace quorumfs::peer
