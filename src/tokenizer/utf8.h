// UTF-8 stepping for the tokenizer: strict decoding (no overlongs, no surrogates,
// nothing above U+10FFFF) that reports, instead of failing, where bytes are invalid.
//
// Ill-formed input is normal here (token byte strings are arbitrary bytes, user text may
// be anything), so utf8_step() classifies each position as a valid sequence, an invalid
// one (with the length of its "maximal subpart", the unit Python and the WHATWG/Unicode
// recommendation replace with one U+FFFD), or a valid prefix cut off by the end of the
// buffer.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace herd::tokenizer {

enum class Utf8Status : uint8_t {
  kValid,      // cp holds the code point; len its 1..4 bytes
  kInvalid,    // len = maximal subpart (1..3 bytes) that can never become valid
  kTruncated,  // a valid prefix of len bytes reaching the end of the buffer
};

struct Utf8Step {
  Utf8Status status;
  uint8_t len;
  uint32_t cp;  // only meaningful for kValid
};

// Classifies the sequence starting at text[pos]; requires pos < text.size().
Utf8Step utf8_step(std::string_view text, size_t pos);

// Appends the UTF-8 encoding of cp (cp must be a scalar value).
void append_utf8(std::string& out, uint32_t cp);

// Appends bytes, replacing each invalid or truncated maximal subpart with U+FFFD
// (Python's errors="replace", tiktoken's decode). Valid input is copied unchanged.
void append_utf8_lossy(std::string& out, std::string_view bytes);

}  // namespace herd::tokenizer
