#include "daemon/admin/endpoint.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <utility>

#include "daemon/admin/web_page.h"
#include "daemon/tree/acl.h"
#include "daemon/tree/path.h"

namespace quorumfs::admin {

namespace {

using nlohmann::json;

// Names and data are any bytes: invalid UTF-8 becomes U+FFFD rather than an exception.
std::string dump(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

Reply json_reply(unsigned status, const json& value) { return Reply{status, "application/json", dump(value) + "\n"}; }

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// What the web view may show: the tree's ACL must give world:anyone READ, and the POSIX mode must
// let others read the node and pass through every directory above it, as `ls` by a user of
// another group would be let. Anything else is refused (403) without saying more than that.
bool world_readable(const Node& node) {
  static const proto::Caller kWorld = [] {
    proto::Caller caller;
    caller.set_zk_client(true);  // no identity at all: only world:anyone entries apply
    return caller;
  }();
  if (!acl_permits(node.acl(), kRead, kWorld) || (node.attrs().mode & 0004) == 0) return false;
  for (const Node* up = node.parent(); up != nullptr; up = up->parent()) {
    if ((up->attrs().mode & 0001) == 0) return false;
  }
  return true;
}

json stat_json(const Node& node) {
  const Stat& stat = node.stat();
  return json{{"czxid", zxid_text(stat.czxid)},
              {"mzxid", zxid_text(stat.mzxid)},
              {"pzxid", zxid_text(stat.pzxid)},
              {"ctime", stat.ctime_ms},
              {"mtime", stat.mtime_ms},
              {"version", stat.version},
              {"cversion", stat.cversion},
              {"aversion", stat.aversion},
              {"ephemeralOwner", fmt::format("{:#x}", stat.ephemeral_owner)},
              {"dataLength", node.data().size()},
              {"numChildren", node.num_children()}};
}

}  // namespace

Reply error_reply(unsigned status, std::string_view message) {
  return json_reply(status, json{{"error", std::string(message)}});
}

bool percent_decode(std::string_view text, std::string* out) {
  out->clear();
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out->push_back(' ');
    } else if (text[i] != '%') {
      out->push_back(text[i]);
    } else {
      if (i + 2 >= text.size()) return false;
      const int high = hex_digit(text[i + 1]);
      const int low = hex_digit(text[i + 2]);
      if (high < 0 || low < 0) return false;
      out->push_back(static_cast<char>(high * 16 + low));
      i += 2;
    }
  }
  return true;
}

std::optional<std::string> query_value(std::string_view query, std::string_view key, bool* bad) {
  size_t start = 0;
  while (start <= query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view pair = query.substr(start, end - start);
    const size_t equals = pair.find('=');
    if (pair.substr(0, equals) == key) {
      std::string value;
      if (!percent_decode(equals == std::string_view::npos ? std::string_view{} : pair.substr(equals + 1), &value)) {
        *bad = true;
        return std::nullopt;
      }
      return value;
    }
    start = end + 1;
  }
  return std::nullopt;
}

Endpoint::Endpoint(std::function<const DataTree&()> tree, Sources sources, std::function<std::string()> metrics)
    : tree_(std::move(tree)), sources_(std::move(sources)), metrics_(std::move(metrics)) {}

Reply Endpoint::handle(std::string_view method, std::string_view target) const {
  if (method != "GET" && method != "HEAD") {
    return error_reply(405, fmt::format("method {} not allowed: the admin endpoint is read-only (GET, HEAD)", method));
  }
  if (target.size() > kTargetBytesMax) {
    return error_reply(414, fmt::format("request target of {} bytes (at most {})", target.size(), kTargetBytesMax));
  }
  if (target.empty() || target.front() != '/') return error_reply(400, "the request target must start with /");
  const size_t question = target.find('?');
  const std::string_view path = target.substr(0, question);
  const std::string_view query = question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);
  return route(path, query);
}

Reply Endpoint::route(std::string_view path, std::string_view query) const {
  if (path == "/" || path == "/index.html") return Reply{200, "text/html; charset=utf-8", kWebPage};
  if (path == "/commands" || path == "/commands/") {
    return json_reply(200, json{{"commands", command_names()}});
  }
  if (path.starts_with("/commands/")) {
    const std::string_view asked = path.substr(std::string_view("/commands/").size());
    const std::optional<std::string> name = command_name(asked);
    if (!name) {
      return json_reply(404, json{{"command", std::string(asked)}, {"error", "Unknown command: " + std::string(asked)}});
    }
    return json_reply(200, run_command(*name, tree_(), sources_));
  }
  if (path == "/metrics" && metrics_) return Reply{200, "text/plain; version=0.0.4; charset=utf-8", metrics_()};
  if (path == "/tree") return tree_node(query);
  return error_reply(404, fmt::format("no such page: {} (try /commands, /metrics, /tree?path=/)", path));
}

// One node and a page of its children, in name order after `after`, at most `limit` (and at
// most kTreeChildrenPerPageMax) of them.
Reply Endpoint::tree_node(std::string_view query) const {
  bool bad = false;
  const std::string path = query_value(query, "path", &bad).value_or("/");
  const std::string after = query_value(query, "after", &bad).value_or("");
  const std::string limit_text = query_value(query, "limit", &bad).value_or("");
  if (bad) return error_reply(400, "bad %-escape in the query");
  if (!valid_path(path)) return error_reply(400, "not a znode path: " + path);
  size_t limit = kTreeChildrenPerPageMax;
  if (!limit_text.empty()) {
    size_t parsed = 0;
    const auto [end, failed] = std::from_chars(limit_text.data(), limit_text.data() + limit_text.size(), parsed);
    if (failed != std::errc() || end != limit_text.data() + limit_text.size() || parsed == 0) {
      return error_reply(400, fmt::format("limit must be 1..{}", kTreeChildrenPerPageMax));
    }
    limit = std::min(parsed, kTreeChildrenPerPageMax);
  }
  const DataTree& tree = tree_();
  const Node* node = tree.find(path);
  if (node == nullptr) return error_reply(404, "no node " + path);
  if (!world_readable(*node)) {
    return error_reply(403, path + " is not readable by everyone (world:anyone READ and o+r): not shown");
  }
  const std::string_view data = node->data();
  json out{{"path", path},
           {"directory", node->is_directory()},
           {"mode", fmt::format("{:04o}", node->attrs().mode & 07777)},
           {"acl", format_acl(node->acl())},
           {"stat", stat_json(*node)},
           {"data", std::string(data.substr(0, kTreeDataPreviewBytesMax))},
           {"data_truncated", data.size() > kTreeDataPreviewBytesMax}};
  json children = json::array();
  std::optional<std::string> next_after;
  node->for_each_child(after, [&](const Node& child) {
    if (children.size() == limit) {
      next_after = std::string(children.back()["name"].get<std::string>());
      return false;
    }
    children.push_back(json{{"name", std::string(child.name())},
                            {"directory", child.is_directory()},
                            {"dataLength", child.data().size()},
                            {"numChildren", child.num_children()},
                            {"readable", world_readable(child)}});
    return true;
  });
  out["children"] = std::move(children);
  out["next_after"] = next_after ? json(*next_after) : json(nullptr);
  return json_reply(200, out);
}

}  // namespace quorumfs::admin
