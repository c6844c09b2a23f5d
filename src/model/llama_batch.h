// LlamaBatch: the forward pass over several sequences at once (continuous
// batching). Each step takes a list of chunks, one per sequence: tokens to
// append at cache indices n_past .. n_past + n - 1 of that sequence, whose KV
// lives in a shared kv::BlockPool through the sequence's block table.
//
// The matmuls run over the rows of all chunks together (one decode step for k
// sequences reads the weights once); RoPE uses each token's own position and
// attention runs per (token, head) against the token's own sequence. Every
// output row is the same fixed-order reduction whatever else is in the batch
// (matmul is row-independent, attention is per query), so a sequence's logits
// do not depend on batch composition. The attention arithmetic is
// kernels::attention's, reading keys through the block table.
//
// Thread safety: one thread drives it; kernels fan out on exec.pool.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "kernels/exec_context.h"
#include "kv/block_pool.h"
#include "model/llama_model.h"

namespace herd::model {

struct BatchChunk {
  const int32_t* tokens = nullptr;     // [n]
  int64_t n = 0;
  int64_t n_past = 0;                  // cache index of tokens[0]
  const int32_t* block_table = nullptr;  // blocks covering indices 0 .. n_past + n - 1
  bool want_logits = false;            // logits of the chunk's last token
};

class LlamaBatch {
 public:
  // max_tokens: tokens per step at most (all chunks); max_seq_len: cache
  // indices per sequence at most (attention scratch).
  LlamaBatch(const LlamaModel& model, kv::BlockPool& pool, int64_t max_tokens, int64_t max_seq_len,
             kernels::ExecContext exec);

  // Evaluates the chunks; writes [n_with_logits, vocab] logits (in chunk
  // order) into `logits` (resized; reserve once). Errors: token id out of
  // range, too many tokens.
  Status eval(std::span<const BatchChunk> chunks, std::vector<float>* logits);

  int64_t max_tokens() const { return max_tokens_; }

 private:
  void forward_layer(int64_t il, int64_t T);
  void attention(int64_t il, int64_t T);

  const LlamaModel& model_;
  const LlamaConfig& c_;
  kv::BlockPool& kv_;
  kernels::ExecContext exec_;
  int64_t max_tokens_, max_seq_len_;
  // As in LlamaContext: [T, *], but gate_ and up_ hold one feed-forward chunk.
  std::vector<float> x_, xn_, q_, k_, v_, attn_, proj_, gate_, up_;
  std::vector<int64_t> pos_;            // [T] absolute position (= cache index)
  std::vector<const int32_t*> table_;   // [T] block table of the token's sequence
  std::vector<int64_t> tiles_;          // attention tiles: first token of each, then T
  std::vector<int64_t> out_rows_;       // rows whose logits are wanted
  std::vector<kernels::BlockQ8> xq_;
  std::vector<uint16_t> xb_;            // bf16 activations, as LlamaContext's
  std::vector<std::vector<float>> scores_;  // [workers][attention_scratch_floats(group, max_seq_len, hd)]
};

}  // namespace herd::model
