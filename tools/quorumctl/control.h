// quorumctl's client of the daemon's control socket (docs/quorumctl.md, "The control socket").
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace quorumfs::quorumctl {

// "@quorumfs-PID" or "@quorumfs-PID-RANDOM" (16 hex digits) -> PID; false for anything else
// (unit-tested).
bool parse_socket_name(std::string_view name, pid_t* pid);

class ControlClient {
 public:
  ControlClient() = default;
  ~ControlClient();
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;

  // Finds the socket the mount publishes, connects, checks that its peer is the daemon that
  // published it (SO_PEERCRED pid), and sends the ZooKeeper connect.
  bool connect_to(const std::string& mount);
  // One request (opcode and jute body); its reply header's err and its body.
  bool call(int32_t op, const std::string& body, int32_t* err, std::string* reply_body);
  // A four-letter word on a connection of its own.
  bool four_letter_word(const std::string& mount, const std::string& word, std::string* answer);
  const std::string& error() const { return error_; }

 private:
  bool open_socket(const std::string& mount);

  int fd_ = -1;
  int32_t xid_ = 0;
  std::string error_;
};

}  // namespace quorumfs::quorumctl
