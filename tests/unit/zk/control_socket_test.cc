// The control socket over a real abstract Unix socket (docs/quorumctl.md, "The control socket"):
// the socket and its service run on an io_context in a thread of their own, as on the daemon's
// event loop; the test is the client, with blocking sockets. The test process is the caller
// (SO_PEERCRED), so the nodes it reads are made for that.
#include "daemon/zk/control_socket.h"

#include <grp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "daemon/zk/jute.h"
#include "daemon/zk/protocol.h"
#include "tests/unit/service/tree_replication.h"

namespace quorumfs::zk {
namespace {

std::string connect_request() {
  std::string frame;
  JuteWriter out(&frame);
  const size_t start = out.begin_frame();
  out.write_int(kProtocolVersion);
  out.write_long(0);
  out.write_int(10000);
  out.write_long(0);
  out.write_buffer(std::string(16, '\0'));
  out.write_bool(false);
  out.end_frame(start);
  return frame;
}

std::string get_data(int32_t xid, const std::string& path) {
  std::string frame;
  JuteWriter out(&frame);
  const size_t start = out.begin_frame();
  out.write_int(xid);
  out.write_int(kGetData);
  out.write_string(path);
  out.write_bool(false);
  out.end_frame(start);
  return frame;
}

std::string set_data(int32_t xid, const std::string& path, const std::string& data) {
  std::string frame;
  JuteWriter out(&frame);
  const size_t start = out.begin_frame();
  out.write_int(xid);
  out.write_int(kSetData);
  out.write_string(path);
  out.write_buffer(data);
  out.write_int(-1);
  out.end_frame(start);
  return frame;
}

std::string ping() {
  std::string frame;
  JuteWriter out(&frame);
  const size_t start = out.begin_frame();
  out.write_int(kPingXid);
  out.write_int(kPing);
  out.end_frame(start);
  return frame;
}

std::string get_children(int32_t xid, const std::string& path) {
  std::string frame;
  JuteWriter out(&frame);
  const size_t start = out.begin_frame();
  out.write_int(xid);
  out.write_int(kGetChildren);
  out.write_string(path);
  out.write_bool(false);
  out.end_frame(start);
  return frame;
}

sockaddr_un address_of(const std::string& name, socklen_t* length) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path + 1, name.data(), name.size());
  *length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  return address;
}

bool write_all(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t wrote = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (wrote <= 0) return false;
    done += static_cast<size_t>(wrote);
  }
  return true;
}

