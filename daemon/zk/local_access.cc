#include "daemon/zk/local_access.h"

#include <sys/stat.h>

#include <algorithm>

#include "daemon/tree/path.h"

namespace quorumfs::zk {

bool mode_permits(const PosixAttrs& attrs, const LocalCaller& caller, uint32_t mask) {
  if (caller.uid == 0) return true;
  uint32_t bits = attrs.mode & 07;
  if (caller.uid == attrs.uid) {
    bits = (attrs.mode >> 6) & 07;
  } else if (caller.gid == attrs.gid ||
             std::find(caller.groups.begin(), caller.groups.end(), attrs.gid) != caller.groups.end()) {
    bits = (attrs.mode >> 3) & 07;
  }
  return (bits & mask) == mask;
}

namespace {

// Search on every directory from the root down to the node's parent. nullptr in *parent when a
// directory on the way is missing (the tree answers NoNode then).
bool may_walk_to(const DataTree& tree, std::string_view path, const LocalCaller& caller, const Node** parent) {
  *parent = nullptr;
  const Node* node = &tree.root();
  if (path == "/") return true;
  size_t start = 1;
  while (true) {
    const size_t slash = path.find('/', start);
    if (!mode_permits(node->attrs(), caller, kMaySearch)) return false;
    if (slash == std::string_view::npos) {
      *parent = node;
      return true;
    }
    node = tree.child(*node, path.substr(start, slash - start));
    if (node == nullptr) return true;
    start = slash + 1;
  }
}

}  // namespace

int32_t posix_check(const DataTree& tree, const Request& request, const LocalCaller& caller) {
  const Node* parent = nullptr;
  if (!may_walk_to(tree, request.path, caller, &parent)) return kNoAuth;
  if (parent == nullptr && request.path != "/") return kOk;
  const Node* node = tree.find(request.path);
  switch (request.op) {
    case kCreate:
    case kCreate2:
      if (!mode_permits(parent->attrs(), caller, kMayWrite | kMaySearch)) return kNoAuth;
      return kOk;
    case kDelete: {
      if (parent == nullptr) return kOk;
      if (!mode_permits(parent->attrs(), caller, kMayWrite | kMaySearch)) return kNoAuth;
      // The kernel's check_sticky: in a sticky directory only the owner of the node or of the
      // directory (or root) removes it.
      if (node != nullptr && (parent->attrs().mode & S_ISVTX) != 0 && caller.uid != 0 &&
          caller.uid != node->attrs().uid && caller.uid != parent->attrs().uid) {
        return kNoAuth;
      }
      return kOk;
    }
    case kSetData:
      if (node == nullptr) return kOk;
      if (!mode_permits(node->attrs(), caller, kMayWrite)) return kNoAuth;
      // A directory's data is its user.zk.data xattr: the kernel's xattr_permission lets only
      // the owner (or root) write a user.* xattr of a sticky directory.
      if (node->is_directory() && (node->attrs().mode & S_ISVTX) != 0 && caller.uid != 0 &&
          caller.uid != node->attrs().uid) {
        return kNoAuth;
      }
      return kOk;
    case kGetData:
      return node == nullptr || mode_permits(node->attrs(), caller, kMayRead) ? kOk : kNoAuth;
    case kCheck:
    case kExists:
    case kSync:
      return kOk;
    default:
      return kNoAuth;
  }
}

}  // namespace quorumfs::zk
