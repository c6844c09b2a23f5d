// AVX-512 attention_rows (kernels/ops.h gives the arithmetic it follows):
// the g query heads of one GQA group scored, softmaxed and summed over the
// keys together, so each key and value row is loaded once for the group.
//
//   scores: for 16 keys at a time, each query row forms one 16-lane partial
//     dot vector per key (hd / 16 FMAs) and the 16 vectors are reduced
//     together by a transpose-and-add tree (45 shuffles/adds for 16 dots
//     instead of a horizontal sum each); then the f32 multiply by scale.
//   softmax: exp in f32 by exp_ps below (within 3 u of the exact value, tested
//     in kernels_test.cpp's ExpPsWithinBound), the sum in double lanes.
//   values: out += fl(e_j * inv) v_j for 4 rows x 64 columns held in 16 zmm
//     accumulators, each v_j chunk loaded once for the 4 rows.
// Prefill runs the same arithmetic for a tile of consecutive tokens at once
// (attn_tokens, kernels/ops.h attention): key blocks outermost, each block's
// f16 or q8_0 rows widened to f32 once for the tile instead of converted once
// per token and row.
// Keys and values are f32, f16 or q8_0 (each its own template parameter, a
// row loader below): f16 rows are widened with vcvtph2ps as they are loaded
// and q8_0 elements become fl(d) * q (both exact), so the arithmetic is the
// same as on f32 rows holding the same values, and an f16 cache reads half
// the bytes, a q8_0 cache 0.27 of them.
// hd must be a multiple of 64 and paged blocks a multiple of 16 rows
// (attention_rows checks and otherwise takes the generic path).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "base/check.h"
#include "kernels/attention_tokens_walk_inl.h"
#include "kernels/count_dispatch_inl.h"
#include "kernels/kernel_table.h"
#include "kernels/simd_x86_inl.h"

namespace herd::kernels::avx512 {
namespace {

// exp(x) for f32 x <= 0 (and -inf): Cephes' expf polynomial on
// r = x - n ln2 (|r| <= ln2 / 2, ln2 split hi + lo), scaled by 2^n with
// vscalefps (which also underflows to 0 correctly).
inline __m512 exp_ps(__m512 x) {
  const __m512 lo = _mm512_set1_ps(-104.0f);  // exp(-104) < the least f32 subnormal
  x = _mm512_max_ps(x, lo);                   // also maps -inf to -104
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  const __m512 r2 = _mm512_mul_ps(r, r);
  const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(p, r2, r), _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(y, n);
}

// v[0..15] -> lanes: out[i] = sum of the 16 lanes of v[i].
// Level 1 pairs 256-bit halves, level 2 128-bit lanes, level 3 within 128 bits;
// the result's lane 4L + m holds v[4m + L], so callers feed v in that order
// (see key_of below) to get lanes in key order.
inline __m512 reduce16(const __m512* v) {
  __m512 c[8], e[4];
  for (int i = 0; i < 8; ++i)
    c[i] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0x44),
                         _mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0xEE));
  for (int i = 0; i < 4; ++i)
    e[i] = _mm512_add_ps(_mm512_shuffle_f32x4(c[2 * i], c[2 * i + 1], 0x88),
                         _mm512_shuffle_f32x4(c[2 * i], c[2 * i + 1], 0xDD));
  const __m512 f0 = _mm512_add_ps(_mm512_unpacklo_ps(e[0], e[1]), _mm512_unpackhi_ps(e[0], e[1]));
  const __m512 f1 = _mm512_add_ps(_mm512_unpacklo_ps(e[2], e[3]), _mm512_unpackhi_ps(e[2], e[3]));
  return _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(f0), _mm512_castps_pd(f1))),
                       _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(f0), _mm512_castps_pd(f1))));
}

