// AVX2 integer dots on Q8-quantized activations (the q8 path of
// kernel_table.h): activation quantization, and Q8_0 / Q4_0 / Q6_K / Q4_K tile kernels
// built on vpmaddubsw (u8 x s8 -> s16 pairs) + vpmaddwd (-> 8 int32 lanes).
//
//   Q4_0: nibbles q in [0, 15] are the u8 operand unchanged; sum (q-8) x =
//         sum q x - 8 s, subtracted as s from each of the 8 lanes. No s16
//         saturation: 2 * 15 * 127 < 2^15.
//   Q8_0: |w| is the u8 operand and sign(x, w) the s8 one (vpsignb), so
//         products stay exact: 2 * 128 * 127 < 2^15.
// Per block and (row, token): lanes -> f32 (exact, |lane| < 2^24) -> one FMA
// with the f32 scale product d_w * d_x into an 8-lane accumulator; one fixed
// horizontal sum at the end. Each micro-kernel prefetches the next row tile
// (see kernels_avx512vnni.cpp). Compiled with -mavx2 -mfma -mf16c only.
#include <immintrin.h>

#include <cstring>

#include "kernels/kernel_table.h"
#include "kernels/simd_x86_inl.h"
#include "kernels/tile_q8.h"

namespace herd::kernels::avx2 {
namespace {

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
    y[b].ds = d * static_cast<float>(y[b].s);
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
        _mm_prefetch(reinterpret_cast<const char*>(p + R * ws), _MM_HINT_T0);  // the next row tile
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
        _mm_prefetch(reinterpret_cast<const char*>(p + R * ws), _MM_HINT_T0);  // the next row tile
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

// Q6_K (kernels_ref.cpp, weight_block_ints<kQ6_K>): 6-bit q in [0, 63] is the
// u8 operand (no s16 saturation: 2 * 63 * 127 < 2^15); sum (q-32) x per lane =
// sum q x - 32 * (the lane's sum of x), the lane sums of x shared by every row
// of the tile.
// Lanes 0-3 hold elements 0-15 of the block, lanes 4-7 elements 16-31, so the
// two sub-block scales d * sc become one f32 vector per row and block.
// Exact: |lane| <= 4 * 63 * 127 + 32 * 4 * 127.
struct MicroQ6_K {
  template <int R, int TT>
  static void run(const uint8_t* w, int64_t ws, const BlockQ8* x, int64_t xs, int64_t nb, float* out, int64_t os) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(3), ones = _mm256_set1_epi8(1);
    const __m256i ones16 = _mm256_set1_epi16(1);
    __m256 acc[R][TT];
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
      #pragma GCC unroll 16
      for (int t = 0; t < TT; ++t) acc[r][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const int k = static_cast<int>(b & 7), n = k >> 2, g = k & 3;
      const __m128i lo_shift = _mm_cvtsi32_si128(4 * (g >> 1)), hi_shift = _mm_cvtsi32_si128(2 * g);
      __m256i q[R];
      __m256 dsc[R];
      #pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const uint8_t* sb = w + r * ws + (b >> 3) * 210;
        _mm_prefetch(reinterpret_cast<const char*>(sb + R * ws + 32 * k), _MM_HINT_T0);  // the next row tile
        const __m256i ql = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 64 * n + 32 * (g & 1)));
        const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 128 + 32 * n));
        q[r] = _mm256_or_si256(_mm256_and_si256(_mm256_srl_epi16(ql, lo_shift), m4),
                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh, hi_shift), m2), 4));
        const float d = load_f16(sb + 208);
        const int8_t* sc = reinterpret_cast<const int8_t*>(sb + 192) + 8 * n + 2 * g;
        dsc[r] = _mm256_set_m128(_mm_set1_ps(d * static_cast<float>(sc[1])), _mm_set1_ps(d * static_cast<float>(sc[0])));
      }
      #pragma GCC unroll 16
      for (int t = 0; t < TT; ++t) {
        const BlockQ8& xb = x[t * xs + b];
        const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.qs));
        const __m256i sx32 = _mm256_slli_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(ones, xv), ones16), 5);
        const __m256 dx = _mm256_set1_ps(xb.d);
        #pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
          const __m256i lanes = _mm256_sub_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(q[r], xv), ones16), sx32);
          acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lanes), _mm256_mul_ps(dsc[r], dx), acc[r][t]);
        }
      }
    }
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
      #pragma GCC unroll 16
      for (int t = 0; t < TT; ++t) out[t * os + r] = hsum(acc[r][t]);
  }
};

