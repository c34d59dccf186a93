// The data tree: quorumfs's state machine. ZooKeeper's znode tree with its full stat, ACLs,
// ephemeral owners and sequential counters, plus the POSIX view (owner, group, mode, times) that
// the mount shows. Txns are applied in zxid order by one thread; apply() is deterministic, so every
// replica that applies the same txns reaches the same tree and the same results.
//
// Threading: not thread-safe. The daemon's event-loop thread owns the tree: it applies committed
// txns and serves every read; nothing else touches it (snapshots are written by a forked child).
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "consensus/zxid.h"
#include "daemon/proto/txn.pb.h"
#include "daemon/tree/session_id.h"
#include "daemon/tree/acl.h"
#include "daemon/tree/limits.h"

namespace quorumfs {

// ZooKeeper's error codes, plus the filesystem ones the mount needs. Mapped to errno once, at the
// FUSE edge (fusefs/errors.h).
enum class Code {
  kOk,
  kNoNode,                   // ENOENT
  kNodeExists,               // EEXIST
  kNotEmpty,                 // ENOTEMPTY
  kBadVersion,               // a Check/expected version failed (rename retries)
  kNoAuth,                   // EACCES: ACL refused
  kBadArguments,             // EINVAL: bad name/path, bad op
  kNameTooLong,              // ENAMETOOLONG: a name, path or depth past its limit (limits.h)
  kNoChildrenForEphemerals,  // ENOTDIR: parent is an ephemeral node
  kNotDirectory,             // ENOTDIR: parent (or rmdir target) is a file
  kIsDirectory,              // EISDIR: unlink of a directory
  kDataTooLarge,             // EFBIG
  kInvalidAcl,               // EINVAL: bad ACL text
  kReadOnly,                 // EPERM: /zookeeper subtree
  kNotApplied,               // write refused before proposal (no quorum, shutting down)
  kOutcomeUnknown,           // leader lost mid-flight (ZooKeeper's ConnectionLoss)
  kStorageFailed,            // this replica cannot write its log or epochs (disk full, I/O error)
  kSessionExpired,           // ESTALE: the session is closed (or was never opened)
  kTooManySessions,          // ENFILE: kOpenSessionsLimit sessions are open
  kWouldBlock,               // EWOULDBLOCK: a lock asked not to wait is held (service/locks.h)
  kTooManyLocks,             // ENOLCK: past a lock limit of the host or the user (service/locks.h)
};
const char* code_name(Code code);

// The most sessions open at once, ensemble-wide (a CreateSession past it fails with
// kTooManySessions). Fixed, not configured: every replica must decide alike, at every replay. A
// session is a descriptor that created an ephemeral and is still open somewhere, or a ZooKeeper
// client's session; a million of them costs every replica about 28 MB with their timeouts (and
// every snapshot 9 MB) on top of their nodes, and is far above what the mounts of an ensemble
// hold open (docs/architecture.md, "Sessions and ephemerals").
inline constexpr size_t kOpenSessionsLimit = 1 << 20;  // sessions

// A session id's host: its top byte (ZooKeeper's layout, session_id.h).
inline constexpr uint32_t session_host(uint64_t session_id) { return SessionId(session_id).host(); }

// ZooKeeper's stat, kept exactly as ZooKeeper keeps it.
struct Stat {
  Zxid czxid = 0;
  Zxid mzxid = 0;
  Zxid pzxid = 0;
  int64_t ctime_ms = 0;
  int64_t mtime_ms = 0;
  int32_t version = 0;
  int32_t cversion = 0;
  int32_t aversion = 0;
  uint64_t ephemeral_owner = 0;
  // dataLength and numChildren are derived from the node.
};

// The POSIX view (docs/guarantees.md §3). mode holds permission bits incl. sticky/set-gid, never
// the type.
struct PosixAttrs {
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t mode = 0;
  int64_t atime_ns = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;  // status change time, moved by every change to the node
};

// A node's data in one heap block of exactly its size: 16 bytes in the node where a std::string
// takes 32, for trees of millions of small znodes.
class NodeData {
 public:
  NodeData() = default;
  NodeData(NodeData&&) noexcept = default;
  NodeData& operator=(NodeData&&) noexcept = default;
  NodeData& operator=(std::string_view bytes) {
    bytes_.reset(bytes.empty() ? nullptr : new char[bytes.size()]);
    if (!bytes.empty()) std::memcpy(bytes_.get(), bytes.data(), bytes.size());
    size_ = static_cast<uint32_t>(bytes.size());
    return *this;
  }
  std::string_view view() const { return {bytes_.get(), size_}; }