// Row loaders: elements c0..c0+63 of a cache row as f32 in x0..x3 (c0 a
// multiple of 64), and the bytes of n elements. (Named registers, not an
// array, which GCC may keep on the stack: see attention_avx2.cpp.)
struct F32Rows {
  static void load64(const uint8_t* row, int64_t c0, __m512& x0, __m512& x1, __m512& x2, __m512& x3) {
    const float* p = reinterpret_cast<const float*>(row) + c0;
    x0 = _mm512_loadu_ps(p);
    x1 = _mm512_loadu_ps(p + 16);
    x2 = _mm512_loadu_ps(p + 32);
    x3 = _mm512_loadu_ps(p + 48);
  }
  static constexpr int64_t bytes(int64_t n) { return 4 * n; }
};
struct F16Rows {
  static __m512 cvt(const uint8_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static void load64(const uint8_t* row, int64_t c0, __m512& x0, __m512& x1, __m512& x2, __m512& x3) {
    const uint8_t* p = row + 2 * c0;
    x0 = cvt(p);
    x1 = cvt(p + 32);
    x2 = cvt(p + 64);
    x3 = cvt(p + 96);
  }
  static constexpr int64_t bytes(int64_t n) { return 2 * n; }
};
// Q8_0 blocks of 34 bytes (f16 d, int8 q[32]), two per 64 elements:
// fl(d) * q, exact in f32 (an 11-bit significand times a 7-bit integer).
struct Q8Rows {
  static __m512 scale(const uint8_t* b) {
    return _mm512_set1_ps(load_f16(b));
  }
  static __m512 cvt(__m512 d, const uint8_t* p) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)));
  }
  static void load64(const uint8_t* row, int64_t c0, __m512& x0, __m512& x1, __m512& x2, __m512& x3) {
    const uint8_t* b = row + c0 / 32 * 34;
    const __m512 d0 = scale(b), d1 = scale(b + 34);
    x0 = cvt(d0, b + 2);
    x1 = cvt(d0, b + 18);
    x2 = cvt(d1, b + 36);
    x3 = cvt(d1, b + 52);
  }
  static constexpr int64_t bytes(int64_t n) { return n / 32 * 34; }
};

// The key (0..15 within a block) whose partial goes into reduce16's v[i].
constexpr int key_of(int i) { return 4 * (i % 4) + i / 4; }

// Scores of one row against keys j0..j0+nk-1 (nk <= 16, all in one
// contiguous run starting at k0, stride bytes apart), times scale, into s[0..nk).
template <typename KL>
inline void score_block(const float* q, int64_t hd, const uint8_t* k0, int64_t stride, int nk, float scale,
                        float* s) {
  // The 16 keys' chains side by side (each over the columns in order, so
  // each key's bits are those of its chain alone), the query chunk loaded
  // once for all of them.
  __m512 v[16];
  #pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) v[i] = _mm512_setzero_ps();
  for (int64_t c0 = 0; c0 < hd; c0 += 64) {
    const __m512 q0 = _mm512_loadu_ps(q + c0), q1 = _mm512_loadu_ps(q + c0 + 16);
    const __m512 q2 = _mm512_loadu_ps(q + c0 + 32), q3 = _mm512_loadu_ps(q + c0 + 48);
    #pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) {
      const int key = key_of(i);
      if (key < nk) {
        __m512 x0, x1, x2, x3;
        KL::load64(k0 + key * stride, c0, x0, x1, x2, x3);
        v[i] = _mm512_fmadd_ps(q0, x0, v[i]);
        v[i] = _mm512_fmadd_ps(q1, x1, v[i]);
        v[i] = _mm512_fmadd_ps(q2, x2, v[i]);
        v[i] = _mm512_fmadd_ps(q3, x3, v[i]);
      }
    }
  }
  const __m512 d = _mm512_mul_ps(reduce16(v), _mm512_set1_ps(scale));
  _mm512_mask_storeu_ps(s, static_cast<__mmask16>((1u << nk) - 1), d);
}

