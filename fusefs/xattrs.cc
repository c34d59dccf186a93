#include "fusefs/xattrs.h"

#include <fmt/format.h>

#include <array>

namespace quorumfs::fusefs {

namespace {

std::string hex(int64_t value) { return fmt::format("0x{:x}", static_cast<uint64_t>(value)); }

// The read-only stat fields in ZooKeeper's order.
constexpr std::array<std::string_view, 11> kStatFields = {
    "czxid", "mzxid", "pzxid", "ctime", "mtime", "version", "cversion", "aversion",
    "ephemeralOwner", "dataLength", "numChildren"};

std::optional<std::string> stat_field(const Node& node, std::string_view field) {
  const Stat& stat = node.stat();
  if (field == "czxid") return hex(stat.czxid);
  if (field == "mzxid") return hex(stat.mzxid);
  if (field == "pzxid") return hex(stat.pzxid);
  if (field == "ctime") return std::to_string(stat.ctime_ms);
  if (field == "mtime") return std::to_string(stat.mtime_ms);
  if (field == "version") return std::to_string(stat.version);
  if (field == "cversion") return std::to_string(stat.cversion);
  if (field == "aversion") return std::to_string(stat.aversion);
  if (field == "ephemeralOwner") return hex(static_cast<int64_t>(stat.ephemeral_owner));
  if (field == "dataLength") return std::to_string(node.data().size());
  if (field == "numChildren") return std::to_string(node.num_children());
  return std::nullopt;
}

}  // namespace

XattrKind classify_xattr(std::string_view name) {
  if (!name.starts_with(kZkPrefix)) return XattrKind::kUnknown;
  std::string_view field = name.substr(kZkPrefix.size());
  if (field == "acl") return XattrKind::kAcl;
  if (field == "data") return XattrKind::kData;
  if (field == "name") return XattrKind::kName;
  if (field == "path") return XattrKind::kPath;
  if (field == "stat") return XattrKind::kStat;
  if (field == "state") return XattrKind::kState;
  if (field == "lock.token") return XattrKind::kLockToken;
  for (auto known : kStatFields) {
    if (field == known) return XattrKind::kStat;
  }
  return XattrKind::kUnknown;
}

std::string stat_line(const Node& node) {
  std::string line;
  for (auto field : kStatFields) {
    if (!line.empty()) line += ' ';
    line += fmt::format("{}={}", field, *stat_field(node, field));
  }
  return line;
}

std::optional<std::string> stat_xattr(const DataTree& tree, const Node& node, std::string_view name) {
  std::string_view field = name.substr(kZkPrefix.size());
  if (field == "stat") return stat_line(node);
  if (field == "name") return std::string(node.name());
  if (field == "path") return tree.path_of(node);
  return stat_field(node, field);
}

std::string_view state_xattr(bool synced, bool expired) {
  if (!synced) return "unsynced";
  return expired ? "expired" : "synced";
}

std::string list_xattrs(const Node& node) {
  std::string names;
  auto add = [&names](std::string_view field) {
    names += kZkPrefix;
    names += field;
    names += '\0';
  };
  for (auto field : kStatFields) add(field);
  add("stat");
  add("acl");
  add("name");
  add("path");
  // A file's data is its content; only a directory's own data needs the attribute listed.
  if (node.is_directory()) add("data");
  if (node.parent() == nullptr) add("state");
  return names;
}

std::string acl_value_error(std::string_view value) {
  Acl acl;
  std::string error;
  // Whether a text is an ACL does not depend on which mount caller sets it (auth: only takes its uid).
  return parse_acl(value, proto::Caller(), &acl, &error) ? "" : error;
}

}  // namespace quorumfs::fusefs