 private:
  std::unique_ptr<char[]> bytes_;
  uint32_t size_ = 0;
};

class Node;
struct InternedAcl;  // acl_cache.h
namespace tree_internal {
class TreeState;
class TxnApplier;
class SnapshotLoader;
}  // namespace tree_internal

// The last state of a node a txn deleted, handed out with its kDeleted change so that the mount can
// keep serving descriptors opened before the delete (docs/guarantees.md §3; docs/mount.md, "Deleted
// while open"). The data is moved out of the destroyed node, never copied, and lives as long as
// someone holds it. Not part of any txn or snapshot: the tree's state is the same with or without
// it.
struct DeletedNode {
  NodeData data;
  Stat stat;
  PosixAttrs attrs;
};

// What one applied txn changed, for cache invalidation and (on remote hosts) inotify echo.
struct Change {
  enum class Kind {
    kCreated,
    kDeleted,
    kData,
    kAttrs,            // ACL, mode, owner, times
    kBecameDirectory,  // a file got a child (CreateOp.parent_may_become_directory); comes first
  };
  Kind kind;
  uint64_t inode;
  uint64_t parent_inode;
  std::string name;  // the node's name in its parent
  bool directory;
  // kDeleted: the node as it was. A rename's delete of its source names an inode that lives on
  // in the target (by_inode() still finds it).
  std::shared_ptr<const DeletedNode> deleted = nullptr;
};

struct OpResult {
  Code code = Code::kOk;
  std::string path;  // Create: the created path (with the sequential suffix)
  uint64_t inode = 0;
};

struct ApplyResult {
  Zxid zxid = 0;
  Code code = Code::kOk;          // first failing op's code, or kOk
  int failed_op = -1;             // that op's index; -1 when the txn failed as a whole or not at all
  std::vector<OpResult> ops;      // one per op when code == kOk
  std::vector<Change> changes;    // empty when code != kOk: nothing changed
  std::vector<uint64_t> closed_sessions;  // sessions this txn closed (that were open)
};

class Node {
 public:
  std::string_view name() const { return {name_bytes(), name_size_}; }
  const Node* parent() const { return parent_; }
  uint64_t inode() const { return inode_; }
  bool is_directory() const { return directory_; }
  std::string_view data() const { return data_.view(); }
  const Stat& stat() const { return stat_; }
  const PosixAttrs& attrs() const { return attrs_; }
  const Acl& acl() const;
  size_t num_children() const;
  size_t num_subdirectories() const;  // children that are directories, in O(1)
  // Children in name order, from the first name > after (empty: from the start).
  // fn returns false to stop.
  void for_each_child(std::string_view after, const std::function<bool(const Node&)>& fn) const;

 private:
  friend class DataTree;
  friend class tree_internal::TreeState;
  friend class tree_internal::TxnApplier;
  friend class tree_internal::SnapshotLoader;
  // Internals are the implementation's (keep a node small: 100k nodes of 100 B must fit in
  // 40 MB RSS). A node is allocated with its name's bytes right after it
  // (TreeState::make_node), so only the tree makes and destroys nodes.
  struct ChildSet;
  Node() = default;
  ~Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  NodeData data_;
  Stat stat_;
  PosixAttrs attrs_;
  Node* parent_ = nullptr;
  uint64_t inode_ = 0;
  ChildSet* children_ = nullptr;  // owned; allocated with the first child, freed with the last
  const InternedAcl* acl_ = nullptr;
  uint8_t name_size_ = 0;
  bool directory_ = false;
  const char* name_bytes() const { return reinterpret_cast<const char*>(this + 1); }
};

class DataTree {
 public:
  DataTree();  // a tree holding "/" and "/zookeeper"
  ~DataTree();