// acc[r][c] += p[r * ps + j0 + jj] * v_{j0+jj}[c0 + 16 c ..] for the nk value
// rows at v0 (stride bytes apart), keys in order: the value chains of
// values_chunk (decode, registers across all keys) and values_block (the
// prefill tile, through out between blocks).
template <int RR, typename VL>
inline void add_value_rows(__m512 (&acc)[RR][4], const float* p, int64_t ps, int64_t j0, const uint8_t* v0,
                           int64_t stride, int nk, int64_t c0) {
  for (int jj = 0; jj < nk; ++jj) {
    __m512 x0, x1, x2, x3;
    VL::load64(v0 + jj * stride, c0, x0, x1, x2, x3);
#pragma GCC unroll 4
    for (int r = 0; r < RR; ++r) {
      const __m512 w = _mm512_set1_ps(p[r * ps + j0 + jj]);
      acc[r][0] = _mm512_fmadd_ps(w, x0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(w, x1, acc[r][1]);
      acc[r][2] = _mm512_fmadd_ps(w, x2, acc[r][2]);
      acc[r][3] = _mm512_fmadd_ps(w, x3, acc[r][3]);
    }
  }
}

// out[rows][64-column chunk c0] += sum_j p[r][j] v_j[c0..c0+63] for RR rows.
template <int RR, typename VL>
void values_chunk(const float* p, int64_t n, const KvRows& kv, int64_t c0, float* out, int64_t hd) {
  __m512 acc[RR][4];
#pragma GCC unroll 4
  for (int r = 0; r < RR; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) acc[r][c] = _mm512_setzero_ps();
  for (int64_t j0 = 0; j0 < n; j0 += 16) {
    const int nk = static_cast<int>(n - j0 < 16 ? n - j0 : 16);
    const uint8_t* v0 = kv.v_row(j0);
    if (j0 + 16 < n)
      prefetch_rows(kv.v_row(j0 + 16) + VL::bytes(c0), kv.v_stride, n - j0 - 16 < 16 ? n - j0 - 16 : 16, VL::bytes(64));
    add_value_rows<RR, VL>(acc, p, n, j0, v0, kv.v_stride, nk, c0);
  }
#pragma GCC unroll 4
  for (int r = 0; r < RR; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) _mm512_storeu_ps(out + r * hd + c0 + 16 * c, acc[r][c]);
}

// Row s[0..n): s = fl(exp(s - max) * fl(1 / sum)), the sum in double lanes.
void softmax_row(float* s, int64_t n) {
  __m512 mx = _mm512_set1_ps(-INFINITY);
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) mx = _mm512_max_ps(mx, _mm512_loadu_ps(s + j));
  const __mmask16 tail = static_cast<__mmask16>((1u << (n - j)) - 1);
  mx = _mm512_mask_max_ps(mx, tail, mx, _mm512_maskz_loadu_ps(tail, s + j));
  const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
  __m512d sum0 = _mm512_setzero_pd(), sum1 = _mm512_setzero_pd();
  for (j = 0; j + 16 <= n; j += 16) {
    const __m512 e = exp_ps(_mm512_sub_ps(_mm512_loadu_ps(s + j), m));
    _mm512_storeu_ps(s + j, e);
    sum0 = _mm512_add_pd(sum0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
    sum1 = _mm512_add_pd(sum1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
  }
  if (j < n) {
    const __m512 e = _mm512_maskz_mov_ps(tail, exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, s + j), m)));
    _mm512_mask_storeu_ps(s + j, tail, e);
    sum0 = _mm512_add_pd(sum0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
    sum1 = _mm512_add_pd(sum1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
  }
  const __m512 inv = _mm512_set1_ps(static_cast<float>(1.0 / _mm512_reduce_add_pd(_mm512_add_pd(sum0, sum1))));
  for (j = 0; j + 16 <= n; j += 16) _mm512_storeu_ps(s + j, _mm512_mul_ps(_mm512_loadu_ps(s + j), inv));
  if (j < n) _mm512_mask_storeu_ps(s + j, tail, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, s + j), inv));
}