bool read_exactly(int fd, char* out, size_t n) {
  while (n > 0) {
    const ssize_t got = ::read(fd, out, n);
    if (got <= 0) return false;
    out += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

// One frame's body; empty when the socket closed.
std::string read_frame(int fd) {
  char length_bytes[4];
  if (!read_exactly(fd, length_bytes, 4)) return {};
  JuteReader in(std::string_view(length_bytes, 4));
  std::string body(static_cast<size_t>(in.read_int()), '\0');
  return read_exactly(fd, body.data(), body.size()) ? body : std::string();
}

struct Reply {
  int32_t xid = 0;
  int32_t err = 1;
  std::string body;
};

Reply parse(const std::string& frame) {
  Reply reply;
  if (frame.size() < 16) return reply;
  JuteReader in(frame);
  reply.xid = in.read_int();
  in.read_long();
  reply.err = in.read_int();
  reply.body = frame.substr(16);
  return reply;
}

class ControlSocketTest : public ::testing::Test {
 protected:
  ControlSocketTest() : replication_(&io_), service_(replication_, 1, std::chrono::seconds(10)) {
    replication_.attach(&service_);
    service_.sessions().start(replication_.tree(), 1000);
  }
  ~ControlSocketTest() override { stop(); }
  // Stops the socket and joins its loop: what it did is then safe to look at.
  void stop() {
    if (!loop_.joinable()) return;
    boost::asio::post(io_, [this] { socket_->stop(); });
    work_.reset();
    loop_.join();
  }

  // Before start(): the loop does not run yet.
  void make(const std::string& path, bool directory, uint32_t uid, uint32_t gid, uint32_t mode,
            const std::string& data = "", const std::string& acl = "world:anyone:cdrwa") {
    proto::Txn txn;
    proto::CreateOp* create = txn.add_ops()->mutable_create();
    create->set_path(path);
    create->set_directory(directory);
    create->set_data(data);
    create->set_acl(acl);
    create->mutable_meta()->set_uid(uid);
    create->mutable_meta()->set_gid(gid);
    create->mutable_meta()->set_mode(mode);
    ASSERT_EQ(Code::kOk, replication_.apply(std::move(txn)).code) << path;
  }

  void start(std::chrono::milliseconds write_timeout = kControlWriteTimeout) {
    ControlSocketOptions options;
    options.name = base_name_;
    options.frame_bytes_max = (1 << 20) + 64 * 1024;
    options.write_timeout = write_timeout;
    socket_ = std::make_unique<ControlSocket>(io_, service_, options);
    std::string error;
    ASSERT_TRUE(socket_->start(&error)) << error;
    name_ = socket_->published_name().substr(1);
    loop_ = std::thread([this] { io_.run(); });
  }

  // A connected socket (no ZooKeeper connect sent yet); -1 on failure.
  int dial_raw() const {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    socklen_t length = 0;
    const sockaddr_un address = address_of(name_, &length);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), length) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  }
  // After the ZooKeeper connect; its answer read.
  int dial() const {
    const int fd = dial_raw();
    if (fd < 0) return fd;
    timeval timeout{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    if (!write_all(fd, connect_request()) || read_frame(fd).empty()) {
      ::close(fd);
      return -1;
    }
    return fd;
  }
  static Reply call(int fd, const std::string& frame) {
    if (!write_all(fd, frame)) return {};
    return parse(read_frame(fd));
  }
  // The version of path's stat in a getData reply body.
  static int32_t version_of(const Reply& reply) {
    JuteReader in(reply.body);
    in.read_buffer(reply.body.size());
    in.read_long();  // czxid
    in.read_long();  // mzxid
    in.read_long();  // ctime
    in.read_long();  // mtime
    return in.read_int();
  }

  static inline int instances_ = 0;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_ =
      boost::asio::make_work_guard(io_);
  service::TreeReplication replication_;
  service::Service service_;
  std::unique_ptr<ControlSocket> socket_;
  const std::string base_name_ = "quorumfs-test-" + std::to_string(getpid()) + "-" + std::to_string(++instances_);
  std::string name_;  // the name bound
  std::thread loop_;
};

// A client that pipelines requests and never reads gets one reply held for it, not one per
// request: the requests after the first large reply are not even read (the setData behind them
// is not applied), and the connection is closed once the reply stays unread past the write
// timeout.
TEST_F(ControlSocketTest, APipeliningClientThatNeverReadsHoldsOneReplyAtMost) {
  make("/big", false, getuid(), getgid(), 0644, std::string(1 << 20, 'b'));
  make("/counter", false, getuid(), getgid(), 0666);
  start(std::chrono::milliseconds(1500));
  const int greedy = dial();
  ASSERT_GE(greedy, 0);
  std::string burst;
  for (int i = 1; i <= 32; ++i) burst += get_data(i, "/big");
  burst += set_data(33, "/counter", "reached");
  ASSERT_TRUE(write_all(greedy, burst));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const int other = dial();
  ASSERT_GE(other, 0);
  Reply counter = call(other, get_data(1, "/counter"));
  ASSERT_EQ(kOk, counter.err);
  EXPECT_EQ(0, version_of(counter)) << "every pipelined request was read while no reply was";
  // Past the write timeout the greedy connection is gone: reading drains what was written, then EOF.
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  int replies = 0;
  while (!read_frame(greedy).empty()) ++replies;
  EXPECT_LT(replies, 32);
  counter = call(other, get_data(2, "/counter"));
  EXPECT_EQ(0, version_of(counter));
  ::close(greedy);
  ::close(other);
}

// A client that reads its replies is served every pipelined request, in order.
TEST_F(ControlSocketTest, APipeliningClientThatReadsIsAnsweredInOrder) {
  make("/big", false, getuid(), getgid(), 0644, std::string(256 << 10, 'b'));
  start();
  const int fd = dial();
  ASSERT_GE(fd, 0);
  std::string burst;
  for (int i = 1; i <= 16; ++i) burst += get_data(i, "/big");
  std::thread writer([&] { write_all(fd, burst); });
  for (int i = 1; i <= 16; ++i) {
    const Reply reply = parse(read_frame(fd));
    EXPECT_EQ(i, reply.xid);
    EXPECT_EQ(kOk, reply.err);
  }
  writer.join();
  ::close(fd);
}

// The caller's supplementary groups are the ones it had when it connected (SO_PEERGROUPS), also
// once it has exited, and all of them: a child that connects for its parent and exits lends it
// neither more nor fewer groups than it had (read from /proc after the accept, they were none,
// so "other" applied; and only the first 64 were kept).
TEST_F(ControlSocketTest, GroupsAreTheConnectorsAtConnectAlsoAfterItExited) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give a child another uid and groups";
  make("/denied", false, 0, 4242, 0604, "secret");   // group 4242: no read; others: read
  make("/granted", false, 0, 4242, 0640, "shared");  // group 4242: read; others: none
  start();
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  socklen_t length = 0;
  const sockaddr_un address = address_of(name_, &length);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // 100 groups, 4242 the last: more than the 64 the /proc reading kept.
    gid_t groups[100];
    for (gid_t i = 0; i < 99; ++i) groups[i] = 5000 + i;
    groups[99] = 4242;
    const bool ok = setgroups(100, groups) == 0 && setgid(65534) == 0 && setuid(65534) == 0 &&
                    ::connect(fd, reinterpret_cast<const sockaddr*>(&address), length) == 0;
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(child, waitpid(child, &status, 0));
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ASSERT_TRUE(write_all(fd, connect_request()));
  ASSERT_FALSE(read_frame(fd).empty());
  EXPECT_EQ(kNoAuth, call(fd, get_data(1, "/denied")).err) << "the group's bits apply, not the others'";
  const Reply granted = call(fd, get_data(2, "/granted"));
  EXPECT_EQ(kOk, granted.err);
  ::close(fd);
}

