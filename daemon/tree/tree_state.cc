#include "daemon/tree/tree_state.h"

#include <algorithm>
#include <cstring>
#include <new>

#include "consensus/check.h"
#include "daemon/tree/ephemeral_type.h"
#include "daemon/tree/path.h"

namespace quorumfs::tree_internal {

Node* TreeState::make_open_directory(std::string_view name, uint64_t inode, uint32_t mode) {
  Node* node = make_node(name);
  node->inode_ = inode;
  node->directory_ = true;
  node->acl_ = acls_.acquire({AclEntry{kAllPerms, "world", "anyone"}});
  node->attrs_.mode = mode;
  return node;
}

std::unique_ptr<TreeState> TreeState::with_initial_nodes() {
  auto state = std::make_unique<TreeState>();
  Node* root = state->make_open_directory("", kRootInode, 0755);
  state->attach(root);
  // Read-only, so no write bits: ls -l shows what the tree enforces.
  Node* system = state->make_open_directory(kSystemPath.substr(1), kSystemInode, 0555);
  system->parent_ = root;
  state->attach(system);
  state->next_inode = kSystemInode + 1;
  return state;
}

TreeState::~TreeState() {
  // Iterative: a deep tree must not overflow the stack.
  std::vector<Node*> pending;
  if (root_) pending.push_back(root_);
  while (!pending.empty()) {
    Node* node = pending.back();
    pending.pop_back();
    if (node->children_) {
      pending.insert(pending.end(), node->children_->nodes.begin(), node->children_->nodes.end());
      delete node->children_;
      node->children_ = nullptr;
    }
    destroy_node(node);
  }
}

Node* TreeState::find(std::string_view path) const {
  if (!root_ || !valid_path(path)) return nullptr;
  Node* node = root_;
  for_each_name(path, [&](std::string_view name) {
    node = child(*node, name);
    return node != nullptr;
  });
  return node;
}

Node* TreeState::by_inode(uint64_t inode) const {
  auto it = by_inode_.find(inode);
  return it == by_inode_.end() ? nullptr : *it;
}

Node* TreeState::child(const Node& dir, std::string_view name) {
  if (!dir.children_) return nullptr;
  auto it = dir.children_->nodes.find(name);
  return it == dir.children_->nodes.end() ? nullptr : *it;
}

bool TreeState::attached(const Node& node) const {
  const Node* at = &node;
  for (; at->parent_; at = at->parent_) {
    if (child(*at->parent_, at->name()) != at) return false;
  }
  return at == root_;
}

std::string TreeState::path_of(const Node& node) const {
  if (!node.parent_) return "/";
  std::vector<std::string_view> names;
  for (const Node* at = &node; at->parent_; at = at->parent_) names.push_back(at->name());
  std::string path;
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    path += '/';
    path += *it;
  }
  return path;
}

const absl::flat_hash_set<Node*>* TreeState::ephemerals_of(uint64_t session) const {
  auto it = ephemerals_.find(session);
  return it == ephemerals_.end() ? nullptr : &it->second;
}

std::vector<uint64_t> TreeState::sessions() const {
  std::vector<uint64_t> sessions;
  sessions.reserve(ephemerals_.size());
  for (const auto& [session, nodes] : ephemerals_) sessions.push_back(session);
  std::sort(sessions.begin(), sessions.end());
  return sessions;
}

void TreeState::open_session(uint64_t session, uint32_t timeout_ms) {
  QFS_CHECK(session != 0 && !session_open(session), "only a new session is opened");
  open_sessions_.emplace(session, timeout_ms);
  uint64_t& highest = highest_session_ids_[session_host(session)];
  highest = std::max(highest, session);
}

Node* TreeState::make_node(std::string_view name) {
  QFS_CHECK(name.size() <= kNameBytesMax, "node names are validated before they reach the tree");
  void* memory = ::operator new(sizeof(Node) + name.size());
  Node* node = new (memory) Node();
  std::memcpy(static_cast<char*>(memory) + sizeof(Node), name.data(), name.size());
  node->name_size_ = static_cast<uint8_t>(name.size());
  return node;
}

void TreeState::destroy_node(Node* node) {
  QFS_CHECK(!node->children_, "a destroyed node has no children");
  node->~Node();
  ::operator delete(node);
}

void TreeState::attach(Node* node) {
  if (node->parent_) {
    if (!node->parent_->children_) node->parent_->children_ = new Node::ChildSet();
    bool inserted = node->parent_->children_->nodes.insert(node).second;
    QFS_CHECK(inserted, "a child name is unique in its directory");
    (void)inserted;
    if (node->directory_) ++node->parent_->children_->directories;
  } else {
    QFS_CHECK(!root_, "the tree has one root");
    root_ = node;
  }
  index_inode(node);
  if (const uint64_t owner = node->stat_.ephemeral_owner; is_session_owner(owner)) {
    ephemerals_[owner].insert(node);
    ephemeral_count_++;
  } else if (owner != 0) {
    containers_and_ttl_nodes_.insert(node);
  }
  node_count_++;
  data_bytes_ += node->data_.view().size();
}

void TreeState::detach(Node* node) {
  QFS_CHECK(node->parent_ && !node->children_, "only a leaf below the root is detached");
  Node* parent = node->parent_;
  parent->children_->nodes.erase(node);
  if (node->directory_) --parent->children_->directories;
  if (parent->children_->nodes.empty()) {
    delete parent->children_;
    parent->children_ = nullptr;
  }
  auto indexed = by_inode_.find(node->inode_);
  if (indexed != by_inode_.end() && *indexed == node) by_inode_.erase(indexed);
  if (const uint64_t owner = node->stat_.ephemeral_owner; is_session_owner(owner)) {
    auto owned = ephemerals_.find(owner);
    owned->second.erase(node);
    ephemeral_count_--;
    if (owned->second.empty()) ephemerals_.erase(owned);
  } else if (owner != 0) {
    containers_and_ttl_nodes_.erase(node);
  }
  node_count_--;
  data_bytes_ -= node->data_.view().size();
}

void TreeState::set_directory(Node* node, bool directory) {
  QFS_CHECK(node->parent_ && node->directory_ != directory && !node->children_,
            "only a childless node below the root changes its type");
  node->directory_ = directory;
  size_t& directories = node->parent_->children_->directories;
  if (directory) {
    ++directories;
  } else {
    --directories;
  }
}

void TreeState::index_inode(Node* node) {
  auto [it, inserted] = by_inode_.insert(node);
  if (!inserted && *it != node) {
    by_inode_.erase(it);
    by_inode_.insert(node);
  }
}

}  // namespace quorumfs::tree_internal
