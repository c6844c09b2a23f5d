// AVX2 integer dots on Q8-quantized activations (the q8 path of
// kernel_table.h): activation quantization, and Q8_0 / Q4_0 tile kernels
// built on vpmaddubsw (u8 x s8 -> s16 pairs) + vpmaddwd (-> 8 int32 lanes).
//
//   Q4_0: nibbles q in [0, 15] are the u8 operand unchanged; sum (q-8) x =
//         sum q x - 8 s, subtracted as s from each of the 8 lanes. No s16
//         saturation: 2 * 15 * 127 < 2^15.
//   Q8_0: |w| is the u8 operand and sign(x, w) the s8 one (vpsignb), so
//         products stay exact: 2 * 128 * 127 < 2^15.
// Per block and (row, token): lanes -> f32 (exact, |lane| < 2^24) -> one FMA
// with the f32 scale product d_w * d_x into an 8-lane accumulator; one fixed
// horizontal sum at the end. Compiled with -mavx2 -mfma -mf16c only.
#include <immintrin.h>

#include <cstring>

#include "kernels/kernel_table.h"
#include "kernels/tile_q8.h"

namespace herd::kernels::avx2 {
namespace {

inline float hsum(__m256 v) {
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

void quantize_q8(const float* x, BlockQ8* y, int64_t K) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t b = 0; b < K / 32; ++b, x += 32) {
    __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
    __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
    __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                             _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
    const float amax = _mm_cvtss_f32(h);
    const float d = amax / 127.0f;
    const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
    // cvtps rounds with MXCSR's default mode, nearest-even (as the reference).
    __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, id)), i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, id));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, id)), i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, id));
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    p = _mm256_permutevar8x32_epi32(p, order);
    y[b].d = d;
    y[b].s = _mm_cvtsi128_si32(s4);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs), p);
  }
}

struct MicroQ4_0 {
  template <int R, int TT>
  static void run(const uint8_t* w, int64_t ws, const BlockQ8* x, int64_t xs, int64_t nb, float* out, int64_t os) {
    const __m128i mask = _mm_set1_epi8(0x0f);
    const __m256i ones = _mm256_set1_epi16(1);
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
        const __m256i corr = _mm256_set1_epi32(xb.s);
        const __m256 dx = _mm256_set1_ps(xb.d);
        #pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
          __m256i lanes = _mm256_madd_epi16(_mm256_maddubs_epi16(q[r], xv), ones);
          lanes = _mm256_sub_epi32(lanes, corr);
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
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[R][TT];
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
      #pragma GCC unroll 16
      for (int t = 0; t < TT; ++t) acc[r][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      __m256i q[R], aq[R];
      __m256 dw[R];
      #pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const uint8_t* p = w + r * ws + b * 34;
        dw[r] = _mm256_set1_ps(load_f16(p));
        q[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2));
        aq[r] = _mm256_abs_epi8(q[r]);
      }
      #pragma GCC unroll 16
      for (int t = 0; t < TT; ++t) {
        const BlockQ8& xb = x[t * xs + b];
        const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.qs));
        const __m256 dx = _mm256_set1_ps(xb.d);
        #pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
          const __m256i lanes = _mm256_madd_epi16(_mm256_maddubs_epi16(aq[r], _mm256_sign_epi8(xv, q[r])), ones);
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

// 16 ymm registers: 2 rows x 2 tokens of accumulators plus the unpacked rows.
void tile_q4_0(const uint8_t* w, int64_t ws, int64_t n_rows, const BlockQ8* x, int64_t xs, int64_t n_tok, int64_t K,
               float* out, int64_t os) {
  tile_q8_drive<MicroQ4_0, 2, 2>(w, ws, n_rows, x, xs, n_tok, K, out, os);
}
void tile_q8_0(const uint8_t* w, int64_t ws, int64_t n_rows, const BlockQ8* x, int64_t xs, int64_t n_tok, int64_t K,
               float* out, int64_t os) {
  tile_q8_drive<MicroQ8_0, 2, 2>(w, ws, n_rows, x, xs, n_tok, K, out, os);
}

}  // namespace

void fill_table_q8(KernelTable* t) {
  t->quantize_q8 = quantize_q8;
  t->tile_q8[static_cast<int>(DType::kQ4_0)] = tile_q4_0;
  t->tile_q8[static_cast<int>(DType::kQ8_0)] = tile_q8_0;
}

}  // namespace herd::kernels::avx2
