// LlamaContext: one sequence being evaluated: its contiguous KV cache and
// activation buffers, around the one forward pass (model/llama_forward.h).
//
// The model (weights) is shared and immutable; the context owns the mutable
// state (gemma.cpp's split). Buffers are allocated in the constructor for
// `max_batch` tokens per call, so eval() does not allocate. A prompt longer
// than max_batch is evaluated in chunks by the caller.
//
// Positions: cache index p holds the token at absolute RoPE position
// pos_offset + p. pos_offset is 0 in normal use; a debug run may start at a
// large offset with an empty prefix (`herd run --pos-offset`) to exercise the
// llama3 frequency scaling past 8192 without evaluating 8192 tokens.
//
// Thread safety: one thread drives a context; kernels fan out on the pool.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kernels/exec_context.h"
#include "kv/kv_cache.h"
#include "model/activations.h"
#include "model/llama_model.h"
#include "model/taps.h"

namespace herd::model {

class LlamaContext {
 public:
  // kv_k, kv_v: the cache's key and value element types (kF32, kF16 or
  // kQ8_0: kernels::is_kv_type and kv_type_fits the model's head size; the
  // caller validates a user's choice).
  LlamaContext(const LlamaModel& model, int64_t n_ctx, int64_t max_batch, kernels::ExecContext exec,
               DType kv_k = DType::kF16, DType kv_v = DType::kF16);

  // Evaluates tokens at cache indices n_past() .. n_past()+T-1 (T <= max_batch)
  // and appends them to the cache. Writes logits [T, vocab] when all_logits,
  // else [1, vocab] for the last token, into `logits` (resized; reserve once
  // to keep decode allocation-free). Errors: token id out of range, cache full.
  Status eval(std::span<const int32_t> tokens, bool all_logits, std::vector<float>* logits,
              TapSink* taps = nullptr);

  int64_t n_past() const { return n_past_; }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t max_batch() const { return acts_.max_tokens(); }
  void reset() { n_past_ = 0; }
  void set_pos_offset(int64_t off) { pos_offset_ = off; }
  const LlamaModel& model() const { return model_; }
  // Bytes of KV cache and activation buffers.
  uint64_t state_bytes() const;

 private:
  const LlamaModel& model_;
  kernels::ExecContext exec_;  // with acts_' scratch bound
  int64_t n_ctx_;
  int64_t n_past_ = 0;
  int64_t pos_offset_ = 0;
  kv::KvCache kv_;
  Activations acts_;
};

}  // namespace herd::model
