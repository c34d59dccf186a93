// The one place where the tree's codes become errno values (docs/mount.md), and where a
// request refused at the mount is logged.
#pragma once

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>

#include "daemon/tree/data_tree.h"

namespace quorumfs::fusefs {

// Bytes outside printable ASCII, and the backslash, as \xNN: a name may hold any byte, a log
// line may not.
inline std::string printable(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text;
  for (char byte : bytes) {
    auto value = static_cast<unsigned char>(byte);
    if (value >= 0x20 && value <= 0x7e && byte != '\\') {
      text += byte;
    } else {
      text += {'\\', 'x', kHex[value >> 4], kHex[value & 15]};
    }
  }
  return text;
}

// One log line for a request the mount refuses itself (docs/mount.md, "Limits": bad input is refused with a
// clear error, logged with the reason): the call, the path, the errno and why.
inline void log_refusal(std::string_view call, std::string_view path, int error, std::string_view reason) {
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
  }
  return EIO;
}

}  // namespace quorumfs::fusefs
