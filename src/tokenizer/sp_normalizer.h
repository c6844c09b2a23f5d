// SentencePiece's text normalizer, as Google's library applies it before a
// unigram model: a precompiled character map (nmt_nfkc and friends, stored in
// the model and in a Hugging Face tokenizer.json as the Precompiled
// normalizer's base64 "precompiled_charsmap"), then the whitespace rules
// (drop leading, trailing and repeated spaces; a dummy "▁" prefix; spaces
// escaped to U+2581).
//
// The map is a blob: a little-endian u32 n, n bytes of a darts-clone double
// array (u32 units) whose keys are input byte strings and whose values are
// offsets into the rest of the blob, a list of NUL-terminated replacement
// strings. At each position the longest key that prefixes the remaining input
// wins; with no key, one UTF-8 character is copied (an invalid byte becomes
// U+FFFD and consumes one byte). The blob is untrusted: its sizes are checked
// when loaded, and every unit index and replacement offset when used (a
// lookup that would leave the array ends as "no key"; a replacement runs to
// its NUL or the blob's end).
//
// Thread safety: immutable after construction; normalize() is const.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace herd::tokenizer {

struct SpNormalizerOptions {
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
};

class SpNormalizer {
 public:
  // blob: the decoded precompiled_charsmap (empty: no character map, only
  // the whitespace rules). Errors: a malformed blob (kCorrupt), naming source.
  static Result<SpNormalizer> create(std::string_view blob, SpNormalizerOptions opts, std::string_view source);

  // The normalized text ("▁"-escaped when escape_whitespaces).
  std::string normalize(std::string_view input) const;

  // The replacement of the longest map key prefixing input (or one character
  // copied) and the bytes it consumes; input must be non-empty.
  std::pair<std::string_view, size_t> normalize_prefix(std::string_view input) const;

 private:
  std::vector<uint32_t> units_;
  std::string normalized_;  // NUL-terminated replacement strings
  SpNormalizerOptions opts_;
};

}  // namespace herd::tokenizer
