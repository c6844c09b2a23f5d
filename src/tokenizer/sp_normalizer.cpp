// SentencePiece's normalizer (see sp_normalizer.h).
#include "tokenizer/sp_normalizer.h"

#include <cstring>

namespace herd::tokenizer {
namespace {

constexpr std::string_view kSpaceSymbol = "\xe2\x96\x81";  // U+2581
constexpr std::string_view kReplacementChar = "\xef\xbf\xbd";  // U+FFFD

// darts-clone's unit fields.
inline bool unit_has_leaf(uint32_t u) { return ((u >> 8) & 1) != 0; }
inline uint32_t unit_value(uint32_t u) { return u & ((1u << 31) - 1); }
inline uint32_t unit_label(uint32_t u) { return u & ((1u << 31) | 0xFF); }
inline uint32_t unit_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }

bool is_trail(uint8_t b) { return (b & 0xC0) == 0x80; }
bool valid_codepoint(uint32_t c) { return c < 0xD800 || (c >= 0xE000 && c <= 0x10FFFF); }

// SentencePiece's DecodeUTF8 validity: the length of the valid character at
// the start of s, or 0 when it is not valid UTF-8 (a literal U+FFFD is valid).
size_t valid_char_len(std::string_view s) {
  const auto b = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  const size_t n = s.size();
  if (n >= 1 && (b(0) & 0x80) == 0) return 1;
  if (n >= 2 && (b(0) & 0xE0) == 0xC0) {
    const uint32_t cp = ((b(0) & 0x1Fu) << 6) | (b(1) & 0x3Fu);
    if (is_trail(b(1)) && cp >= 0x80 && valid_codepoint(cp)) return 2;
  } else if (n >= 3 && (b(0) & 0xF0) == 0xE0) {
    const uint32_t cp = ((b(0) & 0x0Fu) << 12) | ((b(1) & 0x3Fu) << 6) | (b(2) & 0x3Fu);
    if (is_trail(b(1)) && is_trail(b(2)) && cp >= 0x800 && valid_codepoint(cp)) return 3;
  } else if (n >= 4 && (b(0) & 0xF8) == 0xF0) {
    const uint32_t cp =
        ((b(0) & 0x07u) << 18) | ((b(1) & 0x3Fu) << 12) | ((b(2) & 0x3Fu) << 6) | (b(3) & 0x3Fu);
    if (is_trail(b(1)) && is_trail(b(2)) && is_trail(b(3)) && cp >= 0x10000 && valid_codepoint(cp)) return 4;
  }
  return 0;
}

}  // namespace

Result<SpNormalizer> SpNormalizer::create(std::string_view blob, SpNormalizerOptions opts, std::string_view source) {
  SpNormalizer n;
  n.opts_ = opts;
  if (blob.empty()) return n;
  if (blob.size() < 4)
    return err(ErrorCode::kCorrupt, "%.*s: precompiled_charsmap of %zu bytes is shorter than its 4-byte header",
               static_cast<int>(source.size()), source.data(), blob.size());
  uint32_t trie_bytes = 0;
  for (int i = 3; i >= 0; --i) trie_bytes = (trie_bytes << 8) | static_cast<uint8_t>(blob[static_cast<size_t>(i)]);
  if (trie_bytes % 4 != 0 || trie_bytes == 0 || trie_bytes > blob.size() - 4)
    return err(ErrorCode::kCorrupt,
               "%.*s: precompiled_charsmap declares a %u-byte trie in a %zu-byte map (expected a non-zero "
               "multiple of 4 that fits)",
               static_cast<int>(source.size()), source.data(), trie_bytes, blob.size());
  n.units_.resize(trie_bytes / 4);
  std::memcpy(n.units_.data(), blob.data() + 4, trie_bytes);  // little-endian hosts only (x86-64)
  n.normalized_.assign(blob.substr(4 + trie_bytes));
  return n;
}

std::pair<std::string_view, size_t> SpNormalizer::normalize_prefix(std::string_view input) const {
  size_t longest_len = 0;
  uint32_t longest_value = 0;
  if (!units_.empty()) {
    // darts-clone commonPrefixSearch: every key that prefixes the input; as
    // SentencePiece asks for at most 32 results, the longest of the first 32.
    constexpr int kMaxResults = 32;
    int results = 0;
    size_t node = 0;
    node ^= unit_offset(units_[0]);
    for (size_t i = 0; i < input.size(); ++i) {
      const uint8_t c = static_cast<uint8_t>(input[i]);
      node ^= c;
      if (node >= units_.size()) break;
      const uint32_t u = units_[node];
      if (unit_label(u) != c) break;
      node ^= unit_offset(u);
      if (node >= units_.size()) break;
      if (unit_has_leaf(u) && results++ < kMaxResults) {
        longest_len = i + 1;
        longest_value = unit_value(units_[node]);
      }
    }
  }
  if (longest_len > 0 && longest_value < normalized_.size()) {
    const char* s = normalized_.data() + longest_value;
    const void* nul = std::memchr(s, '\0', normalized_.size() - longest_value);
    const size_t len = nul ? static_cast<size_t>(static_cast<const char*>(nul) - s) : normalized_.size() - longest_value;
    return {std::string_view(s, len), longest_len};
  }
  const size_t len = valid_char_len(input);
  if (len == 0) return {kReplacementChar, 1};
  return {input.substr(0, len), len};
}

std::string SpNormalizer::normalize(std::string_view input) const {
  std::string out;
  if (opts_.remove_extra_whitespaces) {
    while (!input.empty()) {
      const auto p = normalize_prefix(input);
      if (p.first != " ") break;
      input.remove_prefix(p.second);
    }
  }
  if (input.empty()) return out;
  out.reserve(input.size() * 3);
  const std::string_view space = opts_.escape_whitespaces ? kSpaceSymbol : std::string_view(" ");
  if (opts_.add_dummy_prefix) out.append(space);
  bool prev_space = opts_.remove_extra_whitespaces;
  while (!input.empty()) {
    const auto p = normalize_prefix(input);
    std::string_view sp = p.first;
    if (prev_space && opts_.remove_extra_whitespaces)
      while (!sp.empty() && sp.front() == ' ') sp.remove_prefix(1);
    if (!sp.empty()) {
      for (char ch : sp) {
        if (opts_.escape_whitespaces && ch == ' ')
          out.append(kSpaceSymbol);
        else
          out.push_back(ch);
      }
      prev_space = sp.back() == ' ';
    }
    input.remove_prefix(p.second);
    if (!opts_.remove_extra_whitespaces) prev_space = false;
  }
  if (opts_.remove_extra_whitespaces) {
    while (out.size() >= space.size() && std::string_view(out).substr(out.size() - space.size()) == space)
      out.resize(out.size() - space.size());
  }
  return out;
}

}  // namespace herd::tokenizer
