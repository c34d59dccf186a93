// systemd's readiness protocol without libsystemd: a Type=notify unit learns that the mount is
// ready (READY=1) and that the daemon is stopping (STOPPING=1) (docs/operations.md, "systemd").
#pragma once

#include <string_view>

namespace quorumfs {

// Sends state to $NOTIFY_SOCKET (a path, or '@' and an abstract name). Does nothing and returns
// true when the variable is unset; false, with a log line, when the socket cannot take it.
bool notify_systemd(std::string_view state);

}  // namespace quorumfs
