// Strict base64 decoding (see base64.h).
#include "tokenizer/base64.h"

#include <cstdint>

namespace herd::tokenizer {
namespace {

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

bool decode_base64(std::string_view in, std::string& out) {
  out.clear();
  if (in.empty() || in.size() % 4 != 0) return false;
  size_t pad = 0;
  if (in.back() == '=') pad = in[in.size() - 2] == '=' ? 2 : 1;
  for (size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    int v[4];
    for (int k = 0; k < 4; ++k) {
      const bool is_pad = last && k >= 4 - static_cast<int>(pad);
      v[k] = is_pad ? 0 : base64_value(in[i + static_cast<size_t>(k)]);
      if (v[k] < 0) return false;
    }
    const uint32_t w = (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) | uint32_t(v[3]);
    out.push_back(static_cast<char>(w >> 16));
    if (!(last && pad == 2)) out.push_back(static_cast<char>((w >> 8) & 0xFF));
    if (!(last && pad >= 1)) out.push_back(static_cast<char>(w & 0xFF));
  }
  return true;
}

}  // namespace herd::tokenizer
