// make_prompt_guard: random-weight Prompt Guard classifiers in the exact
// format of the releases (a Hugging Face DeBERTa-v2 directory: config.json,
// model.safetensors, tokenizer.json, tokenizer_config.json,
// special_tokens_map.json), for tests and benchmarks: real weights cannot be
// fetched.
//
// Variants: "86m" (Prompt-Guard-86M: mDeBERTa-v3-base, 12 layers, hidden 768,
// vocab 251000, labels BENIGN / INJECTION / JAILBREAK), "2-86m" (Llama Prompt
// Guard 2 86M: the same encoder, labels LABEL_0 benign / LABEL_1 malicious),
// "2-22m" (Llama Prompt Guard 2 22M: DeBERTa-v3-xsmall's widths, hidden 384,
// 6 heads, vocab 128100) and "tiny" (hidden 64, 2 layers, 3 labels, for tests).
// All keep the releases' relative attention (256 buckets, 512 positions,
// shared keys, c2p + p2c, LayerNorm-ed relative embeddings).
//
// The tokenizer is a synthetic SentencePiece unigram vocabulary (the real
// ones are not available): the special pieces [PAD] [CLS] [SEP] [UNK] at ids
// 0..3 as in mDeBERTa, then single characters and common English words, and
// [MASK] after the pieces; or, with `tokenizer`, a given tokenizer.json is
// copied (its pieces must fit the variant's vocabulary).
//
// Weights: standard deviation 0.02 for matrices, embeddings (the releases'
// initializer_range) and biases, norm weights 1 + 0.1 x a unit draw; draws are
// approximately normal (base/rng.h approx_normal), per tensor from (seed,
// tensor name) and element index. force_label >= 0 builds a
// fixture whose verdict is certain: the classifier bias of that label is 30.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"

namespace herd::model::deberta {

struct PromptGuardMakeOptions {
  std::string variant = "86m";  // 86m | 2-86m | 2-22m | tiny
  std::string dtype = "f32";    // f32 | f16 | bf16
  std::string out;              // directory
  std::string tokenizer;        // optional tokenizer.json to copy
  uint64_t seed = 0;
  int force_label = -1;
};

Status make_prompt_guard(const PromptGuardMakeOptions& opt);

}  // namespace herd::model::deberta
