#include "daemon/tree/acl.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <limits>

namespace quorumfs {

namespace {

// ZooKeeper's CLI shows and reads permissions in this order.
constexpr std::string_view kPermLetters = "cdrwa";
constexpr uint32_t kPermBits[] = {kCreate, kDelete, kRead, kWrite, kAdmin};

bool parse_perms(std::string_view text, uint32_t* perms) {
  uint32_t result = 0;
  for (char letter : text) {
    size_t index = kPermLetters.find(letter);
    if (index == std::string_view::npos) return false;
    result |= kPermBits[index];
  }
  *perms = result;
  return true;
}

std::string format_perms(uint32_t perms) {
  std::string text;
  for (size_t i = 0; i < kPermLetters.size(); ++i) {
    if (perms & kPermBits[i]) text += kPermLetters[i];
  }
  return text;
}

// Unix ids are kept in canonical decimal so "uid:007" and "uid:7" are one entry.
bool parse_unix_id(std::string_view text, std::string* canonical) {
  if (text.empty() || text.size() > 10) return false;
  uint64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return false;
  if (value > std::numeric_limits<uint32_t>::max()) return false;
  *canonical = std::to_string(value);
  return true;
}

// Which rules a text is held to: a request's, or those of the ACLs that older versions stored.
enum class Rules { kRequest, kStored };

bool printable_ascii(char byte) { return byte >= 0x20 && byte <= 0x7e; }

// The text with every byte outside printable ASCII as \xNN: an error message may be logged.
std::string printable(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char byte : text) {
    if (printable_ascii(byte) && byte != '\\') {
      out += byte;
    } else {
      auto value = static_cast<unsigned char>(byte);
      out += {'\\', 'x', kHex[value >> 4], kHex[value & 15]};
    }
  }
  return out;
}

bool base64_char(char byte) {
  return (byte >= 'A' && byte <= 'Z') || (byte >= 'a' && byte <= 'z') || (byte >= '0' && byte <= '9') ||
         byte == '+' || byte == '/' || byte == '=';
}

// ZooKeeper's DigestAuthenticationProvider: "user:base64(sha1)", exactly one colon. A request's
// hash must also be base64 (the stored rules predate that).
bool valid_digest_id(std::string_view id, Rules rules) {
  size_t colon = id.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == id.size() ||
      id.find(':', colon + 1) != std::string_view::npos) {
    return false;
  }
  std::string_view hash = id.substr(colon + 1);
  return rules == Rules::kStored || std::all_of(hash.begin(), hash.end(), base64_char);
}

bool valid_ip_id(std::string_view id) {
  std::string address(id.substr(0, id.find('/')));
  unsigned char buffer[16];
  int max_bits = 0;
  if (inet_pton(AF_INET, address.c_str(), buffer) == 1) {
    max_bits = 32;
  } else if (inet_pton(AF_INET6, address.c_str(), buffer) == 1) {
    max_bits = 128;
  } else {
    return false;
  }
  if (address.size() == id.size()) return true;
  std::string_view bits_text = id.substr(address.size() + 1);
  int bits = -1;
  auto [end, error] = std::from_chars(bits_text.data(), bits_text.data() + bits_text.size(), bits);
  return error == std::errc() && end == bits_text.data() + bits_text.size() && !bits_text.empty() &&
         bits >= 0 && bits <= max_bits;
}

// Fills *entry from "scheme:id:perms"; returns the reason on failure, empty on success.
std::string parse_entry(std::string_view text, const proto::Caller& caller, Rules rules, AclEntry* entry) {
  size_t first_colon = text.find(':');
  size_t last_colon = text.rfind(':');
  if (first_colon == std::string_view::npos || first_colon == last_colon) {
    return "expected scheme:id:perms";
  }
  std::string_view scheme = text.substr(0, first_colon);
  std::string_view id = text.substr(first_colon + 1, last_colon - first_colon - 1);
  if (!parse_perms(text.substr(last_colon + 1), &entry->perms)) return "perms must be letters of cdrwa";
  if (scheme == "world") {
    if (id != "anyone") return "world's only id is anyone";
    entry->scheme = "world";
    entry->id = "anyone";
  } else if (scheme == "uid" || scheme == "gid") {
    if (!parse_unix_id(id, &entry->id)) return "id must be a number below 2^32";
    entry->scheme = scheme;
  } else if (scheme == "digest") {
    if (!valid_digest_id(id, rules)) return "digest id must be user:hash, the hash in base64";
    entry->scheme = "digest";
    entry->id = id;
  } else if (scheme == "ip") {
    if (!valid_ip_id(id)) return "ip id must be an address with optional /bits";
    entry->scheme = "ip";
    entry->id = id;
  } else if (scheme == "auth") {
    // ZooKeeper's "auth" means the creator's own identities; through the mount that is its uid.
    entry->scheme = "uid";
    entry->id = std::to_string(caller.uid());
  } else {
    return "unknown scheme";
  }
  return "";
}

