// Changes applied "from another host" (applied on the loop, then on the change feed) raise on a
// real mount the inotify events a local change would (docs/guarantees.md §5), in order, after the
// caches.
//
// Needs root and /dev/fuse, like the integration tests; skipped otherwise.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "fusefs/filesystem.h"
#include "tests/unit/service/tree_replication.h"

namespace quorumfs::fusefs {
namespace {

using namespace std::chrono_literals;

constexpr auto kWait = 10s;        // the longest any one step may take
constexpr auto kQuiet = 300ms;     // no event for this long after the expected ones: none missed

std::string event_names(uint32_t mask) {
  static const std::pair<uint32_t, const char*> kNames[] = {
      {IN_CREATE, "CREATE"},           {IN_DELETE, "DELETE"},     {IN_DELETE_SELF, "DELETE_SELF"},
      {IN_MODIFY, "MODIFY"},           {IN_CLOSE_WRITE, "CLOSE_WRITE"},
      {IN_MOVED_FROM, "MOVED_FROM"},   {IN_MOVED_TO, "MOVED_TO"}, {IN_MOVE_SELF, "MOVE_SELF"},
      {IN_ATTRIB, "ATTRIB"},           {IN_IGNORED, "IGNORED"},   {IN_ISDIR, "ISDIR"}};
  std::string names;
  for (auto [bit, name] : kNames) {
    if (!(mask & bit)) continue;
    if (!names.empty()) names += ',';
    names += name;
  }
  return names;
}

struct Event {
  int watch;
  std::string text;  // "MODIFY f" (a directory watch) or "MODIFY" (a watch on the node itself)
  uint32_t cookie;
};

class Watcher {
 public:
  Watcher() : fd_(inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {}
  ~Watcher() { close(fd_); }
  int watch(const std::string& path) {
    return inotify_add_watch(fd_, path.c_str(),
                             IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MODIFY | IN_CLOSE_WRITE |
                                 IN_MOVED_FROM | IN_MOVED_TO | IN_MOVE_SELF | IN_ATTRIB);
  }
  // Events until `count` have come and then none for kQuiet, or until kWait has passed.
  std::vector<Event> take(size_t count) {
    std::vector<Event> events;
    auto deadline = std::chrono::steady_clock::now() + kWait;
    for (;;) {
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) break;
      auto wait = events.size() >= count ? kQuiet : std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
      pollfd ready{fd_, POLLIN, 0};
      if (poll(&ready, 1, static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(wait).count())) <= 0) {
        if (events.size() >= count) break;
        continue;
      }
      alignas(inotify_event) char buffer[4096];
      ssize_t length = read(fd_, buffer, sizeof buffer);
      for (ssize_t at = 0; at < length;) {
        auto* event = reinterpret_cast<inotify_event*>(buffer + at);
        std::string text = event_names(event->mask);
        if (event->len > 0) text += std::string(" ") + event->name;
        events.push_back({event->wd, text, event->cookie});
        at += sizeof(inotify_event) + event->len;
      }
    }
    return events;
  }

