// Files deleted while open (docs/guarantees.md §3; docs/mount.md, "Deleted while open"): as on
// ext4, a file removed by an unlink, a rename over it or a closed session — here or on another host
// — stays readable and fstat-able through the descriptors this host opened before the delete, until
// the last of them closes.
//
//   $ exec 3< /mnt/q/f; rm /mnt/q/f
//   $ cat <&3                  # the last committed data
//   $ stat -L /proc/self/fd/3  # Links: 0
//
// The tree hands the deleted node's last state with its kDeleted change (DeletedNode, moved out of
// the node, never copied); this keeps it while the inode is open here. Its bytes are charged to
// the host's WriteBudget: past the budget nothing is kept and those descriptors get ENOENT.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>

#include "daemon/tree/data_tree.h"
#include "fusefs/open_file.h"

namespace quorumfs::fusefs {

class UnlinkedFiles {
 public:
  explicit UnlinkedFiles(WriteBudget& budget) : budget_(budget) {}
  ~UnlinkedFiles();
  UnlinkedFiles(const UnlinkedFiles&) = delete;
  UnlinkedFiles& operator=(const UnlinkedFiles&) = delete;

  // An open file description of inode was handed to the kernel, or released. The last release
  // of a deleted inode drops what was kept of it.
  void opened(uint64_t inode);
  void released(uint64_t inode);
  bool is_open(uint64_t inode) const { return open_.contains(inode); }

  // A txn deleted inode and no node holds it any more (a rename's source lives on in its
  // target): kept when a description has it open and its data fits the budget. Returns whether
  // it is kept.
  bool deleted(uint64_t inode, std::shared_ptr<const DeletedNode> node);

  // The kept state of a deleted inode that is still open; null otherwise.
  const DeletedNode* find(uint64_t inode) const;
  size_t kept_count() const { return kept_.size(); }

 private:
  void drop(uint64_t inode);

  WriteBudget& budget_;
  std::unordered_map<uint64_t, int> open_;  // inode -> open file descriptions
  std::unordered_map<uint64_t, std::shared_ptr<const DeletedNode>> kept_;
};

}  // namespace quorumfs::fusefs
