// LlamaBatch: the forward pass (model/llama_forward.h) over several sequences
// at once (continuous batching). Each step takes a list of chunks, one per sequence: tokens to
// append at cache indices n_past .. n_past + n - 1 of that sequence, whose KV
// lives in a shared kv::BlockPool through the sequence's block table.
//
// The matmuls run over the rows of all chunks together (one decode step for k
// sequences reads the weights once); RoPE uses each token's own position and
// attention runs per (token, head) against the token's own sequence. Every
// output row is the same fixed-order reduction whatever else is in the batch
// (matmul is row-independent, attention is per query), so a sequence's logits
// do not depend on batch composition.
//
// Thread safety: one thread drives it; kernels fan out on exec.pool.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "kernels/exec_context.h"
#include "kv/block_pool.h"
#include "model/activations.h"
#include "model/llama_model.h"
#include "model/runner.h"

namespace herd::model {


class LlamaBatch final : public BatchRunner {
 public:
  // max_tokens: tokens per step at most (all chunks); max_seq_len: cache
  // indices per sequence at most (attention scratch).
  LlamaBatch(const LlamaModel& model, kv::BlockPool& pool, int64_t max_tokens, int64_t max_seq_len,
             kernels::ExecContext exec);

  // Evaluates the chunks; writes [n_with_logits, vocab] logits (in chunk
  // order) into `logits` (resized; reserve once). Errors: token id out of
  // range, too many tokens.
  Status eval(std::span<const BatchChunk> chunks, std::vector<float>* logits) override;

  int64_t max_tokens() const override { return acts_.max_tokens(); }

 private:
  const LlamaModel& model_;
  kv::BlockPool& kv_;
  kernels::ExecContext exec_;  // with acts_' scratch bound
  int64_t max_seq_len_;
  Activations acts_;
  std::vector<int32_t> tokens_;  // [max_tokens] the chunks' tokens, in row order
};

}  // namespace herd::model
