// What the mount cannot express goes to the daemon over its control socket (docs/quorumctl.md,
// "The control socket"): a setData or delete at a version, a multi, status. A small ZooKeeper
// client: the daemon's own jute encoding (daemon/zk/jute.h), no libzookeeper.
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <boost/endian/conversion.hpp>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <tuple>

#include "daemon/zk/jute.h"
#include "tools/quorumctl/commands.h"
#include "tools/quorumctl/control.h"
#include "tools/quorumctl/format.h"
#include "tools/quorumctl/node_io.h"

namespace quorumfs::quorumctl {

namespace {

constexpr int32_t kOpCreate = 1, kOpDelete = 2, kOpSetData = 5, kOpCheck = 13, kOpMulti = 14;
// A reply this large is not one quorumctl asked for.
constexpr uint32_t kReplyBytesMax = 64u << 20;

bool read_exactly(int fd, char* out, size_t n) {
  while (n > 0) {
    const ssize_t got = read(fd, out, n);
    if (got == 0) {
      errno = ECONNRESET;
      return false;
    }
    if (got < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    out += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

// A send that never raises SIGPIPE: a daemon that closed first is an error (EPIPE), not quorumctl's
// death (docs/quorumctl.md, exit 7).
bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t sent = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(sent));
  }
  return true;
}

bool read_frame(int fd, std::string* frame) {
  char length_bytes[4];
  if (!read_exactly(fd, length_bytes, 4)) return false;
  uint32_t length;
  std::memcpy(&length, length_bytes, 4);
  length = boost::endian::big_to_native(length);
  if (length > kReplyBytesMax) {
    errno = EMSGSIZE;
    return false;
  }
  frame->resize(length);
  return read_exactly(fd, frame->data(), length);
}

}  // namespace

bool parse_socket_name(std::string_view name, pid_t* pid) {
  constexpr std::string_view kPrefix = "@quorumfs-";
  if (!name.starts_with(kPrefix)) return false;
  std::string_view digits = name.substr(kPrefix.size());
  // "@quorumfs-PID-RANDOM": the name the daemon took when "@quorumfs-PID" was bound by another
  // process (RANDOM: 16 lowercase hex digits). The peer is checked against PID all the same.
  if (const size_t dash = digits.find('-'); dash != std::string_view::npos) {
    const std::string_view tail = digits.substr(dash + 1);
    if (tail.size() != 16 || tail.find_first_not_of("0123456789abcdef") != std::string_view::npos) return false;
    digits = digits.substr(0, dash);
  }
  if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string_view::npos) {
    return false;
  }
  *pid = static_cast<pid_t>(std::stol(std::string(digits)));
  return *pid > 0;
}

ControlClient::~ControlClient() {
  if (fd_ >= 0) close(fd_);
}

bool ControlClient::open_socket(const std::string& mount) {
  char value[256];
  const ssize_t got = lgetxattr(mount.c_str(), "user.quorumfs.control", value, sizeof value - 1);
  if (got < 0) {
    error_ = mount + ": no control socket published (user.quorumfs.control: " + std::strerror(errno) + ")";
    return false;
  }
  const std::string name(value, static_cast<size_t>(got));
  pid_t pid = 0;
  if (!parse_socket_name(name, &pid)) {
    error_ = mount + ": user.quorumfs.control says '" + name + "', not @quorumfs-PID";
    return false;
  }
  fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    error_ = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  // An abstract name: a leading NUL, the rest without a terminator.
  std::memcpy(address.sun_path + 1, name.data() + 1, name.size() - 1);
  const socklen_t length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  if (connect(fd_, reinterpret_cast<sockaddr*>(&address), length) != 0) {
    error_ = name + ": " + std::strerror(errno) + " (is the daemon of " + mount + " running?)";
    return false;
  }
  // Anyone may bind an abstract name: only the daemon that published it is believed.
  ucred credentials{};
  socklen_t size = sizeof credentials;
  if (getsockopt(fd_, SOL_SOCKET, SO_PEERCRED, &credentials, &size) != 0 || credentials.pid != pid) {
    error_ = name + ": the socket belongs to pid " + std::to_string(credentials.pid) + ", not to the daemon (pid " +
             std::to_string(pid) + "): refused";
    return false;
  }
  return true;
}

