// The one place where the tree's codes become errno values (docs/mount.md), and where a
// request refused at the mount is logged.
#pragma once

#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>

#include "consensus/printable.h"
#include "daemon/tree/data_tree.h"

namespace quorumfs::fusefs {

// One log line for a request the mount refuses itself (docs/mount.md, "Limits": bad input is refused with a
// clear error, logged with the reason): the call, the path, the errno and why.
// At most kRefusalLinesPerWindow lines per kRefusalWindow, then one line with the count left out:
// a user looping over bad names must not fill the disk with the daemon's log.
inline constexpr int kRefusalLinesPerWindow = 20;
inline constexpr std::chrono::seconds kRefusalWindow{10};
inline void log_refusal(std::string_view call, std::string_view path, int error, std::string_view reason) {
  static std::mutex mutex;
  static std::chrono::steady_clock::time_point window_start;
  static int logged = 0;
  static uint64_t left_out = 0;
  std::lock_guard lock(mutex);
  const auto now = std::chrono::steady_clock::now();
  if (now - window_start >= kRefusalWindow) {
    if (left_out > 0) spdlog::info("{} more refused requests were not logged", left_out);
    window_start = now;
    logged = 0;
    left_out = 0;
  }
  if (logged++ >= kRefusalLinesPerWindow) {
    ++left_out;
    return;
  }
  spdlog::info("{} {}: {} ({})", call, printable(path), std::strerror(error), reason);
}

inline int errno_of(Code code) {
  switch (code) {
    case Code::kOk: return 0;
    case Code::kNoNode: return ENOENT;
    case Code::kNodeExists: return EEXIST;
    case Code::kNotEmpty: return ENOTEMPTY;
    case Code::kBadVersion: return ESTALE;  // a concurrent change won; the caller may retry
    case Code::kNoAuth: return EACCES;
    case Code::kBadArguments: return EINVAL;
    case Code::kNameTooLong: return ENAMETOOLONG;
    case Code::kNoChildrenForEphemerals: return ENOTDIR;  // ephemerals are files
    case Code::kNotDirectory: return ENOTDIR;
    case Code::kIsDirectory: return EISDIR;
    case Code::kDataTooLarge: return EFBIG;
    case Code::kInvalidAcl: return EINVAL;
    case Code::kReadOnly: return EROFS;
    case Code::kNotApplied: return EAGAIN;        // certainly not applied: safe to retry
    case Code::kOutcomeUnknown: return ETIMEDOUT;  // may or may not have been applied
    case Code::kStorageFailed: return ENOSPC;      // this member's disk is full or failing: not applied
    // The descriptor's session was closed by the leader (its host went silent): the descriptor
    // can never be used again (docs/mount.md, "Expired sessions").
    case Code::kSessionExpired: return ESTALE;
    case Code::kTooManySessions: return ENFILE;  // the ensemble's table of sessions is full
    case Code::kWouldBlock: return EWOULDBLOCK;  // flock -n, F_SETLK: the lock is held
    case Code::kTooManyLocks: return ENOLCK;     // past kLocksPerHostMax / kLocksPerUidMax
  }
  return EIO;
}

}  // namespace quorumfs::fusefs
