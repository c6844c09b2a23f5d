// The operations an encoder classifier (Prompt Guard's DeBERTa, model/deberta/)
// adds to a decoder's: LayerNorm with a bias, the exact (erf) GELU, a bias
// row added to every output row of a linear layer, and the softmax of
// attention scores plus an additive score bias (DeBERTa's relative-position
// terms). Each has a scalar reference in double beside it, which the tests
// hold the fast path to (kernels/encoder_ops_test.cpp, with the bounds
// derived there).
//
// Like ops.h: plain f32 buffers, shapes as arguments, work split statically
// over ctx.pool with every output element computed in a fixed order, so
// results do not depend on the thread count.
#pragma once

#include <cstdint>

#include "kernels/exec_context.h"

namespace herd::kernels {

// y[T, D] = (x - mean) / sqrt(var + eps) * w + b per row; mean and variance
// (the biased one, as torch.nn.LayerNorm) in double. y may alias x.
void layer_norm(const ExecContext& ctx, const float* x, const float* w, const float* b, float eps, int64_t T,
                int64_t D, float* y);
void layer_norm_ref(const float* x, const float* w, const float* b, double eps, int64_t T, int64_t D, double* y);

// x[T, N] += bias[N] (each row).
void add_bias(const ExecContext& ctx, float* x, const float* bias, int64_t T, int64_t N);

// x[n] = x * (1 + erf(x / sqrt 2)) / 2 in place (torch's default GELU), in f32
// by the kernel table's gelu (libm's erff on ref, a vector erf from AVX2 up:
// kernels/gelu_avx2.cpp); the reference in double.
void gelu(const ExecContext& ctx, float* x, int64_t n);
double gelu_ref(double x);

// add_bias then gelu in one pass over x[T, N] (each row while it is in cache):
// the same bits as the two calls.
void add_bias_gelu(const ExecContext& ctx, float* x, const float* bias, int64_t T, int64_t N);

// Each of `rows` rows of n scores: s[r, j] = softmax_j(s[r, j] * scale +
// bias[r, j]) in place; bias null: none. The row itself is the table's
// softmax_row (kernel_table.h): the maximum subtracted, exp in f32 (libm's
// expf in ref, exp_ps within 2 u from AVX2 up), the sum in double, each
// p = fl(e * fl(1 / sum)).
void biased_softmax_rows(const ExecContext& ctx, float* s, const float* bias, int64_t rows, int64_t n, float scale);
void biased_softmax_rows_ref(const float* s, const float* bias, int64_t rows, int64_t n, double scale, double* p);

}  // namespace herd::kernels
