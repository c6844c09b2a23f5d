// Scalar reference quantizers and dequantizers for every DType.
//
// These are the specification of each block format (docs/formats/quant-blocks.md):
// plain loops, no SIMD, written so the operation order matches ggml's
// reference (ggml-quants.c quantize_row_*_ref / dequantize_row_*), which makes
// dequantized values bit-identical to llama.cpp's. Fast kernels are tested
// against these.
//
// Preconditions (checked with HERD_DCHECK): n is a multiple of the dtype's
// block_elems; `dst`/`src` hold row_bytes(t, n) bytes.
// Thread safety: pure functions.
#pragma once

#include <cstdint>

#include "tensor/dtype.h"

namespace herd {

// x[0..n) -> row_bytes(t, n) bytes at dst. For f32/f16/bf16/f8_e4m3 this is a
// conversion (round to nearest even; e4m3 saturates at +-448, no row scale);
// for block types the reference quantizer (no importance matrix).
void quantize_row_ref(DType t, const float* x, void* dst, int64_t n);

// Meta's row-wise FP8 quantizer (spec/llama31.md 7.1, quantize_fp8): amax =
// max(max|x|, 1e-12), x scaled by 448 / amax, clamped to [-448, 448] and
// rounded to e4m3 (f32_to_f8_e4m3) into dst[0..n); returns the row's
// dequantization scale amax / 448, so that x ~ e4m3(dst) * scale.
float quantize_row_f8_e4m3(const float* x, uint8_t* dst, int64_t n);

// llama-quantize --imatrix's quantizers: the same formats, with each block's
// fit weighted by `importance` (n values: the importance matrix's mean squares
// of this matrix's input columns, model/imatrix.h), as ggml's
// quantize_row_*_impl weight them. Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K have a
// weighted form; every other type, or a null importance, is quantize_row_ref.
void quantize_row_weighted(DType t, const float* x, void* dst, int64_t n, const float* importance);

// Meta's dynamic per-token FP8 activation quantizer (fc_dynamic's
// quantize_fp8_per_row, spec/llama31.md 7.1): amax = max|x| clamped to
// [1e-12, ub] (ub: the checkpoint's activation_scale_ub, 1200), inv = 448 /
// amax, q[i] = e4m3(clamp(x[i] * inv, -448, 448)) written as its exact float
// value; returns the row's scale 1 / inv (FBGEMM's order), so x ~ q * scale.
// Values past ub * (1 + 1/16) saturate at +-448 * scale.
float quantize_activation_row_fp8(const float* x, float* q, int64_t n, float ub);

// row_bytes(t, n) bytes at src -> y[0..n). F8_E4M3 gives the e4m3 values
// without the row's scale.
void dequantize_row_ref(DType t, const void* src, float* y, int64_t n);

// Worst-case absolute error of the reference quantizer on one block, as a
// multiple of the block's largest |x| (the bound each format's arithmetic
// implies; see quant.cpp for the derivation per format). Used by tests.
double quant_error_bound(DType t);

// Absolute part of the same bound: every block scale is stored as fp16, which
// rounds values below 2^-14 with an absolute error of up to 2^-25 (half the
// smallest subnormal), so a block of tiny values (max|x| below ~1e-5) may lose
// its scale entirely and dequantize to zeros.
// The reference quantizer guarantees, per block,
//   max|x - dequantize(quantize(x))| <= quant_error_bound(t) * max|x| + quant_error_floor(t).
double quant_error_floor(DType t);

namespace detail {
// Per-family halves of the dispatch above (quant_legacy.cpp: Q4_0 Q4_1 Q5_0
// Q5_1 Q8_0; quant_kquants.cpp: Q4_K Q5_K Q6_K). Each returns false, touching
// nothing, when t is not in its family. Call quantize_row_ref instead.
bool quantize_row_legacy(DType t, const float* x, uint8_t* dst, int64_t n);
bool dequantize_row_legacy(DType t, const uint8_t* src, float* y, int64_t n);
bool quantize_row_kquant(DType t, const float* x, uint8_t* dst, int64_t n);
bool quantize_row_legacy_weighted(DType t, const float* x, uint8_t* dst, int64_t n, const float* importance);
bool quantize_row_kquant_weighted(DType t, const float* x, uint8_t* dst, int64_t n, const float* importance);
bool dequantize_row_kquant(DType t, const uint8_t* src, float* y, int64_t n);
}  // namespace detail

}  // namespace herd
