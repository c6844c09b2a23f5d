// LlamaContext: one sequence being evaluated: its KV cache, the activation
// buffers and the forward pass.
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
  int64_t max_batch() const { return max_batch_; }
  void reset() { n_past_ = 0; }
  void set_pos_offset(int64_t off) { pos_offset_ = off; }
  const LlamaModel& model() const { return model_; }
  // Bytes of KV cache and activation buffers.
  uint64_t state_bytes() const;

 private:
  void forward_layer(int64_t il, int64_t T, TapSink* taps);

  const LlamaModel& model_;
  const LlamaConfig& c_;
  kernels::ExecContext exec_;
  int64_t n_ctx_;
  int64_t max_batch_;
  int64_t n_past_ = 0;
  int64_t pos_offset_ = 0;
  kv::KvCache kv_;
  // Activations for up to max_batch tokens (T = tokens in this call):
  std::vector<float> x_;       // [T, d_model] residual stream
  std::vector<float> xn_;      // [T, d_model] normed input of a sublayer
  std::vector<float> q_;       // [T, n_heads * head_dim]
  std::vector<float> k_;       // [T, n_kv_heads * head_dim]
  std::vector<float> v_;       // [T, n_kv_heads * head_dim]
  std::vector<float> attn_;    // [T, n_heads * head_dim]
  std::vector<float> proj_;    // [T, d_model] output of wo / w_down
  std::vector<float> gate_;    // [ffn_rows(max_batch), d_ff] one feed-forward chunk
  std::vector<float> up_;      // [ffn_rows(max_batch), d_ff]
  std::vector<int64_t> pos_;   // [T] absolute positions
  // [q8_scratch_blocks] a matmul's activations quantized for the integer
  // dot kernels (exec_.q8 points here).
  std::vector<kernels::BlockQ8> xq_;
  // [bf16_scratch_elems] a matmul's activations rounded to bf16 (exec_.bf16
  // points here); empty when no weight takes the bf16 path.
  std::vector<uint16_t> xb_;
  // [workers][attention_scratch_floats(group, n_ctx, head_dim)] attention scratch
  std::vector<std::vector<float>> scores_;
  std::vector<float*> score_ptrs_;
};

// Elements of the bf16 activation scratch (ExecContext::bf16) that a context
// for max_tokens tokens needs: max_tokens times the longest K among the
// model's matmul weights that take the bf16 path in `table` (F16/BF16 on
// avx512bf16 or ref; kernels/matmul_bf16.h), 0 when none does.
int64_t bf16_scratch_elems(const LlamaModel& model, const kernels::KernelTable& table, int64_t max_tokens);

// Blocks of the q8 activation scratch (ExecContext::q8) that a context for
// max_tokens tokens needs: the largest T x K / 32 (+1 a row) among its
// matmul inputs, w_down's input being one feed-forward chunk
// (model/feed_forward.h).
int64_t q8_scratch_blocks(const LlamaConfig& c, int64_t max_tokens);

}  // namespace herd::model