// A ping names no node: it is answered, not refused by the POSIX check.
TEST_F(ControlSocketTest, APingIsAnswered) {
  start();
  const int fd = dial();
  ASSERT_GE(fd, 0);
  const Reply reply = call(fd, ping());
  EXPECT_EQ(kPingXid, reply.xid);
  EXPECT_EQ(kOk, reply.err);
  ::close(fd);
}

// A client that sends what is not served in a loop gets an answer each time, and the log a line
// a second at most.
TEST_F(ControlSocketTest, UnservedRequestsAreLoggedOnceASecondAtMost) {
  std::ostringstream log;
  const auto previous = spdlog::default_logger();
  spdlog::set_default_logger(
      std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::ostream_sink_mt>(log)));
  start();
  const int fd = dial();
  ASSERT_GE(fd, 0);
  for (int i = 1; i <= 50; ++i) EXPECT_EQ(kUnimplemented, call(fd, get_children(i, "/")).err);
  ::close(fd);
  stop();
  spdlog::set_default_logger(previous);
  const std::string text = log.str();
  size_t lines = 0;
  for (size_t at = text.find("not served here"); at != std::string::npos; at = text.find("not served here", at + 1)) {
    ++lines;
  }
  EXPECT_GE(lines, 1u);
  EXPECT_LE(lines, 2u) << text;
}

// Another process that bound "quorumfs-PID" first does not keep the daemon from its socket: it
// takes "quorumfs-PID-RANDOM" (which quorumctl accepts, checking the pid all the same).
TEST_F(ControlSocketTest, ANameTakenByASquatterIsReplacedByARandomOne) {
  const int squatter = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  socklen_t length = 0;
  const sockaddr_un address = address_of(base_name_, &length);
  ASSERT_EQ(0, ::bind(squatter, reinterpret_cast<const sockaddr*>(&address), length));
  ASSERT_EQ(0, ::listen(squatter, 4));
  start();
  ASSERT_TRUE(name_.starts_with(base_name_ + "-")) << name_;
  EXPECT_EQ(base_name_.size() + 17, name_.size()) << name_;
  const int fd = dial();
  ASSERT_GE(fd, 0);
  EXPECT_EQ(kPingXid, call(fd, ping()).xid);
  ::close(fd);
  ::close(squatter);
}

// Other users together cannot take every slot: the last kControlConnectionsRootReserved are
// root's. The slots are filled by children of other uids that connect for the test and exit
// (the connection keeps their credentials).
TEST_F(ControlSocketTest, OtherUsersCannotTakeRootsReservedSlots) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to connect as other uids";
  start();
  constexpr size_t kUids = kControlConnectionsMax / kControlConnectionsPerUidMax;  // enough to fill every slot
  std::vector<int> fds;
  socklen_t length = 0;
  const sockaddr_un address = address_of(name_, &length);
  for (size_t uid = 0; uid < kUids; ++uid) {
    std::vector<int> batch;
    for (size_t i = 0; i < kControlConnectionsPerUidMax; ++i) {
      batch.push_back(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    }
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      bool ok = setgroups(0, nullptr) == 0 && setgid(20000 + uid) == 0 && setuid(20000 + uid) == 0;
      for (int fd : batch) ok = ok && ::connect(fd, reinterpret_cast<const sockaddr*>(&address), length) == 0;
      _exit(ok ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(child, waitpid(child, &status, 0));
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    fds.insert(fds.end(), batch.begin(), batch.end());
  }
  size_t served = 0;
  for (int fd : fds) {
    timeval timeout{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    if (write_all(fd, connect_request()) && !read_frame(fd).empty()) ++served;
  }
  EXPECT_EQ(kControlConnectionsMax - kControlConnectionsRootReserved, served);
  const int root = dial();
  ASSERT_GE(root, 0) << "root was locked out";
  EXPECT_EQ(kPingXid, call(root, ping()).xid);
  ::close(root);
  for (int fd : fds) ::close(fd);
}

}  // namespace
}  // namespace quorumfs::zk
