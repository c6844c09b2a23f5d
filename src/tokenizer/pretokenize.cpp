// The Llama 3 pre-tokenizer scanner (see pretokenize.h for the regex it implements).
#include "tokenizer/pretokenize.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "tokenizer/unicode_tables.h"
#include "tokenizer/utf8.h"

namespace herd::tokenizer {
namespace {

bool in_ranges(const CodePointRange* r, size_t n, uint32_t cp) {
  const CodePointRange* end = r + n;
  const CodePointRange* it =
      std::upper_bound(r, end, cp, [](uint32_t c, const CodePointRange& x) { return c < x.lo; });
  return it != r && cp <= (it - 1)->hi;
}

enum class Cls : uint8_t { kLetter, kNumber, kSpace, kOther, kEnd };

struct Cp {
  uint32_t cp;   // kInvalidCp for an invalid byte
  uint32_t len;  // bytes; 0 at end of text
  Cls cls;
};

constexpr uint32_t kInvalidCp = 0xFFFFFFFFu;

Cls classify_slow(uint32_t cp) {
  if (cp < 0x80) {
    if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') return Cls::kLetter;
    if (cp >= '0' && cp <= '9') return Cls::kNumber;
    if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D)) return Cls::kSpace;
    return Cls::kOther;
  }
  if (cp == kInvalidCp) return Cls::kOther;
  if (is_letter(cp)) return Cls::kLetter;
  if (is_number(cp)) return Cls::kNumber;
  if (is_white_space(cp)) return Cls::kSpace;
  return Cls::kOther;
}

// classify_slow() precomputed for the Basic Multilingual Plane (64 KiB, built once,
// thread-safe as a function-local static); the range tables' binary searches are the
// main cost of non-ASCII text otherwise.
constexpr uint32_t kTableSize = 0x10000;
const Cls* bmp_classes() {
  static const std::vector<Cls> table = [] {
    std::vector<Cls> t(kTableSize);
    for (uint32_t cp = 0; cp < kTableSize; ++cp) t[cp] = classify_slow(cp);
    return t;
  }();
  return table.data();
}

Cls classify(uint32_t cp) { return cp < kTableSize ? bmp_classes()[cp] : classify_slow(cp); }

// ASCII and well-formed 2- and 3-byte sequences decode inline; anything else (4-byte
// sequences, invalid or truncated bytes) goes through the strict decoder (utf8.h).
[[gnu::always_inline]] inline Cp at(std::string_view text, size_t pos) {
  if (pos >= text.size()) return {0, 0, Cls::kEnd};
  static const Cls* const classes = bmp_classes();
  const auto* p = reinterpret_cast<const uint8_t*>(text.data()) + pos;
  const size_t avail = text.size() - pos;
  const uint8_t b0 = p[0];
  if (b0 < 0x80) return {b0, 1, classes[b0]};
  if (b0 >= 0xC2 && b0 <= 0xDF && avail >= 2 && (p[1] & 0xC0) == 0x80) {
    const uint32_t cp = (b0 & 0x1Fu) << 6 | (p[1] & 0x3Fu);
    return {cp, 2, classes[cp]};
  }
  if ((b0 & 0xF0) == 0xE0 && avail >= 3 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80) {
    const uint32_t cp = (b0 & 0x0Fu) << 12 | (p[1] & 0x3Fu) << 6 | (p[2] & 0x3Fu);
    if (cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)) return {cp, 3, classes[cp]};  // else: strict path
  }
  Utf8Step s = utf8_step(text, pos);
  if (s.status != Utf8Status::kValid) return {kInvalidCp, 1, Cls::kOther};  // one byte each
  return {s.cp, s.len, classify(s.cp)};
}

bool is_newline(const Cp& c) { return c.cp == '\r' || c.cp == '\n'; }

// End of the run of class `cls` starting at pos.
size_t run_end(std::string_view text, size_t pos, Cls cls) {
  for (;;) {
    Cp c = at(text, pos);
    if (c.cls != cls) return pos;
    pos += c.len;
  }
}

// Alternative 1: 's 't 're 've 'm 'll 'd, case-insensitive; 0 if no match.
size_t contraction_end(std::string_view text, size_t pos) {
  Cp a = at(text, pos + 1);
  auto fold = [](uint32_t cp) -> uint32_t {
    if (cp == 0x17F) return 's';  // LATIN SMALL LETTER LONG S folds to 's'
    return cp < 0x80 ? (cp | 0x20) : cp;
  };
  const uint32_t c1 = fold(a.cp);
  if (a.len == 0) return 0;
  if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return pos + 1 + a.len;
  Cp b = at(text, pos + 1 + a.len);
  if (b.len == 0) return 0;
  const uint32_t c2 = fold(b.cp);
  if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) {
    return pos + 1 + a.len + b.len;
  }
  return 0;
}

}  // namespace

bool is_letter(uint32_t cp) { return in_ranges(kLetterRanges, kLetterRangeCount, cp); }
bool is_number(uint32_t cp) { return in_ranges(kNumberRanges, kNumberRangeCount, cp); }
bool is_white_space(uint32_t cp) { return in_ranges(kWhiteSpaceRanges, kWhiteSpaceRangeCount, cp); }

size_t pretoken_end(std::string_view text, size_t pos) {
  const Cp c = at(text, pos);
  // 1. contractions
  if (c.cp == '\'') {
    size_t e = contraction_end(text, pos);
    if (e) return e;
  }
  // 2. [^\r\n\p{L}\p{N}]?\p{L}+
  if (c.cls == Cls::kLetter) return run_end(text, pos, Cls::kLetter);
  if (c.cls != Cls::kNumber && !is_newline(c)) {
    if (at(text, pos + c.len).cls == Cls::kLetter) return run_end(text, pos + c.len, Cls::kLetter);
  }
  // 3. \p{N}{1,3}
  if (c.cls == Cls::kNumber) {
    size_t e = pos;
    for (int k = 0; k < 3; ++k) {
      Cp d = at(text, e);
      if (d.cls != Cls::kNumber) break;
      e += d.len;
    }
    return e;
  }
  // 4.  ?[^\s\p{L}\p{N}]+[\r\n]*
  const bool space_then_punct = c.cp == ' ' && at(text, pos + 1).cls == Cls::kOther;
  if (space_then_punct || c.cls == Cls::kOther) {
    size_t e = run_end(text, space_then_punct ? pos + 1 : pos, Cls::kOther);
    for (;;) {
      Cp d = at(text, e);
      if (!is_newline(d)) return e;
      e += d.len;
    }
  }
  // 5-7: c is white space.
  size_t e = pos, last_start = pos, newline_end = 0;
  for (;;) {
    Cp d = at(text, e);
    if (d.cls != Cls::kSpace) break;
    last_start = e;
    e += d.len;
    if (is_newline(d)) newline_end = e;
  }
  if (newline_end) return newline_end;               // 5. \s*[\r\n]+
  if (e == text.size() || last_start == pos) return e;  // 6. at end of text, or 7. \s+
  return last_start;                                 // 6. \s+(?!\S) leaves the last one
}

std::vector<std::string_view> pretokenize(std::string_view text) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = pretoken_end(text, pos);
    out.push_back(text.substr(pos, end - pos));
    pos = end;
  }
  return out;
}

}  // namespace herd::tokenizer
