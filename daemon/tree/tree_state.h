// The tree's storage: nodes, their indexes (children by name, nodes by inode, ephemerals by
// session) and the tree-wide counters. Mutation primitives only; the rules of each op live in
// validate.h and txn_applier.h.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "daemon/tree/acl_cache.h"
#include "daemon/tree/data_tree.h"

namespace quorumfs {

namespace tree_internal {

// Orders children by name, bytewise; looks them up by name without building a key node.
struct ChildOrder {
  using is_transparent = void;
  bool operator()(const Node* a, const Node* b) const { return a->name() < b->name(); }
  bool operator()(const Node* a, std::string_view b) const { return a->name() < b; }
  bool operator()(std::string_view a, const Node* b) const { return a < b->name(); }
};

// Indexes nodes by inode with one pointer per slot: the inode is read from the node itself.
struct InodeHash {
  using is_transparent = void;
  size_t operator()(uint64_t inode) const { return absl::Hash<uint64_t>()(inode); }
  size_t operator()(const Node* node) const { return (*this)(node->inode()); }
};
struct InodeEqual {
  using is_transparent = void;
  static uint64_t inode_of(uint64_t inode) { return inode; }
  static uint64_t inode_of(const Node* node) { return node->inode(); }
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const { return inode_of(a) == inode_of(b); }
};

constexpr uint64_t kRootInode = 1;
constexpr uint64_t kSystemInode = 2;

class TreeState {
 public:
  TreeState() = default;  // no nodes at all: a snapshot is about to be loaded
  ~TreeState();
  TreeState(const TreeState&) = delete;
  TreeState& operator=(const TreeState&) = delete;

  // "/" and "/zookeeper", as every replica starts.
  static std::unique_ptr<TreeState> with_initial_nodes();

  Node* root() const { return root_; }
  Node* find(std::string_view path) const;  // null when missing or malformed
  Node* by_inode(uint64_t inode) const;
  static Node* child(const Node& dir, std::string_view name);
  // Is node in the tree (not detached by a delete of the running txn)?
  bool attached(const Node& node) const;
  std::string path_of(const Node& node) const;
  const absl::flat_hash_set<Node*>* ephemerals_of(uint64_t session) const;
  const absl::flat_hash_set<Node*>& containers_and_ttl_nodes() const { return containers_and_ttl_nodes_; }
  std::vector<uint64_t> sessions() const;  // sorted
  size_t node_count() const { return node_count_; }
  size_t ephemeral_count() const { return ephemeral_count_; }  // the nodes of ephemerals_
  // Bytes of data of the attached nodes.
  size_t data_bytes() const { return data_bytes_; }
  // An attached node's data went from old_size to new_size bytes.
  void data_resized(size_t old_size, size_t new_size) { data_bytes_ = data_bytes_ - old_size + new_size; }

  // Sessions: the open ones with their timeouts (CreateSessionOp.timeout_ms) and, per host (an
  // id's top byte), the highest id ever opened.
  bool session_open(uint64_t session) const { return open_sessions_.contains(session); }
  const absl::flat_hash_map<uint64_t, uint32_t>& open_sessions() const { return open_sessions_; }
  uint64_t highest_session_id(uint32_t host) const { return highest_session_ids_[host]; }
  // Opens session and raises its host's mark to it (a rollback puts the mark back).
  void open_session(uint64_t session, uint32_t timeout_ms);
  void close_session(uint64_t session) { open_sessions_.erase(session); }
  void set_highest_session_id(uint32_t host, uint64_t session) { highest_session_ids_[host] = session; }

  // A fresh node named name, in no index yet.
  static Node* make_node(std::string_view name);
  // Frees a detached, childless node; its ACL reference is the caller's to release.
  static void destroy_node(Node* node);
  // Links node under node->parent_ (or as the root) and into the inode index and, by its
  // ephemeral_owner, the ephemeral or the container and TTL index.
  void attach(Node* node);
  // Unlinks node from its parent and the indexes; the node keeps parent_ for a later attach.
  void detach(Node* node);
  // Makes an attached node a directory or a file, keeping its parent's count of subdirectories.
  void set_directory(Node* node, bool directory);
  // Points the inode index at node (a rename's create takes over the source's inode).
  void index_inode(Node* node);

  AclCache& acls() { return acls_; }
  uint64_t next_inode = kSystemInode + 1;
  Zxid last_zxid = 0;
  size_t data_bytes_max = 1024 * 1024;

 private:
  Node* make_open_directory(std::string_view name, uint64_t inode, uint32_t mode);

  Node* root_ = nullptr;
  size_t node_count_ = 0;
  size_t ephemeral_count_ = 0;
  size_t data_bytes_ = 0;
  absl::flat_hash_set<Node*, InodeHash, InodeEqual> by_inode_;
  absl::flat_hash_map<uint64_t, absl::flat_hash_set<Node*>> ephemerals_;
  // Not in snapshots: attach() rebuilds it from each node's ephemeral_owner.
  absl::flat_hash_set<Node*> containers_and_ttl_nodes_;
  absl::flat_hash_map<uint64_t, uint32_t> open_sessions_;  // id -> timeout_ms
  std::array<uint64_t, 256> highest_session_ids_{};  // by host
  AclCache acls_;
};

}  // namespace tree_internal

struct Node::ChildSet {
  absl::btree_set<Node*, tree_internal::ChildOrder> nodes;
  // How many of nodes are directories: a directory's st_nlink is 2 plus this (docs/mount.md),
  // answered in O(1). Kept by attach/detach; not part of any txn or snapshot.
  size_t directories = 0;
};

}  // namespace quorumfs
