// Commands of later steps (docs/quorumctl.md): not built yet.
#include "tools/quorumctl/commands.h"
#include "tools/quorumctl/format.h"

namespace quorumfs::quorumctl {

int cmd_dump(const Global& global, const std::string&, const std::string&) {
  report(global, "dump", "", "not in this build");
  return kExitOther;
}
int cmd_restore(const Global& global, const std::string&, const std::string&, bool) {
  report(global, "restore", "", "not in this build");
  return kExitOther;
}

}  // namespace quorumfs::quorumctl
