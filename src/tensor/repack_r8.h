// The row-interleaved "r8" layouts: weights of the integer-dot formats
// (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K) rearranged once at load so that a SIMD register of
// 8 x 32-bit lanes holds the same 4 elements of 8 consecutive rows; F16 and
// BF16 so that 8 x 16 bits hold the same element of 8 rows (the f32 path's
// outer-product tile, TileDotF32R8Fn in kernels/kernel_table.h). An integer
// dot kernel then multiplies one broadcast group of 4 activation bytes into 8
// rows at once, each lane summing one row's block exactly, and needs no
// horizontal sum (kernels/kernels_r8_avx512vnni.cpp). The idea is that of
// ik_llama.cpp's row-interleaved types and llama.cpp's CPU repack; the byte
// layouts here are herd's own.
//
// A repacked tensor of R rows (R % 8 == 0) is R / 8 groups, each holding its
// 8 rows' blocks in the order of the file's blocks along the row. Per group
// and per unit of the format (a 32-block for Q4_0 .. Q8_0, a 256-super-block
// for the K-quants), "chunk c, lane j" below means 4 bytes for row j, chunks
// outermost: byte (c * 8 + j) * 4 of the unit's data.
//
//   Q4_0 (144 bytes = 8 x 18): f16 d[8]; 4 chunks of qs (chunk c = qs bytes
//        4c..4c+3: low nibbles are elements 4c.., high nibbles 16 + 4c..).
//   Q4_1 (160 = 8 x 20): f16 d[8], f16 m[8]; 4 chunks of qs as Q4_0.
//   Q5_0 (176 = 8 x 22): f16 d[8], u32 qh[8] (the file's, bit j = element j's
//        fifth bit); 4 chunks of qs as Q4_0.
//   Q5_1 (192 = 8 x 24): f16 d[8], f16 m[8], u32 qh[8]; 4 chunks of qs.
//   Q8_0 (272 = 8 x 34): f16 d[8]; 8 chunks of qs (signed, as in the file:
//        the AVX2 kernel reads them as vpsignb's memory operand, the VNNI
//        kernel flips the top bit to get vpdpbusd's unsigned q + 128).
//   Q4_K (1184 = 8 x 148; 4 more bytes per row than the file's 144): f16 d[8],
//        f16 dmin[8], u8 scale[8 sub-blocks][8 rows], u8 min[8][8] (the 6-bit
//        values, unpacked), 32 chunks of qs (the file's 128 qs bytes).
//   Q5_K (1440 = 8 x 180): Q4_K's 1184 bytes (the file's 128 qs bytes as its
//        32 chunks), then 8 chunks of qh (chunk c = qh bytes 4c..4c+3: bit k
//        of each is the fifth bit of that element of 32-block k).
//   Q6_K (1680 = 8 x 210): f16 d[8], i8 scale[16][8 rows], 32 chunks of ql,
//        16 chunks of qh.
//   F16, BF16 (unit of 8 elements, 128 = 8 x 16 bytes): element k of the 8
//        rows as 8 consecutive 16-bit values, k = 0..7 (so element k of the
//        row group is at byte 16 k, for any K % 8 == 0).
// The values are the file's bit for bit; unpack_row_r8() gives a row back in
// the file's layout (embedding lookups of a tied output table, tests).
#pragma once

#include <cstdint>

#include "tensor/dtype.h"

namespace herd {

// True when dtype t has an r8 layout.
bool has_r8_layout(DType t);

// Bytes of one group of 8 rows of K elements in the r8 layout of t.
int64_t r8_group_bytes(DType t, int64_t K);

// src: `rows` rows of K elements in the file layout (row_bytes(t, K) each),
// rows % 8 == 0; dst: rows / 8 * r8_group_bytes(t, K) bytes.
void repack_r8(DType t, const uint8_t* src, int64_t rows, int64_t K, uint8_t* dst);

// Row j (0..7) of one r8 group back into the file layout (row_bytes(t, K)).
void unpack_row_r8(DType t, const uint8_t* group, int64_t K, int j, uint8_t* dst);

}  // namespace herd