 private:
  int fd_;
};

std::vector<std::string> of_watch(const std::vector<Event>& events, int watch) {
  std::vector<std::string> texts;
  for (const Event& event : events) {
    if (event.watch == watch) texts.push_back(event.text);
  }
  return texts;
}

proto::Txn txn_of(std::vector<proto::Op> ops) {
  proto::Txn txn;
  for (auto& op : ops) *txn.add_ops() = std::move(op);
  txn.mutable_caller()->set_uid(0);
  return txn;
}

proto::Op create_op(const std::string& path, bool directory, uint64_t inode = 0) {
  proto::Op op;
  proto::CreateOp* create = op.mutable_create();
  create->set_path(path);
  create->set_directory(directory);
  create->set_inode(inode);
  create->mutable_meta()->set_mode(directory ? 0755 : 0644);
  create->mutable_meta()->set_uid(0);
  create->mutable_meta()->set_gid(0);
  return op;
}

proto::Op delete_op(const std::string& path) {
  proto::Op op;
  op.mutable_remove()->set_path(path);
  op.mutable_remove()->set_expected_version(-1);
  return op;
}

proto::Op set_data_op(const std::string& path, const std::string& data) {
  proto::Op op;
  op.mutable_set_data()->set_path(path);
  op.mutable_set_data()->set_data(data);
  op.mutable_set_data()->set_expected_version(-1);
  return op;
}

// Through the mount, as a local process would: its events are raised before this returns.
void write_file(const std::string& path, const std::string& data) {
  std::ofstream(path) << data;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class ForeignEcho : public ::testing::Test {
 protected:
  template <typename Fn>
  auto on_loop(Fn fn) -> decltype(fn()) {
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto result = task.get_future();
    boost::asio::post(io_, [&task] { task(); });
    if (result.wait_for(kWait) != std::future_status::ready) {
      ADD_FAILURE() << "the loop did not run a task in time";
      std::abort();  // a hung mount: nothing sane is left to do in this process
    }
    return result.get();
  }

  void SetUp() override {
    replication_.attach(&service_);
    if (geteuid() != 0 || access("/dev/fuse", R_OK | W_OK) != 0) GTEST_SKIP() << "needs root and /dev/fuse";
    char pattern[] = "/tmp/quorumfs-echo-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    mountpoint_ = pattern;
    loop_ = std::thread([this] { io_.run(); });
    bool mounted = on_loop([this] {
      MountOptions options;
      options.mountpoint = mountpoint_;
      options.allow_other = false;
      options.auto_unmount = false;
      filesystem_ = std::make_unique<Filesystem>(io_, service_, options);
      std::string error;
      bool ok = filesystem_->mount([] {}, &error);
      if (!ok) ADD_FAILURE() << error;
      return ok;
    });
    ASSERT_TRUE(mounted);
    struct stat root {};
    ASSERT_EQ(stat(mountpoint_.c_str(), &root), 0);
    connection_ = minor(root.st_dev);
    ASSERT_EQ(mkdir(at("/w").c_str(), 0755), 0);
  }

  // Unmounts through the loop; a mount that does not answer is aborted, so teardown never hangs.
  void TearDown() override {
    if (!loop_.joinable()) return;
    std::promise<void> unmounted;
    boost::asio::post(io_, [&] { filesystem_->unmount([&] { unmounted.set_value(); }); });
    if (unmounted.get_future().wait_for(kWait) != std::future_status::ready) {
      ADD_FAILURE() << "unmount hung: aborting the connection";
      std::ofstream("/sys/fs/fuse/connections/" + std::to_string(connection_) + "/abort") << 1;
      umount2(mountpoint_.c_str(), MNT_DETACH);
    }
    on_loop([this] {
      filesystem_.reset();
      return true;
    });
    work_.reset();
    io_.stop();
    loop_.join();
    rmdir(mountpoint_.c_str());
  }

  // A change committed by another host: applied on the loop, then announced.
  ApplyResult apply(proto::Txn txn) {
    return on_loop([this, txn] {
      ApplyResult result = replication_.apply(txn);
      EXPECT_EQ(result.code, Code::kOk) << code_name(result.code);
      return result;
    });
  }

  uint64_t inode_of(const std::string& path) {
    return on_loop([this, path] { return replication_.tree().find(path)->inode(); });
  }

  std::string at(const std::string& path) const { return mountpoint_ + path; }

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{io_.get_executor()};
  service::TreeReplication replication_{&io_};
  service::Service service_{replication_, 1, std::chrono::seconds(10)};
  std::unique_ptr<Filesystem> filesystem_;
  std::thread loop_;
  std::string mountpoint_;
  unsigned connection_ = 0;
  Watcher watcher_;
};

using Texts = std::vector<std::string>;

TEST_F(ForeignEcho, FileCreate_RaisesCreateOnTheParent) {
  int dir = watcher_.watch(at("/w"));
  apply(txn_of({create_op("/w/f", false)}));
  EXPECT_EQ(of_watch(watcher_.take(2), dir), (Texts{"CREATE f", "CLOSE_WRITE f"}));
  EXPECT_TRUE(std::filesystem::is_regular_file(at("/w/f")));
}

TEST_F(ForeignEcho, DirectoryCreate_RaisesCreateIsdir) {
  int dir = watcher_.watch(at("/w"));
  apply(txn_of({create_op("/w/d", true)}));
  EXPECT_EQ(of_watch(watcher_.take(1), dir), (Texts{"CREATE,ISDIR d"}));
  EXPECT_TRUE(std::filesystem::is_directory(at("/w/d")));
}

TEST_F(ForeignEcho, DataChange_RaisesModifyAndCloseWrite_AndReadSeesNewData) {
  write_file(at("/w/f"), "old");
  ASSERT_EQ(read_file(at("/w/f")), "old");  // in the page cache now
  int dir = watcher_.watch(at("/w"));
  int file = watcher_.watch(at("/w/f"));
  apply(txn_of({set_data_op("/w/f", "newer data")}));
  auto events = watcher_.take(4);
  EXPECT_EQ(of_watch(events, dir), (Texts{"MODIFY f", "CLOSE_WRITE f"}));
  EXPECT_EQ(of_watch(events, file), (Texts{"MODIFY", "CLOSE_WRITE"}));
  EXPECT_EQ(read_file(at("/w/f")), "newer data");
  EXPECT_EQ(std::filesystem::file_size(at("/w/f")), 10u);
}

// A change to shorter data, and to none: the events, and the size and data read after them, are
// the new ones (the echo writes a byte to raise MODIFY, which must not show).
TEST_F(ForeignEcho, DataChangeToShorterOrEmpty_ReadSeesTheNewSizeAndData) {
  write_file(at("/w/f"), "a longer text");
  ASSERT_EQ(read_file(at("/w/f")), "a longer text");
  int file = watcher_.watch(at("/w/f"));
  for (const std::string data : {"ab", "", "x"}) {
    apply(txn_of({set_data_op("/w/f", data)}));
    ASSERT_EQ(of_watch(watcher_.take(2), file), (Texts{"MODIFY", "CLOSE_WRITE"})) << "data " << data;
    EXPECT_EQ(std::filesystem::file_size(at("/w/f")), data.size());
    EXPECT_EQ(read_file(at("/w/f")), data);
  }
}

// An echo is a real syscall on the mount whose every request is a round trip through the loop,
// on every member, for every change. A data change's echo is LOOKUP (its name is never cached),
// OPEN and a one-byte WRITE: no GETATTR of the directories on its path (answered cacheable) and
// no GETXATTR and SETATTR of an ftruncate (docs/kernel.md, "Echo requests").
TEST_F(ForeignEcho, DataChangeEcho_TakesThreeRequests) {
  ASSERT_EQ(mkdir(at("/w/d").c_str(), 0755), 0);
  int dir = watcher_.watch(at("/w/d"));
  apply(txn_of({create_op("/w/d/f", false)}));  // no local process has looked its name up
  ASSERT_EQ(of_watch(watcher_.take(2), dir), (Texts{"CREATE f", "CLOSE_WRITE f"}));
  apply(txn_of({set_data_op("/w/d/f", "first")}));  // the path's directories are asked about once
  ASSERT_EQ(of_watch(watcher_.take(2), dir), (Texts{"MODIFY f", "CLOSE_WRITE f"}));
  const uint64_t before = on_loop([this] { return filesystem_->echo_requests(); });
  apply(txn_of({set_data_op("/w/d/f", "second")}));
  ASSERT_EQ(of_watch(watcher_.take(2), dir), (Texts{"MODIFY f", "CLOSE_WRITE f"}));
  EXPECT_EQ(on_loop([this] { return filesystem_->echo_requests(); }) - before, 3u);
  EXPECT_EQ(read_file(at("/w/d/f")), "second");
}

// A create's echo (open(O_CREAT|O_EXCL) + close) and a delete's (unlink) in a directory another
// change has just touched: GETATTR of that directory (the change dropped its attributes; the
// path walk's permission check asks again), LOOKUP of the name (hidden before the create, never
// cached after it) and the CREATE or UNLINK itself. The close's RELEASE carries no caller and is
// not counted. Each is a round trip through the loop on every member for every change
// (docs/benchmarks.md, "What the remaining goals would need").
TEST_F(ForeignEcho, CreateAndDeleteEchoes_TakeThreeRequestsEach) {
  ASSERT_EQ(mkdir(at("/w/d").c_str(), 0755), 0);
  int dir = watcher_.watch(at("/w/d"));
  apply(txn_of({create_op("/w/d/a", false)}));
  ASSERT_EQ(of_watch(watcher_.take(2), dir), (Texts{"CREATE a", "CLOSE_WRITE a"}));
  uint64_t before = on_loop([this] { return filesystem_->echo_requests(); });
  apply(txn_of({create_op("/w/d/b", false)}));
  ASSERT_EQ(of_watch(watcher_.take(2), dir), (Texts{"CREATE b", "CLOSE_WRITE b"}));
  EXPECT_EQ(on_loop([this] { return filesystem_->echo_requests(); }) - before, 3u);
  before = on_loop([this] { return filesystem_->echo_requests(); });
  apply(txn_of({delete_op("/w/d/b")}));
  ASSERT_EQ(of_watch(watcher_.take(1), dir), (Texts{"DELETE b"}));
  EXPECT_EQ(on_loop([this] { return filesystem_->echo_requests(); }) - before, 3u);
}

// The echo's queue: every change applied and not yet echoed, down to none once its events came;
// its observer (the client port's hold, docs/zk-protocol.md "Limits") sees each value on the way.
TEST_F(ForeignEcho, EchoBacklog_CountsChangesNotEchoedYet) {
  int dir = watcher_.watch(at("/w"));
  std::vector<size_t> observed;  // on the loop only
  // One loop task: no echo can be reported finished (on the loop) before it returns.
  size_t backlog = on_loop([this, &observed] {
    filesystem_->set_echo_backlog_observer([&observed](size_t changes) { observed.push_back(changes); });
    for (int i = 0; i < 20; ++i) replication_.apply(txn_of({create_op("/w/f" + std::to_string(i), false)}));
    return filesystem_->echo_backlog();
  });
  EXPECT_EQ(backlog, 20u);
  EXPECT_EQ(of_watch(watcher_.take(40), dir).size(), 40u);  // CREATE and CLOSE_WRITE of each
  EXPECT_EQ(on_loop([this] { return filesystem_->echo_backlog(); }), 0u);
  const std::vector<size_t> seen = on_loop([this, &observed] {
    filesystem_->set_echo_backlog_observer(nullptr);
    return observed;
  });
  std::vector<size_t> expected;
  for (size_t changes = 1; changes <= 20; ++changes) expected.push_back(changes);
  for (size_t changes = 20; changes-- > 0;) expected.push_back(changes);
  EXPECT_EQ(seen, expected);
}

// The reader is woken by the event itself, as a ZooKeeper watcher is: what it reads then is at
// least as new as the change (docs/guarantees.md §5).
TEST_F(ForeignEcho, ReadRightAfterEachEvent_SeesThatChange) {
  write_file(at("/w/f"), "");
  int file = watcher_.watch(at("/w/f"));
  for (int version = 1; version <= 5; ++version) {
    std::string data = "version " + std::to_string(version);
    apply(txn_of({set_data_op("/w/f", data)}));
    auto events = watcher_.take(2);
    ASSERT_EQ(of_watch(events, file), (Texts{"MODIFY", "CLOSE_WRITE"}));
    EXPECT_EQ(read_file(at("/w/f")), data);
  }
}

TEST_F(ForeignEcho, Delete_RaisesDeleteAndDeleteSelf) {
  write_file(at("/w/f"), "");
  int dir = watcher_.watch(at("/w"));
  int file = watcher_.watch(at("/w/f"));
  apply(txn_of({delete_op("/w/f")}));
  auto events = watcher_.take(4);
  EXPECT_EQ(of_watch(events, dir), (Texts{"DELETE f"}));
  EXPECT_EQ(of_watch(events, file), (Texts{"ATTRIB", "DELETE_SELF", "IGNORED"}));
  EXPECT_FALSE(std::filesystem::exists(at("/w/f")));
}

// rename(2) is one multi txn: create of the target with the source's inode, delete of the source.
TEST_F(ForeignEcho, Rename_RaisesMovedFromAndMovedToWithOneCookie) {
  write_file(at("/w/f"), "moved");
  uint64_t inode = inode_of("/w/f");
  int dir = watcher_.watch(at("/w"));
  int file = watcher_.watch(at("/w/f"));
  proto::Op create = create_op("/w/g", false, inode);
  create.mutable_create()->set_data("moved");
  apply(txn_of({create, delete_op("/w/f")}));
  auto events = watcher_.take(3);
  EXPECT_EQ(of_watch(events, dir), (Texts{"MOVED_FROM f", "MOVED_TO g"}));
  EXPECT_EQ(of_watch(events, file), (Texts{"MOVE_SELF"}));
  std::vector<uint32_t> cookies;
  for (const Event& event : events) {
    if (event.watch == dir) cookies.push_back(event.cookie);
  }
  ASSERT_EQ(cookies.size(), 2u);
  EXPECT_NE(cookies[0], 0u);
  EXPECT_EQ(cookies[0], cookies[1]);
  EXPECT_FALSE(std::filesystem::exists(at("/w/f")));
  EXPECT_EQ(read_file(at("/w/g")), "moved");
}

TEST_F(ForeignEcho, RenameOverAnotherFile_RaisesTheMoveOnly) {
  write_file(at("/w/f"), "");
  write_file(at("/w/g"), "");
  uint64_t inode = inode_of("/w/f");
  int dir = watcher_.watch(at("/w"));
  apply(txn_of({delete_op("/w/g"), create_op("/w/g", false, inode), delete_op("/w/f")}));
  EXPECT_EQ(of_watch(watcher_.take(2), dir), (Texts{"MOVED_FROM f", "MOVED_TO g"}));
  EXPECT_EQ(inode_of("/w/g"), inode);
  struct stat target {};
  ASSERT_EQ(stat(at("/w/g").c_str(), &target), 0);
  EXPECT_EQ(target.st_ino, inode);
}

TEST_F(ForeignEcho, AclAndModeChange_RaiseAttrib) {
  write_file(at("/w/f"), "");
  int dir = watcher_.watch(at("/w"));
  int file = watcher_.watch(at("/w/f"));
  proto::Op acl;
  acl.mutable_set_acl()->set_path("/w/f");
  acl.mutable_set_acl()->set_acl("world:anyone:r");
  acl.mutable_set_acl()->set_expected_aversion(-1);
  apply(txn_of({acl}));
  auto events = watcher_.take(2);
  EXPECT_EQ(of_watch(events, dir), (Texts{"ATTRIB f"}));
  EXPECT_EQ(of_watch(events, file), (Texts{"ATTRIB"}));

  proto::Op mode;
  mode.mutable_set_meta()->set_path("/w/f");
  mode.mutable_set_meta()->mutable_meta()->set_mode(0600);
  apply(txn_of({mode}));
  events = watcher_.take(2);
  EXPECT_EQ(of_watch(events, dir), (Texts{"ATTRIB f"}));
  EXPECT_EQ(of_watch(events, file), (Texts{"ATTRIB"}));
  struct stat attributes {};
  ASSERT_EQ(stat(at("/w/f").c_str(), &attributes), 0);
  EXPECT_EQ(attributes.st_mode & 07777, 0600u);
}

// A ZooKeeper client's create under a file: the kernel, which had it cached as a file, sees a
// directory at the next lookup, with the child in it.
TEST_F(ForeignEcho, FileThatGetsAChild_BecomesADirectoryOnTheMount) {
  write_file(at("/w/f"), "kept");
  struct stat before {};
  ASSERT_EQ(stat(at("/w/f").c_str(), &before), 0);
  ASSERT_TRUE(S_ISREG(before.st_mode));
  int opened = open(at("/w/f").c_str(), O_RDONLY);
  ASSERT_GE(opened, 0);
  int dir = watcher_.watch(at("/w"));
  proto::Op child = create_op("/w/f/c", false);
  child.mutable_create()->set_parent_may_become_directory(true);
  apply(txn_of({child}));
  EXPECT_EQ(of_watch(watcher_.take(1), dir), (Texts{"ATTRIB,ISDIR f"}));
  char byte = 0;
  EXPECT_EQ(read(opened, &byte, 1), -1) << "the file's inode is gone for the kernel";
  EXPECT_EQ(errno, EIO);
  close(opened);
  struct stat after {};
  ASSERT_EQ(stat(at("/w/f").c_str(), &after), 0);
  EXPECT_TRUE(S_ISDIR(after.st_mode));
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_TRUE(std::filesystem::is_regular_file(at("/w/f/c")));
  char data[16] = {};
  EXPECT_EQ(getxattr(at("/w/f").c_str(), "user.zk.data", data, sizeof(data)), 4);
  EXPECT_STREQ(data, "kept");
}

// A directory's data is an xattr to the mount: its change raises what a local setfattr would.
TEST_F(ForeignEcho, DirectoryDataChange_RaisesAttrib) {
  ASSERT_EQ(mkdir(at("/w/d").c_str(), 0755), 0);
  int dir = watcher_.watch(at("/w"));
  apply(txn_of({set_data_op("/w/d", "config")}));
  EXPECT_EQ(of_watch(watcher_.take(1), dir), (Texts{"ATTRIB,ISDIR d"}));
}

// Changes applied faster than they are announced: each is still announced, in zxid order, even
// when a later one already removed the node or took its name.
TEST_F(ForeignEcho, QuickSuccession_AnnouncedInOrder) {
  int dir = watcher_.watch(at("/w"));
  apply(txn_of({create_op("/w/f", false)}));
  apply(txn_of({set_data_op("/w/f", "1")}));
  uint64_t inode = inode_of("/w/f");
  apply(txn_of({create_op("/w/g", false, inode), delete_op("/w/f")}));
  apply(txn_of({set_data_op("/w/g", "2")}));
  apply(txn_of({create_op("/w/f", true)}));
  apply(txn_of({delete_op("/w/g")}));
  EXPECT_EQ(of_watch(watcher_.take(10), dir),
            (Texts{"CREATE f", "CLOSE_WRITE f", "MODIFY f", "CLOSE_WRITE f", "MOVED_FROM f",
                   "MOVED_TO g", "MODIFY g", "CLOSE_WRITE g", "CREATE,ISDIR f", "DELETE g"}));
  EXPECT_TRUE(std::filesystem::is_directory(at("/w/f")));
  EXPECT_FALSE(std::filesystem::exists(at("/w/g")));
}

// Readers and a local setxattr on the directory keep the kernel's locks busy while the echo runs:
// every change is still announced, and nothing waits forever.
TEST_F(ForeignEcho, BusyDirectory_EveryChangeAnnounced) {
  write_file(at("/w/f"), "");
  int file = watcher_.watch(at("/w/f"));
  std::atomic<bool> stop{false};
  std::thread busy([&] {
    while (!stop) {
      read_file(at("/w/f"));
      setxattr(at("/w").c_str(), "user.zk.acl", "world:anyone:cdrwa", 18, 0);
      struct stat ignored {};
      stat(at("/w/new").c_str(), &ignored);
    }
  });
  for (int version = 0; version < 20; ++version) apply(txn_of({set_data_op("/w/f", std::to_string(version))}));
  apply(txn_of({create_op("/w/new", false)}));
  auto events = watcher_.take(40);
  stop = true;
  busy.join();
  EXPECT_EQ(of_watch(events, file).size(), 40u);
  EXPECT_EQ(read_file(at("/w/f")), "19");
  EXPECT_TRUE(std::filesystem::exists(at("/w/new")));
}

// The echo is for foreign changes only: a change made through this mount is announced once.
TEST_F(ForeignEcho, LocalChange_RaisesItsEventsOnce) {
  int dir = watcher_.watch(at("/w"));
  { std::ofstream(at("/w/local")) << "x"; }
  EXPECT_EQ(of_watch(watcher_.take(3), dir), (Texts{"CREATE local", "MODIFY local", "CLOSE_WRITE local"}));
}

// ---- a descriptor whose session was closed elsewhere (docs/mount.md, "Expired sessions") ------

class ExpiredSession : public ForeignEcho {
 protected:
  void SetUp() override {
    ForeignEcho::SetUp();
    if (IsSkipped()) return;
    ASSERT_EQ(mkdir(at("/w/m").c_str(), 0755), 0);
    ASSERT_EQ(chmod(at("/w/m").c_str(), 02755), 0);  // set-gid: files created inside are ephemeral
  }
  // An ephemeral created through the mount, and the session its descriptor owns.
  int create_ephemeral(const std::string& name, uint64_t* session) {
    int fd = open(at("/w/m/" + name).c_str(), O_CREAT | O_RDWR, 0644);
    EXPECT_GE(fd, 0) << strerror(errno);
    *session = on_loop([this, name] { return replication_.tree().find("/w/m/" + name)->stat().ephemeral_owner; });
    EXPECT_NE(*session, 0u);
    return fd;
  }
  static proto::Op close_session_op(uint64_t session) {
    proto::Op op;
    op.mutable_close_session()->set_session_id(session);
    return op;
  }
  // errno of a call that must fail, 0 if it succeeded.
  static int error_of(long result) { return result < 0 ? errno : 0; }
};

TEST_F(ExpiredSession, ClosedByTheLeader_EveryCallOnItsDescriptorFailsWithEstale) {
  uint64_t expired_session = 0, live_session = 0;
  int expired = create_ephemeral("expired", &expired_session);
  int live = create_ephemeral("live", &live_session);
  ASSERT_EQ(write(expired, "x", 1), 1);
  apply(txn_of({close_session_op(expired_session)}));
  EXPECT_FALSE(std::filesystem::exists(at("/w/m/expired")));
  char byte;
  char value[64];
  EXPECT_EQ(error_of(write(expired, "y", 1)), ESTALE);
  EXPECT_EQ(error_of(pread(expired, &byte, 1, 0)), ESTALE);
  EXPECT_EQ(error_of(fsync(expired)), ESTALE);
  struct stat attributes {};
  EXPECT_EQ(error_of(fstat(expired, &attributes)), ESTALE);
  EXPECT_EQ(error_of(ftruncate(expired, 0)), ESTALE);
  EXPECT_EQ(error_of(fchmod(expired, 0600)), ESTALE);
  EXPECT_EQ(error_of(fgetxattr(expired, "user.zk.ctime", value, sizeof value)), ESTALE);
  EXPECT_EQ(error_of(fsetxattr(expired, "user.zk.data", "z", 1, 0)), ESTALE);
  EXPECT_EQ(error_of(close(expired)), ESTALE);
  // Another session of this host lives on.
  EXPECT_EQ(write(live, "ok", 2), 2);
  EXPECT_EQ(error_of(close(live)), 0);
  EXPECT_EQ(on_loop([this, expired_session] { return replication_.tree().session_open(expired_session); }), false);
}

// The leader orders the close between the commit's submit and its apply: the commit names its
// session (Txn.session_id), so the tree refuses it as SessionExpired, not as a missing node.
TEST_F(ExpiredSession, CommitOrderedAfterTheClose_FailsWithEstale) {
  uint64_t session = 0;
  int fd = create_ephemeral("e", &session);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "x", 1), 1);
  on_loop([this, session] {
    replication_.before_next_submit = [this, session] {
      replication_.apply_unannounced(txn_of({close_session_op(session)}));
    };
    return true;
  });
  EXPECT_EQ(error_of(close(fd)), ESTALE);
  EXPECT_FALSE(std::filesystem::exists(at("/w/m/e")));
}