bool ControlClient::connect_to(const std::string& mount) {
  if (!open_socket(mount)) return false;
  std::string frame;
  zk::JuteWriter out(&frame);
  const size_t start = out.begin_frame();
  out.write_int(0);   // protocolVersion
  out.write_long(0);  // lastZxidSeen
  out.write_int(0);   // timeOut
  out.write_long(0);  // sessionId
  out.write_buffer(std::string(16, '\0'));
  out.write_bool(false);
  out.end_frame(start);
  std::string reply;
  if (!send_all(fd_, frame) || !read_frame(fd_, &reply)) {
    error_ = std::string("the daemon closed the control socket: ") + std::strerror(errno);
    return false;
  }
  return true;
}

bool ControlClient::four_letter_word(const std::string& mount, const std::string& word, std::string* answer) {
  if (!open_socket(mount)) return false;
  if (!send_all(fd_, word)) {
    error_ = std::string("write: ") + std::strerror(errno);
    return false;
  }
  answer->clear();
  char buffer[4096];
  while (true) {
    const ssize_t got = read(fd_, buffer, sizeof buffer);
    if (got == 0) return true;
    if (got < 0) {
      if (errno == EINTR) continue;
      error_ = std::string("read: ") + std::strerror(errno);
      return false;
    }
    answer->append(buffer, static_cast<size_t>(got));
    if (answer->size() > kReplyBytesMax) {
      error_ = "the answer is too long";
      return false;
    }
  }
}

bool ControlClient::call(int32_t op, const std::string& body, int32_t* err, std::string* reply_body) {
  std::string frame;
  zk::JuteWriter out(&frame);
  const size_t start = out.begin_frame();
  out.write_int(++xid_);
  out.write_int(op);
  frame += body;
  out.end_frame(start);
  std::string reply;
  if (!send_all(fd_, frame) || !read_frame(fd_, &reply)) {
    error_ = std::string("the daemon closed the control socket: ") + std::strerror(errno);
    return false;
  }
  zk::JuteReader in(reply);
  const int32_t xid = in.read_int();
  in.read_long();  // zxid
  *err = in.read_int();
  if (!in.ok() || xid != xid_) {
    error_ = "a malformed reply from the daemon";
    return false;
  }
  *reply_body = reply.substr(16);
  return true;
}

namespace {

void encode_op(const MultiOp& op, const std::string& znode, std::string* body) {
  zk::JuteWriter out(body);
  out.write_string(znode);
  switch (op.kind) {
    case MultiOp::Kind::kCreate:
      out.write_buffer(op.data);
      // No ACL: the daemon gives a control socket's create its parent's, as the mount does.
      out.write_int(0);
      out.write_int(0);  // persistent
      break;
    case MultiOp::Kind::kSetData:
      out.write_buffer(op.data);
      out.write_int(op.version);
      break;
    case MultiOp::Kind::kDelete:
    case MultiOp::Kind::kCheck:
      out.write_int(op.version);
      break;
  }
}

int32_t opcode_of(MultiOp::Kind kind) {
  switch (kind) {
    case MultiOp::Kind::kCreate: return kOpCreate;
    case MultiOp::Kind::kSetData: return kOpSetData;
    case MultiOp::Kind::kDelete: return kOpDelete;
    case MultiOp::Kind::kCheck: return kOpCheck;
  }
  return kOpCheck;
}

int fail_zk(const Global& global, const std::string& command, const std::string& what, int32_t err) {
  std::string reason = zk_code_name(err);
  if (err == -103) reason = "version mismatch (BadVersion): nothing written";
  if (err == -102) reason = "Permission denied (NoAuth)";
  if (err == -101) reason = "No such file or directory (NoNode)";
  if (err == -111) reason = "Directory not empty (NotEmpty)";
  report(global, command, what, reason);
  return exit_for_zk(err);
}

// The daemon's --data-max-bytes (its mntr's zk_quorumfs_data_max_bytes); 0 when it does not say.
size_t daemon_data_max(const std::string& mount) {
  ControlClient client;
  std::string answer;
  if (!client.four_letter_word(mount, "mntr", &answer)) return 0;
  const auto values = parse_word_answer(answer);
  const auto found = values.find("zk_quorumfs_data_max_bytes");
  if (found == values.end() || found->second.empty() ||
      found->second.find_first_not_of("0123456789") != std::string::npos || found->second.size() > 12) {
    return 0;
  }
  return std::stoull(found->second);
}

// Data longer than the daemon takes is refused before anything is sent, as the mount refuses
// such a write (EFBIG; docs/quorumctl.md). kExitOk when it fits or no data is given.
int check_data_size(const Global& global, const std::string& command, const std::string& what,
                    const std::string& mount, size_t bytes) {
  if (bytes == 0) return kExitOk;
  const size_t limit = daemon_data_max(mount);
  if (limit == 0 || bytes <= limit) return kExitOk;
  report(global, command, what,
         "File too large (EFBIG): " + std::to_string(bytes) + " bytes of data, the daemon takes at most " +
             std::to_string(limit) + " (--data-max-bytes): nothing sent");
  return kExitOther;
}

int connect_or_fail(const Global& global, const std::string& command, const Target& target, ControlClient* client) {
  if (client->connect_to(target.mount)) return kExitOk;
  report(global, command, "", client->error());
  return kExitUnreachable;
}

}  // namespace

