#include "tools/quorumctl/format.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <charconv>
#include <limits>

namespace quorumfs::quorumctl {

int exit_for_errno(int error) {
  switch (error) {
    case 0:
      return kExitOk;
    case ENOENT:
    case ENOTDIR:
      return kExitNoNode;
    case EEXIST:
      return kExitNodeExists;
    case EACCES:
    case EPERM:
    case EROFS:
      return kExitNotPermitted;
    case ENOTEMPTY:
      return kExitNotEmpty;
    case ENOTCONN:
    case ECONNREFUSED:
      return kExitUnreachable;
    default:
      return kExitOther;
  }
}

int exit_for_zk(int32_t code) {
  switch (code) {
    case 0:
      return kExitOk;
    case -101:  // NoNode
      return kExitNoNode;
    case -103:  // BadVersion
      return kExitBadVersion;
    case -110:  // NodeExists
      return kExitNodeExists;
    case -102:  // NoAuth
      return kExitNotPermitted;
    case -111:  // NotEmpty
      return kExitNotEmpty;
    case -4:    // ConnectionLoss
      return kExitUnreachable;
    default:
      return kExitOther;
  }
}

std::string zk_code_name(int32_t code) {
  switch (code) {
    case 0: return "Ok";
    case -1: return "SystemError";
    case -2: return "RuntimeInconsistency";
    case -4: return "ConnectionLoss";
    case -6: return "Unimplemented";
    case -8: return "BadArguments";
    case -101: return "NoNode";
    case -102: return "NoAuth";
    case -103: return "BadVersion";
    case -108: return "NoChildrenForEphemerals";
    case -110: return "NodeExists";
    case -111: return "NotEmpty";
    case -112: return "SessionExpired";
    case -114: return "InvalidACL";
    case -119: return "NotReadOnly";
    default: return "error " + std::to_string(code);
  }
}

namespace {

constexpr std::string_view kBase64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    out += kBase64[v >> 18];
    out += kBase64[(v >> 12) & 63];
    out += kBase64[(v >> 6) & 63];
    out += kBase64[v & 63];
  }
  if (const size_t rest = bytes.size() - i; rest > 0) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    if (rest == 2) v |= uint8_t(bytes[i + 1]) << 8;
    out += kBase64[v >> 18];
    out += kBase64[(v >> 12) & 63];
    out += rest == 2 ? kBase64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    const int v = base64_value(c);
    if (v < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<uint32_t>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xff);
    }
  }
  return out;
}

bool split_words(std::string_view line, std::vector<std::string>* words, std::string* error) {
  words->clear();
  size_t i = 0;
  while (i < line.size()) {
    if (line[i] == ' ' || line[i] == '\t') {
      ++i;
      continue;
    }
    std::string word;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') {
      const char c = line[i];
      if (c == '\'' || c == '"') {
        const size_t start = i++;
        while (i < line.size() && line[i] != c) {
          if (c == '"' && line[i] == '\\' && i + 1 < line.size()) ++i;
          word += line[i++];
        }
        if (i >= line.size()) {
          *error = "unclosed quote at offset " + std::to_string(start);
          return false;
        }
        ++i;
      } else {
        word += c;
        ++i;
      }
    }
    words->push_back(std::move(word));
  }
  return true;
}

bool parse_version(std::string_view text, int32_t* version) {
  int64_t value = 0;
  const auto [end, failed] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (failed != std::errc() || end != text.data() + text.size()) return false;
  if (value < -1 || value > std::numeric_limits<int32_t>::max()) return false;
  *version = static_cast<int32_t>(value);
  return true;
}

bool parse_multi_op(const std::vector<std::string>& words, MultiOp* op, std::string* error) {
  if (words.empty()) {
    *error = "an empty op";
    return false;
  }
  const std::string& verb = words[0];
  auto want = [&](size_t least, size_t most) {
    if (words.size() - 1 >= least && words.size() - 1 <= most) return true;
    *error = verb + " takes " + (least == most ? std::to_string(least) : std::to_string(least) + "-" + std::to_string(most)) +
             " argument(s), got " + std::to_string(words.size() - 1);
    return false;
  };
  auto version_at = [&](size_t index) {
    if (index >= words.size()) return true;
    if (parse_version(words[index], &op->version)) return true;
    *error = "'" + words[index] + "' is not a version (an integer, -1 = any)";
    return false;
  };
  op->version = -1;
  op->data.clear();
  if (verb == "create") {
    if (!want(1, 2)) return false;
    op->kind = MultiOp::Kind::kCreate;
    if (words.size() > 2) op->data = words[2];
  } else if (verb == "set" || verb == "setData") {
    if (!want(2, 3)) return false;
    op->kind = MultiOp::Kind::kSetData;
    op->data = words[2];
    if (!version_at(3)) return false;
  } else if (verb == "delete") {
    if (!want(1, 2)) return false;
    op->kind = MultiOp::Kind::kDelete;
    if (!version_at(2)) return false;
  } else if (verb == "check") {
    if (!want(2, 2)) return false;
    op->kind = MultiOp::Kind::kCheck;
    if (!version_at(2)) return false;
  } else {
    *error = "unknown op '" + verb + "' (create, set, delete, check)";
    return false;
  }
  op->path = words[1];
  if (op->path.empty()) {
    *error = "an empty path";
    return false;
  }
  return true;
}

