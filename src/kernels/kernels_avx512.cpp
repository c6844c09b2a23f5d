// AVX-512 entries: the f32 dot (attention scores) and the f32 tile of F32,
// F16, BF16 and F8_E4M3 weights (the training forward's exact products: F16,
// BF16 and F8_E4M3 rows are widened in registers, block-quantized rows are
// converted to f32 first and multiplied through the F32 tile). The weight row
// dots keep the AVX2 versions, which are memory-bound at decode.
//
// The F32 tile gives the AVX2 row dot's bits (kernels_avx2.cpp dot_tile:
// two 8-lane accumulators over elements 16s..16s+7 and 16s+8..16s+15, their
// sum's horizontal sum, then the K % 16 tail in order): one zmm accumulator
// holds both 8-lane halves, so each of its lanes sees the same FMAs in the
// same order. With 32 registers the tile is 4 rows x 6 tokens (24
// accumulators), a quarter of the AVX2 2 x 3 tile's loads per FMA: the
// forward of a 3.2-1B-shaped training step reads its converted rows from L2,
// where the smaller tile was load-bound. The F16/BF16/F8_E4M3 loaders widen
// exactly (as kernels_avx2.cpp's do, 16 elements at a time), so each of these
// dtypes gets its AVX2 tile's bits too; an F16 3.2-1B LoRA step ran its
// forward on the AVX2 2 x 3 tile before (55% of the step, perf).
#include <immintrin.h>

#include <cstring>

#include "base/half.h"
#include "kernels/kernel_table.h"
#include "kernels/simd_x86_inl.h"

namespace herd::kernels::avx512 {
namespace {

float dot_f32(const float* a, const float* b, int64_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
  }
  float s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// 16 weights of a row widened to f32 (v16) and one weight (one: the tail).
struct LoadF32 {
  static __m512 v16(const uint8_t* row, int64_t i) { return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + i); }
  static float one(const uint8_t* row, int64_t i) {
    float v;
    std::memcpy(&v, row + 4 * i, 4);
    return v;
  }
};
struct LoadF16 {
  static __m512 v16(const uint8_t* row, int64_t i) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * i)));
  }
  static float one(const uint8_t* row, int64_t i) {
    uint16_t h;
    std::memcpy(&h, row + 2 * i, 2);
    return f16_to_f32(h);
  }
};
struct LoadBf16 {
  static __m512 v16(const uint8_t* row, int64_t i) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * i));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
  }
  static float one(const uint8_t* row, int64_t i) {
    uint16_t h;
    std::memcpy(&h, row + 2 * i, 2);
    return bf16_to_f32(h);
  }
};
// FP8 e4m3 as kernels_avx2.cpp's LoadF8E4M3 widens it: the 7 bits below the
// sign moved to bits 7..13 of an f16 (value / 2^8; 0x7F -> NaN), times 256.
struct LoadF8E4M3 {
  static __m512 v16(const uint8_t* row, int64_t i) {
    const __m256i b = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + i)));
    const __m256i mag = _mm256_and_si256(b, _mm256_set1_epi16(0x7f));
    __m256i h = _mm256_or_si256(_mm256_slli_epi16(mag, 7), _mm256_slli_epi16(_mm256_and_si256(b, _mm256_set1_epi16(0x80)), 8));
    h = _mm256_or_si256(h, _mm256_and_si256(_mm256_cmpeq_epi16(mag, _mm256_set1_epi16(0x7f)), _mm256_set1_epi16(0x7c00)));
    return _mm512_mul_ps(_mm512_cvtph_ps(h), _mm512_set1_ps(256.0f));
  }
  static float one(const uint8_t* row, int64_t i) { return f8_e4m3_to_f32(row[i]); }
};

// kernels_avx2.cpp's hsum, the same adds in the same order.
template <class L, int R, int TT>
__attribute__((always_inline)) inline void dot_tile_f32(const uint8_t* w, int64_t ws, const float* x, int64_t xs,
                                                        int64_t K, float* out, int64_t os) {
  __m512 a[R][TT];
  #pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
    #pragma GCC unroll 6
    for (int t = 0; t < TT; ++t) a[r][t] = _mm512_setzero_ps();
  }
  int64_t i = 0;
  for (; i + 16 <= K; i += 16) {
    __m512 wv[R];
    #pragma GCC unroll 4
    for (int r = 0; r < R; ++r) wv[r] = L::v16(w + r * ws, i);
    #pragma GCC unroll 6
    for (int t = 0; t < TT; ++t) {
      __m512 xv = _mm512_loadu_ps(x + t * xs + i);
      asm("" : "+v"(xv));  // one load per token, not one folded into each row's FMA
      #pragma GCC unroll 4
      for (int r = 0; r < R; ++r) a[r][t] = _mm512_fmadd_ps(wv[r], xv, a[r][t]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < TT; ++t) {
      const __m256 lo = _mm512_castps512_ps256(a[r][t]);
      const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a[r][t]), 1));
      float s = hsum(_mm256_add_ps(lo, hi));
      for (int64_t j = i; j < K; ++j) s += L::one(w + r * ws, j) * x[t * xs + j];
      out[t * os + r] = s;
    }
  }
}

