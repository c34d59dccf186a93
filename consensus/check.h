// QFS_CHECK: an invariant that holds in every build. Unlike assert(), it is never compiled out
// (RelWithDebInfo, the build everyone runs, defines NDEBUG): a broken invariant stops the process
// loudly, naming the invariant, rather than letting a replica go on with state it cannot trust.
//
//   QFS_CHECK(entry.zxid > logged, "log appends rise strictly");
//   -> quorumfs: check failed: log appends rise strictly (entry.zxid > logged) at consensus/replica.cc:78
//
// Header-only, with no logging library, so that every layer (the pure consensus core included)
// can use it. Use it for what must hold whatever any user, peer or disk sends; input from outside
// is checked where it enters and refused with an error, never with a QFS_CHECK.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace quorumfs {

[[noreturn]] inline void check_failed(const char* invariant, const char* expression, const char* file, int line) {
  std::fprintf(stderr, "quorumfs: check failed: %s (%s) at %s:%d\n", invariant, expression, file, line);
  std::fflush(stderr);
  std::abort();
}

}  // namespace quorumfs

#define QFS_CHECK(condition, invariant)                                                   \
  do {                                                                                    \
    if (!(condition)) [[unlikely]] ::quorumfs::check_failed(invariant, #condition, __FILE__, __LINE__); \
  } while (false)
