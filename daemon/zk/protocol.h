// ZooKeeper 3.8's client protocol: opcodes, error codes, watch events and the request records a
// client sends, decoded from jute (docs/zk-protocol.md). Pure: no sockets, no tree.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/zk/jute.h"

namespace quorumfs::zk {

// ZooDefs.OpCode.
enum OpCode : int32_t {
  kNotification = 0,
  kCreate = 1,
  kDelete = 2,
  kExists = 3,
  kGetData = 4,
  kSetData = 5,
  kGetAcl = 6,
  kSetAcl = 7,
  kGetChildren = 8,
  kSync = 9,
  kPing = 11,
  kGetChildren2 = 12,
  kCheck = 13,
  kMulti = 14,
  kCreate2 = 15,
  kReconfig = 16,
  kCheckWatches = 17,
  kRemoveWatches = 18,
  kCreateContainer = 19,
  kDeleteContainer = 20,
  kCreateTtl = 21,
  kMultiRead = 22,
  kAuth = 100,
  kSetWatches = 101,
  kSasl = 102,
  kGetEphemerals = 103,
  kGetAllChildrenNumber = 104,
  kSetWatches2 = 105,
  kAddWatch = 106,
  kWhoAmI = 107,
  kCreateSession = -10,
  kCloseSession = -11,
  kError = -1,
};

// KeeperException.Code.
enum Err : int32_t {
  kOk = 0,
  kSystemError = -1,
  kRuntimeInconsistency = -2,
  kConnectionLoss = -4,
  kMarshallingError = -5,
  kUnimplemented = -6,
  kBadArguments = -8,
  kApiError = -100,
  kNoNode = -101,
  kNoAuth = -102,
  kBadVersion = -103,
  kNoChildrenForEphemerals = -108,
  kNodeExists = -110,
  kNotEmpty = -111,
  kSessionExpired = -112,
  kInvalidAcl = -114,
  kAuthFailed = -115,
  kSessionMoved = -118,
  kNotReadOnly = -119,
  kNoWatcher = -121,
  kReconfigDisabled = -123,
};

// Watcher.Event.EventType and KeeperState.
enum EventType : int32_t {
  kEventNone = -1,
  kNodeCreated = 1,
  kNodeDeleted = 2,
  kNodeDataChanged = 3,
  kNodeChildrenChanged = 4,
  kDataWatchRemoved = 5,
  kChildWatchRemoved = 6,
  kPersistentWatchRemoved = 7,
};
inline constexpr int32_t kStateSyncConnected = 3;

// Reserved xids of the replies that answer no numbered request.
inline constexpr int32_t kNotificationXid = -1;
inline constexpr int32_t kPingXid = -2;
inline constexpr int32_t kAuthXid = -4;
inline constexpr int32_t kSetWatchesXid = -8;

// CreateMode's flag values.
enum CreateMode : int32_t {
  kPersistent = 0,
  kEphemeral = 1,
  kPersistentSequential = 2,
  kEphemeralSequential = 3,
  kContainer = 4,
  kPersistentWithTtl = 5,
  kPersistentSequentialWithTtl = 6,
};

// AddWatchMode and WatcherType (removeWatches/checkWatches).
inline constexpr int32_t kAddWatchPersistent = 0;
inline constexpr int32_t kAddWatchPersistentRecursive = 1;
enum WatcherType : int32_t {
  kWatcherChildren = 1,
  kWatcherData = 2,
  kWatcherAny = 3,
  kWatcherPersistent = 4,
  kWatcherPersistentRecursive = 5,
};

// ZooKeeper's client protocol version (ConnectRequest.protocolVersion).
inline constexpr int32_t kProtocolVersion = 0;

struct AclRecord {
  int32_t perms = 0;
  std::string scheme;
  std::string id;
};

struct ConnectRequest {
  int32_t protocol_version = 0;
  int64_t last_zxid_seen = 0;
  int32_t timeout_ms = 0;
  int64_t session_id = 0;
  std::string password;
  bool read_only = false;  // absent in old clients' requests
};

// One request after its RequestHeader. One flat record for every opcode: each fills the fields it
// has (the others keep their defaults).
struct Request {
  int32_t xid = 0;
  int32_t op = 0;
  std::string path;
  std::string data;
  std::vector<AclRecord> acl;
  int32_t flags = 0;           // create: CreateMode
  int32_t version = -1;        // setData, delete, check, setACL
  bool watch = false;          // exists, getData, getChildren(2)
  int64_t ttl_ms = 0;          // createTTL
  int32_t mode = 0;            // addWatch: AddWatchMode; checkWatches/removeWatches: WatcherType
  std::string auth_scheme;     // auth
  std::string auth;
  int64_t relative_zxid = 0;   // setWatches(2)
  std::vector<std::string> data_watches, exist_watches, child_watches, persistent_watches,
      recursive_watches;
  std::vector<Request> ops;    // multi, multiRead
};

// Bounds a decoded request is held to: a vector longer than these fails the decode (the frame is
// bounded too, so strings and buffers are bounded by it).
struct DecodeLimits {
  size_t acl_entries_max = 1024;
  size_t multi_ops_max = 1024;
  size_t watch_paths_max = 1 << 20;  // setWatches re-registers every watch of a session at once
};

bool decode_connect(std::string_view frame, ConnectRequest* out);
// The ConnectResponse frame (length included): protocolVersion, timeOut, sessionId, passwd,
// readOnly. A refused session is answered with timeout 0, session 0 and a password of zeros.
std::string encode_connect_response(int32_t timeout_ms, int64_t session_id, std::string_view password,
                                    bool read_only);
// Decodes a whole request frame (header and body). False: malformed, or an opcode not known.
bool decode_request(std::string_view frame, const DecodeLimits& limits, Request* out);
// The opcode of a frame whose body did not decode, or -1 when even its header is short.
int32_t peek_opcode(std::string_view frame);

bool is_write_op(int32_t op);
const char* op_name(int32_t op);

// The first four bytes of a connection that are one of ZooKeeper's four-letter words instead of
// a frame length.
bool is_four_letter_word(std::string_view first4);

}  // namespace quorumfs::zk