std::string dump_header_line(std::string_view root) {
  nlohmann::json header = {{"quorumctl_dump", kDumpFormatVersion}, {"root", std::string(root)}};
  return header.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string dump_record_line(const DumpRecord& record) {
  // Names are bytes, not text: the path goes as base64 too when it is not printable ASCII, so
  // every line is valid JSON whatever the tree holds.
  bool printable = true;
  for (unsigned char c : record.path) printable &= c >= 0x20 && c < 0x7f;
  nlohmann::json line;
  if (printable) {
    line["path"] = record.path;
  } else {
    line["path64"] = base64_encode(record.path);
  }
  line["type"] = record.directory ? "dir" : "file";
  line["data"] = base64_encode(record.data);
  line["acl"] = record.acl;
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", record.mode & 07777);
  line["mode"] = mode;
  line["uid"] = record.uid;
  line["gid"] = record.gid;
  line["mtime_ns"] = record.mtime_ns;
  return line.dump();
}

bool parse_dump_header(std::string_view line, std::string* root, std::string* error) {
  const auto json = nlohmann::json::parse(line, nullptr, false);
  if (json.is_discarded() || !json.is_object() || !json.contains("quorumctl_dump")) {
    *error = "not a quorumctl dump (its first line is no header)";
    return false;
  }
  if (json["quorumctl_dump"] != kDumpFormatVersion) {
    *error = "dump format version " + json["quorumctl_dump"].dump() + " (this quorumctl reads " +
             std::to_string(kDumpFormatVersion) + ")";
    return false;
  }
  *root = json.value("root", "");
  return true;
}

bool safe_relative_path(std::string_view path) {
  if (path.empty()) return true;
  if (path.front() == '/' || path.back() == '/') return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view name = path.substr(start, end - start);
    if (name.empty() || name == "." || name == ".." || name.find('\0') != std::string_view::npos) return false;
    start = end + 1;
  }
  return true;
}

bool parse_dump_record(std::string_view line, DumpRecord* record, std::string* error) {
  const auto json = nlohmann::json::parse(line, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    *error = "not a JSON object";
    return false;
  }
  try {
    if (json.contains("path64")) {
      const auto path = base64_decode(json.at("path64").get<std::string>());
      if (!path) {
        *error = "path64 is not base64";
        return false;
      }
      record->path = *path;
    } else {
      record->path = json.at("path").get<std::string>();
    }
    const std::string type = json.at("type").get<std::string>();
    if (type != "dir" && type != "file") {
      *error = "type '" + type + "' (dir or file)";
      return false;
    }
    record->directory = type == "dir";
    const auto data = base64_decode(json.at("data").get<std::string>());
    if (!data) {
      *error = "data is not base64";
      return false;
    }
    record->data = *data;
    record->acl = json.at("acl").get<std::string>();
    const std::string mode = json.at("mode").get<std::string>();
    uint32_t value = 0;
    const auto [end, failed] = std::from_chars(mode.data(), mode.data() + mode.size(), value, 8);
    if (failed != std::errc() || end != mode.data() + mode.size() || value > 07777) {
      *error = "mode '" + mode + "' is not octal permission bits";
      return false;
    }
    record->mode = value;
    record->uid = json.at("uid").get<uint32_t>();
    record->gid = json.at("gid").get<uint32_t>();
    record->mtime_ns = json.at("mtime_ns").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    *error = std::string("a field is missing or of the wrong type: ") + e.what();
    return false;
  }
  if (!safe_relative_path(record->path)) {
    *error = "path '" + record->path + "' is not a relative path below the root";
    return false;
  }
  return true;
}

std::map<std::string, std::string> parse_word_answer(std::string_view text) {
  std::map<std::string, std::string> values;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    size_t split = line.find('\t');
    size_t value_at = split + 1;
    if (split == std::string_view::npos) {
      split = line.find(": ");
      value_at = split + 2;
    }
    if (split == std::string_view::npos) continue;
    values[std::string(line.substr(0, split))] = std::string(line.substr(value_at));
  }
  return values;
}

}  // namespace quorumfs::quorumctl