  const Node& root() const;
  const Node* find(std::string_view path) const;        // "/a/b"
  const Node* by_inode(uint64_t inode) const;
  const Node* child(const Node& dir, std::string_view name) const;
  std::string path_of(const Node& node) const;

  // Applies a committed txn. Deterministic; all-or-nothing for multi-op txns. Any txn at all may
  // come: one that fails validate_txn (validate.h) under txn_limits() fails whole, changing
  // nothing.
  ApplyResult apply(Zxid zxid, const proto::Txn& txn);
  // A committed txn whose bytes do not parse: it fails with kBadArguments on every replica alike,
  // nothing changes, and the tree has seen its zxid.
  ApplyResult apply_unparsable(Zxid zxid);
  Zxid last_applied_zxid() const;

  // Would this op (alone) succeed now? The same checks apply() makes, without changing anything;
  // lets the mount refuse a doomed write without a round through the log.
  Code check(const proto::Op& op, const proto::Caller& caller) const;

  // Access check of ZooKeeper's ACL for a read (kRead) or any permission on an existing node.
  bool permits(const Node& node, uint32_t perm, const proto::Caller& caller) const;

  // The ephemeral nodes a session owns, in no order (ZooKeeper's getEphemerals).
  std::vector<const Node*> ephemerals_of(uint64_t session_id) const;
  // Containers and TTL nodes (ephemeral_type.h), by inode: what the leader looks through for the
  // ones to remove (daemon/service/reaper.h).
  std::vector<const Node*> containers_and_ttl_nodes() const;

  // Sessions that own ephemeral nodes (ZooKeeper's DataTree.ephemerals keys).
  std::vector<uint64_t> sessions() const;
  // Open sessions: opened by a CreateSession and not closed since; every ephemeral's owner is
  // one. Ascending.
  std::vector<uint64_t> open_sessions() const;
  bool session_open(uint64_t session_id) const;
  // An open session's timeout: 0 for a host-bound one, above 0 for a ZooKeeper client session
  // (CreateSessionOp.timeout_ms); nullopt when it is not open.
  std::optional<uint32_t> session_timeout_ms(uint64_t session_id) const;
  // The highest session id host (0..255) ever opened, 0 if none: a new one must be above it.
  uint64_t highest_session_id(uint32_t host) const;

  size_t node_count() const;
  // Ephemeral nodes (ZooKeeper's getEphemeralsCount, mntr's zk_ephemerals_count) and open
  // sessions, counted as they change: a scrape does not walk them.
  size_t ephemeral_count() const;
  size_t open_session_count() const;
  // Bytes of znode data in the tree (ZooKeeper's approximate_data_size counts paths too).
  size_t data_bytes() const;

  // Largest data a Create or SetData may carry (kDataTooLarge above it). Every replica must use
  // the same value: it decides txn results.
  void set_data_bytes_max(size_t bytes_max);
  size_t data_bytes_max() const;
  // What apply() holds every txn to: data_bytes_max() and the fixed limits. The leader checks a
  // request with validate_txn(txn, tree.txn_limits()) before proposing it.
  TxnLimits txn_limits() const;

  // Snapshot: nodes parents-first; load rebuilds an equal tree.
  void write_snapshot(const std::function<void(const proto::SnapshotHeader&)>& header,
                      const std::function<void(const proto::SnapshotNode&)>& node) const;
  // Rebuilds a tree from a snapshot: next() fills one node (parents first) and returns false at
  // the end. Returns null with *error set on inconsistent input (unknown parent, duplicate name).
  static std::unique_ptr<DataTree> from_snapshot(const proto::SnapshotHeader& header,
                                                 const std::function<bool(proto::SnapshotNode*)>& next,
                                                 std::string* error);

 private:
  explicit DataTree(std::unique_ptr<tree_internal::TreeState> state);
  std::unique_ptr<tree_internal::TreeState> state_;
};

}  // namespace quorumfs
