// AVX2 + FMA + F16C attention_rows (kernels/ops.h gives the arithmetic it
// follows), for CPUs without AVX-512: the g query heads of one GQA group are
// scored, softmaxed and summed over the keys together, each key and value row
// of a block held in L1 for the whole group.
//
//   scores: for 8 keys at a time, each query row forms one 8-lane partial dot
//     vector per key (hd / 8 FMAs) and the 8 vectors are reduced together by a
//     hadd tree (7 hadds, 2 lane permutes, 1 add for 8 dots); then the f32
//     multiply by scale. Each score's arithmetic depends only on its query and
//     key rows, never on g, n or the key's place in a block.
//   softmax: exp in f32 by exp_ps (exp_avx2_inl.h; tested within 2 u in kernels_test.cpp's
//     ExpPsWithinBound), the sum in double lanes.
//   values: out += fl(e_j * inv) v_j for 2 rows x 32 columns held in 8 ymm
//     accumulators (13 of the 16 registers with the 4 value loads and the
//     broadcast weight), each v_j chunk loaded once for both rows.
// Keys and values are f32, f16 or q8_0 (each its own template parameter, a
// row loader below); f16 rows are widened with vcvtph2ps as they are loaded
// and q8_0 elements become fl(d) * q (both exact), so every cache type runs
// the same f32 arithmetic on the values it holds.
// Prefill runs the same arithmetic for a tile of consecutive tokens at once
// (attn_tokens, kernels/ops.h attention): key blocks outermost, so a block's
// rows are read from the cache, and widened, once for the tile, not once per
// token.
// hd must be a multiple of 32 and paged blocks a multiple of 8 rows (the
// table says so; attention_rows otherwise takes the generic path).
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/attention_tokens_walk_inl.h"
#include "kernels/exp_avx2_inl.h"
#include "kernels/kernel_table.h"
#include "kernels/simd_x86_inl.h"

namespace herd::kernels::avx2 {
namespace {

// Row loaders: elements c0..c0+31 of a cache row as f32 in x0..x3 (c0 a
// multiple of 32), and the bytes of n elements. (Four named registers, not an
// array: GCC kept an array on the stack, and its 16-byte stores then 32-byte
// loads stalled on store forwarding.)
struct F32Rows {
  static void load32(const uint8_t* row, int64_t c0, __m256& x0, __m256& x1, __m256& x2, __m256& x3) {
    const float* p = reinterpret_cast<const float*>(row) + c0;
    x0 = _mm256_loadu_ps(p);
    x1 = _mm256_loadu_ps(p + 8);
    x2 = _mm256_loadu_ps(p + 16);
    x3 = _mm256_loadu_ps(p + 24);
  }
  static __m256 load8(const uint8_t* row, int64_t c) { return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + c); }
  static constexpr int64_t bytes(int64_t n) { return 4 * n; }
};
struct F16Rows {
  static __m256 cvt(const uint8_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static void load32(const uint8_t* row, int64_t c0, __m256& x0, __m256& x1, __m256& x2, __m256& x3) {
    const uint8_t* p = row + 2 * c0;
    x0 = cvt(p);
    x1 = cvt(p + 16);
    x2 = cvt(p + 32);
    x3 = cvt(p + 48);
  }
  static __m256 load8(const uint8_t* row, int64_t c) { return cvt(row + 2 * c); }
  static constexpr int64_t bytes(int64_t n) { return 2 * n; }
};
// Q8_0 blocks of 34 bytes (f16 d, int8 q[32]), one block per 32 elements:
// fl(d) * q, exact in f32 (an 11-bit significand times a 7-bit integer).
struct Q8Rows {
  static __m256 cvt(__m256 d, const uint8_t* p) {
    const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
    return _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)));
  }
  static void load32(const uint8_t* row, int64_t c0, __m256& x0, __m256& x1, __m256& x2, __m256& x3) {
    const uint8_t* b = row + c0 / 32 * 34;
    const __m256 d = _mm256_set1_ps(load_f16(b));
    x0 = cvt(d, b + 2);
    x1 = cvt(d, b + 10);
    x2 = cvt(d, b + 18);
    x3 = cvt(d, b + 26);
  }
  static __m256 load8(const uint8_t* row, int64_t c) {
    const uint8_t* b = row + c / 32 * 34;
    return cvt(_mm256_set1_ps(load_f16(b)), b + 2 + c % 32);
  }
  static constexpr int64_t bytes(int64_t n) { return n / 32 * 34; }
};

