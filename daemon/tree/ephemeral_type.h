// What a node's ephemeralOwner holds, in ZooKeeper 3.8's encoding (its EphemeralType): 0 for a
// persistent node, the owning session's id for an ephemeral, and two reserved forms for the
// persistent nodes the leader removes by itself (daemon/service/reaper.h): exactly
// 0x8000000000000000 for a container, 0xFF00000000000000 | ttl_ms for a TTL node. No session id
// takes those forms: a CreateSession of one is refused (validate.h), and no server id is 255
// (docs/operations.md).
#pragma once

#include <cstdint>

namespace quorumfs {

inline constexpr uint64_t kContainerOwner = uint64_t{1} << 63;
inline constexpr uint64_t kTtlOwnerBits = uint64_t{0xFF} << 56;
// ZooKeeper's EphemeralType.TTL maximum: the low 40 bits.
inline constexpr int64_t kTtlMsMax = 0xFF'FFFF'FFFF;

enum class NodeType { kPersistent, kEphemeral, kContainer, kTtl };

constexpr NodeType node_type(uint64_t ephemeral_owner) {
  if (ephemeral_owner == 0) return NodeType::kPersistent;
  if (ephemeral_owner == kContainerOwner) return NodeType::kContainer;
  if ((ephemeral_owner & kTtlOwnerBits) == kTtlOwnerBits) return NodeType::kTtl;
  return NodeType::kEphemeral;
}

// Is ephemeral_owner a session's id (the node is an ephemeral)?
constexpr bool is_session_owner(uint64_t ephemeral_owner) {
  return node_type(ephemeral_owner) == NodeType::kEphemeral;
}

constexpr bool valid_ttl_ms(int64_t ttl_ms) { return ttl_ms >= 1 && ttl_ms <= kTtlMsMax; }
constexpr uint64_t ttl_owner(int64_t ttl_ms) { return kTtlOwnerBits | static_cast<uint64_t>(ttl_ms); }
constexpr int64_t ttl_ms_of(uint64_t ephemeral_owner) {
  return static_cast<int64_t>(ephemeral_owner & static_cast<uint64_t>(kTtlMsMax));
}

}  // namespace quorumfs