template <typename KL, typename VL>
void attn_rows_t(const float* q, int64_t g, int64_t hd, const KvRows& kv, int64_t n, float scale, float* scratch,
                 float* out) {
  // Scores: key blocks of 16 (a paged block holds a whole number of them).
  // The rows of one KV head are strided (every KV head's row in between), too
  // irregular for the hardware prefetcher at long context: prefetch the next
  // block's 16 rows while this one is scored.
  for (int64_t j0 = 0; j0 < n; j0 += 16) {
    const int nk = static_cast<int>(n - j0 < 16 ? n - j0 : 16);
    const uint8_t* k0 = kv.k_row(j0);
    if (j0 + 16 < n) prefetch_rows(kv.k_row(j0 + 16), kv.k_stride, n - j0 - 16 < 16 ? n - j0 - 16 : 16, KL::bytes(hd));
    for (int64_t r = 0; r < g; ++r)
      score_block<KL>(q + r * hd, hd, k0, kv.k_stride, nk, scale, scratch + r * n + j0);
  }
  // Softmax per row: max, exp, sum in double, then the weights fl(e * inv).
  for (int64_t r = 0; r < g; ++r) softmax_row(scratch + r * n, n);
  // Values: up to 4 rows x 64 columns per pass over the value rows.
  for (int64_t c0 = 0; c0 < hd; c0 += 64) {
    int64_t r = 0;
    for (; r + 4 <= g; r += 4) values_chunk<4, VL>(scratch + r * n, n, kv, c0, out + r * hd, hd);
    switch (g - r) {
      case 3: values_chunk<3, VL>(scratch + r * n, n, kv, c0, out + r * hd, hd); break;
      case 2: values_chunk<2, VL>(scratch + r * n, n, kv, c0, out + r * hd, hd); break;
      case 1: values_chunk<1, VL>(scratch + r * n, n, kv, c0, out + r * hd, hd); break;
      default: break;
    }
  }
}

// values_chunk's arithmetic for one block of nk keys starting at key j0:
// each output element's chain of FMAs continues from where the previous
// block left it in out (the walk zeroes out first), so the blocks in order
// give the bits of one values_chunk pass over all keys. p: row 0's weights, the RR
// rows ps floats apart; v0: key j0's value row, the next ones stride bytes on.
template <int RR, typename VL>
void values_block(const float* p, int64_t ps, int64_t j0, const uint8_t* v0, int64_t stride, int nk, int64_t c0,
                  float* out, int64_t hd) {
  __m512 acc[RR][4];
#pragma GCC unroll 4
  for (int r = 0; r < RR; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) acc[r][c] = _mm512_loadu_ps(out + r * hd + c0 + 16 * c);
  add_value_rows<RR, VL>(acc, p, ps, j0, v0, stride, nk, c0);
#pragma GCC unroll 4
  for (int r = 0; r < RR; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) _mm512_storeu_ps(out + r * hd + c0 + 16 * c, acc[r][c]);
}

// The nk rows at rows (stride bytes apart) as f32 into buf[nk][hd] (exact).
template <typename L>
void widen_block(const uint8_t* rows, int64_t stride, int nk, int64_t hd, float* buf) {
  for (int i = 0; i < nk; ++i)
    for (int64_t c0 = 0; c0 < hd; c0 += 64) {
      __m512 x0, x1, x2, x3;
      L::load64(rows + i * stride, c0, x0, x1, x2, x3);
      float* o = buf + i * hd + c0;
      _mm512_storeu_ps(o, x0);
      _mm512_storeu_ps(o + 16, x1);
      _mm512_storeu_ps(o + 32, x2);
      _mm512_storeu_ps(o + 48, x3);
    }
}