// ip:ADDRESS[/BITS] of an ACL entry against a client's "ip:ADDRESS" identity: the same family and
// the first BITS bits equal (all of them without /BITS).
bool ip_matches(std::string_view entry_id, std::string_view address_text) {
  const std::string entry_address(entry_id.substr(0, entry_id.find('/')));
  const std::string address(address_text);
  unsigned char want[16], have[16];
  int family_bits = 32;
  if (inet_pton(AF_INET, entry_address.c_str(), want) == 1) {
    if (inet_pton(AF_INET, address.c_str(), have) != 1) return false;
  } else if (inet_pton(AF_INET6, entry_address.c_str(), want) == 1) {
    if (inet_pton(AF_INET6, address.c_str(), have) != 1) return false;
    family_bits = 128;
  } else {
    return false;
  }
  int bits = family_bits;
  if (entry_address.size() < entry_id.size()) {
    const std::string_view bits_text = entry_id.substr(entry_address.size() + 1);
    std::from_chars(bits_text.data(), bits_text.data() + bits_text.size(), bits);
  }
  for (int bit = 0; bit < bits && bit < family_bits; ++bit) {
    const unsigned char mask = static_cast<unsigned char>(0x80u >> (bit % 8));
    if ((want[bit / 8] & mask) != (have[bit / 8] & mask)) return false;
  }
  return true;
}

// A ZooKeeper client's identities (docs/zk-protocol.md, "ACLs"): its digests ("digest:user:hash")
// and its address ("ip:ADDRESS"), never a uid or gid.
bool client_entry_matches(const AclEntry& entry, const proto::Caller& caller) {
  for (const std::string& id : caller.auth_ids()) {
    const std::string_view identity(id);
    if (entry.scheme == "digest" && identity.starts_with("digest:") && identity.substr(7) == entry.id) return true;
    if (entry.scheme == "ip" && identity.starts_with("ip:") && ip_matches(entry.id, identity.substr(3))) return true;
  }
  return false;
}

bool entry_matches(const AclEntry& entry, const proto::Caller& caller) {
  if (entry.scheme == "world") return true;
  if (caller.zk_client()) return client_entry_matches(entry, caller);
  if (entry.scheme == "uid") return entry.id == std::to_string(caller.uid());
  if (entry.scheme == "gid") {
    std::string gid = std::to_string(caller.gid());
    if (entry.id == gid) return true;
    return std::any_of(caller.groups().begin(), caller.groups().end(),
                       [&](uint32_t group) { return entry.id == std::to_string(group); });
  }
  return false;  // digest and ip identities are never presented through the mount
}

// A request's text: printable ASCII and bounded, checked before anything quotes it.
std::string text_error(std::string_view text) {
  if (text.size() > kAclTextBytesMax) {
    return "ACL text of " + std::to_string(text.size()) + " bytes; at most " +
           std::to_string(kAclTextBytesMax);
  }
  auto bad = std::find_if_not(text.begin(), text.end(), printable_ascii);
  if (bad != text.end()) {
    // "\xff" as "0xff"
    return "byte 0" + printable(std::string_view(&*bad, 1)).substr(1) + " at offset " +
           std::to_string(bad - text.begin()) + " is not printable ASCII";
  }
  return "";
}

bool parse(std::string_view text, const proto::Caller& caller, Rules rules, Acl* out, std::string* error) {
  if (text.empty()) {
    *error = "empty ACL";
    return false;
  }
  if (rules == Rules::kRequest) {
    if (std::string reason = text_error(text); !reason.empty()) {
      *error = std::move(reason);
      return false;
    }
  }
  Acl acl;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = std::min(text.find(',', start), text.size());
    std::string_view entry_text = text.substr(start, comma - start);
    AclEntry entry;
    std::string reason = parse_entry(entry_text, caller, rules, &entry);
    if (!reason.empty()) {
      *error = "bad ACL entry '" + printable(entry_text) + "': " + reason;
      return false;
    }
    // ZooKeeper's fixupACL drops exact duplicates, keeping the first.
    if (std::find(acl.begin(), acl.end(), entry) == acl.end()) acl.push_back(std::move(entry));
    start = comma + 1;
  }
  // auth: entries grow into uid:<caller>; the canonical text is what a rename passes on.
  if (rules == Rules::kRequest) {
    if (size_t bytes = format_acl(acl).size(); bytes > kAclTextBytesMax) {
      *error = "canonical ACL text of " + std::to_string(bytes) + " bytes; at most " +
               std::to_string(kAclTextBytesMax);
      return false;
    }
  }
  *out = std::move(acl);
  return true;
}

}  // namespace

bool parse_acl(std::string_view text, const proto::Caller& caller, Acl* out, std::string* error) {
  return parse(text, caller, Rules::kRequest, out, error);
}

bool parse_stored_acl(std::string_view text, Acl* out, std::string* error) {
  return parse(text, proto::Caller(), Rules::kStored, out, error);
}

std::string format_acl(const Acl& acl) {
  std::string text;
  for (const AclEntry& entry : acl) {
    if (!text.empty()) text += ',';
    text += entry.scheme;
    text += ':';
    text += entry.id;
    text += ':';
    text += format_perms(entry.perms);
  }
  return text;
}

bool acl_permits(const Acl& acl, uint32_t perm, const proto::Caller& caller) {
  if (caller.uid() == 0) return true;
  uint32_t granted = 0;
  for (const AclEntry& entry : acl) {
    if (entry_matches(entry, caller)) granted |= entry.perms;
  }
  return (granted & perm) == perm;
}

}  // namespace quorumfs
