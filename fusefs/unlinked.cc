#include "fusefs/unlinked.h"

#include <spdlog/spdlog.h>

#include "consensus/check.h"

namespace quorumfs::fusefs {

UnlinkedFiles::~UnlinkedFiles() {
  while (!kept_.empty()) drop(kept_.begin()->first);
}

void UnlinkedFiles::opened(uint64_t inode) { ++open_[inode]; }

void UnlinkedFiles::released(uint64_t inode) {
  auto open = open_.find(inode);
  QFS_CHECK(open != open_.end(), "a released description was counted open");
  if (--open->second > 0) return;
  open_.erase(open);
  drop(inode);
}

bool UnlinkedFiles::deleted(uint64_t inode, std::shared_ptr<const DeletedNode> node) {
  if (node == nullptr || !open_.contains(inode)) return false;
  drop(inode);  // an inode deleted twice (reused by a rename that lost a race): the last state
  const size_t bytes = node->data.view().size();
  if (!budget_.reserve(bytes)) {
    spdlog::warn("mount: inode {} was deleted while open; its {} bytes do not fit the buffer budget: its "
                 "descriptors get ENOENT", inode, bytes);
    return false;
  }
  kept_.emplace(inode, std::move(node));
  return true;
}

const DeletedNode* UnlinkedFiles::find(uint64_t inode) const {
  auto kept = kept_.find(inode);
  return kept == kept_.end() ? nullptr : kept->second.get();
}

void UnlinkedFiles::drop(uint64_t inode) {
  auto kept = kept_.find(inode);
  if (kept == kept_.end()) return;
  budget_.settle(kept->second->data.view().size());
  kept_.erase(kept);
}

}  // namespace quorumfs::fusefs
