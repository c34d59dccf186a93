// quorumctl: what plain shell tools cannot say about a quorumfs mount (docs/quorumctl.md).
//
//   $ quorumctl create -s /mnt/quorumfs/queue/job- 'payload'
//   /mnt/quorumfs/queue/job-0000000007
//   $ quorumctl set --version 3 /mnt/quorumfs/app/config '{"v":4}' || echo "lost the race: $?"
//   $ quorumctl create -e /mnt/quorumfs/members/host-1 -- ./serve    # the node lives while ./serve runs
//   $ quorumctl wait --until gone --timeout 30 /mnt/quorumfs/locks/owner
//   $ quorumctl --mount /mnt/quorumfs dump /app > app.jsonl
//   $ quorumctl status /mnt/quorumfs
#include <CLI/CLI.hpp>

#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "tools/quorumctl/commands.h"
#include "tools/quorumctl/format.h"

using namespace quorumfs::quorumctl;

namespace {

struct VersionOption {
  int64_t value = -2;
  bool given() const { return value != -2; }
};

CLI::App* add_command(CLI::App& app, const std::string& name, const std::string& description) {
  CLI::App* command = app.add_subcommand(name, description);
  command->fallthrough();
  return command;
}

}  // namespace

int main(int argc, char** argv) {
  // Everything after the first "--" is the command `create -e` runs while it holds the node.
  std::vector<std::string> held_command;
  int parsed_argc = argc;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--") {
      parsed_argc = i;
      for (int j = i + 1; j < argc; ++j) held_command.emplace_back(argv[j]);
      break;
    }
  }

  CLI::App app{"quorumctl: create, compare-and-set, multi, wait, dump/restore and status on a quorumfs mount "
               "(docs/quorumctl.md)"};
  app.require_subcommand(1);
  Global global;
  app.add_option("--mount", global.mount, "The quorumfs mount; the paths are then znode paths (/app/x)");
  app.add_flag("-q,--quiet", global.quiet, "No messages on stderr: the exit code says it");
  app.footer("Exit codes: 0 ok, 1 usage, 2 no node, 3 version mismatch, 4 node exists, 5 not permitted, "
             "6 timeout, 7 mount or daemon unreachable, 8 not empty, 9 other error.");

  CreateArgs create;
  std::string data_argument;
  CLI::App* create_cmd = add_command(app, "create", "Create a node; prints its path (a sequential node's real name)");
  create_cmd->add_flag("-e,--ephemeral", create.ephemeral,
                       "Ephemeral: quorumctl holds it until SIGINT/SIGTERM, or while `-- CMD ARGS...` runs");
  create_cmd->add_flag("-s,--sequential", create.sequential, "Sequential: the name gets a 10-digit suffix");
  create_cmd->add_flag("-d,--dir", create.directory, "A directory (its data is user.zk.data)");
  create_cmd->add_option("-m,--mode", create.mode, "Permission bits in octal (default 0644, 0755 for -d; umask applies)");
  create_cmd->add_option("path", create.path, "The node")->required();
  CLI::Option* create_data = create_cmd->add_option("data", data_argument, "Its data (default: stdin when it is not a terminal)");

  std::string path;
  CLI::App* get_cmd = add_command(app, "get", "Print a node's data (a directory's user.zk.data)");
  get_cmd->add_option("path", path, "The node")->required();

  VersionOption set_version;
  std::string set_data;
  CLI::App* set_cmd = add_command(app, "set", "Set a node's data: one setData; with --version, compare-and-set");
  set_cmd->add_option("--version", set_version.value,
                      "Only if the node's version is this (exit 3 otherwise, nothing written); -1 = any");
  set_cmd->add_option("path", path, "The node")->required();
  CLI::Option* set_data_option = set_cmd->add_option("data", set_data, "The data (default: stdin)");

  VersionOption delete_version;
  CLI::App* delete_cmd = add_command(app, "delete", "Delete a node (a directory must be empty)");
  delete_cmd->add_option("--version", delete_version.value, "Only if the node's version is this (exit 3 otherwise)");
  delete_cmd->add_option("path", path, "The node")->required();

  CLI::App* stat_cmd = add_command(app, "stat", "Print ZooKeeper's stat and the POSIX view, key=value per line");
  stat_cmd->add_option("path", path, "The node")->required();

  bool recursive = false;
  CLI::App* ls_cmd = add_command(app, "ls", "List a directory's children (names), or with -R every descendant (paths)");
  ls_cmd->add_flag("-R,--recursive", recursive, "Every descendant, depth first, names in byte order");
  ls_cmd->add_option("path", path, "The directory")->required();

  std::string acl_text;
  CLI::App* acl_cmd = add_command(app, "acl", "Read or set a node's ZooKeeper ACL");
  acl_cmd->require_subcommand(1);
  CLI::App* acl_get_cmd = add_command(*acl_cmd, "get", "Print the ACL (world:anyone:cdrwa,...)");
  acl_get_cmd->add_option("path", path, "The node")->required();
  CLI::App* acl_set_cmd = add_command(*acl_cmd, "set", "Set the ACL (needs ADMIN)");
  acl_set_cmd->add_option("path", path, "The node")->required();
  acl_set_cmd->add_option("acl", acl_text, "scheme:id:perms[,...]")->required();

  CLI::App* sync_cmd = add_command(app, "sync", "ZooKeeper's sync(): later reads here see every write completed before");
  sync_cmd->add_option("path", path, "Any node of the mount")->required();

  std::string until = "exists";
  double timeout_s = 0;
  CLI::App* wait_cmd = add_command(app, "wait", "Wait until a node exists, is gone or changes (inotify)");
  wait_cmd->add_option("--until", until, "exists (default), gone or change")
      ->check(CLI::IsMember({"exists", "gone", "change"}));
  wait_cmd->add_option("--timeout", timeout_s, "Give up after this many seconds (exit 6); 0 = never")
      ->check(CLI::NonNegativeNumber);
  wait_cmd->add_option("path", path, "The node")->required();

  std::vector<std::string> multi_ops;
  CLI::App* multi_cmd = add_command(app, "multi", "Several writes in one transaction, all or nothing");
  multi_cmd->add_option("ops", multi_ops,
                        "Ops, one per argument ('create P [DATA]', 'set P DATA [V]', 'delete P [V]', 'check P V'); "
                        "none: one per line of stdin");

  std::string status_mount;
  bool status_raw = false;
  CLI::App* status_cmd = add_command(app, "status", "The member behind a mount: role, epoch, zxid, peers, sessions, state");
  status_cmd->add_flag("--raw", status_raw, "Print the daemon's mntr answer as it came");
  status_cmd->add_option("mount", status_mount, "The mount (default: --mount, or the one holding the working directory)");

  std::string dump_output = "-";
  CLI::App* dump_cmd = add_command(app, "dump", "Write a subtree (data, ACLs, POSIX metadata) as JSON lines");
  dump_cmd->add_option("-o,--output", dump_output, "The file (default: stdout)");
  dump_cmd->add_option("path", path, "The subtree's root")->required();

  std::string restore_input = "-";
  bool restore_force = false;
  CLI::App* restore_cmd = add_command(app, "restore", "Recreate a dumped subtree at PATH");
  restore_cmd->add_option("-i,--input", restore_input, "The dump (default: stdin)");
  restore_cmd->add_flag("-f,--force", restore_force, "Overwrite nodes that exist (default: refuse, exit 4)");
  restore_cmd->add_option("path", path, "Where the dump's root goes")->required();

  try {
    app.parse(parsed_argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (!held_command.empty() && !create_cmd->parsed()) {
    std::cerr << "quorumctl: '-- COMMAND' goes with create -e only" << std::endl;
    return kExitUsage;
  }
  auto version_of = [](const VersionOption& option) -> std::optional<int32_t> {
    if (!option.given()) return std::nullopt;
    return static_cast<int32_t>(option.value);
  };
  for (const VersionOption* option : {&set_version, &delete_version}) {
    if (option->given() && (option->value < -1 || option->value > INT32_MAX)) {
      std::cerr << "quorumctl: --version " << option->value << " is not a version (-1 = any, up to 2^31-1)" << std::endl;
      return kExitUsage;
    }
  }
  if (create_cmd->parsed()) {
    if (create_data->count() > 0) create.data = data_argument;
    create.command = held_command;
    return cmd_create(global, create);
  }
  if (get_cmd->parsed()) return cmd_get(global, path);
  if (set_cmd->parsed()) {
    std::optional<std::string> data;
    if (set_data_option->count() > 0) data = set_data;
    return cmd_set(global, path, data, version_of(set_version));
  }
  if (delete_cmd->parsed()) return cmd_delete(global, path, version_of(delete_version));
  if (stat_cmd->parsed()) return cmd_stat(global, path);
  if (ls_cmd->parsed()) return cmd_ls(global, path, recursive);
  if (acl_get_cmd->parsed()) return cmd_acl_get(global, path);
  if (acl_set_cmd->parsed()) return cmd_acl_set(global, path, acl_text);
  if (sync_cmd->parsed()) return cmd_sync(global, path);
  if (wait_cmd->parsed()) {
    const WaitFor what = until == "gone" ? WaitFor::kGone : until == "change" ? WaitFor::kChange : WaitFor::kExists;
    return cmd_wait(global, path, what, timeout_s);
  }
  if (multi_cmd->parsed()) return cmd_multi(global, multi_ops);
  if (status_cmd->parsed()) return cmd_status(global, status_mount, status_raw);
  if (dump_cmd->parsed()) return cmd_dump(global, path, dump_output);
  if (restore_cmd->parsed()) return cmd_restore(global, path, restore_input, restore_force);
  return kExitUsage;
}
