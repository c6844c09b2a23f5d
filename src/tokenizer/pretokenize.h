// The Llama 3 pre-tokenizer: splits text into the pieces BPE encodes one at a time.
//
// It is a hand-written scanner equivalent to the regex of spec/llama31.md section 4.3
// (kLlama3PretokenizePattern below) under find-all, leftmost-first semantics (tiktoken's
// Rust fancy-regex, Python `regex`, PCRE). At each position the alternatives are tried
// in order:
//   1. (?i:'s|'t|'re|'ve|'m|'ll|'d)    case-insensitive as Unicode simple case folding,
//                                      so U+017F LATIN SMALL LETTER LONG S matches 's'
//   2. [^\r\n\p{L}\p{N}]?\p{L}+
//   3. \p{N}{1,3}
//   4.  ?[^\s\p{L}\p{N}]+[\r\n]*
//   5. \s*[\r\n]+                     ends just after the run's last CR/LF
//   6. \s+(?!\S)                      a run before non-space gives up its last char
//   7. \s+
// Classes come from unicode_tables.h (Unicode version named there).
//
// Input is UTF-8 bytes. Invalid UTF-8 has a defined behaviour: each byte that does not
// start a valid sequence (stray continuation bytes, overlongs, surrogates, truncated
// sequences) is treated as one code point that is not a letter, number or space, so it
// falls in the punctuation class of alternatives 2 and 4. Every input byte lands in
// exactly one piece, pieces are never empty, and concatenating them gives the input
// back. NUL is an ordinary (punctuation) code point.
//
// Cost: O(n) over the input; no allocation in pretoken_end().
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace herd::tokenizer {

// The exact Llama 3 pattern, as HF tokenizer.json and tiktoken carry it.
inline constexpr const char* kLlama3PretokenizePattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// The end (exclusive byte offset) of the piece that starts at pos; pos < text.size().
size_t pretoken_end(std::string_view text, size_t pos);

// All pieces of text, in order (views into text).
std::vector<std::string_view> pretokenize(std::string_view text);

// Unicode class predicates the scanner uses, exposed for tests.
bool is_letter(uint32_t cp);
bool is_number(uint32_t cp);
bool is_white_space(uint32_t cp);

}  // namespace herd::tokenizer