constexpr int64_t kMaxWidenHd = 256;  // a widened block: 16 rows x 256 floats = 16 KB

// This file's kernels for the shared prefill walk (attention_tokens_walk_inl.h):
// blocks of 16 keys; the same score_block and softmax_row as attn_rows and
// values_block continuing values_chunk's chains, so each token of a tile gets
// attn_rows' bits.
struct Kernels {
  static constexpr int64_t kBlock = 16;
  using F32 = F32Rows;
  using F16 = F16Rows;
  using Q8 = Q8Rows;
  template <typename L>
  static void widen(const uint8_t* rows, int64_t stride, int nk, int64_t hd, float* buf) {
    widen_block<L>(rows, stride, nk, hd, buf);
  }
  template <typename L>
  static void score(const float* q, int64_t hd, const uint8_t* k0, int64_t stride, int nk, float scale, float* s) {
    score_block<L>(q, hd, k0, stride, nk, scale, s);
  }
  static void softmax(float* s, int64_t n) { softmax_row(s, n); }
  // The g rows, 64 columns and up to 4 rows at a time.
  template <typename L>
  static void values(const float* p, int64_t ps, int64_t j0, const uint8_t* v0, int64_t stride, int nk, int64_t g,
                     float* out, int64_t hd) {
    for (int64_t c0 = 0; c0 < hd; c0 += 64) {
      int64_t r = 0;
      auto run = [&](auto rr) {
        values_block<decltype(rr)::value, L>(p + r * ps, ps, j0, v0, stride, nk, c0, out + r * hd, hd);
      };
      for (; r + 4 <= g; r += 4) run(std::integral_constant<int, 4>{});
      dispatch_count<3>(g - r, run);
    }
  }
};

// B consecutive tokens (AttnTokensFn, prefill; decode keeps attn_rows, whose
// value chains stay in registers over all keys): f16 and q8_0 blocks widened
// to f32 once per tile (exact).
template <typename KL, typename VL>
void attn_tokens_t(const float* q, int64_t qs, int64_t B, int64_t g, int64_t hd, const KvRows& kv, int64_t n0,
                   float scale, float* scratch, float* out, int64_t os) {
  const bool widen_k = hd <= kMaxWidenHd && !std::is_same_v<KL, F32Rows>;
  const bool widen_v = hd <= kMaxWidenHd && !std::is_same_v<VL, F32Rows>;
  alignas(64) float buf[16 * kMaxWidenHd];
  attn_tokens_walk<Kernels, KL, VL>(q, qs, B, g, hd, kv, n0, scale, scratch, out, os, widen_k, widen_v, buf);
}

void attn_tokens(const float* q, int64_t qs, int64_t B, int64_t g, int64_t hd, const KvRows& kv, int64_t n0,
                 float scale, float* scratch, float* out, int64_t os) {
  with_kv_loaders<Kernels>(kv.kt, kv.vt, [&](auto kl, auto vl) {
    attn_tokens_t<decltype(kl), decltype(vl)>(q, qs, B, g, hd, kv, n0, scale, scratch, out, os);
  });
}

void attn_rows(const float* q, int64_t g, int64_t hd, const KvRows& kv, int64_t n, float scale, float* scratch,
               float* out) {
  with_kv_loaders<Kernels>(kv.kt, kv.vt, [&](auto kl, auto vl) {
    attn_rows_t<decltype(kl), decltype(vl)>(q, g, hd, kv, n, scale, scratch, out);
  });
}