// The close is applied but this mount was not told yet: the next call finds it in the tree.
TEST_F(ExpiredSession, CloseNotYetAnnounced_NextCallFailsWithEstale) {
  uint64_t session = 0;
  int fd = create_ephemeral("e", &session);
  ASSERT_GE(fd, 0);
  on_loop([this, session] { return replication_.apply_unannounced(txn_of({close_session_op(session)})).code; });
  EXPECT_EQ(error_of(write(fd, "x", 1)), ESTALE);
  EXPECT_EQ(error_of(close(fd)), ESTALE);
}

// A replica that catches up by SNAP learns of the close from the tree it loads.
TEST_F(ExpiredSession, TreeReplacedWithoutTheSession_ExpiresItsDescriptor) {
  uint64_t session = 0;
  int fd = create_ephemeral("e", &session);
  ASSERT_GE(fd, 0);
  on_loop([this, session] {
    replication_.apply_unannounced(txn_of({close_session_op(session)}));
    filesystem_->on_tree_replaced();
    return true;
  });
  // By inode first (no descriptor in the request): only the expiry says ESTALE rather than ENOENT.
  char value[64];
  EXPECT_EQ(error_of(fgetxattr(fd, "user.zk.ctime", value, sizeof value)), ESTALE);
  char byte;
  EXPECT_EQ(error_of(pread(fd, &byte, 1, 0)), ESTALE);
  EXPECT_EQ(error_of(close(fd)), ESTALE);
}

