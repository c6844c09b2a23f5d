// Vocab: the Llama 3.1 token table as plain data, and the three ways herd reads it
// (Meta's tokenizer.model, GGUF tokenizer.ggml.* arrays, HF tokenizer.json).
//
// Invariants of a Vocab returned by the readers here:
//  * ids 0..n_ranked-1 are the ranked (BPE) tokens; token_bytes[id] is the token's raw
//    bytes and its BPE rank is its id (tiktoken semantics, spec/llama31.md section 4.4);
//    no two ranked tokens have the same bytes; none is empty.
//  * ids n_ranked.. are special (added) tokens; token_bytes holds their text, e.g.
//    "<|eot_id|>", and token_types says CONTROL (or USER_DEFINED for a non-special
//    added token of an HF file).
//  * token_types uses the GGUF enum (gguf-py TokenType): 1 NORMAL, 3 CONTROL,
//    4 USER_DEFINED.
//  * the named ids below are found by text among the special tokens; an id is -1 when
//    the vocab lacks that token (eom/python_tag are absent from Llama 3.0 vocabs).
//  * eos_id is <|end_of_text|>, as in Meta's Tokenizer; none of the three sources says
//    whether the model is an Instruct model, so a loader that knows (GGUF
//    tokenizer.ggml.eos_token_id, tokenizer_config.json eos_token) overwrites it.
//
// The reserved slots use the names HF and GGUF files of Llama 3.1 carry (spec section 4.2,
// HF column): 128005 = <|reserved_special_token_2|>, 128011..128255 =
// <|reserved_special_token_3..247|>. Meta's code names differ only for unused slots.
//
// Thread safety: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace herd::tokenizer {

inline constexpr int32_t kTokenTypeNormal = 1;
inline constexpr int32_t kTokenTypeUnknown = 2;
inline constexpr int32_t kTokenTypeControl = 3;
inline constexpr int32_t kTokenTypeUserDefined = 4;
inline constexpr int32_t kTokenTypeUnused = 5;
inline constexpr int32_t kTokenTypeByte = 6;

// Number of special tokens Llama 3.1 appends after the ranked ones.
inline constexpr int32_t kLlama3NumSpecialTokens = 256;

struct Vocab {
  std::vector<std::string> token_bytes;  // [n_vocab] id -> raw bytes / special text
  std::vector<int32_t> token_types;      // [n_vocab] GGUF TokenType
  int32_t n_ranked = 0;                  // 128000 for Llama 3.x

  int32_t bos_id = -1;             // <|begin_of_text|> 128000
  int32_t eos_id = -1;             // <|end_of_text|> 128001 unless a loader overrides it
  int32_t end_of_text_id = -1;     // <|end_of_text|> 128001
  int32_t pad_id = -1;             // <|finetune_right_pad_id|> 128004
  int32_t start_header_id = -1;    // <|start_header_id|> 128006
  int32_t end_header_id = -1;      // <|end_header_id|> 128007
  int32_t eom_id = -1;             // <|eom_id|> 128008
  int32_t eot_id = -1;             // <|eot_id|> 128009
  int32_t python_tag_id = -1;      // <|python_tag|> 128010

  int32_t size() const { return static_cast<int32_t>(token_bytes.size()); }
  bool operator==(const Vocab&) const = default;
};

// The 256 Llama 3.1 special token texts, index i is id n_ranked + i (HF naming).
std::vector<std::string> llama3_special_token_names();

// Parses Meta's tokenizer.model: lines "<base64 bytes> <rank>", blank lines skipped.
// Checks: strict base64 (standard alphabet, '=' padding), ranks dense from 0 and in file
// order, no duplicate or empty byte strings; errors name the 1-based line. Appends the
// 256 Llama 3.1 special tokens as CONTROL.
Result<Vocab> vocab_from_tiktoken(std::string_view file_text);

// Builds a Vocab from GGUF tokenizer.ggml.tokens / tokenizer.ggml.token_type (same
// length). NORMAL tokens are byte-level text (byte_level.h) and are decoded back to
// bytes; they must come first and be dense (they become the ranked tokens, rank = id).
// CONTROL and USER_DEFINED tokens keep their text. Other types are kUnsupported.
// tokenizer.ggml.merges is not needed: the ranks carry the same information.
Result<Vocab> vocab_from_gguf_tokens(const std::vector<std::string>& tokens,
                                     const std::vector<int64_t>& token_types);

// Parses an HF tokenizer.json: model.vocab (byte-level keys, ids 0..n-1) plus
// added_tokens (special -> CONTROL, otherwise USER_DEFINED). Requires model.type "BPE".
// If a Split pre-tokenizer regex is present it must be the Llama 3 pattern (kUnsupported
// otherwise: a different regex means a different tokenizer). herd always encodes with
// rank semantics (= ignore_merges true); files written before tokenizers 0.19.1 lack
// ignore_merges and HF would then apply the merges list, which differs only on rare
// pieces, so such files are accepted. model.merges is ignored.
Result<Vocab> vocab_from_hf_tokenizer_json(std::string_view json_text);

// Fills the named ids (bos_id, eot_id, ...) by looking their texts up among the special
// tokens and sets eos_id = end_of_text_id. kCorrupt if <|begin_of_text|>,
// <|end_of_text|>, <|start_header_id|>, <|end_header_id|> or <|eot_id|> is missing.
Status assign_llama3_special_ids(Vocab& vocab);

// Structural check shared by the readers: sizes agree, ranked tokens are NORMAL and
// non-empty, specials are not NORMAL, n_ranked within bounds.
Status validate_vocab(const Vocab& vocab);

}  // namespace herd::tokenizer
