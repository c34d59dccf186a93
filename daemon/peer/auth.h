// Mutual challenge-response from the ensemble's shared secret (docs/wire.md, "Authentication").
// Each side sends a fresh nonce; each proves it knows the secret with an HMAC over its role, its
// id, both nonces and the protocol version. The secret itself never travels, and a proof is good
// for one connection only (the other side's nonce is in it) and one direction only (the role is).
//
// With an empty secret (no peerSecretFile) the MAC is keyed with the empty key: it then only keeps
// members of different ensembles, or a stray client, from talking by accident. Anyone who can
// reach the port and reads docs/wire.md gets in.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace quorumfs::peer {

constexpr size_t kNonceBytes = 32;

enum class HandshakeRole : uint8_t { kDialer = 1, kAcceptor = 2 };

// kNonceBytes from OpenSSL's CSPRNG; nullopt if it cannot give them.
std::optional<std::string> random_nonce();

// HMAC-SHA256(secret, "quorumfs-peer-auth" | role | own_id | dialer_nonce | acceptor_nonce |
// version), integers big-endian. The nonces must be kNonceBytes long.
std::string handshake_mac(std::string_view secret, HandshakeRole role, uint64_t own_id,
                          std::string_view dialer_nonce, std::string_view acceptor_nonce, uint32_t version);

// Compares in time independent of where the MACs differ.
bool mac_matches(std::string_view expected, std::string_view received);

}  // namespace quorumfs::peer
