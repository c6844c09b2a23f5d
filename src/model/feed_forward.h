// The SwiGLU feed-forward sublayer of a Llama layer, shared by LlamaContext
// (one sequence) and LlamaBatch (the engine's many):
//   out = W_down . (silu(W_gate . xn) * (W_up . xn))
// computed over T tokens in chunks of at most kFfnChunkTokens, so the two
// [tokens, d_ff] intermediates are sized for a chunk, not for the whole
// batch: at a 512-token prefill of 3.2-1B they were 32 MiB of the ~60 MiB of
// activations (issue 6: peak RSS within the file + KV + 10%). Every token's
// output is the same sequence of operations whatever the chunking (the
// matmul kernels compute each token on its own), so results are bitwise those
// of one 512-token call. The weights are read once per chunk; prefill is
// compute-bound, and 128 tokens per weight pass measured within noise of 512
// (docs/kernels.md, memory).
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>

#include "kernels/exec_context.h"
#include "model/llama_model.h"

namespace herd::model {

constexpr int64_t kFfnChunkTokens = 128;

// Rows of the gate and up buffers a context for max_tokens tokens needs.
inline int64_t ffn_rows(int64_t max_tokens) { return std::min(max_tokens, kFfnChunkTokens); }

// out[T, d_model] = the sublayer of xn[T, d_model]; gate and up are scratch of
// ffn_rows(T) x d_ff floats each; lora_scratch: ffn_rows(T) x the largest
// adapter rank (model/linear.h; unused without adapters); lora_rows: each
// token's adapter set and weights (default: set 0, the adapters' own weights). down_input (nullable):
// called with each chunk's input to W_down (rows x d_ff), for matmul-input taps.
void feed_forward(const kernels::ExecContext& exec, const LayerWeights& L, const float* xn, int64_t T, int64_t d_model,
                  int64_t d_ff, float* gate, float* up, float* out, float* lora_scratch,
                  const LoraRows& lora_rows = {},
                  const std::function<void(const float*, int64_t)>* down_input = nullptr);

}  // namespace herd::model
