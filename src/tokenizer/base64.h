// Strict standard base64 (RFC 4648 alphabet, '=' padding), as tokenizer files
// store bytes: Meta's tokenizer.model (one token per line) and the
// SentencePiece normalization map inside a unigram tokenizer.json.
#pragma once

#include <string>
#include <string_view>

namespace herd::tokenizer {

// Decodes `in` into `out`: length a multiple of 4, '=' only as the last one or
// two characters, nothing outside the alphabet; false (out unspecified) otherwise.
bool decode_base64(std::string_view in, std::string& out);

}  // namespace herd::tokenizer
