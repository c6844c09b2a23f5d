// Linear: one linear layer of the model, y = x . W^T, as the forward pass,
// training and adapters see it: the stored weight W [N, K] (any dtype, the
// file layout or repacked; F8_E4M3's per-row scales travel in
// TensorView::row_scale) plus any number of low-rank adapters applied
// together (LoRA, several at once, each with its own scale):
//   y  = x . W^T + sum_i s_i (x . A_i^T) . B_i^T
//   dx = dy . W  + sum_i s_i (dy . B_i) . A_i            (W frozen)
//   dA_i += s_i (dy . B_i)^T . x,   dB_i += s_i dy^T . (x . A_i^T)
// A_i [r_i, K] and B_i [N, r_i] are f32 (PEFT's lora_A / lora_B; s = alpha / r,
// or alpha / sqrt(r) for rsLoRA), owned by whoever attached them (a trainer, an
// adapter file). The products go through kernels::matmul and matmul_t, so
// each has the kernels' fixed-order reductions and thread-count independence.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/exec_context.h"
#include "tensor/tensor_view.h"

namespace herd::model {

struct LoraAdapter {
  const float* a = nullptr;  // [rank, K]
  const float* b = nullptr;  // [N, rank]
  int64_t rank = 0;
  float scale = 1.0f;
  // Which rows it applies to: 0 every row (run/chat --lora, training); k > 0 only
  // the rows whose adapter set is k (herd serve's per-request adapters, so requests
  // with different adapters share one pass over the base weights).
  int32_t set = 0;
  // A set-0 adapter given on the command line (--lora) is number `id` (0, 1, ...
  // in order; -1 otherwise), the id llama-server's per-request "lora" list names.
  // Its scale is float(unit * weight): unit = alpha / r (or rsLoRA's), weight the
  // user's SCALE. A row with a weight of its own (LoraRows) uses float(unit * w).
  int32_t id = -1;
  double unit = 0.0;
  float weight = 1.0f;
};

// Per-row adapter choices of a batch (herd serve): set[t] is row t's adapter set
// (null: every row 0); weight[t * n_weights + id] is row t's weight of the --lora
// adapter `id` (null: each adapter's own weight). A row's result depends only on
// its own set and weights.
struct LoraRows {
  const int32_t* set = nullptr;
  const float* weight = nullptr;
  int32_t n_weights = 0;
  // The same choices from row t0 on.
  LoraRows from(int64_t t0) const {
    return {set ? set + t0 : nullptr, weight ? weight + t0 * n_weights : nullptr, n_weights};
  }
};

struct Linear {
  TensorView w;                      // [N, K]
  std::vector<LoraAdapter> adapters;  // none: the plain stored weight
  int64_t max_rank() const {
    int64_t r = 0;
    for (const LoraAdapter& a : adapters) r = a.rank > r ? a.rank : r;
    return r;
  }
};

// out[T, N] += the adapters' terms for input x[T, K]; nothing when there are
// none. rows names each row's adapter set and weights: an adapter of set k > 0
// is applied to each run of consecutive rows of set k as a pass of its own, a
// set-0 adapter with per-row weights to each run of rows of equal weight (none
// where the weight is 0), so a row's result does not depend on the other rows.
// scratch: T * max_rank() floats.
void lora_forward_add(const kernels::ExecContext& exec, const Linear& l, const float* x, int64_t T, float* out,
                      float* scratch, const LoraRows& rows = {});

// dx[T, K] = dy[T, N] . W + the terms of the set-0 adapters (training applies
// those to every row). With lora_factor [T, K] (LoRA dropout: the adapters saw
// x * factor), the adapters' terms are multiplied by it element by element.
// scratch: T * max_rank() floats, plus T * K with lora_factor.
void linear_backward_input(const kernels::ExecContext& exec, const Linear& l, const float* dy, int64_t T, float* dx,
                           float* scratch, const float* lora_factor = nullptr);

// Adds adapter i's gradients for input x[T, K] and output gradient dy[T, N]
// to da[rank, K] and db[N, rank]. scratch: 2 * T * rank floats.
void lora_backward_weights(const kernels::ExecContext& exec, const Linear& l, size_t i, const float* x, const float* dy,
                           int64_t T, float* da, float* db, float* scratch);

}  // namespace herd::model
