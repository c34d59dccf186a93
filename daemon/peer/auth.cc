#include "daemon/peer/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "consensus/check.h"

namespace quorumfs::peer {
namespace {

// Keeps these MACs apart from any other use of the same secret.
constexpr std::string_view kDomain = "quorumfs-peer-auth";

void append_big_endian(uint64_t value, int bytes, std::string* out) {
  for (int i = bytes - 1; i >= 0; --i) out->push_back(static_cast<char>(value >> (8 * i)));
}

}  // namespace

std::optional<std::string> random_nonce() {
  std::string nonce(kNonceBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), kNonceBytes) != 1) return std::nullopt;
  return nonce;
}

std::string handshake_mac(std::string_view secret, HandshakeRole role, uint64_t own_id,
                          std::string_view dialer_nonce, std::string_view acceptor_nonce, uint32_t version) {
  QFS_CHECK(dialer_nonce.size() == kNonceBytes && acceptor_nonce.size() == kNonceBytes, "handshake nonces have their size");
  std::string input(kDomain);
  input.push_back(static_cast<char>(role));
  append_big_endian(own_id, 8, &input);
  input.append(dialer_nonce);
  input.append(acceptor_nonce);
  append_big_endian(version, 4, &input);

  // A non-null key pointer even for the empty secret: some OpenSSL versions refuse a null key.
  static const unsigned char kNoKey = 0;
  const void* key = secret.empty() ? &kNoKey : static_cast<const void*>(secret.data());
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_bytes = 0;
  const unsigned char* done =
      HMAC(EVP_sha256(), key, static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(input.data()),
           input.size(), mac, &mac_bytes);
  QFS_CHECK(done != nullptr && mac_bytes == 32, "HMAC-SHA256 gives 32 bytes");
  (void)done;
  return std::string(reinterpret_cast<const char*>(mac), mac_bytes);
}

bool mac_matches(std::string_view expected, std::string_view received) {
  return expected.size() == received.size() &&
         CRYPTO_memcmp(expected.data(), received.data(), expected.size()) == 0;
}

}  // namespace quorumfs::peer