// Q4_K (kernels_ref.cpp, weight_block_ints<kQ4_K>): nibbles q in [0, 15] are
// the u8 operand; each lane gets fl(d sc d_x) * (sum q x) and then
// - fl(dmin m d_x) * (the lane's sum of x): two FMAs per block, the lane sums
// of x shared by every row of the tile. Exact ints: |lane| <= 4 * 15 * 127.
struct MicroQ4_K {
  template <int R, int TT>
  static void run(const uint8_t* w, int64_t ws, const BlockQ8* x, int64_t xs, int64_t nb, float* out, int64_t os) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    __m256 acc[R][TT];
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
      #pragma GCC unroll 16
      for (int t = 0; t < TT; ++t) acc[r][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const int k = static_cast<int>(b & 7);
      const __m128i shift = _mm_cvtsi32_si128(4 * (k & 1));
      __m256i q[R];
      __m256 dsc[R], dmn[R];
      #pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const uint8_t* sb = w + r * ws + (b >> 3) * 144;
        _mm_prefetch(reinterpret_cast<const char*>(sb + R * ws + 20 * k), _MM_HINT_T0);  // the next row tile
        q[r] = _mm256_and_si256(
            _mm256_srl_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 16 + 32 * (k >> 1))), shift), m4);
        const uint8_t* sc = sb + 4;
        int s, m;
        if (k < 4) {
          s = sc[k] & 63;
          m = sc[k + 4] & 63;
        } else {
          s = (sc[k + 4] & 0x0f) | ((sc[k - 4] >> 6) << 4);
          m = (sc[k + 4] >> 4) | ((sc[k] >> 6) << 4);
        }
        dsc[r] = _mm256_set1_ps(load_f16(sb) * static_cast<float>(s));
        dmn[r] = _mm256_set1_ps(load_f16(sb + 2) * static_cast<float>(m));
      }
      #pragma GCC unroll 16
      for (int t = 0; t < TT; ++t) {
        const BlockQ8& xb = x[t * xs + b];
        const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.qs));
        const __m256 sx = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(ones, xv), ones16));
        const __m256 dx = _mm256_set1_ps(xb.d);
        #pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
          const __m256i lanes = _mm256_madd_epi16(_mm256_maddubs_epi16(q[r], xv), ones16);
          const __m256 a = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lanes), _mm256_mul_ps(dsc[r], dx), acc[r][t]);
          acc[r][t] = _mm256_fnmadd_ps(sx, _mm256_mul_ps(dmn[r], dx), a);
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

void tile_q6_k(const uint8_t* w, int64_t ws, int64_t n_rows, const BlockQ8* x, int64_t xs, int64_t n_tok, int64_t K,
               float* out, int64_t os) {
  tile_q8_drive<MicroQ6_K, 2, 2>(w, ws, n_rows, x, xs, n_tok, K, out, os);
}

void tile_q4_k(const uint8_t* w, int64_t ws, int64_t n_rows, const BlockQ8* x, int64_t xs, int64_t n_tok, int64_t K,
               float* out, int64_t os) {
  tile_q8_drive<MicroQ4_K, 2, 2>(w, ws, n_rows, x, xs, n_tok, K, out, os);
}

}  // namespace

void fill_table_q8(KernelTable* t) {
  t->quantize_q8 = quantize_q8;
  t->tile_q8[static_cast<int>(DType::kQ4_0)] = tile_q4_0;
  t->tile_q8[static_cast<int>(DType::kQ8_0)] = tile_q8_0;
  t->tile_q8[static_cast<int>(DType::kQ6_K)] = tile_q6_k;
  t->tile_q8[static_cast<int>(DType::kQ4_K)] = tile_q4_k;
}

}  // namespace herd::kernels::avx2
