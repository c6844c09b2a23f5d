// SentencePiece unigram tokenizer (DeBERTa-v2/v3, so Prompt Guard), read from a
// Hugging Face tokenizer.json whose model is "Unigram": the vocabulary's
// pieces with their log-probability scores, the unknown piece, the special
// tokens (never matched in text), the Precompiled normalizer's character map,
// the Metaspace pre-tokenizer (the "▁" dummy prefix) and the
// TemplateProcessing post-processor ([CLS] $A [SEP]).
//
// encode() is SentencePiece's own algorithm, not a re-derivation: the
// normalizer of sp_normalizer.h, then the Viterbi path of highest total score
// over every vocabulary piece matching at each character boundary (each
// step summed in double, path scores kept in float, as SentencePiece does; of
// equal scores the piece starting first wins), where a character
// no piece starts with becomes the unknown piece scored min_score - 10 (a
// run of them is one unknown id).
// tests/e2e/test_prompt_guard.sh checks ids against Google's SentencePiece
// (Debian's python3-sentencepiece) on a multilingual corpus.
//
// Special tokens written in the text ("[SEP]") are text: they are tokenized
// as characters, as SentencePiece does, never turned into control ids (HF's
// fast tokenizer would, which lets a text forge a segment boundary).
//
// Bounds: the file (64 MiB), the vocabulary (2^22 pieces), a piece (1 KiB);
// work is linear in the input times the longest piece. Errors name the file
// and the field.
//
// Thread safety: immutable after load; encode() is const.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "tokenizer/sp_normalizer.h"

namespace herd::tokenizer {

class UnigramTokenizer {
 public:
  static constexpr size_t kMaxFileBytes = size_t{64} << 20;
  static constexpr size_t kMaxPieces = size_t{1} << 22;
  static constexpr size_t kMaxPieceBytes = 1024;
  static constexpr float kUnkPenalty = 10.0f;

  // tokenizer.json's text; source names it in errors.
  static Result<UnigramTokenizer> from_json(std::string_view text, std::string_view source);
  static Result<UnigramTokenizer> load(const std::string& path);

  // The pieces' ids, without the template's special tokens.
  std::vector<int32_t> encode(std::string_view text) const;
  // The text the pieces are matched against (normalized, "▁" for spaces).
  std::string normalize(std::string_view text) const { return normalizer_.normalize(text); }

  // The post-processor's tokens around one sequence ([CLS] / [SEP]); empty
  // when the file has no TemplateProcessing.
  const std::vector<int32_t>& prefix_ids() const { return prefix_; }
  const std::vector<int32_t>& suffix_ids() const { return suffix_; }

  int64_t vocab_size() const { return static_cast<int64_t>(pieces_.size()); }
  const std::string& piece(int32_t id) const { return pieces_[static_cast<size_t>(id)]; }
  float score(int32_t id) const { return scores_[static_cast<size_t>(id)]; }
  int32_t unk_id() const { return unk_id_; }
  // The id of a special token by its text ("[PAD]"), or -1.
  int32_t special_id(std::string_view content) const;

 private:
  // Narrows the sorted index from [lo, hi) (pieces sharing `depth` bytes) to
  // those continuing with byte c; returns the exact match's id or -1.
  int32_t step(size_t depth, uint8_t c, size_t* lo, size_t* hi) const;

  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::vector<uint8_t> special_;        // [pieces] 1: never matched in text
  std::vector<int32_t> sorted_;         // piece ids in byte order
  std::vector<std::pair<std::string, int32_t>> specials_;  // added special tokens
  int32_t unk_id_ = 0;
  float min_score_ = 0.0f;
  SpNormalizer normalizer_;
  std::vector<int32_t> prefix_, suffix_;
};

}  // namespace herd::tokenizer
