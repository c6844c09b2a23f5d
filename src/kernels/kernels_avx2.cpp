// AVX2 + FMA + F16C row dots with f32 activations.
//
// Q4_0 and Q8_0 are fused: the block is expanded to 32 floats in registers
// and multiplied into 4 x 8-lane accumulators, scaled by the block's d (the
// activations stay f32, so the only difference from the reference is the
// order of f32 additions: error ~ sqrt(K) * 2^-24 * sum|w x|). F16/BF16/F32
// and FP8 e4m3 convert in registers, and their tile kernels (TileDotF32Fn: several rows
// times several tokens, each weight vector converted once per register tile)
// give the row dots' results bit for bit. Other block types dequantize one block with the
// reference dequantizer into a stack buffer and use the f32 dot; their fast
// paths come with the speed work (integer dot products on quantized
// activations).
//
// Preconditions: K is a multiple of the dtype's block size (and of 8 for
// plain types' fast loop; the tail is handled). Compiled with -mavx2 -mfma
// -mf16c only; nothing here is called unless the CPU has them.
#include <immintrin.h>

#include <cstring>

#include "base/half.h"
#include "kernels/kernel_table.h"
#include "kernels/simd_x86_inl.h"
#include "tensor/quant.h"

namespace herd::kernels::avx2 {
namespace {

float dot_f32(const float* a, const float* b, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  float s = hsum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

void axpy_f32(float a, const float* x, float* y, int64_t n) {
  __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}

// The rows' FMAs into registers holding 32 (then 8) elements of y, in row
// order; the tail with axpy_f32's own expression, row by row, so every
// element gets the same operations in the same order as successive axpy_f32 calls.
void axpy_rows_f32(const float* a, int64_t rows, const float* x, int64_t xs, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256 y0 = _mm256_loadu_ps(y + i), y1 = _mm256_loadu_ps(y + i + 8), y2 = _mm256_loadu_ps(y + i + 16),
           y3 = _mm256_loadu_ps(y + i + 24);
    for (int64_t r = 0; r < rows; ++r) {
      const __m256 va = _mm256_set1_ps(a[r]);
      const float* xr = x + r * xs + i;
      y0 = _mm256_fmadd_ps(va, _mm256_loadu_ps(xr), y0);
      y1 = _mm256_fmadd_ps(va, _mm256_loadu_ps(xr + 8), y1);
      y2 = _mm256_fmadd_ps(va, _mm256_loadu_ps(xr + 16), y2);
      y3 = _mm256_fmadd_ps(va, _mm256_loadu_ps(xr + 24), y3);
    }
    _mm256_storeu_ps(y + i, y0);
    _mm256_storeu_ps(y + i + 8, y1);
    _mm256_storeu_ps(y + i + 16, y2);
    _mm256_storeu_ps(y + i + 24, y3);
  }
  for (; i + 8 <= n; i += 8) {
    __m256 y0 = _mm256_loadu_ps(y + i);
    for (int64_t r = 0; r < rows; ++r) y0 = _mm256_fmadd_ps(_mm256_set1_ps(a[r]), _mm256_loadu_ps(x + r * xs + i), y0);
    _mm256_storeu_ps(y + i, y0);
  }
  for (int64_t r = 0; r < rows; ++r) axpy_f32(a[r], x + r * xs + i, y + i, n - i);
}

void axpy_rows_tokens_f32(const float* a, int64_t a_stride, int64_t rows, const float* x, int64_t x_stride,
                          int64_t n_tok, float* out, int64_t out_stride, int64_t n) {
  for (int64_t t = 0; t < n_tok; ++t) axpy_rows_f32(a + t * a_stride, rows, x, x_stride, out + t * out_stride, n);
}

// vcvtps2ph with imm 0 rounds to nearest even whatever MXCSR says; the tail
// goes through the scalar conversion (the same rounding).
void f32_to_f16(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) dst[i] = herd::f32_to_f16(src[i]);
}

// Loaders of 8 weights (as f32) and of one, per plain weight type.
struct LoadF32 {
  static __m256 v8(const uint8_t* row, int64_t i) { return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + i); }
  static float one(const uint8_t* row, int64_t i) {
    float v;
    std::memcpy(&v, row + 4 * i, 4);
    return v;
  }
};
struct LoadF16 {
  static __m256 v8(const uint8_t* row, int64_t i) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * i)));
  }
  static float one(const uint8_t* row, int64_t i) {
    uint16_t h;
    std::memcpy(&h, row + 2 * i, 2);
    return f16_to_f32(h);
  }
};
struct LoadBf16 {
  static __m256 v8(const uint8_t* row, int64_t i) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(v), 16));
  }
  static float one(const uint8_t* row, int64_t i) {
    uint16_t h;
    std::memcpy(&h, row + 2 * i, 2);
    return bf16_to_f32(h);
  }
};

