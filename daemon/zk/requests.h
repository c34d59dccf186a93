// What each ZooKeeper request does to the service core: reads answered from this replica's tree,
// writes made into txns and submitted, answers encoded as ZooKeeper frames (docs/zk-protocol.md).
// Knows nothing of sockets: a connection hands it decoded requests and writes what it answers.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "daemon/service/service.h"
#include "daemon/zk/protocol.h"
#include "daemon/zk/watch_table.h"

namespace quorumfs::zk {

// One client's session as the requests see it.
struct SessionContext {
  uint64_t session_id = 0;
  bool read_only = false;              // a session of a member without quorum: reads only
  std::string peer_ip;                 // the client's address ("ip" scheme)
  std::vector<std::string> digest_ids; // "user:hash" of every addauth digest
  WatcherId watcher = 0;
  // Sends a watch event to this client at once (setWatches fires what it missed).
  std::function<void(std::string frame)> send_event;
  // A caller of the control socket (control_socket.h): a local Unix user, checked as the mount
  // checks its callers (uid:/gid: ACL entries, uid 0 super), in place of a ZooKeeper client's
  // identities. Its creates are its own files (uid, gid, mode 0644), never a directory's parent.
  std::optional<proto::Caller> local_caller;
};

struct HandlerOptions {
  bool extended_types = false;  // extendedTypesEnabled: TTL nodes
  size_t data_bytes_max = 1 << 20;  // a create's or setData's data (the mount's --data-max-bytes)
};

// The largest reply a read builds (a getChildren of a huge directory, a multiRead of large nodes):
// past it the read answers SystemError and logs why, before more memory is taken.
inline constexpr size_t kReplyBytesMax = 64u << 20;
// Identities one session may add with addauth, and the longest credentials one may name.
inline constexpr size_t kAuthIdsPerSessionMax = 16;
inline constexpr size_t kAuthCredentialsBytesMax = 1024;

class RequestHandler {
 public:
  // A whole reply frame (length, ReplyHeader, body). close_after: the connection ends once it
  // is written (closeSession, a failed auth).
  using Reply = std::function<void(std::string frame, bool close_after)>;

  RequestHandler(service::Service& service, WatchTable& watches, HandlerOptions options);

  // Answers request by calling reply once: at once for a read, after the apply for a write.
  void handle(const Request& request, SessionContext& session, Reply reply);

  // The watch events an applied txn raises (ZooKeeper's rules, watch_table.h), appended to events:
  // what the client port sends from the change feed. Fired one-shot watches are removed.
  void fire_watches(const ApplyResult& result, std::vector<FiredEvent>* events);

  // A frame that answers xid with err alone.
  static std::string error_frame(int32_t xid, int64_t zxid, int32_t err);
  // May session read the node at path (a deleted node: its parent)? What a recursive watch on an
  // ancestor may tell it about (ZooKeeper 3.8.4's fix of CVE-2024-23944).
  bool may_read(const SessionContext& session, std::string_view path) const;
  // A watch event's frame (xid -1).
  static std::string event_frame(EventType type, std::string_view path);
  static int32_t error_of(Code code);

 private:
  void read(const Request& request, SessionContext& session, const Reply& reply);
  void write(const Request& request, SessionContext& session, Reply reply);
  void multi_read(const Request& request, SessionContext& session, const Reply& reply);
  void set_watches(const Request& request, SessionContext& session, const Reply& reply);
  void watch_op(const Request& request, SessionContext& session, const Reply& reply);
  void auth(const Request& request, SessionContext& session, const Reply& reply);
  void who_am_i(const Request& request, SessionContext& session, const Reply& reply);
  void sync(const Request& request, const Reply& reply);
  void reply_too_big(const Request& request, const Reply& reply) const;
  void get_ephemerals(const Request& request, const SessionContext& session, const Reply& reply);

  // Appends one op of a write request to txn; an error code when the request is refused as given.
  int32_t add_op(const Request& request, const SessionContext& session, proto::Txn* txn) const;
  // What a write's reply needs of its request: its xid and the kinds of its ops.
  struct WriteShape {
    int32_t xid;
    int32_t op;
    std::vector<int32_t> ops;  // a multi's
  };
  static WriteShape shape_of(const Request& request);
  void answer_write(const WriteShape& request, const ApplyResult& result, const Reply& reply) const;
  void answer_multi(const WriteShape& request, const ApplyResult& result, int32_t err, const Reply& reply) const;
  void write_result(int32_t op, const ApplyResult& applied, const OpResult& result, JuteWriter& out) const;
  proto::Caller caller_of(const SessionContext& session) const;
  int64_t last_zxid() const;

  service::Service& service_;
  WatchTable& watches_;
  HandlerOptions options_;
};

}  // namespace quorumfs::zk
