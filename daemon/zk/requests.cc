#include "daemon/zk/requests.h"

#include <sys/stat.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <unordered_map>
#include <utility>

#include "consensus/check.h"

#include "daemon/tree/acl.h"
#include "daemon/tree/ephemeral_type.h"
#include "daemon/tree/path.h"
#include "daemon/zk/auth.h"

namespace quorumfs::zk {

namespace {

// The POSIX view of a node a ZooKeeper client creates (docs/zk-protocol.md, "One tree"): root's,
// open to every mount user, the ACL being ZooKeeper's only guard as for its own clients.
constexpr uint32_t kClientFileMode = 0666;
constexpr uint32_t kClientDirectoryMode = 0777;
// A file a control socket's caller creates in a multi (quorumctl create's default mode).
constexpr uint32_t kLocalFileMode = 0644;
// A mount user's identity is its uid; a ZooKeeper client has none. Until it authenticates, its
// caller is this one (and uid:/gid: ACL entries never grant it anything: docs/zk-protocol.md).
constexpr uint32_t kClientUid = 65534;

// A frame under construction: ReplyHeader first, the body appended by the caller.
class ReplyFrame {
 public:
  ReplyFrame(int32_t xid, int64_t zxid, int32_t err) : writer_(&bytes_) {
    start_ = writer_.begin_frame();
    writer_.write_int(xid);
    writer_.write_long(zxid);
    writer_.write_int(err);
  }
  JuteWriter& body() { return writer_; }
  std::string finish() {
    writer_.end_frame(start_);
    return std::move(bytes_);
  }

