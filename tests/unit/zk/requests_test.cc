// RequestHandler over a real tree, no sockets: every error a client can meet answers with
// ZooKeeper's code and leaves the tree as it was; watches fire from the change feed as the client
// port fires them (docs/architecture.md, "The service core").
#include "daemon/zk/requests.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "daemon/zk/auth.h"
#include "daemon/zk/jute.h"
#include "tests/unit/zk/handler_harness.h"

namespace quorumfs::zk {
namespace {

using testing::HandlerHarness;

constexpr uint64_t kSessionA = 0x0100000000000001;
constexpr uint64_t kSessionB = 0x0100000000000002;

const std::vector<AclRecord> kOpenAcl = {{31, "world", "anyone"}};

struct Header {
  int32_t xid = 0;
  int64_t zxid = 0;
  int32_t err = 0;
};

Header header_of(const std::string& frame) {
  JuteReader in(std::string_view(frame).substr(4));
  Header header;
  header.xid = in.read_int();
  header.zxid = in.read_long();
  header.err = in.read_int();
  EXPECT_TRUE(in.ok());
  return header;
}

Request request(int32_t op, std::string path) {
  static int32_t next_xid = 1;
  Request r;
  r.xid = next_xid++;
  r.op = op;
  r.path = std::move(path);
  return r;
}

Request create(std::string path, std::string data = "", int32_t flags = kPersistent) {
  Request r = request(kCreate, std::move(path));
  r.data = std::move(data);
  r.acl = kOpenAcl;
  r.flags = flags;
  return r;
}

Request set_data(std::string path, std::string data, int32_t version = -1) {
  Request r = request(kSetData, std::move(path));
  r.data = std::move(data);
  r.version = version;
  return r;
}

Request remove(std::string path, int32_t version = -1) {
  Request r = request(kDelete, std::move(path));
  r.version = version;
  return r;
}

Request read(int32_t op, std::string path, bool watch = false) {
  Request r = request(op, std::move(path));
  r.watch = watch;
  return r;
}

// Every node's path, data and versions: what a refused request must leave as it was.
std::string fingerprint(const DataTree& tree) {
  std::string text = std::to_string(tree.node_count()) + "\n";
  std::function<void(const Node&)> walk = [&](const Node& node) {
    const Stat& stat = node.stat();
    text += tree.path_of(node) + " '" + std::string(node.data()) + "' v" + std::to_string(stat.version) + " c" +
            std::to_string(stat.cversion) + " a" + std::to_string(stat.aversion) + " m" +
            std::to_string(stat.mzxid) + " acl " + format_acl(node.acl()) + "\n";
    node.for_each_child("", [&](const Node& child) {
      walk(child);
      return true;
    });
  };
  walk(tree.root());
  return text;
}

class RequestHandlerTest : public ::testing::Test {
 protected:
  explicit RequestHandlerTest(HandlerOptions options = {}) : harness_(options) {
    a_ = harness_.open_session(kSessionA, 1);
    b_ = harness_.open_session(kSessionB, 2);
  }

  Header handle(const Request& r, SessionContext& session) { return header_of(harness_.handle(r, session)); }
  Header handle(const Request& r) { return handle(r, a_); }

  void make(const std::string& path, const std::string& data = "") {
    ASSERT_EQ(kOk, handle(create(path, data)).err) << path;
  }

  // r, on session, answers err and leaves the tree as it was.
  void expect_refused(const Request& r, int32_t err, SessionContext& session) {
    const std::string before = fingerprint(harness_.tree());
    const Header header = handle(r, session);
    EXPECT_EQ(err, header.err) << op_name(r.op) << " '" << r.path << "'";
    EXPECT_EQ(r.xid, header.xid);
    EXPECT_EQ(before, fingerprint(harness_.tree())) << op_name(r.op) << " '" << r.path << "'";
  }
  void expect_refused(const Request& r, int32_t err) { expect_refused(r, err, a_); }

