// The one place where the tree's codes become errno values (contract §3, §8).
#pragma once

#include <cerrno>

#include "daemon/tree/data_tree.h"

namespace quorumfs::fusefs {

inline int errno_of(Code code) {
  switch (code) {
    case Code::kOk: return 0;
    case Code::kNoNode: return ENOENT;
    case Code::kNodeExists: return EEXIST;
    case Code::kNotEmpty: return ENOTEMPTY;
    case Code::kBadVersion: return ESTALE;  // a concurrent change won; the caller may retry
    case Code::kNoAuth: return EACCES;
    case Code::kBadArguments: return EINVAL;
    case Code::kNoChildrenForEphemerals: return ENOTDIR;  // ephemerals are files
    case Code::kNotDirectory: return ENOTDIR;
    case Code::kIsDirectory: return EISDIR;
    case Code::kDataTooLarge: return EFBIG;
    case Code::kInvalidAcl: return EINVAL;
    case Code::kReadOnly: return EROFS;
    case Code::kNotApplied: return EAGAIN;        // certainly not applied: safe to retry
    case Code::kOutcomeUnknown: return ETIMEDOUT;  // may or may not have been applied
    // The descriptor's session was closed by the leader (its host went silent): the descriptor
    // can never be used again (docs/mount.md, "Expired sessions").
    case Code::kSessionExpired: return ESTALE;
    case Code::kTooManySessions: return ENFILE;  // the ensemble's table of sessions is full
  }
  return EIO;
}

}  // namespace quorumfs::fusefs
