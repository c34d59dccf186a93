// The daemon's log on stderr: text for a terminal, or one JSON object per line for a collector
// (docs/operations.md, "Logs").
#pragma once

#include <string>
#include <string_view>

namespace quorumfs {

enum class LogFormat { kText, kJson };

// The names --log-level takes, most verbose first.
inline constexpr std::string_view kLogLevels[] = {"trace", "debug", "info", "warn", "error"};

// Sets spdlog's default logger's level and line format. level is one of kLogLevels.
void configure_logging(const std::string& level, LogFormat format);

// message as the JSON string it is in a json line: quoted, escaped, and any byte that is not
// UTF-8 (a peer's or a user's bytes may be logged) replaced by U+FFFD.
std::string json_string(std::string_view message);

}  // namespace quorumfs