  HandlerHarness harness_;
  SessionContext a_;
  SessionContext b_;
};

// ---- Errors: ZooKeeper's code, nothing changed ------------------------------------------------

TEST_F(RequestHandlerTest, InvalidPathsAreBadArgumentsForEveryRequest) {
  make("/a", "x");
  for (const std::string path : {"a", "a/b", "/a/", "/a//b", "//", "/a/.", "/a/..", "/./a", "/../a", ""}) {
    SCOPED_TRACE("'" + path + "'");
    expect_refused(create(path), kBadArguments);
    expect_refused(set_data(path, "y"), kBadArguments);
    expect_refused(remove(path), kBadArguments);
    expect_refused(read(kGetData, path), kBadArguments);
    expect_refused(read(kExists, path), kBadArguments);
    expect_refused(read(kGetChildren, path), kBadArguments);
    expect_refused(read(kGetAcl, path), kBadArguments);
  }
  expect_refused(create(std::string("/a\0b", 4)), kBadArguments);
  expect_refused(remove("/"), kBadArguments);
}

TEST_F(RequestHandlerTest, ASequentialCreateMayEndInASlashAndNothingElseMay) {
  make("/q");
  const Request sequential = create("/q/", "", kPersistentSequential);
  const Header header = handle(sequential);
  EXPECT_EQ(kOk, header.err);
  EXPECT_NE(nullptr, harness_.tree().find("/q/0000000000"));
  expect_refused(create("/q/", "", kPersistent), kBadArguments);
}

TEST_F(RequestHandlerTest, CreateUnderAMissingParentIsNoNode) {
  expect_refused(create("/missing/child"), kNoNode);
  make("/a");
  expect_refused(create("/a/missing/child"), kNoNode);
}

TEST_F(RequestHandlerTest, CreateOfAnExistingNodeIsNodeExists) {
  const std::string empty = fingerprint(harness_.tree());
  make("/a", "first");
  EXPECT_NE(empty, fingerprint(harness_.tree()));  // the fingerprint sees a change
  expect_refused(create("/a", "second"), kNodeExists);
  EXPECT_EQ("first", harness_.tree().find("/a")->data());
}

TEST_F(RequestHandlerTest, DeleteOfANodeWithChildrenIsNotEmpty) {
  make("/a");
  make("/a/b");
  expect_refused(remove("/a"), kNotEmpty);
  EXPECT_EQ(kOk, handle(remove("/a/b")).err);
  EXPECT_EQ(kOk, handle(remove("/a")).err);
  EXPECT_EQ(nullptr, harness_.tree().find("/a"));
}

TEST_F(RequestHandlerTest, DeleteAndSetDataOfAMissingNodeAreNoNode) {
  expect_refused(remove("/missing"), kNoNode);
  expect_refused(set_data("/missing", "x"), kNoNode);
  expect_refused(read(kGetData, "/missing"), kNoNode);
  expect_refused(read(kGetChildren2, "/missing"), kNoNode);
}

TEST_F(RequestHandlerTest, AVersionThatIsNotTheNodesIsBadVersion) {
  make("/a", "x");
  ASSERT_EQ(kOk, handle(set_data("/a", "y", 0)).err);  // version 0 -> 1
  expect_refused(set_data("/a", "z", 0), kBadVersion);
  expect_refused(set_data("/a", "z", 7), kBadVersion);
  expect_refused(remove("/a", 0), kBadVersion);
  Request set_acl = request(kSetAcl, "/a");
  set_acl.acl = kOpenAcl;
  set_acl.version = 3;  // aversion is 0
  expect_refused(set_acl, kBadVersion);
  EXPECT_EQ(kOk, handle(set_data("/a", "z", 1)).err);
  EXPECT_EQ(kOk, handle(remove("/a", 2)).err);
}

TEST_F(RequestHandlerTest, AnEmptyOrMalformedAclIsInvalidAcl) {
  make("/a");
  Request empty = create("/b");
  empty.acl.clear();
  expect_refused(empty, kInvalidAcl);
  Request bad_perms = create("/b");
  bad_perms.acl = {{64, "world", "anyone"}};
  expect_refused(bad_perms, kInvalidAcl);
  Request unknown_scheme = create("/b");
  unknown_scheme.acl = {{31, "nosuchscheme", "x"}};
  expect_refused(unknown_scheme, kInvalidAcl);
  Request set_acl = request(kSetAcl, "/a");
  expect_refused(set_acl, kInvalidAcl);
}

TEST_F(RequestHandlerTest, AnUnknownCreateModeIsBadArguments) {
  for (const int32_t mode : {-1, 7, 100}) expect_refused(create("/a", "", mode), kBadArguments);
  // A mode that does not match its opcode either.
  Request container = create("/a", "", kPersistent);
  container.op = kCreateContainer;
  expect_refused(container, kBadArguments);
}

TEST_F(RequestHandlerTest, TtlNodesAreUnimplementedWithoutExtendedTypes) {
  Request ttl = create("/t", "", kPersistentWithTtl);
  ttl.op = kCreateTtl;
  ttl.ttl_ms = 60000;
  expect_refused(ttl, kUnimplemented);
  Request sequential = create("/t", "", kPersistentSequentialWithTtl);
  sequential.op = kCreateTtl;
  sequential.ttl_ms = 60000;
  expect_refused(sequential, kUnimplemented);
}

class ExtendedTypesTest : public RequestHandlerTest {
 protected:
  ExtendedTypesTest() : RequestHandlerTest(HandlerOptions{.extended_types = true}) {}
};

TEST_F(ExtendedTypesTest, TtlNodesAreCreatedWithExtendedTypes) {
  Request ttl = create("/t", "", kPersistentWithTtl);
  ttl.op = kCreateTtl;
  ttl.ttl_ms = 60000;
  EXPECT_EQ(kOk, handle(ttl).err);
  EXPECT_NE(nullptr, harness_.tree().find("/t"));
  // A TTL mode through plain create is refused still.
  expect_refused(create("/u", "", kPersistentWithTtl), kBadArguments);
}

TEST_F(RequestHandlerTest, ReconfigIsReconfigDisabled) {
  expect_refused(request(kReconfig, ""), kReconfigDisabled);
}

TEST_F(RequestHandlerTest, AReadOnlySessionReadsButEveryWriteIsNotReadOnly) {
  make("/a", "x");
  SessionContext read_only = harness_.open_session(0x0100000000000003, 3);
  read_only.read_only = true;
  expect_refused(create("/b"), kNotReadOnly, read_only);
  expect_refused(set_data("/a", "y"), kNotReadOnly, read_only);
  expect_refused(remove("/a"), kNotReadOnly, read_only);
  Request multi = request(kMulti, "");
  multi.ops = {create("/b")};
  expect_refused(multi, kNotReadOnly, read_only);
  EXPECT_EQ(kOk, handle(read(kGetData, "/a"), read_only).err);
}

// Half of ZooKeeper's digest rule: a node whose ACL names only a digest id refuses a session that
// has not authenticated as it. (With the id's addauth it must then pass: that needs the tree's ACL
// check to take Caller.auth_ids, which it does not yet.)
TEST_F(RequestHandlerTest, ADigestProtectedNodeRefusesASessionWithoutItsCredentials) {
  Request protected_node = create("/secret", "s");
  protected_node.acl = {{31, "digest", digest_id("user:pass")}};
  ASSERT_EQ(kOk, handle(protected_node).err);
  expect_refused(read(kGetData, "/secret"), kNoAuth, b_);
  expect_refused(read(kGetChildren, "/secret"), kNoAuth, b_);
  expect_refused(set_data("/secret", "t"), kNoAuth, b_);
  expect_refused(create("/secret/child"), kNoAuth, b_);
  // exists needs no permission.
  EXPECT_EQ(kOk, handle(read(kExists, "/secret"), b_).err);
}

TEST_F(RequestHandlerTest, AuthWithAnUnknownSchemeFailsAndClosesTheConnection) {
  Request auth = request(kAuth, "");
  auth.xid = kAuthXid;
  auth.auth_scheme = "kerberos";
  auth.auth = "x";
  bool close_after = false;
  const Header header = header_of(harness_.handle(auth, a_, &close_after));
  EXPECT_EQ(kAuthFailed, header.err);
  EXPECT_TRUE(close_after);
  EXPECT_TRUE(a_.digest_ids.empty());
}

TEST_F(RequestHandlerTest, AFailingMultiChangesNothingAndNamesItsFailingOp) {
  make("/a", "x");
  Request multi = request(kMulti, "");
  Request check = request(kCheck, "/a");
  check.version = 5;
  multi.ops = {create("/a/b"), set_data("/a", "y"), check, remove("/a/b")};
  const std::string before = fingerprint(harness_.tree());
  const std::string reply = harness_.handle(multi, a_);
  EXPECT_EQ(before, fingerprint(harness_.tree()));
  JuteReader in(std::string_view(reply).substr(4));
  in.read_int();
  in.read_long();
  EXPECT_EQ(kOk, in.read_int());  // ZooKeeper's header says 0: the errors are per op
  for (const int32_t expected : {kOk, kOk, kBadVersion, kRuntimeInconsistency}) {
    EXPECT_EQ(kError, in.read_int());
    EXPECT_FALSE(in.read_bool());
    EXPECT_EQ(expected, in.read_int());
    EXPECT_EQ(expected, in.read_int());
  }
  EXPECT_EQ(-1, in.read_int());
  EXPECT_TRUE(in.read_bool());
  EXPECT_EQ(-1, in.read_int());
  EXPECT_TRUE(in.at_end());
}

// A node a multi changes and then deletes is answered with its stat after the change (it used to
// stop the member: the reply looked for it in the tree).
TEST_F(RequestHandlerTest, AMultiThatSetsThenDeletesANodeAnswersWithTheSetDataStat) {
  make("/a");
  Request multi = request(kMulti, "");
  multi.ops = {create("/a/t", "x"), set_data("/a/t", "yy"), remove("/a/t")};
  const std::string reply = harness_.handle(multi, a_);
  EXPECT_EQ(nullptr, harness_.tree().find("/a/t"));
  JuteReader in(std::string_view(reply).substr(4 + 16));
  auto stat_version_and_length = [&](int32_t* version, int32_t* length) {
    for (int i = 0; i < 4; ++i) in.read_long();  // czxid, mzxid, ctime, mtime
    *version = in.read_int();
    in.read_int();  // cversion
    in.read_int();  // aversion
    in.read_long();  // ephemeralOwner
    *length = in.read_int();
    EXPECT_EQ(0, in.read_int());  // numChildren
    in.read_long();  // pzxid
  };
  int32_t version = -1, length = -1;
  EXPECT_EQ(kCreate, in.read_int());
  EXPECT_FALSE(in.read_bool());
  EXPECT_EQ(kOk, in.read_int());
  EXPECT_EQ("/a/t", in.read_string(100));
  EXPECT_EQ(kSetData, in.read_int());
  EXPECT_FALSE(in.read_bool());
  EXPECT_EQ(kOk, in.read_int());
  stat_version_and_length(&version, &length);
  EXPECT_EQ(1, version);  // as it was when deleted, after the setData
  EXPECT_EQ(2, length);
  EXPECT_EQ(kDelete, in.read_int());
  EXPECT_FALSE(in.read_bool());
  EXPECT_EQ(kOk, in.read_int());
  EXPECT_EQ(-1, in.read_int());
  EXPECT_TRUE(in.read_bool());
  EXPECT_EQ(-1, in.read_int());
  EXPECT_TRUE(in.at_end());
}

TEST_F(RequestHandlerTest, AMultiWithAnInvalidOpIsRefusedBeforeItIsSubmitted) {
  make("/a");
  const size_t submitted = harness_.replication().submitted;
  Request multi = request(kMulti, "");
  multi.ops = {create("/a/b"), create("/a/c/")};
  expect_refused(multi, kOk);  // the header says 0; the op says BadArguments
  EXPECT_EQ(submitted, harness_.replication().submitted);
}

// ---- Watches -----------------------------------------------------------------------------------

TEST_F(RequestHandlerTest, WatchesSetByReadsFireOnceWhenAnotherSessionWrites) {
  make("/d", "x");
  make("/p");
  ASSERT_EQ(kOk, handle(read(kGetData, "/d", true)).err);
  ASSERT_EQ(kNoNode, handle(read(kExists, "/new", true)).err);  // a watch on a missing node too
  ASSERT_EQ(kOk, handle(read(kGetChildren, "/p", true)).err);
  ASSERT_EQ(kOk, handle(read(kExists, "/p", true)).err);

  ASSERT_EQ(kOk, handle(set_data("/d", "y"), b_).err);
  ASSERT_EQ(kOk, handle(create("/new"), b_).err);
  ASSERT_EQ(kOk, handle(create("/p/c"), b_).err);
  ASSERT_EQ(kOk, handle(remove("/p/c"), b_).err);  // the child watch fired already
  ASSERT_EQ(kOk, handle(set_data("/d", "z"), b_).err);  // the data watch fired already
  ASSERT_EQ(kOk, handle(set_data("/p", "w"), b_).err);  // exists watches data changes

  const std::vector<std::string> expected = {
      RequestHandler::event_frame(kNodeDataChanged, "/d"), RequestHandler::event_frame(kNodeCreated, "/new"),
      RequestHandler::event_frame(kNodeChildrenChanged, "/p"), RequestHandler::event_frame(kNodeDataChanged, "/p")};
  EXPECT_EQ(expected, harness_.events_of(a_.watcher));
  EXPECT_TRUE(harness_.events_of(b_.watcher).empty());
  EXPECT_TRUE(harness_.watches().empty());
}

TEST_F(RequestHandlerTest, ADeleteFiresDataAndChildWatchesOnceAsNodeDeleted) {
  make("/n");
  ASSERT_EQ(kOk, handle(read(kGetData, "/n", true)).err);
  ASSERT_EQ(kOk, handle(read(kGetChildren2, "/n", true)).err);
  ASSERT_EQ(kOk, handle(remove("/n"), b_).err);
  EXPECT_EQ(std::vector<std::string>{RequestHandler::event_frame(kNodeDeleted, "/n")},
            harness_.events_of(a_.watcher));
  EXPECT_TRUE(harness_.watches().empty());
}

TEST_F(RequestHandlerTest, AddWatchIsPersistentAndRecursiveAndRemoveWatchesEndsIt) {
  make("/r");
  Request add = request(kAddWatch, "/r");
  add.mode = kAddWatchPersistentRecursive;
  ASSERT_EQ(kOk, handle(add).err);
  ASSERT_EQ(kOk, handle(create("/r/x", "1"), b_).err);
  ASSERT_EQ(kOk, handle(set_data("/r/x", "2"), b_).err);
  ASSERT_EQ(kOk, handle(set_data("/r/x", "3"), b_).err);
  EXPECT_EQ(3u, harness_.events_of(a_.watcher).size());
  Request check = request(kCheckWatches, "/r");
  check.mode = kWatcherAny;
  EXPECT_EQ(kOk, handle(check).err);
  Request removal = request(kRemoveWatches, "/r");
  removal.mode = kWatcherAny;
  EXPECT_EQ(kOk, handle(removal).err);
  ASSERT_EQ(kOk, handle(set_data("/r/x", "4"), b_).err);
  EXPECT_EQ(3u, harness_.events_of(a_.watcher).size());
}

TEST_F(RequestHandlerTest, RemoveAndCheckWatchesWithoutSuchAWatchAreNoWatcher) {
  make("/a");
  ASSERT_EQ(kOk, handle(read(kGetData, "/a", true)).err);
  for (const int32_t op : {kCheckWatches, kRemoveWatches}) {
    Request children = request(op, "/a");
    children.mode = kWatcherChildren;  // the watch is a data watch
    expect_refused(children, kNoWatcher);
    Request elsewhere = request(op, "/b");
    elsewhere.mode = kWatcherAny;
    expect_refused(elsewhere, kNoWatcher);
    // Another session's watch is not this one's.
    Request other = request(op, "/a");
    other.mode = kWatcherData;
    expect_refused(other, kNoWatcher, b_);
  }
  EXPECT_TRUE(harness_.watches().has("/a", WatchKind::kData, a_.watcher));
  Request data = request(kRemoveWatches, "/a");
  data.mode = kWatcherData;
  EXPECT_EQ(kOk, handle(data).err);
  expect_refused(data, kNoWatcher);
}

// After a reconnect the client sends its watches with the last zxid it saw: what changed since
// fires at once, the rest is set again (ZooKeeper's DataTree.setWatches).
TEST_F(RequestHandlerTest, SetWatchesFiresWhatChangedSinceTheClientsZxidAndSetsTheRest) {
  make("/d", "x");
  make("/keep", "k");
  make("/p");
  make("/gone");
  make("/quiet");
  const int64_t seen = harness_.tree().last_applied_zxid();
  ASSERT_EQ(kOk, handle(set_data("/d", "y"), b_).err);
  ASSERT_EQ(kOk, handle(remove("/gone"), b_).err);
  ASSERT_EQ(kOk, handle(create("/new"), b_).err);
  ASSERT_EQ(kOk, handle(create("/p/c"), b_).err);

  Request set_watches = request(kSetWatches, "");
  set_watches.xid = kSetWatchesXid;
  set_watches.relative_zxid = seen;
  set_watches.data_watches = {"/d", "/gone", "/keep"};
  set_watches.exist_watches = {"/new", "/absent"};
  set_watches.child_watches = {"/p", "/quiet", "/gone"};
  const Header header = handle(set_watches);
  EXPECT_EQ(kSetWatchesXid, header.xid);
  EXPECT_EQ(kOk, header.err);

  const std::vector<std::string> fired = {
      RequestHandler::event_frame(kNodeDataChanged, "/d"), RequestHandler::event_frame(kNodeDeleted, "/gone"),
      RequestHandler::event_frame(kNodeCreated, "/new"), RequestHandler::event_frame(kNodeChildrenChanged, "/p"),
      RequestHandler::event_frame(kNodeDeleted, "/gone")};
  EXPECT_EQ(fired, harness_.events_of(a_.watcher));
  // What did not change is watched again, and fires at the next change.
  EXPECT_TRUE(harness_.watches().has("/keep", WatchKind::kData, a_.watcher));
  EXPECT_TRUE(harness_.watches().has("/absent", WatchKind::kData, a_.watcher));
  EXPECT_TRUE(harness_.watches().has("/quiet", WatchKind::kChild, a_.watcher));
  EXPECT_FALSE(harness_.watches().has("/d", WatchKind::kData, a_.watcher));
  EXPECT_FALSE(harness_.watches().has("/p", WatchKind::kChild, a_.watcher));
  ASSERT_EQ(kOk, handle(set_data("/keep", "k2"), b_).err);
  ASSERT_EQ(kOk, handle(create("/absent"), b_).err);
  ASSERT_EQ(kOk, handle(create("/quiet/c"), b_).err);
  const std::vector<std::string> events = harness_.events_of(a_.watcher);
  ASSERT_EQ(8u, events.size());
  EXPECT_EQ(RequestHandler::event_frame(kNodeDataChanged, "/keep"), events[5]);
  EXPECT_EQ(RequestHandler::event_frame(kNodeCreated, "/absent"), events[6]);
  EXPECT_EQ(RequestHandler::event_frame(kNodeChildrenChanged, "/quiet"), events[7]);
}

// ---- multiRead ---------------------------------------------------------------------------------

TEST_F(RequestHandlerTest, MultiReadAnswersEveryOpWithItsResultOrItsError) {
  make("/d", "data");
  make("/p");
  make("/p/c1");
  make("/p/c2");
  Request multi = request(kMultiRead, "");
  multi.ops = {read(kGetData, "/d"), read(kGetChildren, "/p"), read(kGetData, "/missing"),
               read(kGetChildren, "relative")};
  const std::string before = fingerprint(harness_.tree());
  const std::string reply = harness_.handle(multi, a_);
  EXPECT_EQ(before, fingerprint(harness_.tree()));
  JuteReader in(std::string_view(reply).substr(4));
  EXPECT_EQ(multi.xid, in.read_int());
  EXPECT_EQ(harness_.tree().last_applied_zxid(), in.read_long());
  EXPECT_EQ(kOk, in.read_int());
  // getData: GetDataResponse.
  EXPECT_EQ(kGetData, in.read_int());
  EXPECT_FALSE(in.read_bool());
  EXPECT_EQ(kOk, in.read_int());
  EXPECT_EQ("data", in.read_buffer(100));
  for (int i = 0; i < 4; ++i) in.read_long();  // czxid, mzxid, ctime, mtime
  EXPECT_EQ(0, in.read_int());                 // version
  for (int i = 0; i < 2; ++i) in.read_int();   // cversion, aversion
  in.read_long();                              // ephemeralOwner
  EXPECT_EQ(4, in.read_int());                 // dataLength
  EXPECT_EQ(0, in.read_int());                 // numChildren
  in.read_long();                              // pzxid
  // getChildren: GetChildrenResponse.
  EXPECT_EQ(kGetChildren, in.read_int());
  EXPECT_FALSE(in.read_bool());
  EXPECT_EQ(kOk, in.read_int());
  EXPECT_EQ(2, in.read_int());
  EXPECT_EQ("c1", in.read_string(100));
  EXPECT_EQ("c2", in.read_string(100));
  // The errors: type -1, their code in the header and in the ErrorResult.
  for (const int32_t err : {kNoNode, kBadArguments}) {
    EXPECT_EQ(kError, in.read_int());
    EXPECT_FALSE(in.read_bool());
    EXPECT_EQ(err, in.read_int());
    EXPECT_EQ(err, in.read_int());
  }
  EXPECT_EQ(-1, in.read_int());
  EXPECT_TRUE(in.read_bool());
  EXPECT_EQ(-1, in.read_int());
  EXPECT_TRUE(in.at_end());
}

// ---- Sessions ----------------------------------------------------------------------------------

TEST_F(RequestHandlerTest, CloseSessionDeletesItsEphemeralsAndClosesTheConnection) {
  make("/e");
  ASSERT_EQ(kOk, handle(create("/e/mine", "", kEphemeral)).err);
  Request get = request(kGetEphemerals, "/");
  const std::string listed = harness_.handle(get, a_);
  JuteReader in(std::string_view(listed).substr(4 + 16));
  ASSERT_EQ(1, in.read_int());
  EXPECT_EQ("/e/mine", in.read_string(100));
  bool close_after = false;
  const Header header = header_of(harness_.handle(request(kCloseSession, ""), a_, &close_after));
  EXPECT_EQ(kOk, header.err);
  EXPECT_TRUE(close_after);
  EXPECT_EQ(nullptr, harness_.tree().find("/e/mine"));
  EXPECT_FALSE(harness_.tree().session_open(kSessionA));
  // A write of the closed session is SessionExpired.
  expect_refused(create("/e/late"), kSessionExpired);
}

TEST_F(RequestHandlerTest, WhoAmIListsTheAddressAndEveryDigestUser) {
  Request auth = request(kAuth, "");
  auth.xid = kAuthXid;
  auth.auth_scheme = "digest";
  auth.auth = "alice:secret";
  ASSERT_EQ(kOk, handle(auth).err);
  const std::string reply = harness_.handle(request(kWhoAmI, ""), a_);
  JuteReader in(std::string_view(reply).substr(4 + 16));
  ASSERT_EQ(2, in.read_int());
  EXPECT_EQ("ip", in.read_string(100));
  EXPECT_EQ("127.0.0.1", in.read_string(100));
  EXPECT_EQ("digest", in.read_string(100));
  EXPECT_EQ("alice", in.read_string(100));
  EXPECT_TRUE(in.at_end());
}


// ---- Limits: a clear refusal, nothing kept --------------------------------------------------

TEST_F(RequestHandlerTest, AuthPastTheIdentityLimitFailsAndClosesTheConnection) {
  for (size_t i = 0; i < kAuthIdsPerSessionMax; ++i) {
    Request auth = request(kAuth, "");
    auth.xid = kAuthXid;
    auth.auth_scheme = "digest";
    auth.auth = "user" + std::to_string(i) + ":pass";
    ASSERT_EQ(kOk, handle(auth).err);
  }
  Request again = request(kAuth, "");
  again.auth_scheme = "digest";
  again.auth = "user0:pass";  // held already: fine
  EXPECT_EQ(kOk, handle(again).err);
  Request one_more = again;
  one_more.auth = "user-new:pass";
  bool close_after = false;
  EXPECT_EQ(kAuthFailed, header_of(harness_.handle(one_more, a_, &close_after)).err);
  EXPECT_TRUE(close_after);
  EXPECT_EQ(kAuthIdsPerSessionMax, a_.digest_ids.size());
  Request long_credentials = again;
  long_credentials.auth = std::string(kAuthCredentialsBytesMax, 'u') + ":p";
  EXPECT_EQ(kAuthFailed, header_of(harness_.handle(long_credentials, b_, &close_after)).err);
  EXPECT_TRUE(b_.digest_ids.empty());
}

TEST_F(RequestHandlerTest, DataPastTheLimitAndATtlOfZeroAreBadArguments) {
  make("/a", "x");
  const std::string too_big(HandlerOptions{}.data_bytes_max + 1, 'd');
  expect_refused(create("/big", too_big), kBadArguments);
  expect_refused(set_data("/a", too_big), kBadArguments);
}

TEST_F(ExtendedTypesTest, ATtlOfZeroIsBadArguments) {
  Request ttl = create("/t", "x", kPersistentWithTtl);
  ttl.op = kCreateTtl;
  ttl.ttl_ms = 0;
  expect_refused(ttl, kBadArguments);
}

TEST_F(RequestHandlerTest, SetWatchesWithAPathThatIsNotOneAnswersSystemErrorAndSetsTheOthers) {
  make("/d", "x");
  Request set_watches = request(kSetWatches, "");
  set_watches.xid = kSetWatchesXid;
  set_watches.relative_zxid = harness_.tree().last_applied_zxid();
  set_watches.data_watches = {"/d", "relative", "/" + std::string(kPathBytesMax, 'x')};
  EXPECT_EQ(kSystemError, handle(set_watches).err);
  EXPECT_TRUE(harness_.watches().has("/d", WatchKind::kData, a_.watcher));
  EXPECT_EQ(1u, harness_.watches().size());
}

TEST_F(RequestHandlerTest, RemoveWatchesOfThePersistentTypesRemovesThoseOnly) {
  make("/p");
  for (const int32_t mode : {kAddWatchPersistent, kAddWatchPersistentRecursive}) {
    Request add = request(kAddWatch, "/p");
    add.mode = mode;
    ASSERT_EQ(kOk, handle(add).err);
  }
  Request recursive = request(kRemoveWatches, "/p");
  recursive.mode = kWatcherPersistentRecursive;
  EXPECT_EQ(kOk, handle(recursive).err);
  EXPECT_FALSE(harness_.watches().has("/p", WatchKind::kRecursive, a_.watcher));
  EXPECT_TRUE(harness_.watches().has("/p", WatchKind::kPersistent, a_.watcher));
  Request persistent = request(kCheckWatches, "/p");
  persistent.mode = kWatcherPersistent;
  EXPECT_EQ(kOk, handle(persistent).err);
  expect_refused(recursive, kNoWatcher);
}

TEST_F(RequestHandlerTest, AChangeOfTheRootFiresItsWatches) {
  ASSERT_EQ(kOk, handle(read(kGetData, "/", true)).err);
  ASSERT_EQ(kOk, handle(set_data("/", "root data"), b_).err);
  EXPECT_EQ(1u, harness_.events_of(a_.watcher).size());
}

TEST_F(RequestHandlerTest, CloseSessionOfAReadOnlySessionIsOkWithoutATxn) {
  SessionContext read_only = a_;
  read_only.read_only = true;
  const size_t submitted = harness_.replication().submitted;
  bool close_after = false;
  EXPECT_EQ(kOk, header_of(harness_.handle(request(kCloseSession, ""), read_only, &close_after)).err);
  EXPECT_TRUE(close_after);
  EXPECT_EQ(submitted, harness_.replication().submitted);
}

TEST_F(RequestHandlerTest, ANodeAClientCreatedTakesAChildAndBecomesADirectory) {
  make("/parent", "its data");
  make("/parent/child", "c");
  const Node* parent = harness_.tree().find("/parent");
  ASSERT_NE(parent, nullptr);
  EXPECT_TRUE(parent->is_directory());
  EXPECT_EQ("its data", parent->data());
  EXPECT_EQ(1u, parent->num_children());
}


// A recursive watch must not tell a session about nodes it may not read (ZooKeeper 3.8.4,
// CVE-2024-23944): the port asks may_read for events from below the watched node.
TEST_F(RequestHandlerTest, MayReadFollowsTheNodesAclAndADeletedNodesParent) {
  make("/r");
  Request secret = create("/r/secret", "s");
  secret.acl = {{31, "digest", digest_id("user:pass")}};
  ASSERT_EQ(kOk, handle(secret).err);
  make("/r/open");
  EXPECT_FALSE(harness_.handler().may_read(b_, "/r/secret"));
  EXPECT_TRUE(harness_.handler().may_read(b_, "/r/open"));
  EXPECT_TRUE(harness_.handler().may_read(b_, "/r/gone"));  // deleted: its parent is readable
  SessionContext with_credentials = b_;
  with_credentials.digest_ids.push_back(digest_id("user:pass"));
  EXPECT_TRUE(harness_.handler().may_read(with_credentials, "/r/secret"));
}
}  // namespace
}  // namespace quorumfs::zk