 private:
  std::string bytes_;
  JuteWriter writer_;
  size_t start_ = 0;
};

void write_stat(JuteWriter& out, const Stat& stat, size_t data_length, size_t num_children) {
  out.write_long(stat.czxid);
  out.write_long(stat.mzxid);
  out.write_long(stat.ctime_ms);
  out.write_long(stat.mtime_ms);
  out.write_int(stat.version);
  out.write_int(stat.cversion);
  out.write_int(stat.aversion);
  // A client sees 0 for a container or TTL node, as ZooKeeper shows them (the mount's xattr shows
  // the encoding: docs/zk-protocol.md, "One tree").
  out.write_long(is_session_owner(stat.ephemeral_owner) ? static_cast<int64_t>(stat.ephemeral_owner) : 0);
  out.write_int(static_cast<int32_t>(data_length));
  out.write_int(static_cast<int32_t>(num_children));
  out.write_long(stat.pzxid);
}

void write_stat(JuteWriter& out, const Node& node) {
  write_stat(out, node.stat(), node.data().size(), node.num_children());
}

// The stat of the node an op of an applied txn acted on, found by inode: a later op of the same
// multi may have deleted it, and then it is shown as it was when deleted, with no children (it had
// to have none). ZooKeeper 3.8 answers a multi's create+check+setData+delete of one node with the
// setData's stat: version 1, dataLength 1, numChildren 0.
void write_stat_of(JuteWriter& out, const DataTree& tree, const ApplyResult& result, const OpResult& op) {
  if (const Node* node = tree.by_inode(op.inode)) return write_stat(out, *node);
  for (const Change& change : result.changes) {
    if (change.kind == Change::Kind::kDeleted && change.inode == op.inode && change.deleted != nullptr) {
      return write_stat(out, change.deleted->stat, change.deleted->data.view().size(), 0);
    }
  }
  QFS_CHECK(false, "a node a txn created or changed is in the tree or among its deleted nodes");
}

// False when the reply would pass kReplyBytesMax (it is then left unfinished).
bool write_children(JuteWriter& out, const Node& node) {
  out.write_int(static_cast<int32_t>(node.num_children()));
  bool fits = true;
  node.for_each_child("", [&](const Node& child) {
    out.write_string(child.name());
    fits = out.size() <= kReplyBytesMax;
    return fits;
  });
  return fits;
}

void write_acl(JuteWriter& out, const Acl& acl) {
  out.write_int(static_cast<int32_t>(acl.size()));
  for (const AclEntry& entry : acl) {
    out.write_int(static_cast<int32_t>(entry.perms));
    out.write_string(entry.scheme);
    out.write_string(entry.id);
  }
}

// ZooKeeper's PathUtils.validatePath, which is the tree's rule (path.h) within the path length
// limit, but for the trailing '/' a sequential create may end in (its suffix goes after it).
bool valid_request_path(std::string_view path, bool sequential) {
  if (path.size() > kPathBytesMax) return false;
  if (sequential && path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  return valid_path(path) && !(sequential && path == "/");
}

std::string_view parent_of(std::string_view path) {
  std::string_view parent, name;
  split_parent(path, &parent, &name);
  return parent;
}

std::string perms_text(int32_t perms) {
  std::string text;
  if (perms & kCreate) text += 'c';
  if (perms & kDelete) text += 'd';
  if (perms & kRead) text += 'r';
  if (perms & kWrite) text += 'w';
  if (perms & kAdmin) text += 'a';
  return text;
}

// The text form the tree takes; false for an ACL ZooKeeper refuses before parsing it (empty, or
// perms outside cdrwa).
bool acl_text(const std::vector<AclRecord>& acl, std::string* out) {
  if (acl.empty()) return false;
  for (const AclRecord& entry : acl) {
    if (entry.perms & ~static_cast<int32_t>(kAllPerms)) return false;
    if (!out->empty()) out->push_back(',');
    *out += entry.scheme + ":" + entry.id + ":" + perms_text(entry.perms);
  }
  return true;
}


size_t descendants(const Node& node) {
  size_t count = 0;
  std::vector<const Node*> pending{&node};
  while (!pending.empty()) {
    const Node* at = pending.back();
    pending.pop_back();
    at->for_each_child("", [&](const Node& child) {
      ++count;
      if (child.num_children() > 0) pending.push_back(&child);
      return true;
    });
  }
  return count;
}

}  // namespace

RequestHandler::RequestHandler(service::Service& service, WatchTable& watches, HandlerOptions options)
    : service_(service), watches_(watches), options_(options) {}

std::string RequestHandler::error_frame(int32_t xid, int64_t zxid, int32_t err) {
  return ReplyFrame(xid, zxid, err).finish();
}

std::string RequestHandler::event_frame(EventType type, std::string_view path) {
  ReplyFrame frame(kNotificationXid, -1, kOk);
  frame.body().write_int(type);
  frame.body().write_int(kStateSyncConnected);
  frame.body().write_string(path);
  return frame.finish();
}

int32_t RequestHandler::error_of(Code code) {
  switch (code) {
    case Code::kOk: return kOk;
    case Code::kNoNode: return kNoNode;
    case Code::kNodeExists: return kNodeExists;
    case Code::kNotEmpty: return kNotEmpty;
    case Code::kBadVersion: return kBadVersion;
    case Code::kNoAuth: return kNoAuth;
    case Code::kNoChildrenForEphemerals: return kNoChildrenForEphemerals;
    case Code::kInvalidAcl: return kInvalidAcl;
    case Code::kSessionExpired: return kSessionExpired;
    case Code::kNotApplied:
    case Code::kOutcomeUnknown: return kConnectionLoss;
    case Code::kBadArguments:
    case Code::kNameTooLong:
    case Code::kNotDirectory:
    case Code::kIsDirectory:
    case Code::kDataTooLarge:
    case Code::kReadOnly: return kBadArguments;
    default: return kSystemError;
  }
}

bool RequestHandler::may_read(const SessionContext& session, std::string_view path) const {
  const DataTree& tree = service_.tree();
  const Node* node = tree.find(path);
  if (node == nullptr) node = tree.find(parent_of(path));
  return node != nullptr && tree.permits(*node, kRead, caller_of(session));
}

int64_t RequestHandler::last_zxid() const { return service_.tree().last_applied_zxid(); }

proto::Caller RequestHandler::caller_of(const SessionContext& session) const {
  if (session.local_caller) return *session.local_caller;
  proto::Caller caller;
  caller.set_uid(kClientUid);
  caller.set_gid(kClientUid);
  caller.set_zk_client(true);
  for (const std::string& id : session.digest_ids) caller.add_auth_ids("digest:" + id);
  if (!session.peer_ip.empty()) caller.add_auth_ids("ip:" + session.peer_ip);
  return caller;
}

void RequestHandler::handle(const Request& request, SessionContext& session, Reply reply) {
  switch (request.op) {
    case kPing:
      return reply(ReplyFrame(kPingXid, last_zxid(), kOk).finish(), false);
    case kAuth:
      return auth(request, session, reply);
    case kWhoAmI:
      return who_am_i(request, session, reply);
    case kSetWatches:
    case kSetWatches2:
      return set_watches(request, session, reply);
    case kAddWatch:
    case kCheckWatches:
    case kRemoveWatches:
      return watch_op(request, session, reply);
    case kSync:
      return sync(request, reply);
    case kMultiRead:
      return multi_read(request, session, reply);
    case kGetEphemerals:
      return get_ephemerals(request, session, reply);
    case kReconfig:
      return reply(error_frame(request.xid, last_zxid(), kReconfigDisabled), false);
    case kSasl:
    case kDeleteContainer:
      return reply(error_frame(request.xid, last_zxid(), kUnimplemented), false);
    default:
      break;
  }
  if (is_write_op(request.op)) return write(request, session, std::move(reply));
  read(request, session, reply);
}

void RequestHandler::read(const Request& request, SessionContext& session, const Reply& reply) {
  const int64_t zxid = last_zxid();
  if (!valid_request_path(request.path, false)) return reply(error_frame(request.xid, zxid, kBadArguments), false);
  const DataTree& tree = service_.tree();
  const Node* node = tree.find(request.path);
  if (request.op == kExists && request.watch &&
      !watches_.add(request.path, WatchKind::kData, session.watcher)) {
    return reply(error_frame(request.xid, zxid, kSystemError), false);
  }
  if (node == nullptr) return reply(error_frame(request.xid, zxid, kNoNode), false);
  const proto::Caller caller = caller_of(session);
  if (request.op != kExists && request.op != kGetAcl && !tree.permits(*node, kRead, caller)) {
    return reply(error_frame(request.xid, zxid, kNoAuth), false);
  }
  if (request.op == kGetAcl && !tree.permits(*node, kRead, caller) && !tree.permits(*node, kAdmin, caller)) {
    return reply(error_frame(request.xid, zxid, kNoAuth), false);
  }
  if (request.watch && (request.op == kGetData || request.op == kGetChildren || request.op == kGetChildren2)) {
    const WatchKind kind = request.op == kGetData ? WatchKind::kData : WatchKind::kChild;
    if (!watches_.add(request.path, kind, session.watcher)) {
      return reply(error_frame(request.xid, zxid, kSystemError), false);
    }
  }
  ReplyFrame frame(request.xid, zxid, kOk);
  JuteWriter& out = frame.body();
  switch (request.op) {
    case kExists:
      write_stat(out, *node);
      break;
    case kGetData:
      out.write_buffer(node->data());
      write_stat(out, *node);
      break;
    case kGetChildren:
    case kGetChildren2:
      if (!write_children(out, *node)) return reply_too_big(request, reply);
      if (request.op == kGetChildren2) write_stat(out, *node);
      break;
    case kGetAcl:
      write_acl(out, node->acl());
      write_stat(out, *node);
      break;
    case kGetAllChildrenNumber:
      out.write_int(static_cast<int32_t>(descendants(*node)));
      break;
    default:
      return reply(error_frame(request.xid, zxid, kUnimplemented), false);
  }
  reply(frame.finish(), false);
}

void RequestHandler::reply_too_big(const Request& request, const Reply& reply) const {
  spdlog::warn("client port: {} of {} would answer more than {} bytes: refused with SystemError", op_name(request.op),
               request.path.substr(0, 256), kReplyBytesMax);
  reply(error_frame(request.xid, last_zxid(), kSystemError), false);
}

void RequestHandler::get_ephemerals(const Request& request, const SessionContext& session, const Reply& reply) {
  const DataTree& tree = service_.tree();
  std::vector<std::string> paths;
  for (const Node* node : tree.ephemerals_of(session.session_id)) {
    std::string path = tree.path_of(*node);
    if (path.starts_with(request.path)) paths.push_back(std::move(path));
  }
  ReplyFrame frame(request.xid, last_zxid(), kOk);
  frame.body().write_int(static_cast<int32_t>(paths.size()));
  for (const std::string& path : paths) frame.body().write_string(path);
  reply(frame.finish(), false);
}

void RequestHandler::multi_read(const Request& request, SessionContext& session, const Reply& reply) {
  ReplyFrame frame(request.xid, last_zxid(), kOk);
  JuteWriter& out = frame.body();
  const DataTree& tree = service_.tree();
  const proto::Caller caller = caller_of(session);
  for (const Request& op : request.ops) {
    const Node* node = valid_request_path(op.path, false) ? tree.find(op.path) : nullptr;
    int32_t err = !valid_request_path(op.path, false) ? kBadArguments : node == nullptr ? kNoNode : kOk;
    if (err == kOk && !tree.permits(*node, kRead, caller)) err = kNoAuth;
    out.write_int(err == kOk ? op.op : kError);
    out.write_bool(false);
    out.write_int(err);
    if (err != kOk) {
      out.write_int(err);
      continue;
    }
    if (op.watch) watches_.add(op.path, op.op == kGetData ? WatchKind::kData : WatchKind::kChild, session.watcher);
    if (op.op == kGetData) {
      out.write_buffer(node->data());
      write_stat(out, *node);
    } else if (!write_children(out, *node)) {
      return reply_too_big(request, reply);
    }
    if (out.size() > kReplyBytesMax) return reply_too_big(request, reply);
  }
  out.write_int(-1);
  out.write_bool(true);
  out.write_int(-1);
  reply(frame.finish(), false);
}

void RequestHandler::sync(const Request& request, const Reply& reply) {
  service_.sync([this, xid = request.xid, path = request.path, reply](Code code) {
    ReplyFrame frame(xid, last_zxid(), error_of(code));
    if (code == Code::kOk) frame.body().write_string(path);
    reply(frame.finish(), false);
  });
}

void RequestHandler::auth(const Request& request, SessionContext& session, const Reply& reply) {
  const bool digest = request.auth_scheme == "digest" && request.auth.size() <= kAuthCredentialsBytesMax;
  const std::string id = digest ? digest_id(request.auth) : std::string();
  const bool known = std::find(session.digest_ids.begin(), session.digest_ids.end(), id) != session.digest_ids.end();
  if (id.empty() || (!known && session.digest_ids.size() >= kAuthIdsPerSessionMax)) {
    spdlog::info("client port: session {:#x}: auth with scheme '{}' ({} bytes, {} identities held) refused",
                 session.session_id, request.auth_scheme.substr(0, 32), request.auth.size(), session.digest_ids.size());
    return reply(error_frame(kAuthXid, 0, kAuthFailed), true);
  }
  if (!known) session.digest_ids.push_back(id);
  reply(error_frame(kAuthXid, 0, kOk), false);
}

void RequestHandler::who_am_i(const Request& request, SessionContext& session, const Reply& reply) {
  ReplyFrame frame(request.xid, last_zxid(), kOk);
  JuteWriter& out = frame.body();
  out.write_int(static_cast<int32_t>(1 + session.digest_ids.size()));
  out.write_string("ip");
  out.write_string(session.peer_ip);
  for (const std::string& id : session.digest_ids) {
    out.write_string("digest");
    out.write_string(std::string_view(id).substr(0, id.find(':')));
  }
  reply(frame.finish(), false);
}

// setWatches after a reconnect: the watches come back, and what changed since the client's last
// zxid fires at once (ZooKeeper's DataTree.setWatches).
void RequestHandler::set_watches(const Request& request, SessionContext& session, const Reply& reply) {
  const DataTree& tree = service_.tree();
  const Zxid since = request.relative_zxid;
  auto send = [&](EventType type, const std::string& path) { session.send_event(event_frame(type, path)); };
  bool refused = false;  // a path that is not one, or past the watch limits
  auto add = [&](const std::string& path, WatchKind kind) { refused |= !watches_.add(path, kind, session.watcher); };
  auto valid = [&](const std::string& path) {
    refused |= !valid_request_path(path, false);
    return valid_request_path(path, false);
  };
  for (const std::string& path : request.data_watches) {
    if (!valid(path)) continue;
    const Node* node = tree.find(path);
    if (node == nullptr) {
      send(kNodeDeleted, path);
    } else if (node->stat().mzxid > since) {
      send(kNodeDataChanged, path);
    } else {
      add(path, WatchKind::kData);
    }
  }
  for (const std::string& path : request.exist_watches) {
    if (!valid(path)) continue;
    if (tree.find(path) != nullptr) {
      send(kNodeCreated, path);
    } else {
      add(path, WatchKind::kData);
    }
  }
  for (const std::string& path : request.child_watches) {
    if (!valid(path)) continue;
    const Node* node = tree.find(path);
    if (node == nullptr) {
      send(kNodeDeleted, path);
    } else if (node->stat().pzxid > since) {
      send(kNodeChildrenChanged, path);
    } else {
      add(path, WatchKind::kChild);
    }
  }
  for (const std::string& path : request.persistent_watches) {
    if (valid(path)) add(path, WatchKind::kPersistent);
  }
  for (const std::string& path : request.recursive_watches) {
    if (valid(path)) add(path, WatchKind::kRecursive);
  }
  reply(error_frame(kSetWatchesXid, last_zxid(), refused ? kSystemError : kOk), false);
}

void RequestHandler::watch_op(const Request& request, SessionContext& session, const Reply& reply) {
  const int64_t zxid = last_zxid();
  if (!valid_request_path(request.path, false)) return reply(error_frame(request.xid, zxid, kBadArguments), false);
  if (request.op == kAddWatch) {
    if (request.mode != kAddWatchPersistent && request.mode != kAddWatchPersistentRecursive) {
      return reply(error_frame(request.xid, zxid, kBadArguments), false);
    }
    const WatchKind kind = request.mode == kAddWatchPersistent ? WatchKind::kPersistent : WatchKind::kRecursive;
    if (!watches_.add(request.path, kind, session.watcher)) {
      return reply(error_frame(request.xid, zxid, kSystemError), false);
    }
    // ZooKeeper 3.8 answers addWatch with an ErrorResponse body after the header: err 0 again,
    // 20 bytes after the length.
    ReplyFrame frame(request.xid, zxid, kOk);
    frame.body().write_int(kOk);
    return reply(frame.finish(), false);
  }
  // checkWatches / removeWatches: children, data (incl. persistent ones) or any.
  std::vector<WatchKind> kinds;
  if (request.mode == kWatcherChildren || request.mode == kWatcherAny) kinds.push_back(WatchKind::kChild);
  if (request.mode == kWatcherData || request.mode == kWatcherAny) kinds.push_back(WatchKind::kData);
  if (request.mode == kWatcherPersistent || request.mode == kWatcherAny) kinds.push_back(WatchKind::kPersistent);
  if (request.mode == kWatcherPersistentRecursive || request.mode == kWatcherAny) {
    kinds.push_back(WatchKind::kRecursive);
  }
  bool found = false;
  for (WatchKind kind : kinds) {
    if (!watches_.has(request.path, kind, session.watcher)) continue;
    found = true;
    if (request.op == kRemoveWatches) watches_.remove(request.path, kind, session.watcher);
  }
  reply(error_frame(request.xid, zxid, found ? kOk : kNoWatcher), false);
}

int32_t RequestHandler::add_op(const Request& request, const SessionContext& session, proto::Txn* txn) const {
  proto::Op* op = txn->add_ops();
  switch (request.op) {
    case kCreate:
    case kCreate2:
    case kCreateContainer:
    case kCreateTtl: {
      const int32_t mode = request.flags;
      if (mode < kPersistent || mode > kPersistentSequentialWithTtl) return kBadArguments;
      const bool ttl = mode == kPersistentWithTtl || mode == kPersistentSequentialWithTtl;
      if (ttl && !options_.extended_types) return kUnimplemented;
      if (ttl && request.ttl_ms <= 0) return kBadArguments;
      if (request.data.size() > options_.data_bytes_max) return kBadArguments;
      if (ttl != (request.op == kCreateTtl) || (request.op == kCreateContainer && mode != kContainer)) {
        return kBadArguments;
      }
      const bool sequential = mode == kPersistentSequential || mode == kEphemeralSequential ||
                              mode == kPersistentSequentialWithTtl;
      if (!valid_request_path(request.path, sequential)) return kBadArguments;
      std::string acl;
      // A control socket's caller names no ACL: its file takes the parent's, as on the mount.
      if (!session.local_caller && !acl_text(request.acl, &acl)) return kInvalidAcl;
      proto::CreateOp* create = op->mutable_create();
      create->set_path(request.path);
      create->set_data(request.data);
      create->set_sequential(sequential);
      create->set_container(mode == kContainer);
      create->set_directory(mode == kContainer);
      if (ttl) create->set_ttl_ms(request.ttl_ms);
      if (mode == kEphemeral || mode == kEphemeralSequential) create->set_ephemeral_owner(session.session_id);
      create->set_acl(acl);
      if (session.local_caller) {
        // A control socket's caller has no session to own an ephemeral, and makes a file as
        // `quorumctl create` through the mount would (docs/quorumctl.md).
        if (mode != kPersistent && mode != kPersistentSequential) return kBadArguments;
        // The parent's creation flags apply as on the mount (docs/mount.md): a sticky parent
        // makes the file sequential; a set-gid one would make it ephemeral, which no session
        // here could own, so it is refused (docs/quorumctl.md). The ACL stays empty: the
        // parent's (a local caller without ADMIN chooses none).
        if (const Node* parent = service_.tree().find(parent_of(request.path));
            parent != nullptr && parent->is_directory()) {
          if ((parent->attrs().mode & S_ISGID) != 0) return kBadArguments;
          if ((parent->attrs().mode & S_ISVTX) != 0) create->set_sequential(true);
        }
        proto::PosixMeta* meta = create->mutable_meta();
        meta->set_uid(session.local_caller->uid());
        meta->set_gid(session.local_caller->gid());
        meta->set_mode(kLocalFileMode);
        return kOk;
      }
      create->set_parent_may_become_directory(true);
      proto::PosixMeta* meta = create->mutable_meta();
      meta->set_uid(0);
      meta->set_gid(0);
      meta->set_mode(mode == kContainer ? kClientDirectoryMode : kClientFileMode);
      return kOk;
    }
    case kDelete:
      if (!valid_request_path(request.path, false) || request.path == "/") return kBadArguments;
      op->mutable_remove()->set_path(request.path);
      op->mutable_remove()->set_expected_version(request.version);
      return kOk;
    case kSetData:
      if (!valid_request_path(request.path, false) || request.data.size() > options_.data_bytes_max) return kBadArguments;
      op->mutable_set_data()->set_path(request.path);
      op->mutable_set_data()->set_data(request.data);
      op->mutable_set_data()->set_expected_version(request.version);
      return kOk;
    case kCheck:
      if (!valid_request_path(request.path, false)) return kBadArguments;
      op->mutable_check()->set_path(request.path);
      op->mutable_check()->set_expected_version(request.version);
      return kOk;
    case kSetAcl: {
      if (!valid_request_path(request.path, false)) return kBadArguments;
      std::string acl;
      if (!acl_text(request.acl, &acl)) return kInvalidAcl;
      op->mutable_set_acl()->set_path(request.path);
      op->mutable_set_acl()->set_acl(acl);
      op->mutable_set_acl()->set_expected_aversion(request.version);
      return kOk;
    }
    case kCloseSession:
      op->mutable_close_session()->set_session_id(session.session_id);
      return kOk;
    default:
      return kUnimplemented;
  }
}

void RequestHandler::write(const Request& request, SessionContext& session, Reply reply) {
  if (session.read_only) {
    // A read-only session is this member's alone: closing it takes no txn.
    if (request.op == kCloseSession) return reply(error_frame(request.xid, last_zxid(), kOk), true);
    return reply(error_frame(request.xid, last_zxid(), kNotReadOnly), false);
  }
  proto::Txn txn;
  *txn.mutable_caller() = caller_of(session);
  txn.set_session_id(session.session_id);
  const std::vector<Request> single;
  const auto& ops = request.op == kMulti ? request.ops : single;
  if (request.op == kMulti) {
    for (size_t i = 0; i < ops.size(); ++i) {
      if (int32_t err = add_op(ops[i], session, &txn); err != kOk) {
        ApplyResult refused;
        refused.code = Code::kBadArguments;
        refused.failed_op = static_cast<int>(i);
        return answer_multi(shape_of(request), refused, err, reply);
      }
    }
    if (ops.empty()) {
      ApplyResult nothing;
      nothing.zxid = last_zxid();
      return answer_multi(shape_of(request), nothing, kOk, reply);
    }
  } else if (int32_t err = add_op(request, session, &txn); err != kOk) {
    return reply(error_frame(request.xid, last_zxid(), err), false);
  }
  // The callback keeps what the reply needs, not the request (its data is in the txn already).
  service_.submit(std::move(txn), service::Submitter::kClients,
                  [this, shape = shape_of(request), reply = std::move(reply)](const ApplyResult& result) {
                    answer_write(shape, result, reply);
                  });
}

RequestHandler::WriteShape RequestHandler::shape_of(const Request& request) {
  WriteShape shape{.xid = request.xid, .op = request.op, .ops = {}};
  shape.ops.reserve(request.ops.size());
  for (const Request& op : request.ops) shape.ops.push_back(op.op);
  return shape;
}

void RequestHandler::answer_write(const WriteShape& request, const ApplyResult& result, const Reply& reply) const {
  if (request.op == kMulti) return answer_multi(request, result, error_of(result.code), reply);
  const int64_t zxid = result.zxid != 0 ? result.zxid : last_zxid();
  if (result.code != Code::kOk) {
    return reply(error_frame(request.xid, zxid, error_of(result.code)), result.code == Code::kSessionExpired);
  }
  ReplyFrame frame(request.xid, zxid, kOk);
  write_result(request.op, result, result.ops.front(), frame.body());
  reply(frame.finish(), request.op == kCloseSession);
}

// One op's result inside a reply, after the apply (the tree is at the txn's zxid).
void RequestHandler::write_result(int32_t op, const ApplyResult& applied, const OpResult& result,
                                  JuteWriter& out) const {
  switch (op) {
    case kCreate:
      out.write_string(result.path);
      break;
    case kCreate2:
    case kCreateContainer:
    case kCreateTtl:
      out.write_string(result.path);
      write_stat_of(out, service_.tree(), applied, result);
      break;
    case kSetData:
    case kSetAcl:
      write_stat_of(out, service_.tree(), applied, result);
      break;
    default:
      break;  // delete, check, closeSession: no body
  }
}

// A multi's reply: a MultiHeader and a result per op, then the closing header. When it failed,
// every op answers with an error: 0 before the failing op, its code, then RuntimeInconsistency
// (ZooKeeper's DataTree.processTxn). The reply header itself says 0 either way.
void RequestHandler::answer_multi(const WriteShape& request, const ApplyResult& result, int32_t err,
                                  const Reply& reply) const {
  const int64_t zxid = result.zxid != 0 ? result.zxid : last_zxid();
  if (result.code == Code::kSessionExpired) return reply(error_frame(request.xid, zxid, kSessionExpired), true);
  ReplyFrame frame(request.xid, zxid, kOk);
  JuteWriter& out = frame.body();
  const bool failed = err != kOk;
  // A txn that failed as a whole (no quorum) fails at its first op.
  const size_t failed_at = result.failed_op >= 0 ? static_cast<size_t>(result.failed_op) : 0;
  for (size_t i = 0; i < request.ops.size(); ++i) {
    if (failed) {
      const int32_t op_err = i < failed_at ? kOk : i == failed_at ? err : kRuntimeInconsistency;
      out.write_int(kError);
      out.write_bool(false);
      out.write_int(op_err);
      out.write_int(op_err);
      continue;
    }
    out.write_int(request.ops[i]);
    out.write_bool(false);
    out.write_int(kOk);
    write_result(request.ops[i], result, result.ops[i], out);
  }
  out.write_int(-1);
  out.write_bool(true);
  out.write_int(-1);
  reply(frame.finish(), false);
}

// The path of each change: its parent's path and its name. A parent deleted by the same txn is
// no longer in the tree; its own change comes later in the list (children go first), so walking
// the list backwards meets it first.
void RequestHandler::fire_watches(const ApplyResult& result, std::vector<FiredEvent>* events) {
  const DataTree& tree = service_.tree();
  const auto& changes = result.changes;
  std::vector<std::string> paths(changes.size());
  std::unordered_map<uint64_t, std::string> deleted;
  for (size_t i = changes.size(); i-- > 0;) {
    const Change& change = changes[i];
    if (change.inode == tree.root().inode()) {
      paths[i] = "/";
      continue;
    }
    std::string parent;
    if (const Node* node = tree.by_inode(change.parent_inode)) {
      parent = tree.path_of(*node);
    } else if (const auto found = deleted.find(change.parent_inode); found != deleted.end()) {
      parent = found->second;
    } else {
      continue;
    }
    paths[i] = join_path(parent, change.name);
    if (change.kind == Change::Kind::kDeleted) deleted[change.inode] = paths[i];
  }
  for (size_t i = 0; i < changes.size(); ++i) {
    if (paths[i].empty()) continue;
    switch (changes[i].kind) {
      case Change::Kind::kCreated:
        watches_.fire(kNodeCreated, paths[i], events);
        watches_.fire(kNodeChildrenChanged, parent_of(paths[i]), events);
        break;
      case Change::Kind::kDeleted:
        watches_.fire(kNodeDeleted, paths[i], events);
        watches_.fire(kNodeChildrenChanged, parent_of(paths[i]), events);
        break;
      case Change::Kind::kData:
        watches_.fire(kNodeDataChanged, paths[i], events);
        break;
      default:
        break;  // ACL, mode, owner, times: ZooKeeper raises no event
    }
  }
}

}  // namespace quorumfs::zk
