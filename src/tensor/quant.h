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

// x[0..n) -> row_bytes(t, n) bytes at dst. For f32/f16/bf16 this is a
// conversion (round to nearest even); for block types the reference quantizer
// (no importance matrix).
void quantize_row_ref(DType t, const float* x, void* dst, int64_t n);

// row_bytes(t, n) bytes at src -> y[0..n).
void dequantize_row_ref(DType t, const void* src, float* y, int64_t n);

// Worst-case absolute error of the reference quantizer on one block, as a
// multiple of the block's largest |x| (the bound each format's arithmetic
// implies; see quant.cpp for the derivation per format). Used by tests.
double quant_error_bound(DType t);

}  // namespace herd
