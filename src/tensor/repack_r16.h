// The "r16" pair layout of F16 and BF16 weights: the bf16 path's
// outer-product tile (TileDotBf16R16Fn in kernels/kernel_table.h) multiplies
// one register of 16 rows x 2 consecutive elements by a broadcast pair of
// activations with one vdpbf16ps, each 32-bit lane summing its own row, so it
// needs no horizontal sum and reuses each weight register for every token of
// its tile. The idea is that of ik_llama.cpp's row-interleaved BF16 type; the
// byte layout here is herd's own.
//
// A repacked tensor of R rows (R % 16 == 0) and K columns (K % 2 == 0) is
// R / 16 groups of 32 K bytes. In group g, pair p (elements 2p and 2p + 1)
// of its 16 rows takes the 64 bytes at 64 p; 32-bit lane j of them is row
// 16 g + j: element 2p in the low 16 bits, 2p + 1 in the high 16 bits (the
// operand order of vdpbf16ps). Columns [k0, k0 + n) of a group (k0 even) are
// therefore the bytes at 32 k0, themselves a group of n columns. The values
// are the file's bits, or F16 values rounded to bf16 (`to` = BF16: what the
// bf16 path multiplies anyway, converted once at load instead of in every
// prefill; not for a tied output table, which is also the embedding table
// and must stay exact); unpack_row_r16() gives a row back in the layout's
// dtype.
#pragma once

#include <cstdint>

#include "tensor/dtype.h"

namespace herd {

constexpr int64_t kR16Rows = 16;

// True when dtype t has an r16 layout (F16, BF16).
bool has_r16_layout(DType t);

// Bytes of one group of 16 rows of K elements (K even) in the r16 layout.
inline int64_t r16_group_bytes(int64_t K) { return kR16Rows * K * 2; }

// src: `rows` rows of K elements of t in the file layout, rows % 16 == 0 and
// K % 2 == 0; dst: rows / 16 * r16_group_bytes(K) bytes of dtype `to`: t
// itself, or BF16 from F16 (base/half.h f32_to_bf16 of the exact value, the
// rounding of the bf16 path's F16 loads), or BF16 from F32 (the same
// rounding; a model asked to run its F32 weights in bf16, e.g.
// `--prompt-guard-bf16`).
void repack_r16(DType t, const uint8_t* src, int64_t rows, int64_t K, uint8_t* dst, DType to);

// Row j (0..15) of one r16 group of K columns back into the file layout
// (2 K bytes).
void unpack_row_r16(const uint8_t* group, int64_t K, int j, uint8_t* dst);

}  // namespace herd
