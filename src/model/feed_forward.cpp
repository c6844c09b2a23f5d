// The chunked SwiGLU feed-forward sublayer (model/feed_forward.h).
#include "model/feed_forward.h"

#include "kernels/ops.h"

namespace herd::model {

void feed_forward(const kernels::ExecContext& exec, const LayerWeights& L, const float* xn, int64_t T, int64_t d_model,
                  int64_t d_ff, float* gate, float* up, float* out, float* lora_scratch, const LoraRows& lora_rows,
                  const std::function<void(const float*, int64_t)>* down_input) {
  for (int64_t t0 = 0; t0 < T; t0 += kFfnChunkTokens) {
    const int64_t n = std::min(kFfnChunkTokens, T - t0);
    const float* x = xn + t0 * d_model;
    const LoraRows sets = lora_rows.from(t0);
    // One activation quantization for the two projections of the same input.
    kernels::matmul_shared_input(exec, x, n, {{&L.w_gate.w, gate}, {&L.w_up.w, up}});
    lora_forward_add(exec, L.w_gate, x, n, gate, lora_scratch, sets);
    lora_forward_add(exec, L.w_up, x, n, up, lora_scratch, sets);
    kernels::silu_mul(exec, gate, up, n * d_ff);
    if (down_input) (*down_input)(gate, n);
    kernels::matmul(exec, gate, n, L.w_down.w, out + t0 * d_model);
    lora_forward_add(exec, L.w_down, gate, n, out + t0 * d_model, lora_scratch, sets);
  }
}

}  // namespace herd::model