// TileDotF32Fn: register tiles of 4 rows x 6 tokens, each group of 4
// weight rows used by every token tile before the next.
template <class L>
void tile_rows_f32(const uint8_t* w, int64_t ws, int64_t n_rows, const float* x, int64_t xs, int64_t n_tok, int64_t K,
                   float* out, int64_t os) {
  constexpr int kR = 4, kT = 6;
  int64_t r = 0;
  for (; r + kR <= n_rows; r += kR) {
    int64_t t = 0;
    for (; t + kT <= n_tok; t += kT) dot_tile_f32<L, kR, kT>(w + r * ws, ws, x + t * xs, xs, K, out + t * os + r, os);
    for (; t < n_tok; ++t) dot_tile_f32<L, kR, 1>(w + r * ws, ws, x + t * xs, xs, K, out + t * os + r, os);
  }
  for (; r < n_rows; ++r) {
    int64_t t = 0;
    for (; t + kT <= n_tok; t += kT) dot_tile_f32<L, 1, kT>(w + r * ws, ws, x + t * xs, xs, K, out + t * os + r, os);
    for (; t < n_tok; ++t) dot_tile_f32<L, 1, 1>(w + r * ws, ws, x + t * xs, xs, K, out + t * os + r, os);
  }
}

// axpy_rows for 4 tokens at a time over 64 elements (16 zmm accumulators):
// each x vector is loaded once for the 4 tokens. Every element of y_t gets
// fma(a_t[r], x_r, y_t) for r in order, the AVX2 axpy_rows' operations; the
// elements past the last multiple of 16 go through AVX2's axpy_rows_f32
// (its exact tail arithmetic).
void axpy_rows_tokens_f32(const float* a, int64_t a_stride, int64_t rows, const float* x, int64_t xs, int64_t n_tok,
                          float* out, int64_t os, int64_t n) {
  const int64_t n16 = n / 16 * 16;
  int64_t t = 0;
  for (; t + 4 <= n_tok; t += 4) {
    int64_t i = 0;
    for (; i + 64 <= n16; i += 64) {
      __m512 y[4][4];
      #pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) {
        #pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) y[k][j] = _mm512_loadu_ps(out + (t + k) * os + i + 16 * j);
      }
      for (int64_t r = 0; r < rows; ++r) {
        __m512 xv[4];
        #pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) xv[j] = _mm512_loadu_ps(x + r * xs + i + 16 * j);
        #pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
          const __m512 av = _mm512_set1_ps(a[(t + k) * a_stride + r]);
          #pragma GCC unroll 4
          for (int j = 0; j < 4; ++j) y[k][j] = _mm512_fmadd_ps(av, xv[j], y[k][j]);
        }
      }
      #pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) {
        #pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) _mm512_storeu_ps(out + (t + k) * os + i + 16 * j, y[k][j]);
      }
    }
    for (; i < n16; i += 16)
      for (int k = 0; k < 4; ++k) {
        __m512 yv = _mm512_loadu_ps(out + (t + k) * os + i);
        for (int64_t r = 0; r < rows; ++r)
          yv = _mm512_fmadd_ps(_mm512_set1_ps(a[(t + k) * a_stride + r]), _mm512_loadu_ps(x + r * xs + i), yv);
        _mm512_storeu_ps(out + (t + k) * os + i, yv);
      }
  }
  for (; t < n_tok; ++t) {
    for (int64_t i = 0; i < n16; i += 16) {
      __m512 yv = _mm512_loadu_ps(out + t * os + i);
      for (int64_t r = 0; r < rows; ++r)
        yv = _mm512_fmadd_ps(_mm512_set1_ps(a[t * a_stride + r]), _mm512_loadu_ps(x + r * xs + i), yv);
      _mm512_storeu_ps(out + t * os + i, yv);
    }
  }
  if (n16 < n)
    for (int64_t tt = 0; tt < n_tok; ++tt) avx2::axpy_rows(a + tt * a_stride, rows, x + n16, xs, out + tt * os + n16, n - n16);
}

}  // namespace

// row_to_f32 (matmul_t's weight conversion) through the tile's loaders: 16 exact
// widenings per instruction where AVX2's take 8; the same bits (the loaders are
// exact, as the reference's widening is).
template <class Load>
void row_to_f32_rows(const void* src, float* dst, int64_t K) {
  const auto* row = static_cast<const uint8_t*>(src);
  int64_t i = 0;
  for (; i + 16 <= K; i += 16) _mm512_storeu_ps(dst + i, Load::v16(row, i));
  for (; i < K; ++i) dst[i] = Load::one(row, i);
}

void fill_table(KernelTable* t) {
  t->dot_f32 = dot_f32;
  t->row_to_f32[static_cast<int>(DType::kF16)] = row_to_f32_rows<LoadF16>;
  t->row_to_f32[static_cast<int>(DType::kBF16)] = row_to_f32_rows<LoadBf16>;
  t->tile_f32[static_cast<int>(DType::kF32)] = tile_rows_f32<LoadF32>;
  t->tile_f32[static_cast<int>(DType::kF16)] = tile_rows_f32<LoadF16>;
  t->tile_f32[static_cast<int>(DType::kBF16)] = tile_rows_f32<LoadBf16>;
  t->tile_f32[static_cast<int>(DType::kF8_E4M3)] = tile_rows_f32<LoadF8E4M3>;
  t->axpy_rows_tokens_f32 = axpy_rows_tokens_f32;
}

}  // namespace herd::kernels::avx512
