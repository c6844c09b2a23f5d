// Tokenizer: text <-> Llama 3.1 token ids with tiktoken semantics (spec/llama31.md
// section 4), plus StreamDecoder for turning generated ids into text as they arrive.
//
// encode() = pre-tokenize (pretokenize.h) + BPE each piece (bpe.h). It is total: any
// byte string encodes (invalid UTF-8 and NUL included) and decode(encode(x)) == x.
// With parse_special false (the default) text such as "<|eot_id|>" is ordinary text
// ([27, 91, 68, 354, 851, 91, 29]); only the chat formatter inserts control tokens, by
// id, so user or tool text can never forge one. parse_special true matches the text of
// every special (non-NORMAL) token first, leftmost, then encodes the text between.
//
// Differences from Meta's Tokenizer.encode, on purpose: Meta splits input into 400,000-
// character chunks and splits runs of more than 25,000 whitespace / non-whitespace
// characters (a tiktoken stack-depth workaround). herd does neither, so it matches
// tiktoken's core, HF tokenizers and llama.cpp; the results differ only on such
// pathological inputs.
//
// decode() concatenates token bytes (special tokens give their text) and returns the
// raw bytes, which may be invalid UTF-8 for arbitrary id sequences; ids outside the
// vocab are skipped. StreamDecoder is the UTF-8-safe view for streaming.
//
// Thread safety: a Tokenizer is immutable after from_vocab(); any number of threads may
// call its const methods. A StreamDecoder belongs to one stream (one thread at a time)
// and must not outlive its Tokenizer.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "tokenizer/bpe.h"
#include "tokenizer/vocab.h"

namespace herd::tokenizer {

class Tokenizer {
 public:
  // Validates the vocab (validate_vocab, all 256 single bytes present) and indexes it.
  static Result<Tokenizer> from_vocab(Vocab vocab);

  // The embedded Meta tokenizer.model (embedded_vocab.h) as a Tokenizer.
  static Result<Tokenizer> llama3();

  // Token ids of text; add_bos prepends vocab().bos_id.
  std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special = false) const;

  // Appends the ids of text encoded as ordinary text (no BOS, no special matching).
  void encode_ordinary(std::string_view text, std::vector<int32_t>& out) const;

  // Concatenated bytes of the ids (raw, not UTF-8 repaired); unknown ids are skipped.
  std::string decode(std::span<const int32_t> ids) const;

  // The bytes (or special text) of id; empty for an id outside the vocab.
  std::string_view token_bytes(int32_t id) const;

  // True for ids >= n_ranked inside the vocab (CONTROL / USER_DEFINED tokens).
  bool is_special(int32_t id) const;

  // The id of a special token's text ("<|eot_id|>"), or -1.
  int32_t special_id(std::string_view text) const;

  const Vocab& vocab() const { return vocab_; }
  int32_t n_vocab() const { return vocab_.size(); }
  // A hash (16 hex digits, FNV-1a) of the vocabulary: every token's bytes and
  // whether it is special. Equal for tokenizers that map ids to the same text
  // (distillation's teacher and student, DPO's policy and reference).
  std::string fingerprint() const;

 private:
  Vocab vocab_;
  RankTable ranks_;
  std::vector<int32_t> specials_by_length_;  // special ids, longest text first
  std::vector<bool> special_first_byte_ = std::vector<bool>(256, false);  // [256]
};

// Incremental detokenizer: push ids one at a time and get text that is always complete,
// valid UTF-8. An incomplete trailing UTF-8 sequence (e.g. the first 2 bytes of an emoji
// whose last byte comes in the next token) is held back until it completes; bytes that
// can never become valid are replaced by U+FFFD, one per maximal subpart, like tiktoken's
// errors="replace". For valid UTF-8 output the concatenation of all push() results and
// flush() equals decode(ids).
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer) : tokenizer_(&tokenizer) {}

  // The text that became complete with this id (may be empty).
  std::string push(int32_t id);

  // push() for a reply's visible text, as `herd run` and the C API print it: a
  // special (control) token adds nothing (llama.cpp's default, too).
  std::string push_text(int32_t id) { return tokenizer_->is_special(id) ? std::string() : push(id); }

  // Whatever is still held back, as U+FFFD for an incomplete sequence; resets the state.
  std::string flush();

  // Bytes currently held back (0..3).
  size_t pending_bytes() const { return pending_.size(); }

 private:
  const Tokenizer* tokenizer_;
  std::string pending_;
};

}  // namespace herd::tokenizer