// FP8 e4m3 (no infinities; 0x7F/0xFF NaN): the 7 bits below the sign moved
// to bits 7..13 of an f16 make an f16 whose value is the e4m3 value / 2^8
// (normals and subnormals alike: the exponent bias differs by 8), so F16C
// converts 8 at once and a multiply by 2^8 (exact) restores the value; the NaN
// codes get the f16 exponent all ones. Exact, like LoadF16.
struct LoadF8E4M3 {
  static __m256 v8(const uint8_t* row, int64_t i) {
    const __m128i b = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + i)));
    const __m128i mag = _mm_and_si128(b, _mm_set1_epi16(0x7f));
    __m128i h = _mm_or_si128(_mm_slli_epi16(mag, 7), _mm_slli_epi16(_mm_and_si128(b, _mm_set1_epi16(0x80)), 8));
    h = _mm_or_si128(h, _mm_and_si128(_mm_cmpeq_epi16(mag, _mm_set1_epi16(0x7f)), _mm_set1_epi16(0x7c00)));
    return _mm256_mul_ps(_mm256_cvtph_ps(h), _mm256_set1_ps(256.0f));
  }
  static float one(const uint8_t* row, int64_t i) { return f8_e4m3_to_f32(row[i]); }
};

// R weight rows times TT activation rows. Every output is the same reduction
// as a lone row dot: two 8-lane accumulators (elements 16s..16s+7 and
// 16s+8..16s+15 of every step s), their sum's fixed horizontal sum, then the
// K % 16 tail in order. So a row dot is the 1 x 1 instance, and a tiled
// matmul gives its outputs bit for bit whatever the tile shape.
template <class L, int R, int TT>
__attribute__((always_inline)) inline void dot_tile(const uint8_t* w, int64_t ws, const float* x, int64_t xs, int64_t K,
                                                    float* out, int64_t os) {
  __m256 a[2][R][TT];
  #pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
    #pragma GCC unroll 4
    for (int t = 0; t < TT; ++t) a[0][r][t] = a[1][r][t] = _mm256_setzero_ps();
  }
  int64_t i = 0;
  for (; i + 16 <= K; i += 16) {
    #pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      __m256 wv[R];
      #pragma GCC unroll 4
      for (int r = 0; r < R; ++r) wv[r] = L::v8(w + r * ws, i + 8 * h);
      #pragma GCC unroll 4
      for (int t = 0; t < TT; ++t) {
        __m256 xv = _mm256_loadu_ps(x + t * xs + i + 8 * h);
        asm("" : "+x"(xv));  // one load per token, not one folded into each row's FMA
        #pragma GCC unroll 4
        for (int r = 0; r < R; ++r) a[h][r][t] = _mm256_fmadd_ps(wv[r], xv, a[h][r][t]);
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < TT; ++t) {
      float s = hsum(_mm256_add_ps(a[0][r][t], a[1][r][t]));
      for (int64_t j = i; j < K; ++j) s += L::one(w + r * ws, j) * x[t * xs + j];
      out[t * os + r] = s;
    }
  }
}

template <class L>
float dot_row(const void* w, const float* x, int64_t K) {
  float s;
  dot_tile<L, 1, 1>(static_cast<const uint8_t*>(w), 0, x, 0, K, &s, 1);
  return s;
}

// TileDotF32Fn: register tiles of 2 rows x 3 tokens (12 accumulators, 2
// weight vectors and one activation vector of the 16 ymm registers); each
// pair of weight rows is used by every token before the next pair.
template <class L>
void tile_rows(const uint8_t* w, int64_t ws, int64_t n_rows, const float* x, int64_t xs, int64_t n_tok, int64_t K,
               float* out, int64_t os) {
  constexpr int kR = 2, kT = 3;
  int64_t r = 0;
  for (; r + kR <= n_rows; r += kR) {
    int64_t t = 0;
    for (; t + kT <= n_tok; t += kT) dot_tile<L, kR, kT>(w + r * ws, ws, x + t * xs, xs, K, out + t * os + r, os);
    for (; t < n_tok; ++t) dot_tile<L, kR, 1>(w + r * ws, ws, x + t * xs, xs, K, out + t * os + r, os);
  }
  for (; r < n_rows; ++r) {
    int64_t t = 0;
    for (; t + kT <= n_tok; t += kT) dot_tile<L, 1, kT>(w + r * ws, ws, x + t * xs, xs, K, out + t * os + r, os);
    for (; t < n_tok; ++t) dot_tile<L, 1, 1>(w + r * ws, ws, x + t * xs, xs, K, out + t * os + r, os);
  }
}

// 8 int8 -> 8 floats.
inline __m256 i8x8_to_f32(__m128i v8) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v8)); }

