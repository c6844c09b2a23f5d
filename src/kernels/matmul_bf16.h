// The bf16 path of matmul (ops.h): F16/BF16/FP8 weights times activations
// rounded once per input to bf16, through the kernel table's TileDotBf16Fn
// (kernel_table.h; specification in kernels_ref.cpp). Internal to kernels/:
// ops.cpp's matmul_shared_input hands its weights to matmul_bf16 first.
//
// Memory: no repacking and no copy of the weights (F16 and FP8 are converted
// to bf16 inside the tile kernel); the only buffer is the [T, K] bf16 activations,
// ExecContext::bf16 (preallocated by the model contexts), or a temporary when
// that is missing or too small (tests, tools).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "kernels/exec_context.h"
#include "kernels/ops.h"
#include "tensor/tensor_view.h"

namespace herd::kernels::detail {

// One input's activations rounded to bf16, shared by the matmuls of one
// matmul_shared_input call (the rounding does not depend on the weight).
struct Bf16Input {
  const uint16_t* xb = nullptr;  // [T, K] once rounded
  std::vector<uint16_t> tmp;     // backing store when ctx.bf16 is too small
};

// True when w takes the bf16 path in ctx's table: its dtype has a tile_bf16
// entry and it is in the file's row layout.
bool takes_bf16_path(const ExecContext& ctx, const TensorView& w);

// A row-scaled weight's outputs (F8_E4M3, TensorView::row_scale), on the f32
// and bf16 paths: out[t, n] = fl(dot(row n, x_t)) * scale[n], rows n0 .. n1 - 1
// of tokens t0 .. t0 + tn - 1, right after the thread computed them. Nothing
// without a row scale.
void apply_row_scale(const TensorView& w, float* out, int64_t N, int64_t n0, int64_t n1, int64_t t0, int64_t tn);

// For every weight of outs (at most 8, all with K columns) that takes the
// bf16 path: out[T, N] = bf16(x[T, K]) . bf16(W[N, K])^T, rounding x into *in
// on first use (a weight with dynamic FP8 activations is left to the caller).
// Row scales are applied. Returns how many weights it computed (0: it touched nothing);
// the caller computes the others. All of them run in one parallel region, the
// threads splitting their concatenated rows statically (decode: one wake-up
// for wq/wk/wv instead of three). Every output is one call of the tile
// kernel's fixed-order reduction, so the result does not depend on the thread
// count, on T or on which weights were computed together.
int matmul_bf16(const ExecContext& ctx, const float* x, int64_t T, std::initializer_list<MatmulOut> outs,
                Bf16Input* in);

}  // namespace herd::kernels::detail
