// AVX-512 VNNI integer dots on Q8-quantized activations (the q8 path of
// kernel_table.h): Q8_0, Q4_0, Q6_K and Q4_K tile kernels built on 256-bit vpdpbusd
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
// Every micro-kernel prefetches, per row and block, the same block R rows on
// (the next row tile): R interleaved row streams of a few KB are too short for
// the hardware prefetcher, and without this decode was latency-bound (1B Q8_0,
// 1 thread: 8.9 -> 25 tok/s; docs/kernels.md).
// Compiled with the AVX-512 flags plus -mavx512vnni; select_kernels() uses it
// only when the CPU reports AVX512_VNNI.
#include <immintrin.h>

#include <cstring>

#include "kernels/kernel_table.h"
#include "kernels/simd_x86_inl.h"
#include "kernels/tile_q8.h"

namespace herd::kernels::avx512vnni {
namespace {

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
        _mm_prefetch(reinterpret_cast<const char*>(p + R * ws), _MM_HINT_T0);  // the next row tile
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
        _mm_prefetch(reinterpret_cast<const char*>(p + R * ws), _MM_HINT_T0);  // the next row tile
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

// Q6_K (kernels_ref.cpp, weight_block_ints<kQ6_K>): 6-bit q in [0, 63] is the
// u8 operand; sum (q-32) x per lane = sum q x - 32 * (the lane's sum of x),
// the lane sums of x (one vpdpbusd with ones) shared by every row of the tile.
// Lanes 0-3 hold elements 0-15 of the block, lanes 4-7 elements 16-31, so the
// two sub-block scales d * sc become one f32 vector per row and block.
// Exact: |lane| <= 4 * 63 * 127 + 32 * 4 * 127.
struct MicroQ6_K {
  template <int R, int TT>
  static void run(const uint8_t* w, int64_t ws, const BlockQ8* x, int64_t xs, int64_t nb, float* out, int64_t os) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(3), ones = _mm256_set1_epi8(1);
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
        const __m256i sx = _mm256_dpbusd_epi32(_mm256_setzero_si256(), ones, xv);
        const __m256i start = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(sx, 5));
        const __m256 dx = _mm256_set1_ps(xb.d);
        #pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
          const __m256i lanes = _mm256_dpbusd_epi32(start, q[r], xv);
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
    const __m256i m4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi8(1);
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
        const __m256 sx = _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), ones, xv));
        const __m256 dx = _mm256_set1_ps(xb.d);
        #pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
          const __m256i lanes = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q[r], xv);
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

// 32 ymm registers: 4 rows x 4 tokens of accumulators plus 4 unpacked rows and
// their scales (objdump: no spill). Q6_K / Q4_K carry a scale (and min) vector
// per row as well, so they use 4 x 3: at 4 x 4 GCC spilled five accumulators.
void tile_q4_0(const uint8_t* w, int64_t ws, int64_t n_rows, const BlockQ8* x, int64_t xs, int64_t n_tok, int64_t K,
               float* out, int64_t os) {
  tile_q8_drive<MicroQ4_0, 4, 4>(w, ws, n_rows, x, xs, n_tok, K, out, os);
}
void tile_q8_0(const uint8_t* w, int64_t ws, int64_t n_rows, const BlockQ8* x, int64_t xs, int64_t n_tok, int64_t K,
               float* out, int64_t os) {
  tile_q8_drive<MicroQ8_0, 4, 4>(w, ws, n_rows, x, xs, n_tok, K, out, os);
}

void tile_q6_k(const uint8_t* w, int64_t ws, int64_t n_rows, const BlockQ8* x, int64_t xs, int64_t n_tok, int64_t K,
               float* out, int64_t os) {
  tile_q8_drive<MicroQ6_K, 4, 3>(w, ws, n_rows, x, xs, n_tok, K, out, os);
}

void tile_q4_k(const uint8_t* w, int64_t ws, int64_t n_rows, const BlockQ8* x, int64_t xs, int64_t n_tok, int64_t K,
               float* out, int64_t os) {
  tile_q8_drive<MicroQ4_K, 4, 3>(w, ws, n_rows, x, xs, n_tok, K, out, os);
}

}  // namespace

void fill_table(KernelTable* t) {
  t->tile_q8[static_cast<int>(DType::kQ4_0)] = tile_q4_0;
  t->tile_q8[static_cast<int>(DType::kQ8_0)] = tile_q8_0;
  t->tile_q8[static_cast<int>(DType::kQ6_K)] = tile_q6_k;
  t->tile_q8[static_cast<int>(DType::kQ4_K)] = tile_q4_k;
}

}  // namespace herd::kernels::avx512vnni