// ---- how the changes of one txn are grouped for the echo (no mount needed) -------------------

Change change(Change::Kind kind, uint64_t inode, uint64_t parent_inode, std::string name) {
  return Change{kind, inode, parent_inode, std::move(name), false};
}

TEST(EchoStep, ATypeChange_DropsTheEntryFirst) {
  EchoStep step;
  step.kind = EchoStep::Kind::kRetype;
  step.at = EchoLocation{"/w/f", 7, "f"};
  step.inode = 9;
  ASSERT_NE(step.entry_to_drop(), nullptr);
  EXPECT_EQ(step.entry_to_drop()->name, "f");
  EXPECT_EQ(step.shadow("/w/f"), 9u);
}

TEST(GroupRenames, RenameOverATarget_IsOneMove) {
  std::vector<Change> changes = {change(Change::Kind::kDeleted, 7, 1, "g"),
                                 change(Change::Kind::kCreated, 5, 1, "g"),
                                 change(Change::Kind::kDeleted, 5, 1, "f")};
  std::vector<EchoChange> grouped = group_renames(changes);
  ASSERT_EQ(grouped.size(), 1u);
  EXPECT_EQ(grouped[0].change, &changes[1]);
  EXPECT_EQ(grouped[0].moved_from, &changes[2]);
  EXPECT_EQ(grouped[0].replaced, &changes[0]);
}

TEST(GroupRenames, CreateAndDeleteOfOneNodeAtOnePlace_StayTwoChanges) {
  std::vector<Change> changes = {change(Change::Kind::kCreated, 5, 1, "f"),
                                 change(Change::Kind::kDeleted, 5, 1, "f"),
                                 change(Change::Kind::kDeleted, 6, 1, "h")};
  std::vector<EchoChange> grouped = group_renames(changes);
  ASSERT_EQ(grouped.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(grouped[i].change, &changes[i]);
    EXPECT_EQ(grouped[i].moved_from, nullptr);
  }
}

}  // namespace
}  // namespace quorumfs::fusefs
