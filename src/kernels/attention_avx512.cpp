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
// Keys and values are f32 or f16 (each its own type, a template parameter):
// f16 rows are widened with vcvtph2ps as they are loaded (exact), so the
// arithmetic is the same as on f32 rows holding the same values, and an f16
// cache reads half the bytes.
// hd must be a multiple of 64 and paged blocks a multiple of 16 rows
// (attention_rows checks and otherwise takes the generic path).
#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "kernels/kernel_table.h"

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

// 16 cache elements as f32.
inline __m512 load16(const float* p) { return _mm512_loadu_ps(p); }
inline __m512 load16(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// The key (0..15 within a block) whose partial goes into reduce16's v[i].
constexpr int key_of(int i) { return 4 * (i % 4) + i / 4; }

// Scores of one row against keys j0..j0+nk-1 (nk <= 16, all in one
// contiguous run starting at k0), times scale, into s[0..nk).
template <typename KT>
inline void score_block(const float* q, int64_t hd, const KT* k0, int64_t stride, int nk, float scale, float* s) {
  __m512 v[16];
  for (int i = 0; i < 16; ++i) {
    const int key = key_of(i);
    __m512 a = _mm512_setzero_ps();
    if (key < nk) {
      const KT* kr = k0 + key * stride;
      for (int64_t c = 0; c < hd; c += 16) a = _mm512_fmadd_ps(_mm512_loadu_ps(q + c), load16(kr + c), a);
    }
    v[i] = a;
  }
  const __m512 d = _mm512_mul_ps(reduce16(v), _mm512_set1_ps(scale));
  _mm512_mask_storeu_ps(s, static_cast<__mmask16>((1u << nk) - 1), d);
}

// out[rows][64-column chunk c0] += sum_j p[r][j] v_j[c0..c0+63] for RR rows.
template <int RR, typename VT>
void values_chunk(const float* p, int64_t n, const KvRows& kv, int64_t c0, float* out, int64_t hd) {
  __m512 acc[RR][4];
  for (int r = 0; r < RR; ++r)
    for (int c = 0; c < 4; ++c) acc[r][c] = _mm512_setzero_ps();
  for (int64_t j0 = 0; j0 < n; j0 += 16) {
    const int nk = static_cast<int>(n - j0 < 16 ? n - j0 : 16);
    const VT* v0 = kv.at<VT>(kv.v, j0) + c0;
    if (j0 + 16 < n) prefetch_rows(kv.at<VT>(kv.v, j0 + 16) + c0, kv.stride, n - j0 - 16 < 16 ? n - j0 - 16 : 16, 64);
    for (int jj = 0; jj < nk; ++jj) {
      const VT* vr = v0 + jj * kv.stride;
      const __m512 x0 = load16(vr), x1 = load16(vr + 16);
      const __m512 x2 = load16(vr + 32), x3 = load16(vr + 48);
      for (int r = 0; r < RR; ++r) {
        const __m512 w = _mm512_set1_ps(p[r * n + j0 + jj]);
        acc[r][0] = _mm512_fmadd_ps(w, x0, acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps(w, x1, acc[r][1]);
        acc[r][2] = _mm512_fmadd_ps(w, x2, acc[r][2]);
        acc[r][3] = _mm512_fmadd_ps(w, x3, acc[r][3]);
      }
    }
  }
  for (int r = 0; r < RR; ++r)
    for (int c = 0; c < 4; ++c) _mm512_storeu_ps(out + r * hd + c0 + 16 * c, acc[r][c]);
}

template <typename KT, typename VT>
void attn_rows_t(const float* q, int64_t g, int64_t hd, const KvRows& kv, int64_t n, float scale, float* scratch,
                 float* out) {
  // Scores: key blocks of 16 (a paged block holds a whole number of them).
  // The rows of one KV head are strided (every KV head's row in between), too
  // irregular for the hardware prefetcher at long context: prefetch the next
  // block's 16 rows while this one is scored.
  for (int64_t j0 = 0; j0 < n; j0 += 16) {
    const int nk = static_cast<int>(n - j0 < 16 ? n - j0 : 16);
    const KT* k0 = kv.at<KT>(kv.k, j0);
    if (j0 + 16 < n) prefetch_rows(kv.at<KT>(kv.k, j0 + 16), kv.stride, n - j0 - 16 < 16 ? n - j0 - 16 : 16, hd);
    for (int64_t r = 0; r < g; ++r) score_block(q + r * hd, hd, k0, kv.stride, nk, scale, scratch + r * n + j0);
  }
  // Softmax per row: max, exp, sum in double, then the weights fl(e * inv).
  for (int64_t r = 0; r < g; ++r) {
    float* s = scratch + r * n;
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
  // Values: up to 4 rows x 64 columns per pass over the value rows.
  for (int64_t c0 = 0; c0 < hd; c0 += 64) {
    int64_t r = 0;
    for (; r + 4 <= g; r += 4) values_chunk<4, VT>(scratch + r * n, n, kv, c0, out + r * hd, hd);
    switch (g - r) {
      case 3: values_chunk<3, VT>(scratch + r * n, n, kv, c0, out + r * hd, hd); break;
      case 2: values_chunk<2, VT>(scratch + r * n, n, kv, c0, out + r * hd, hd); break;
      case 1: values_chunk<1, VT>(scratch + r * n, n, kv, c0, out + r * hd, hd); break;
      default: break;
    }
  }
}

void attn_rows(const float* q, int64_t g, int64_t hd, const KvRows& kv, int64_t n, float scale, float* scratch,
               float* out) {
  const bool k16 = kv.kt == DType::kF16, v16 = kv.vt == DType::kF16;
  if (k16 && v16) return attn_rows_t<uint16_t, uint16_t>(q, g, hd, kv, n, scale, scratch, out);
  if (k16) return attn_rows_t<uint16_t, float>(q, g, hd, kv, n, scale, scratch, out);
  if (v16) return attn_rows_t<float, uint16_t>(q, g, hd, kv, n, scale, scratch, out);
  attn_rows_t<float, float>(q, g, hd, kv, n, scale, scratch, out);
}

}  // namespace

void fill_table_attention(KernelTable* t) {
  t->attn_rows = attn_rows;
  t->attn_hd_multiple = 64;
  t->attn_block_multiple = 16;
}

void exp16_for_test(const float* x, float* y) { _mm512_storeu_ps(y, exp_ps(_mm512_loadu_ps(x))); }

}  // namespace herd::kernels::avx512
