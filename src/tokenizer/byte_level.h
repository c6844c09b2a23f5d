// GPT-2 "byte-level" text: the reversible byte <-> code point mapping that HF
// tokenizer.json vocab keys, merges and GGUF tokenizer.ggml.tokens use for ranked tokens.
//
// bytes_to_unicode (spec/llama31.md section 4.6): bytes 0x21-0x7E, 0xA1-0xAC and
// 0xAE-0xFF map to the code point of the same value; the other 68 bytes map, in
// increasing byte order, to U+0100..U+0143 (0x20 -> U+0120 'Ġ', 0x0A -> U+010A 'Ċ').
// So every byte string has exactly one byte-level form, which is valid UTF-8 with no
// control characters, and the inverse is defined only on strings of those 256 chars.
//
// Thread safety: pure functions over constant tables.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace herd::tokenizer {

// The code point byte b maps to (U+0021..U+0143).
uint32_t byte_to_code_point(uint8_t b);

// Raw bytes -> byte-level UTF-8 text.
std::string bytes_to_byte_level(std::string_view bytes);

// Byte-level UTF-8 text -> raw bytes. kCorrupt if the text is not valid UTF-8 or
// holds a code point outside the 256 of the mapping.
Result<std::string> byte_level_to_bytes(std::string_view text);

}  // namespace herd::tokenizer
