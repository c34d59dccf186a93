#include "daemon/zk/protocol.h"

#include <array>
#include <limits>

namespace quorumfs::zk {

namespace {

constexpr size_t kUnbounded = std::numeric_limits<size_t>::max();  // the frame bounds it

void read_acl(JuteReader& in, const DecodeLimits& limits, std::vector<AclRecord>* out) {
  // An entry is at least perms (4) and two empty strings (4 + 4).
  const size_t count = in.read_count(limits.acl_entries_max, 12);
  out->reserve(count);
  for (size_t i = 0; i < count && in.ok(); ++i) {
    AclRecord entry;
    entry.perms = in.read_int();
    entry.scheme = in.read_string(kUnbounded);
    entry.id = in.read_string(kUnbounded);
    out->push_back(std::move(entry));
  }
}

void read_paths(JuteReader& in, const DecodeLimits& limits, std::vector<std::string>* out) {
  const size_t count = in.read_count(limits.watch_paths_max, 4);
  out->reserve(count);
  for (size_t i = 0; i < count && in.ok(); ++i) out->push_back(in.read_string(kUnbounded));
}

bool read_body(JuteReader& in, const DecodeLimits& limits, Request* r, bool inside_multi);

// A multi: (MultiHeader, op)* ended by a MultiHeader with done set. Only the ops a multi may hold
// (create*, delete, setData, check; getChildren and getData in a multiRead).
void read_multi(JuteReader& in, const DecodeLimits& limits, Request* r) {
  for (;;) {
    const int32_t type = in.read_int();
    const bool done = in.read_bool();
    in.read_int();  // err: -1 in requests
    if (!in.ok() || done) return;
    if (r->ops.size() >= limits.multi_ops_max) return in.fail();
    Request op;
    op.op = type;
    const bool allowed = r->op == kMulti ? (type == kCreate || type == kCreate2 || type == kCreateContainer ||
                                            type == kCreateTtl || type == kDelete || type == kSetData ||
                                            type == kCheck)
                                         : (type == kGetChildren || type == kGetData);
    if (!allowed || !read_body(in, limits, &op, true)) return in.fail();
    r->ops.push_back(std::move(op));
  }
}

bool read_body(JuteReader& in, const DecodeLimits& limits, Request* r, bool inside_multi) {
  switch (r->op) {
    case kCreate:
    case kCreate2:
    case kCreateContainer:
    case kCreateTtl:
      r->path = in.read_string(kUnbounded);
      r->data = in.read_buffer(kUnbounded);
      read_acl(in, limits, &r->acl);
      r->flags = in.read_int();
      if (r->op == kCreateTtl) r->ttl_ms = in.read_long();
      break;
    case kDelete:
    case kCheck:
    case kSetData:
      r->path = in.read_string(kUnbounded);
      if (r->op == kSetData) r->data = in.read_buffer(kUnbounded);
      r->version = in.read_int();
      break;
    case kExists:
    case kGetData:
    case kGetChildren:
    case kGetChildren2:
      r->path = in.read_string(kUnbounded);
      r->watch = in.read_bool();
      break;
    case kGetAcl:
    case kSync:
    case kGetAllChildrenNumber:
    case kGetEphemerals:
    case kDeleteContainer:
      r->path = in.read_string(kUnbounded);
      break;
    case kSetAcl:
      r->path = in.read_string(kUnbounded);
      read_acl(in, limits, &r->acl);
      r->version = in.read_int();
      break;
    case kAddWatch:
    case kCheckWatches:
    case kRemoveWatches:
      r->path = in.read_string(kUnbounded);
      r->mode = in.read_int();
      break;
    case kAuth:
      in.read_int();  // type: always 0
      r->auth_scheme = in.read_string(kUnbounded);
      r->auth = in.read_buffer(kUnbounded);
      break;
    case kSetWatches:
    case kSetWatches2:
      r->relative_zxid = in.read_long();
      read_paths(in, limits, &r->data_watches);
      read_paths(in, limits, &r->exist_watches);
      read_paths(in, limits, &r->child_watches);
      if (r->op == kSetWatches2) {
        read_paths(in, limits, &r->persistent_watches);
        read_paths(in, limits, &r->recursive_watches);
      }
      break;
    case kReconfig:
      in.read_string(kUnbounded);  // joiningServers, leavingServers, newMembers
      in.read_string(kUnbounded);
      in.read_string(kUnbounded);
      in.read_long();  // curConfigId
      break;
    case kMulti:
    case kMultiRead:
      if (inside_multi) return false;
      read_multi(in, limits, r);
      break;
    case kSasl:
      r->data = in.read_buffer(kUnbounded);  // a token, answered Unimplemented
      break;
    case kPing:
    case kCloseSession:
    case kWhoAmI:
      break;
    default:
      return false;
  }
  return in.ok();
}

}  // namespace

bool decode_connect(std::string_view frame, ConnectRequest* out) {
  JuteReader in(frame);
  out->protocol_version = in.read_int();
  out->last_zxid_seen = in.read_long();
  out->timeout_ms = in.read_int();
  out->session_id = in.read_long();
  out->password = in.read_buffer(64);  // ZooKeeper's are 16 bytes
  if (!in.ok()) return false;
  if (in.remaining() >= 1) out->read_only = in.read_bool();
  return in.ok();
}

std::string encode_connect_response(int32_t timeout_ms, int64_t session_id, std::string_view password,
                                    bool read_only) {
  std::string frame;
  JuteWriter out(&frame);
  const size_t start = out.begin_frame();
  out.write_int(kProtocolVersion);
  out.write_int(timeout_ms);
  out.write_long(session_id);
  out.write_buffer(password);
  out.write_bool(read_only);
  out.end_frame(start);
  return frame;
}

bool decode_request(std::string_view frame, const DecodeLimits& limits, Request* out) {
  JuteReader in(frame);
  out->xid = in.read_int();
  out->op = in.read_int();
  if (!in.ok()) return false;
  return read_body(in, limits, out, false);
}

int32_t peek_opcode(std::string_view frame) {
  JuteReader in(frame);
  in.read_int();
  const int32_t op = in.read_int();
  return in.ok() ? op : -1;
}

bool is_write_op(int32_t op) {
  switch (op) {
    case kCreate:
    case kCreate2:
    case kCreateContainer:
    case kCreateTtl:
    case kDelete:
    case kDeleteContainer:
    case kSetData:
    case kSetAcl:
    case kCheck:
    case kMulti:
    case kReconfig:
    case kCloseSession:
      return true;
    default:
      return false;
  }
}

const char* op_name(int32_t op) {
  switch (op) {
    case kCreate: return "create";
    case kDelete: return "delete";
    case kExists: return "exists";
    case kGetData: return "getData";
    case kSetData: return "setData";
    case kGetAcl: return "getACL";
    case kSetAcl: return "setACL";
    case kGetChildren: return "getChildren";
    case kSync: return "sync";
    case kPing: return "ping";
    case kGetChildren2: return "getChildren2";
    case kCheck: return "check";
    case kMulti: return "multi";
    case kCreate2: return "create2";
    case kReconfig: return "reconfig";
    case kCheckWatches: return "checkWatches";
    case kRemoveWatches: return "removeWatches";
    case kCreateContainer: return "createContainer";
    case kDeleteContainer: return "deleteContainer";
    case kCreateTtl: return "createTTL";
    case kMultiRead: return "multiRead";
    case kAuth: return "auth";
    case kSetWatches: return "setWatches";
    case kSasl: return "sasl";
    case kGetEphemerals: return "getEphemerals";
    case kGetAllChildrenNumber: return "getAllChildrenNumber";
    case kSetWatches2: return "setWatches2";
    case kAddWatch: return "addWatch";
    case kWhoAmI: return "whoAmI";
    case kCloseSession: return "closeSession";
    default: return "unknown";
  }
}

bool is_four_letter_word(std::string_view first4) {
  static constexpr std::array<std::string_view, 20> kWords = {
      "ruok", "srvr", "stat", "mntr", "conf", "cons", "envi", "wchs", "dirs", "isro",
      "crst", "dump", "srst", "wchc", "wchp", "gtmk", "stmk", "hash", "rqst", "lsnp"};
  for (std::string_view word : kWords) {
    if (first4 == word) return true;
  }
  return false;
}

}  // namespace quorumfs::zk
