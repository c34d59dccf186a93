#include "daemon/zk/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <array>

namespace quorumfs::zk {

std::string session_password(std::string_view secret, uint64_t session_id) {
  std::array<unsigned char, 8> id_bytes;
  for (size_t i = 0; i < id_bytes.size(); ++i) id_bytes[i] = static_cast<unsigned char>(session_id >> (56 - 8 * i));
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac;
  unsigned int mac_size = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), id_bytes.data(), id_bytes.size(), mac.data(),
       &mac_size);
  return std::string(reinterpret_cast<const char*>(mac.data()), kPasswordBytes);
}

bool password_matches(std::string_view secret, uint64_t session_id, std::string_view password) {
  const std::string expected = session_password(secret, session_id);
  return password.size() == expected.size() && CRYPTO_memcmp(password.data(), expected.data(), expected.size()) == 0;
}

std::string digest_id(std::string_view credentials) {
  const size_t colon = credentials.find(':');
  if (colon == std::string_view::npos) return {};
  std::array<unsigned char, SHA_DIGEST_LENGTH> hash;
  SHA1(reinterpret_cast<const unsigned char*>(credentials.data()), credentials.size(), hash.data());
  std::array<unsigned char, 4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1> base64;
  const int length = EVP_EncodeBlock(base64.data(), hash.data(), SHA_DIGEST_LENGTH);
  return std::string(credentials.substr(0, colon)) + ":" +
         std::string(reinterpret_cast<const char*>(base64.data()), static_cast<size_t>(length));
}

}  // namespace quorumfs::zk
