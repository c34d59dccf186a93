// printable(): bytes made safe for one log line. Header-only and pure, so that every layer (the
// mount, which logs names users chose; the peer transport, which logs what strangers send) can
// use it.
#pragma once

#include <string>
#include <string_view>

namespace quorumfs {

// Bytes outside printable ASCII, and the backslash, as \xNN: a name may hold any byte, a log
// line may not.
inline std::string printable(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text;
  for (char byte : bytes) {
    auto value = static_cast<unsigned char>(byte);
    if (value >= 0x20 && value <= 0x7e && byte != '\\') {
      text += byte;
    } else {
      text += {'\\', 'x', kHex[value >> 4], kHex[value & 15]};
    }
  }
  return text;
}

}  // namespace quorumfs
