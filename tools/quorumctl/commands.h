// quorumctl's commands (docs/quorumctl.md). Each returns the process's exit code (format.h) and
// writes its own message on stderr: "quorumctl: COMMAND: PATH: reason".
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tools/quorumctl/mount.h"

namespace quorumfs::quorumctl {

struct Global {
  std::string mount;  // --mount
  bool quiet = false; // -q: no messages on stderr, the exit code says it
};

struct CreateArgs {
  std::string path;
  std::optional<std::string> data;  // nullopt: stdin
  bool ephemeral = false;
  bool sequential = false;
  bool directory = false;
  std::string mode;                  // octal; empty: 0644 (file), 0755 (directory)
  std::vector<std::string> command;  // -- CMD ARGS... (ephemeral)
};

int cmd_create(const Global& global, const CreateArgs& args);
int cmd_get(const Global& global, const std::string& path);
int cmd_set(const Global& global, const std::string& path, const std::optional<std::string>& data,
            std::optional<int32_t> version);
int cmd_delete(const Global& global, const std::string& path, std::optional<int32_t> version);
int cmd_stat(const Global& global, const std::string& path);
int cmd_ls(const Global& global, const std::string& path, bool recursive);
int cmd_acl_get(const Global& global, const std::string& path);
int cmd_acl_set(const Global& global, const std::string& path, const std::string& acl);
int cmd_sync(const Global& global, const std::string& path);
enum class WaitFor { kExists, kGone, kChange };
int cmd_wait(const Global& global, const std::string& path, WaitFor until, double timeout_s);
int cmd_dump(const Global& global, const std::string& path, const std::string& output);
int cmd_restore(const Global& global, const std::string& path, const std::string& input, bool force);
int cmd_multi(const Global& global, const std::vector<std::string>& ops);
int cmd_status(const Global& global, const std::string& mount, bool raw);

// Through the control socket (control.cc).
int control_set(const Global& global, const Target& target, const std::string& data, int32_t version);
int control_delete(const Global& global, const Target& target, int32_t version);

// Shared helpers.
void report(const Global& global, const std::string& command, const std::string& what, const std::string& reason);
int fail_errno(const Global& global, const std::string& command, const std::string& what, int error);
// Resolves a command's path argument (mount.h); on failure reports why and sets *code.
bool resolve_or_report(const Global& global, const std::string& command, const std::string& path, Target* target,
                       int* code);
std::string read_stdin_data();

}  // namespace quorumfs::quorumctl
