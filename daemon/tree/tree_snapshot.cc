// Snapshot writing and loading. Every node is written, "/" first and "/zookeeper" included, in
// depth-first name order, so that two equal trees write byte-equal snapshots.
#include <algorithm>
#include <utility>
#include <vector>

#include "daemon/tree/data_tree.h"
#include "daemon/tree/ephemeral_type.h"
#include "daemon/tree/path.h"
#include "daemon/tree/tree_state.h"

namespace quorumfs {

using tree_internal::TreeState;

namespace {

void fill_record(const Node& node, proto::SnapshotNode* record) {
  record->set_inode(node.inode());
  record->set_parent_inode(node.parent() ? node.parent()->inode() : 0);
  record->set_name(std::string(node.name()));
  record->set_data(std::string(node.data()));
  record->set_directory(node.is_directory());
  const Stat& stat = node.stat();
  record->set_czxid(stat.czxid);
  record->set_mzxid(stat.mzxid);
  record->set_pzxid(stat.pzxid);
  record->set_ctime_ms(stat.ctime_ms);
  record->set_mtime_ms(stat.mtime_ms);
  record->set_version(stat.version);
  record->set_cversion(stat.cversion);
  record->set_aversion(stat.aversion);
  record->set_ephemeral_owner(stat.ephemeral_owner);
  const PosixAttrs& attrs = node.attrs();
  record->set_uid(attrs.uid);
  record->set_gid(attrs.gid);
  record->set_mode(attrs.mode);
  record->set_atime_ns(attrs.atime_ns);
  record->set_posix_mtime_ns(attrs.mtime_ns);
  record->set_posix_ctime_ns(attrs.ctime_ns);
  // Children mostly share their parent's ACL (they inherit it at create): written once, there.
  if (node.parent() == nullptr || node.acl() != node.parent()->acl()) record->set_acl(format_acl(node.acl()));
}

// Where the record goes: its parent, or null for the root. Empty string when it fits.
std::string find_place(const TreeState& state, const proto::SnapshotHeader& header,
                       const proto::SnapshotNode& record, Node** parent) {
  if (record.inode() == 0 || record.inode() >= header.next_inode()) return "inode out of range";
  if (state.by_inode(record.inode())) return "duplicate inode";
  if (!state.root()) {
    if (record.parent_inode() != 0 || !record.name().empty() || !record.directory() ||
        record.inode() != tree_internal::kRootInode) {
      return "first node is not the root";
    }
    *parent = nullptr;
    return "";
  }
  *parent = state.by_inode(record.parent_inode());
  if (!*parent) return "unknown parent";
  if (!(*parent)->is_directory() || is_session_owner((*parent)->stat().ephemeral_owner)) {
    return "parent cannot have children";
  }
  if (!valid_name(record.name())) return "bad name";
  if (TreeState::child(**parent, record.name())) return "duplicate name";
  return "";
}

void fill_sessions(const TreeState& state, proto::SnapshotSessions* record) {
  std::vector<std::pair<uint64_t, uint32_t>> open(state.open_sessions().begin(), state.open_sessions().end());
  std::sort(open.begin(), open.end());
  for (const auto& [session, timeout_ms] : open) {
    record->add_open(session);
    record->add_timeouts_ms(timeout_ms);
  }
  for (uint32_t host = 0; host < 256; ++host) {
    if (uint64_t highest = state.highest_session_id(host); highest != 0) record->add_highest_opened(highest);
  }
}

// A snapshot written before the tree kept sessions: the sessions that own ephemerals are the
// open ones (host-bound: there were no others), and the highest of them per host the marks
// (docs/formats.md, "Snapshots").
void infer_sessions(TreeState& state) {
  for (uint64_t session : state.sessions()) state.open_session(session, 0);
}

std::string load_sessions(TreeState& state, const proto::SnapshotSessions& record) {
  for (uint64_t highest : record.highest_opened()) {
    if (highest == 0) return "session mark 0";
    if (state.highest_session_id(session_host(highest)) != 0) return "two session marks for one host";
    state.set_highest_session_id(session_host(highest), highest);
  }
  // Written before sessions had timeouts: every one is host-bound.
  const bool has_timeouts = record.timeouts_ms_size() > 0;
  if (has_timeouts && record.timeouts_ms_size() != record.open_size()) return "not one timeout per open session";
  for (int i = 0; i < record.open_size(); ++i) {
    const uint64_t session = record.open(i);
    if (session == 0 || state.session_open(session)) return "open session 0 or listed twice";
    if (session > state.highest_session_id(session_host(session))) return "open session above its host's mark";
    state.open_session(session, has_timeouts ? record.timeouts_ms(i) : 0);
  }
  for (uint64_t owner : state.sessions()) {
    if (!state.session_open(owner)) return "ephemeral owner " + std::to_string(owner) + " is not an open session";
  }
  return "";
}

}  // namespace

namespace tree_internal {

class SnapshotLoader {
 public:
  // Adds one record to the tree; returns why it does not fit, or empty.
  static std::string add_node(TreeState& state, const proto::SnapshotHeader& header,
                              const proto::SnapshotNode& record);
};

std::string SnapshotLoader::add_node(TreeState& state, const proto::SnapshotHeader& header,
                                     const proto::SnapshotNode& record) {
  Node* parent = nullptr;
  if (std::string reason = find_place(state, header, record, &parent); !reason.empty()) return reason;
  Acl acl;
  std::string acl_error;
  if (record.acl().empty() && parent != nullptr) {
    acl = parent->acl();  // an ACL text is never empty: absent means "the parent's"
  } else if (!parse_stored_acl(record.acl(), &acl, &acl_error)) {
    return acl_error;
  }
  if ((record.mode() & ~07777u) != 0) return "mode has more than permission bits";

  Node* node = TreeState::make_node(record.name());
  node->parent_ = parent;
  node->inode_ = record.inode();
  node->directory_ = record.directory();
  node->data_ = record.data();
  node->acl_ = state.acls().acquire(acl);
  node->stat_ = Stat{record.czxid(),    record.mzxid(),    record.pzxid(),
                     record.ctime_ms(), record.mtime_ms(), record.version(),
                     record.cversion(), record.aversion(), record.ephemeral_owner()};
  node->attrs_ = PosixAttrs{record.uid(),      record.gid(),           record.mode(),
                            record.atime_ns(), record.posix_mtime_ns(), record.posix_ctime_ns()};
  state.attach(node);
  return "";
}

}  // namespace tree_internal

void DataTree::write_snapshot(const std::function<void(const proto::SnapshotHeader&)>& header,
                              const std::function<void(const proto::SnapshotNode&)>& node) const {
  proto::SnapshotHeader header_record;
  header_record.set_last_zxid(state_->last_zxid);
  header_record.set_next_inode(state_->next_inode);
  header_record.set_node_count(state_->node_count());
  fill_sessions(*state_, header_record.mutable_sessions());
  header(header_record);

  proto::SnapshotNode record;
  std::vector<const Node*> pending{state_->root()};
  std::vector<const Node*> children;
  while (!pending.empty()) {
    const Node* at = pending.back();
    pending.pop_back();
    record.Clear();
    fill_record(*at, &record);
    node(record);
    children.clear();
    at->for_each_child("", [&](const Node& child) {
      children.push_back(&child);
      return true;
    });
    pending.insert(pending.end(), children.rbegin(), children.rend());
  }
}

std::unique_ptr<DataTree> DataTree::from_snapshot(const proto::SnapshotHeader& header,
                                                  const std::function<bool(proto::SnapshotNode*)>& next,
                                                  std::string* error) {
  auto state = std::make_unique<TreeState>();
  proto::SnapshotNode record;
  for (uint64_t count = 0;; ++count) {
    record.Clear();
    if (!next(&record)) break;
    if (std::string reason = tree_internal::SnapshotLoader::add_node(*state, header, record); !reason.empty()) {
      *error = "snapshot node " + std::to_string(count) + " (inode " + std::to_string(record.inode()) +
               "): " + reason;
      return nullptr;
    }
  }
  if (state->node_count() != header.node_count()) {
    *error = "snapshot holds " + std::to_string(state->node_count()) + " nodes, header says " +
             std::to_string(header.node_count());
    return nullptr;
  }
  const Node* system = state->find(kSystemPath);
  if (!system || !system->is_directory()) {
    *error = "snapshot has no /zookeeper directory";
    return nullptr;
  }
  if (!header.has_sessions()) {
    infer_sessions(*state);
  } else if (std::string reason = load_sessions(*state, header.sessions()); !reason.empty()) {
    *error = "snapshot sessions: " + reason;
    return nullptr;
  }
  state->next_inode = header.next_inode();
  state->last_zxid = header.last_zxid();
  return std::unique_ptr<DataTree>(new DataTree(std::move(state)));
}

}  // namespace quorumfs
