#include "fusefs/notifier.h"

namespace quorumfs::fusefs {

void Notifier::invalidate_inode(uint64_t inode, bool with_data) {
  // Offset -1 drops attributes only; 0 with length 0 drops the pages too.
  thread_.push([this, inode, with_data] {
    fuse_lowlevel_notify_inval_inode(session_, inode, with_data ? 0 : -1, 0);
  });
}

}  // namespace quorumfs::fusefs
