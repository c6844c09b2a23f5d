// Writing a Vocab in the forms other tools read: GGUF tokenizer.ggml.* arrays and HF
// tokenizer.json / tokenizer_config.json (spec/llama31.md sections 4.6 and 4.7).
//
// Merges are synthesised from the ranks as the transformers tiktoken->HF converter does:
// for each ranked token of >= 2 bytes, in rank order, every split (left, right) where
// both halves are ranked tokens, ordered within the token by (rank(left), rank(right)).
// That yields 280147 merges for Llama 3, the count real Llama 3.x GGUFs carry. (Keeping
// only splits whose halves rank below the merged token would give 230517, which matches
// no published file and would make a merges-driven BPE without ignore_merges differ from
// rank BPE, since tiktoken merges a pair as soon as its concatenation is a token.)
//
// Thread safety: pure functions. Costs: gguf_merges and hf_tokenizer_json build
// ~10 MB of strings for Llama 3 (well under a second).
#pragma once

#include <string>
#include <vector>

#include "tokenizer/vocab.h"

namespace herd::tokenizer {

// tokenizer.ggml.tokens: byte-level text for ranked tokens, raw text for specials.
std::vector<std::string> gguf_token_strings(const Vocab& vocab);

// tokenizer.ggml.token_type as GGUF stores it (int32).
std::vector<int32_t> gguf_token_types(const Vocab& vocab);

// tokenizer.ggml.merges: "left right" in byte-level text (order described above).
std::vector<std::string> gguf_merges(const Vocab& vocab);

// A complete HF tokenizer.json: model BPE (ignore_merges true, merges as ["a","b"]
// pairs), added_tokens, normalizer null, Split(Llama 3 regex, Isolated) + ByteLevel
// pre-tokenizer, ByteLevel decoder, ByteLevel + TemplateProcessing(<|begin_of_text|> $A)
// post-processor. Never fails: text that is not valid UTF-8 (possible only in special
// token text) is written with U+FFFD.
std::string hf_tokenizer_json(const Vocab& vocab);

// tokenizer_config.json: bos/eos tokens (eos <|eot_id|> when instruct, else
// <|end_of_text|>), model_max_length 131072, clean_up_tokenization_spaces true,
// added_tokens_decoder, tokenizer_class PreTrainedTokenizerFast, and
// chat_template when one is given (a converted model's own text).
std::string hf_tokenizer_config_json(const Vocab& vocab, bool instruct, const std::string& chat_template = "");

}  // namespace herd::tokenizer