// kernel_table.h AttnBackwardRowsFn: per block of 16 keys, each row's scores
// and dots go_h . v_j by score_block (the transpose-and-add tree), then key by
// key: dk_j and dv_j held in registers while the G rows update them.
template <int V>  // hd / 16
void backward_rows(const float* q, const float* go, const float* d, const double* l, int64_t G, float scale,
                   const float* k, const float* v, int64_t stride, int64_t n, float* dq, float* dk, float* dv) {
  constexpr int64_t hd = 16 * V;
  constexpr int64_t kMaxRows = 16;
  HERD_CHECK(G <= kMaxRows, "attn_backward_rows: %lld rows share a KV head (at most %lld)", static_cast<long long>(G),
             static_cast<long long>(kMaxRows));
  std::fill(dq, dq + G * hd, 0.0f);
  alignas(64) float s[kMaxRows][16], dp[kMaxRows][16];
  const auto* kb = reinterpret_cast<const uint8_t*>(k);
  const auto* vb = reinterpret_cast<const uint8_t*>(v);
  const int64_t bytes = stride * static_cast<int64_t>(sizeof(float));
  for (int64_t j0 = 0; j0 < n; j0 += 16) {
    const int nk = static_cast<int>(std::min<int64_t>(16, n - j0));
    for (int64_t h = 0; h < G; ++h) {
      score_block<F32Rows>(q + h * hd, hd, kb + j0 * bytes, bytes, nk, scale, s[h]);
      score_block<F32Rows>(go + h * hd, hd, vb + j0 * bytes, bytes, nk, 1.0f, dp[h]);
    }
    for (int jj = 0; jj < nk; ++jj) {
      const int64_t off = (j0 + jj) * stride;
      __m512 kj[V], dkj[V], dvj[V];
      for (int c = 0; c < V; ++c) {
        kj[c] = _mm512_loadu_ps(k + off + 16 * c);
        dkj[c] = _mm512_loadu_ps(dk + off + 16 * c);
        dvj[c] = _mm512_loadu_ps(dv + off + 16 * c);
      }
      for (int64_t h = 0; h < G; ++h) {
        const float p = static_cast<float>(std::exp(static_cast<double>(s[h][jj]) - l[h]));
        const __m512 a = _mm512_set1_ps(scale * (p * (dp[h][jj] - d[h]))), pv = _mm512_set1_ps(p);
        float* dqh = dq + h * hd;
        for (int c = 0; c < V; ++c) {
          _mm512_storeu_ps(dqh + 16 * c, _mm512_fmadd_ps(a, kj[c], _mm512_loadu_ps(dqh + 16 * c)));
          dkj[c] = _mm512_fmadd_ps(a, _mm512_loadu_ps(q + h * hd + 16 * c), dkj[c]);
          dvj[c] = _mm512_fmadd_ps(pv, _mm512_loadu_ps(go + h * hd + 16 * c), dvj[c]);
        }
      }
      for (int c = 0; c < V; ++c) {
        _mm512_storeu_ps(dk + off + 16 * c, dkj[c]);
        _mm512_storeu_ps(dv + off + 16 * c, dvj[c]);
      }
    }
  }
}

void attn_backward_rows(const float* q, const float* go, const float* d, const double* l, int64_t G, float scale,
                        const float* k, const float* v, int64_t stride, int64_t n, int64_t hd, float* dq, float* dk,
                        float* dv) {
  switch (hd) {
    case 64: backward_rows<4>(q, go, d, l, G, scale, k, v, stride, n, dq, dk, dv); return;
    case 128: backward_rows<8>(q, go, d, l, G, scale, k, v, stride, n, dq, dk, dv); return;
    default:
      HERD_CHECK(false, "attn_backward_rows: hd %lld (64 or 128 here; the caller takes the generic loop otherwise)",
                 static_cast<long long>(hd));
  }
}

}  // namespace

void fill_table_attention(KernelTable* t) {
  t->attn_rows = attn_rows;
  t->attn_backward_rows = attn_backward_rows;
  t->attn_tokens = attn_tokens;
  t->attn_hd_multiple = 64;
  t->attn_block_multiple = 16;
}

void exp16_for_test(const float* x, float* y) { _mm512_storeu_ps(y, exp_ps(_mm512_loadu_ps(x))); }

}  // namespace herd::kernels::avx512
