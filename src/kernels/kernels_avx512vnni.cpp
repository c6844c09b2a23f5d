// AVX-512 VNNI integer dots on Q8-quantized activations (the q8 path of
// kernel_table.h): Q8_0 and Q4_0 tile kernels built on 256-bit vpdpbusd
// (u8 x s8, four products summed into each int32 lane; AVX512_VNNI + VL).
// 256-bit rather than 512-bit: Zen 4 executes a zmm op as two ymm halves, and
// one 32-element block is one ymm, so per-block scales need no shuffles.
//
//   Q4_0: nibbles q in [0, 15] are the u8 operand; sum (q-8) x = sum q x - 8 s,
//         folded into the accumulator's start value (-s in each of 8 lanes).
//   Q8_0: w + 128 (w xor 0x80) is the u8 operand; sum (w+128) x - 128 s, the
//         start value -16 s per lane. Exact: |lane| <= 4*255*127 + 16*32*127.
// Then, as in the AVX2 file: lanes -> f32, one FMA with d_w * d_x into an
// 8-lane accumulator per (row, token); one fixed horizontal sum at the end.
// Compiled with the AVX-512 flags plus -mavx512vnni; select_kernels() uses it
// only when the CPU reports AVX512_VNNI.
#include <immintrin.h>

#include <cstring>

#include "kernels/kernel_table.h"
#include "kernels/tile_q8.h"

namespace herd::kernels::avx512vnni {
namespace {

inline float hsum(__m256 v) {  // the same order as the AVX2 file's
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
  return _mm_cvtss_f32(lo);
}

inline float load_f16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

struct MicroQ4_0 {
  template <int R, int TT>
  static void run(const uint8_t* w, int64_t ws, const BlockQ8* x, int64_t xs, int64_t nb, float* out, int64_t os) {
    const __m128i mask = _mm_set1_epi8(0x0f);
    __m256 acc[R][TT];
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
      #pragma GCC unroll 16
      for (int t = 0; t < TT; ++t) acc[r][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      __m256i q[R];
      __m256 dw[R];
      #pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const uint8_t* p = w + r * ws + b * 18;
        dw[r] = _mm256_set1_ps(load_f16(p));
        const __m128i qs = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
        q[r] = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(qs, 4), mask), _mm_and_si128(qs, mask));
      }
      #pragma GCC unroll 16
      for (int t = 0; t < TT; ++t) {
        const BlockQ8& xb = x[t * xs + b];
        const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.qs));
        const __m256i start = _mm256_set1_epi32(-xb.s);
        const __m256 dx = _mm256_set1_ps(xb.d);
        #pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
          const __m256i lanes = _mm256_dpbusd_epi32(start, q[r], xv);
          acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lanes), _mm256_mul_ps(dw[r], dx), acc[r][t]);
        }
      }
    }
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
      #pragma GCC unroll 16
      for (int t = 0; t < TT; ++t) out[t * os + r] = hsum(acc[r][t]);
  }
};

struct MicroQ8_0 {
  template <int R, int TT>
  static void run(const uint8_t* w, int64_t ws, const BlockQ8* x, int64_t xs, int64_t nb, float* out, int64_t os) {
    const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
    __m256 acc[R][TT];
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
      #pragma GCC unroll 16
      for (int t = 0; t < TT; ++t) acc[r][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      __m256i q[R];
      __m256 dw[R];
      #pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const uint8_t* p = w + r * ws + b * 34;
        dw[r] = _mm256_set1_ps(load_f16(p));
        q[r] = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2)), flip);
      }
      #pragma GCC unroll 16
      for (int t = 0; t < TT; ++t) {
        const BlockQ8& xb = x[t * xs + b];
        const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.qs));
        const __m256i start = _mm256_set1_epi32(-16 * xb.s);
        const __m256 dx = _mm256_set1_ps(xb.d);
        #pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
          const __m256i lanes = _mm256_dpbusd_epi32(start, q[r], xv);
          acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lanes), _mm256_mul_ps(dw[r], dx), acc[r][t]);
        }
      }
    }
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
      #pragma GCC unroll 16
      for (int t = 0; t < TT; ++t) out[t * os + r] = hsum(acc[r][t]);
  }
};

// 32 ymm registers: 4 rows x 4 tokens of accumulators plus 4 unpacked rows.
void tile_q4_0(const uint8_t* w, int64_t ws, int64_t n_rows, const BlockQ8* x, int64_t xs, int64_t n_tok, int64_t K,
               float* out, int64_t os) {
  tile_q8_drive<MicroQ4_0, 4, 4>(w, ws, n_rows, x, xs, n_tok, K, out, os);
}
void tile_q8_0(const uint8_t* w, int64_t ws, int64_t n_rows, const BlockQ8* x, int64_t xs, int64_t n_tok, int64_t K,
               float* out, int64_t os) {
  tile_q8_drive<MicroQ8_0, 4, 4>(w, ws, n_rows, x, xs, n_tok, K, out, os);
}

}  // namespace

void fill_table(KernelTable* t) {
  t->tile_q8[static_cast<int>(DType::kQ4_0)] = tile_q4_0;
  t->tile_q8[static_cast<int>(DType::kQ8_0)] = tile_q8_0;
}

}  // namespace herd::kernels::avx512vnni
