// Commands of later steps (docs/quorumctl.md): not built yet.
#include "tools/quorumctl/commands.h"
#include "tools/quorumctl/format.h"

namespace quorumfs::quorumctl {

int control_set(const Global& global, const Target&, const std::string&, int32_t) {
  report(global, "set", "", "--version needs the control socket, not in this build");
  return kExitUnreachable;
}
int control_delete(const Global& global, const Target&, int32_t) {
  report(global, "delete", "", "--version needs the control socket, not in this build");
  return kExitUnreachable;
}
int cmd_multi(const Global& global, const std::vector<std::string>&) {
  report(global, "multi", "", "not in this build");
  return kExitUnreachable;
}
int cmd_status(const Global& global, const std::string&, bool) {
  report(global, "status", "", "not in this build");
  return kExitUnreachable;
}
int cmd_dump(const Global& global, const std::string&, const std::string&) {
  report(global, "dump", "", "not in this build");
  return kExitOther;
}
int cmd_restore(const Global& global, const std::string&, const std::string&, bool) {
  report(global, "restore", "", "not in this build");
  return kExitOther;
}

}  // namespace quorumfs::quorumctl