// v[0..7] -> lanes: out[i] = sum of the 8 lanes of v[i]. After two hadd
// levels u0 = [v0..v3 sums of lanes 0-3 | the same of lanes 4-7] (u1: v4..v7);
// the 128-bit halves then add across.
inline __m256 reduce8(const __m256* v) {
  const __m256 t0 = _mm256_hadd_ps(v[0], v[1]), t1 = _mm256_hadd_ps(v[2], v[3]);
  const __m256 t2 = _mm256_hadd_ps(v[4], v[5]), t3 = _mm256_hadd_ps(v[6], v[7]);
  const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

// Scores of one row against keys j0..j0+nk-1 (nk <= 8, all in one contiguous
// run starting at k0, stride bytes apart), times scale, into s[0..nk).
template <typename KL>
inline void score_block(const float* q, int64_t hd, const uint8_t* k0, int64_t stride, int nk, float scale,
                        float* s) {
  if (nk == 8) {
    // A full block: the same 8 FMA chains (one per key, over c in order), run
    // side by side so each q chunk is loaded once for the 8 keys (9 loads per
    // 8 FMAs instead of 16), the 8 partial vectors in registers.
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (int64_t c = 0; c < hd; c += 8) {
      const __m256 qc = _mm256_loadu_ps(q + c);
      a0 = _mm256_fmadd_ps(qc, KL::load8(k0, c), a0);
      a1 = _mm256_fmadd_ps(qc, KL::load8(k0 + stride, c), a1);
      a2 = _mm256_fmadd_ps(qc, KL::load8(k0 + 2 * stride, c), a2);
      a3 = _mm256_fmadd_ps(qc, KL::load8(k0 + 3 * stride, c), a3);
      a4 = _mm256_fmadd_ps(qc, KL::load8(k0 + 4 * stride, c), a4);
      a5 = _mm256_fmadd_ps(qc, KL::load8(k0 + 5 * stride, c), a5);
      a6 = _mm256_fmadd_ps(qc, KL::load8(k0 + 6 * stride, c), a6);
      a7 = _mm256_fmadd_ps(qc, KL::load8(k0 + 7 * stride, c), a7);
    }
    const __m256 v[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
    _mm256_storeu_ps(s, _mm256_mul_ps(reduce8(v), _mm256_set1_ps(scale)));
    return;
  }
  __m256 v[8];
  for (int i = 0; i < 8; ++i) {
    __m256 a = _mm256_setzero_ps();
    if (i < nk) {
      const uint8_t* kr = k0 + i * stride;
      for (int64_t c = 0; c < hd; c += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(q + c), KL::load8(kr, c), a);
    }
    v[i] = a;
  }
  const __m256 d = _mm256_mul_ps(reduce8(v), _mm256_set1_ps(scale));
  alignas(32) float tmp[8];
  _mm256_store_ps(tmp, d);
  std::memcpy(s, tmp, static_cast<size_t>(nk) * sizeof(float));
}

// out[r][c0..c0+31] += p[r][j] v_j[c0..c0+31] for RR rows r (hd apart in out
// and n apart in p) and the nk keys j0.. of one block (rows v0, stride bytes
// apart), in key order: the accumulators go through out between blocks, which
// changes nothing (f32 stored exactly), so each element is one FMA chain over
// the keys in order. A block's value rows stay in L1 for every chunk and row.
template <int RR, typename VL>
void values_block(const float* p, int64_t n, int64_t j0, const uint8_t* v0, int64_t stride, int nk, int64_t c0,
                  float* out, int64_t hd) {
  __m256 a0[RR], a1[RR], a2[RR], a3[RR];
  for (int r = 0; r < RR; ++r) {
    float* o = out + r * hd + c0;
    a0[r] = _mm256_loadu_ps(o);
    a1[r] = _mm256_loadu_ps(o + 8);
    a2[r] = _mm256_loadu_ps(o + 16);
    a3[r] = _mm256_loadu_ps(o + 24);
  }
  for (int jj = 0; jj < nk; ++jj) {
    __m256 x0, x1, x2, x3;
    VL::load32(v0 + jj * stride, c0, x0, x1, x2, x3);
    for (int r = 0; r < RR; ++r) {
      const __m256 w = _mm256_broadcast_ss(p + r * n + j0 + jj);
      a0[r] = _mm256_fmadd_ps(w, x0, a0[r]);
      a1[r] = _mm256_fmadd_ps(w, x1, a1[r]);
      a2[r] = _mm256_fmadd_ps(w, x2, a2[r]);
      a3[r] = _mm256_fmadd_ps(w, x3, a3[r]);
    }
  }
  for (int r = 0; r < RR; ++r) {
    float* o = out + r * hd + c0;
    _mm256_storeu_ps(o, a0[r]);
    _mm256_storeu_ps(o + 8, a1[r]);
    _mm256_storeu_ps(o + 16, a2[r]);
    _mm256_storeu_ps(o + 24, a3[r]);
  }
}

// All g rows' values_block over one block, 32 columns and up to 2 rows at a
// time.
template <typename VL>
void values_rows(const float* p, int64_t n, int64_t j0, const uint8_t* v0, int64_t stride, int nk, int64_t g,
                 float* out, int64_t hd) {
  for (int64_t c0 = 0; c0 < hd; c0 += 32) {
    int64_t r = 0;
    for (; r + 2 <= g; r += 2) values_block<2, VL>(p + r * n, n, j0, v0, stride, nk, c0, out + r * hd, hd);
    if (r < g) values_block<1, VL>(p + r * n, n, j0, v0, stride, nk, c0, out + r * hd, hd);
  }
}

// Widened blocks: q8_0 key and value blocks are converted to f32 once (into a
// stack buffer of 8 rows) and then read by every query row of the group,
// instead of once per row; the values are the same (the conversion is exact).
// Measured (kernels_bench attention, 1 thread, 4096 keys, hd 64, GQA 4):
// q8_0 2.44 -> 1.79 ms; f16, whose widening is one instruction, got slower
// (1.96 -> 2.2-2.4 ms), so it converts as it goes. Up to this head size;
// larger ones convert as they go.
constexpr int64_t kMaxWidenHd = 256;

// The nk rows at rows (stride bytes apart) as f32 into buf[nk][hd].
template <typename L>
void widen_block(const uint8_t* rows, int64_t stride, int nk, int64_t hd, float* buf) {
  for (int i = 0; i < nk; ++i)
    for (int64_t c0 = 0; c0 < hd; c0 += 32) {
      __m256 x0, x1, x2, x3;
      L::load32(rows + i * stride, c0, x0, x1, x2, x3);
      float* o = buf + i * hd + c0;
      _mm256_storeu_ps(o, x0);
      _mm256_storeu_ps(o + 8, x1);
      _mm256_storeu_ps(o + 16, x2);
      _mm256_storeu_ps(o + 24, x3);
    }
}

// Row s[0..n): s = fl(exp(s - max) * fl(1 / sum)), the sum in double.
void softmax_row(float* s, int64_t n) {
  __m256 mx = _mm256_set1_ps(-INFINITY);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(s + j));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, mx);
  float m = lanes[0];
  for (int i = 1; i < 8; ++i) m = lanes[i] > m ? lanes[i] : m;
  for (int64_t t = j; t < n; ++t) m = s[t] > m ? s[t] : m;
  const __m256 vm = _mm256_set1_ps(m);
  __m256d sum0 = _mm256_setzero_pd(), sum1 = _mm256_setzero_pd();
  auto add = [&](__m256 e) {
    sum0 = _mm256_add_pd(sum0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    sum1 = _mm256_add_pd(sum1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  };
  for (j = 0; j + 8 <= n; j += 8) {
    const __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(s + j), vm));
    _mm256_storeu_ps(s + j, e);
    add(e);
  }
  if (j < n) {  // the tail through a buffer padded with -inf (exp 0)
    alignas(32) float tail[8];
    const int64_t nt = n - j;
    for (int i = 0; i < 8; ++i) tail[i] = i < nt ? s[j + i] : -INFINITY;
    const __m256 e = exp_ps(_mm256_sub_ps(_mm256_load_ps(tail), vm));
    _mm256_store_ps(tail, e);
    std::memcpy(s + j, tail, static_cast<size_t>(nt) * sizeof(float));
    add(e);
  }
  alignas(32) double d[4];
  _mm256_store_pd(d, _mm256_add_pd(sum0, sum1));
  const __m256 inv = _mm256_set1_ps(static_cast<float>(1.0 / ((d[0] + d[1]) + (d[2] + d[3]))));
  for (j = 0; j + 8 <= n; j += 8) _mm256_storeu_ps(s + j, _mm256_mul_ps(_mm256_loadu_ps(s + j), inv));
  const float inv1 = _mm256_cvtss_f32(inv);
  for (; j < n; ++j) s[j] *= inv1;
}

