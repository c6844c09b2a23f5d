// GPT-2 bytes_to_unicode, both directions (see byte_level.h).
#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/utf8.h"

namespace herd::tokenizer {
namespace {

struct Tables {
  std::array<uint32_t, 256> to_cp{};
  std::array<int16_t, 0x144> from_cp{};  // code point -> byte, -1 if unmapped
};

// Bytes that print as themselves in GPT-2's scheme.
bool is_direct(int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE; }

const Tables& tables() {
  static const Tables t = [] {
    Tables x;
    x.from_cp.fill(-1);
    uint32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      uint32_t cp = is_direct(b) ? static_cast<uint32_t>(b) : next++;
      x.to_cp[static_cast<size_t>(b)] = cp;
      x.from_cp[cp] = static_cast<int16_t>(b);
    }
    return x;
  }();
  return t;
}

}  // namespace

uint32_t byte_to_code_point(uint8_t b) { return tables().to_cp[b]; }

std::string bytes_to_byte_level(std::string_view bytes) {
  const Tables& t = tables();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) append_utf8(out, t.to_cp[static_cast<uint8_t>(c)]);
  return out;
}

Result<std::string> byte_level_to_bytes(std::string_view text) {
  const Tables& t = tables();
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    Utf8Step s = utf8_step(text, i);
    if (s.status != Utf8Status::kValid) {
      return err(ErrorCode::kCorrupt, "byte-level token text has invalid UTF-8 at byte %zu", i);
    }
    if (s.cp >= t.from_cp.size() || t.from_cp[s.cp] < 0) {
      return err(ErrorCode::kCorrupt,
                 "byte-level token text holds U+%04X at byte %zu, which is not one of the 256 "
                 "GPT-2 bytes_to_unicode code points (hint: is this a byte-level BPE vocab?)",
                 s.cp, i);
    }
    out.push_back(static_cast<char>(t.from_cp[s.cp]));
    i += s.len;
  }
  return out;
}

}  // namespace herd::tokenizer
