// What the admin endpoint answers, apart from sockets: a request's method and target in, a status,
// a content type and a body out (admin_server.h carries them over HTTP). Runs on the event loop.
//
//   GET /                         the web view (web_page.h): the tree and the ensemble
//   GET /commands                 the command names
//   GET /commands/NAME            ZooKeeper's AdminServer command NAME as JSON (commands.h)
//   GET /metrics                  Prometheus text format (metrics.h)
//   GET /tree?path=/a&after=x     one node: its stat, a preview of its data and a page of children
//
// Every error is JSON, {"error": "..."}: 400 (bad target or query), 403 (a node that world:anyone
// may not read), 404 (no such route, command or node), 405 (a method other than GET or HEAD).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "daemon/admin/commands.h"
#include "daemon/tree/data_tree.h"

namespace quorumfs::admin {

// Children listed per /tree page at most (the next page starts after the last name given).
inline constexpr size_t kTreeChildrenPerPageMax = 500;
// Bytes of a node's data shown by /tree at most (the rest is cut, and said to be).
inline constexpr size_t kTreeDataPreviewBytesMax = 4096;
// A request target (path and query) of more bytes is refused with 414.
inline constexpr size_t kTargetBytesMax = 2048;

struct Reply {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
};

class Endpoint {
 public:
  Endpoint(std::function<const DataTree&()> tree, Sources sources,
           std::function<std::string()> metrics = nullptr);

  Reply handle(std::string_view method, std::string_view target) const;

  // Exposed for tests.
  Reply tree_node(std::string_view query) const;

 private:
  Reply route(std::string_view path, std::string_view query) const;

  std::function<const DataTree&()> tree_;
  Sources sources_;
  std::function<std::string()> metrics_;
};

// A JSON error reply.
Reply error_reply(unsigned status, std::string_view message);
// "a%2Fb+c" -> "a/b c"; false on a bad escape.
bool percent_decode(std::string_view text, std::string* out);
// The value of key in a query string ("path=/a&after=b"), decoded; nullopt when absent, or "bad"
// set when its escape is broken.
std::optional<std::string> query_value(std::string_view query, std::string_view key, bool* bad);

}  // namespace quorumfs::admin