// Query rows widened blocks serve before f16 keys and values are widened too
// (q8_0 always widens, see kMaxWidenHd): a GQA group of one token (decode)
// converts as it goes, a tile of tokens (prefill) widens each block once.
constexpr int64_t kWidenF16Rows = 8;

// This file's kernels for the shared prefill walk (attention_tokens_walk_inl.h).
struct Kernels {
  static constexpr int64_t kBlock = 8;
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
  template <typename L>
  static void values(const float* p, int64_t ps, int64_t j0, const uint8_t* v0, int64_t stride, int nk, int64_t g,
                     float* out, int64_t hd) {
    values_rows<L>(p, ps, j0, v0, stride, nk, g, out, hd);
  }
};

// B consecutive tokens (AttnTokensFn; attn_rows is B = 1) through the shared
// walk: a GQA group of one token (decode) converts f16 as it goes, a tile of
// tokens (prefill) widens each block once.
template <typename KL, typename VL>
void attn_tokens_t(const float* q, int64_t qs, int64_t B, int64_t g, int64_t hd, const KvRows& kv, int64_t n0,
                   float scale, float* scratch, float* out, int64_t os) {
  constexpr bool kQ8K = std::is_same_v<KL, Q8Rows>, kQ8V = std::is_same_v<VL, Q8Rows>;
  constexpr bool kF16K = std::is_same_v<KL, F16Rows>, kF16V = std::is_same_v<VL, F16Rows>;
  const bool fits = hd <= kMaxWidenHd;
  const bool widen_k = fits && ((kQ8K && B * g > 1) || (kF16K && B * g >= kWidenF16Rows));
  const bool widen_v = fits && ((kQ8V && B * g > 1) || (kF16V && B * g >= kWidenF16Rows));
  alignas(32) float buf[8 * kMaxWidenHd];
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
  attn_tokens(q, 0, 1, g, hd, kv, n, scale, scratch, out, 0);
}

}  // namespace

void fill_table_attention(KernelTable* t) {
  t->attn_rows = attn_rows;
  t->attn_tokens = attn_tokens;
  t->attn_hd_multiple = 32;
  t->attn_block_multiple = 8;
  t->softmax_row = softmax_row;
}

void exp8_for_test(const float* x, float* y) { _mm256_storeu_ps(y, exp_ps(_mm256_loadu_ps(x))); }

}  // namespace herd::kernels::avx2