int control_set(const Global& global, const Target& target, const std::string& data, int32_t version) {
  if (int code = check_data_size(global, "set", target.show(target.znode), target.mount, data.size()); code != kExitOk) {
    return code;
  }
  ControlClient client;
  if (int code = connect_or_fail(global, "set", target, &client); code != kExitOk) return code;
  std::string body;
  MultiOp op{MultiOp::Kind::kSetData, target.znode, data, version};
  encode_op(op, target.znode, &body);
  int32_t err = 0;
  std::string reply;
  if (!client.call(kOpSetData, body, &err, &reply)) {
    report(global, "set", target.show(target.znode), client.error());
    return kExitUnreachable;
  }
  if (err != 0) return fail_zk(global, "set", target.show(target.znode), err);
  return kExitOk;
}

int control_delete(const Global& global, const Target& target, int32_t version) {
  ControlClient client;
  if (int code = connect_or_fail(global, "delete", target, &client); code != kExitOk) return code;
  std::string body;
  MultiOp op{MultiOp::Kind::kDelete, target.znode, "", version};
  encode_op(op, target.znode, &body);
  int32_t err = 0;
  std::string reply;
  if (!client.call(kOpDelete, body, &err, &reply)) {
    report(global, "delete", target.show(target.znode), client.error());
    return kExitUnreachable;
  }
  if (err != 0) return fail_zk(global, "delete", target.show(target.znode), err);
  return kExitOk;
}