float dot_row_q8_0(const void* w, const float* x, int64_t K) {
  const uint8_t* p = static_cast<const uint8_t*>(w);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < K; b += 32, p += 34) {
    uint16_t dh;
    std::memcpy(&dh, p, 2);
    __m256 d = _mm256_set1_ps(f16_to_f32(dh));
    __m128i q0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
    __m128i q1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 18));
    __m256 s = _mm256_mul_ps(i8x8_to_f32(q0), _mm256_loadu_ps(x + b));
    s = _mm256_fmadd_ps(i8x8_to_f32(_mm_srli_si128(q0, 8)), _mm256_loadu_ps(x + b + 8), s);
    s = _mm256_fmadd_ps(i8x8_to_f32(q1), _mm256_loadu_ps(x + b + 16), s);
    s = _mm256_fmadd_ps(i8x8_to_f32(_mm_srli_si128(q1, 8)), _mm256_loadu_ps(x + b + 24), s);
    acc = _mm256_fmadd_ps(d, s, acc);
  }
  return hsum(acc);
}

float dot_row_q4_0(const void* w, const float* x, int64_t K) {
  const uint8_t* p = static_cast<const uint8_t*>(w);
  const __m128i mask = _mm_set1_epi8(0x0f), eight = _mm_set1_epi8(8);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < K; b += 32, p += 18) {
    uint16_t dh;
    std::memcpy(&dh, p, 2);
    __m256 d = _mm256_set1_ps(f16_to_f32(dh));
    __m128i qs = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
    __m128i lo = _mm_sub_epi8(_mm_and_si128(qs, mask), eight);                    // elements 0..15
    __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(qs, 4), mask), eight);  // elements 16..31
    __m256 s = _mm256_mul_ps(i8x8_to_f32(lo), _mm256_loadu_ps(x + b));
    s = _mm256_fmadd_ps(i8x8_to_f32(_mm_srli_si128(lo, 8)), _mm256_loadu_ps(x + b + 8), s);
    s = _mm256_fmadd_ps(i8x8_to_f32(hi), _mm256_loadu_ps(x + b + 16), s);
    s = _mm256_fmadd_ps(i8x8_to_f32(_mm_srli_si128(hi, 8)), _mm256_loadu_ps(x + b + 24), s);
    acc = _mm256_fmadd_ps(d, s, acc);
  }
  return hsum(acc);
}

// Generic: reference-dequantize one block to the stack, f32 dot it.
template <DType T>
float dot_row_blockwise(const void* w, const float* x, int64_t K) {
  constexpr int64_t kMaxBlock = 256;
  const DTypeInfo& info = dtype_info(T);
  const uint8_t* p = static_cast<const uint8_t*>(w);
  alignas(32) float block[kMaxBlock];
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < K; b += info.block_elems, p += info.block_bytes) {
    dequantize_row_ref(T, p, block, info.block_elems);
    for (int64_t j = 0; j < info.block_elems; j += 8)
      acc = _mm256_fmadd_ps(_mm256_load_ps(block + j), _mm256_loadu_ps(x + b + j), acc);
  }
  return hsum(acc);
}

}  // namespace

void axpy_rows(const float* a, int64_t rows, const float* x, int64_t x_stride, float* y, int64_t n) {
  axpy_rows_f32(a, rows, x, x_stride, y, n);
}

void fill_table(KernelTable* t) {
  t->dot_f32 = dot_f32;
  t->axpy_f32 = axpy_f32;
  t->axpy_rows_f32 = axpy_rows_f32;
  t->axpy_rows_tokens_f32 = axpy_rows_tokens_f32;
  t->f32_to_f16 = f32_to_f16;
  t->row_dot[static_cast<int>(DType::kF32)] = dot_row<LoadF32>;
  t->row_dot[static_cast<int>(DType::kF16)] = dot_row<LoadF16>;
  t->row_dot[static_cast<int>(DType::kBF16)] = dot_row<LoadBf16>;
  t->tile_f32[static_cast<int>(DType::kF32)] = tile_rows<LoadF32>;
  t->tile_f32[static_cast<int>(DType::kF16)] = tile_rows<LoadF16>;
  t->tile_f32[static_cast<int>(DType::kBF16)] = tile_rows<LoadBf16>;
  t->row_dot[static_cast<int>(DType::kF8_E4M3)] = dot_row<LoadF8E4M3>;
  t->tile_f32[static_cast<int>(DType::kF8_E4M3)] = tile_rows<LoadF8E4M3>;
  t->row_dot[static_cast<int>(DType::kQ8_0)] = dot_row_q8_0;
  t->row_dot[static_cast<int>(DType::kQ4_0)] = dot_row_q4_0;
  t->row_dot[static_cast<int>(DType::kQ4_1)] = dot_row_blockwise<DType::kQ4_1>;
  t->row_dot[static_cast<int>(DType::kQ5_0)] = dot_row_blockwise<DType::kQ5_0>;
  t->row_dot[static_cast<int>(DType::kQ5_1)] = dot_row_blockwise<DType::kQ5_1>;
  t->row_dot[static_cast<int>(DType::kQ4_K)] = dot_row_blockwise<DType::kQ4_K>;
  t->row_dot[static_cast<int>(DType::kQ5_K)] = dot_row_blockwise<DType::kQ5_K>;
  t->row_dot[static_cast<int>(DType::kQ6_K)] = dot_row_blockwise<DType::kQ6_K>;
}

}  // namespace herd::kernels::avx2