int cmd_multi(const Global& global, const std::vector<std::string>& arguments) {
  std::vector<std::string> lines = arguments;
  if (lines.empty()) {
    std::string text = read_stdin_data();
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      std::string line = text.substr(start, end - start);
      start = end + 1;
      if (line.find_first_not_of(" \t") == std::string::npos || line[line.find_first_not_of(" \t")] == '#') continue;
      lines.push_back(std::move(line));
    }
  }
  if (lines.empty()) {
    report(global, "multi", "", "no ops (give them as arguments or one per line on stdin)");
    return kExitUsage;
  }
  std::vector<MultiOp> ops;
  std::vector<Target> targets;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::vector<std::string> words;
    std::string error;
    MultiOp op;
    if (!split_words(lines[i], &words, &error) || !parse_multi_op(words, &op, &error)) {
      report(global, "multi", "op " + std::to_string(i + 1) + " '" + lines[i] + "'", error);
      return kExitUsage;
    }
    Target target;
    if (!resolve_target(op.path, global.mount, &target, &error)) {
      report(global, "multi", "op " + std::to_string(i + 1), error);
      return kExitUnreachable;
    }
    if (!targets.empty() && target.mount != targets.front().mount) {
      report(global, "multi", "op " + std::to_string(i + 1), "every op must be in the same mount as the first");
      return kExitUsage;
    }
    ops.push_back(std::move(op));
    targets.push_back(std::move(target));
  }
  size_t largest = 0, largest_op = 0;
  for (size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].data.size() > largest) std::tie(largest, largest_op) = std::tuple(ops[i].data.size(), i);
  }
  if (int code = check_data_size(global, "multi", "op " + std::to_string(largest_op + 1), targets.front().mount, largest);
      code != kExitOk) {
    return code;
  }
  ControlClient client;
  if (int code = connect_or_fail(global, "multi", targets.front(), &client); code != kExitOk) return code;
  std::string body;
  for (size_t i = 0; i < ops.size(); ++i) {
    zk::JuteWriter header(&body);
    header.write_int(opcode_of(ops[i].kind));
    header.write_bool(false);
    header.write_int(-1);
    encode_op(ops[i], targets[i].znode, &body);
  }
  zk::JuteWriter end(&body);
  end.write_int(-1);
  end.write_bool(true);
  end.write_int(-1);
  int32_t err = 0;
  std::string reply;
  if (!client.call(kOpMulti, body, &err, &reply)) {
    report(global, "multi", "", client.error());
    return kExitUnreachable;
  }
  if (err != 0) return fail_zk(global, "multi", "", err);  // refused as a whole (a POSIX check)
  zk::JuteReader in(reply);
  std::vector<std::string> created;
  for (size_t i = 0; i < ops.size(); ++i) {
    const int32_t type = in.read_int();
    in.read_bool();
    in.read_int();
    if (type == -1) {
      const int32_t op_err = in.read_int();
      if (op_err != 0 && op_err != -2) {
        return fail_zk(global, "multi", "op " + std::to_string(i + 1) + " '" + lines[i] + "'", op_err);
      }
      continue;
    }
    if (type == kOpCreate) created.push_back(in.read_string(4096));
    if (type == kOpSetData) {
      for (int field = 0; field < 4; ++field) in.read_long();
      for (int field = 0; field < 3; ++field) in.read_int();
      in.read_long();
      in.read_int();
      in.read_int();
      in.read_long();
    }
  }
  if (!in.ok()) {
    report(global, "multi", "", "a malformed reply from the daemon");
    return kExitOther;
  }
  for (const std::string& path : created) std::cout << targets.front().show(path) << "\n";
  std::cout.flush();
  return kExitOk;
}

int cmd_status(const Global& global, const std::string& mount_argument, bool raw) {
  std::string where = mount_argument;
  if (where.empty()) where = global.mount.empty() ? "." : global.mount;
  Target target;
  std::string error;
  if (!resolve_target(where, "", &target, &error)) {
    report(global, "status", "", error);
    return kExitUnreachable;
  }
  ControlClient client;
  std::string answer;
  if (!client.four_letter_word(target.mount, "mntr", &answer)) {
    report(global, "status", "", client.error());
    return kExitUnreachable;
  }
  if (raw) {
    std::cout << answer;
    return kExitOk;
  }
  const auto values = parse_word_answer(answer);
  auto value = [&](const std::string& key) {
    const auto found = values.find(key);
    return found == values.end() ? std::string("?") : found->second;
  };
  std::cout << "mount=" << target.mount << "\n"
            << "serverId=" << value("zk_quorumfs_server_id") << "\n"
            << "role=" << value("zk_server_state") << "\n"
            << "epoch=" << value("zk_epoch") << "\n"
            << "lastZxid=" << value("zk_last_zxid") << "\n"
            << "state=" << value("zk_quorumfs_state") << "\n"
            << "sessions=" << value("zk_open_sessions") << "\n"
            << "znodes=" << value("zk_znode_count") << "\n";
  for (const auto& [key, text] : values) {
    if (key.starts_with("quorumfs_peer_")) std::cout << "peer." << key.substr(14) << "=" << text << "\n";
  }
  std::cout.flush();
  return kExitOk;
}

}  // namespace quorumfs::quorumctl
