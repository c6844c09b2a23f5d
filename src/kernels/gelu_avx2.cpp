// AVX2 + FMA gelu (kernel_table.h GeluFn; kernels_ref.cpp's gelu_f32_ref,
// libm's erff per element, is the specification it is held to within a
// bound): x * (1 + erf(x / sqrt 2)) / 2 for 8 floats at a time, with an erf
// of our own. Serves every ISA from AVX2 up.
//
// With z = |x| / sqrt 2 (rounded once):
//   z < 0.9:      erf(z) = z P(z^2), P of degree 6;
//   0.9 <= z < 4: erfc(z) = exp(-z^2) Q(t), t = 1 / (z + 1/2) - 2/5, Q of
//                 degree 8 (erfc(z) exp(z^2) is smooth and slowly varying
//                 there), exp by avx2::exp_ps;
//   z >= 4:       erfc(z) < 1.6e-8: erf = 1.
// P and Q are least-squares fits (relative error weights, 4000 Chebyshev
// points, in double) rounded to f32; evaluated by Horner in f32 they stay
// within 2.4 u (P) and 2.9 u (Q) of erf(z)/z and erfc(z) exp(z^2)
// (u = 2^-24; measured on 200001 points of each interval). Then for x >= 0,
// 1 + erf = 1 + z P or 2 - erfc, for x < 0, 1 - z P or erfc itself (no
// cancellation: erfc is computed, not 1 - erf).
//
// Bound (kernels/encoder_ops_test.cpp GeluWithinDerivedBound checks 6 u |x|):
// the erfc branch's value v = exp(-z^2) Q carries relative errors from Q
// (3 u), t (1 u), exp_ps (2 u), z's rounding amplified by z^2 (3 z^2 u) and
// the product (1 u); v <= erfc(0.9) = 0.203 there and v (8 + 3 z^2) u peaks at
// z = 0.9 below 2 u in absolute terms; 2 - v rounds by 1 u more. The erf
// branch: P 2.4 u, z and z^2 and the product about 3 u relative on
// erf <= 0.8, so 4 u absolute, plus 1 u for 1 +- erf. The final 0.5 x (...)
// adds half an ulp of a value <= |x|. So |gelu - exact| <= 0.5 |x| 5 u +
// u |x| = 3.5 u |x| on every branch; z >= 4 errs by at most
// 0.5 |x| erfc(4) < 0.2 u |x|.
#include <immintrin.h>

#include <cstdint>

#include "kernels/exp_avx2_inl.h"
#include "kernels/kernel_table.h"

namespace herd::kernels::avx2 {
namespace {

inline __m256 gelu8(__m256 x) {
  const __m256 sign_mask = _mm256_set1_ps(-0.0f);
  const __m256 z = _mm256_mul_ps(_mm256_andnot_ps(sign_mask, x), _mm256_set1_ps(0.70710678118654752f));
  const __m256 z2 = _mm256_mul_ps(z, z);
  // erf(z) = z P(z^2) for z < 0.9.
  __m256 p = _mm256_set1_ps(8.552956569e-05f);
  p = _mm256_fmadd_ps(p, z2, _mm256_set1_ps(-8.185915067e-04f));
  p = _mm256_fmadd_ps(p, z2, _mm256_set1_ps(5.204869900e-03f));
  p = _mm256_fmadd_ps(p, z2, _mm256_set1_ps(-2.686097845e-02f));
  p = _mm256_fmadd_ps(p, z2, _mm256_set1_ps(1.128372550e-01f));
  p = _mm256_fmadd_ps(p, z2, _mm256_set1_ps(-3.761263490e-01f));
  p = _mm256_fmadd_ps(p, z2, _mm256_set1_ps(1.128379226e+00f));
  const __m256 erf_small = _mm256_mul_ps(z, p);
  // erfc(z) = exp(-z^2) Q(t) for 0.9 <= z < 4.
  const __m256 t = _mm256_sub_ps(_mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(z, _mm256_set1_ps(0.5f))),
                                 _mm256_set1_ps(0.4f));
  __m256 q = _mm256_set1_ps(-1.074781194e-01f);
  q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(2.316256464e-01f));
  q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(-1.956974864e-01f));
  q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(1.156956330e-02f));
  q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(1.804662049e-01f));
  q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(-2.182963490e-01f));
  q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(-3.577403352e-02f));
  q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(6.674779058e-01f));
  q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(2.553956807e-01f));
  const __m256 erfc_big = _mm256_mul_ps(exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), z2)), q);
  const __m256 one = _mm256_set1_ps(1.0f), two = _mm256_set1_ps(2.0f);
  const __m256 small = _mm256_cmp_ps(z, _mm256_set1_ps(0.9f), _CMP_LT_OQ);
  const __m256 huge = _mm256_cmp_ps(z, _mm256_set1_ps(4.0f), _CMP_GE_OQ);
  const __m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
  // 1 + erf(x / sqrt 2): for x >= 0 and x < 0 on each branch.
  const __m256 pos_v = _mm256_blendv_ps(_mm256_sub_ps(two, erfc_big), _mm256_add_ps(one, erf_small), small);
  const __m256 neg_v = _mm256_blendv_ps(erfc_big, _mm256_sub_ps(one, erf_small), small);
  __m256 v = _mm256_blendv_ps(pos_v, neg_v, neg);
  v = _mm256_blendv_ps(v, _mm256_andnot_ps(neg, two), huge);  // z >= 4: 2 or 0
  return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), v);
}

void gelu(float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, gelu8(_mm256_loadu_ps(x + i)));
  if (i < n) {
    alignas(32) float t[8] = {};
    for (int64_t j = i; j < n; ++j) t[j - i] = x[j];
    _mm256_store_ps(t, gelu8(_mm256_load_ps(t)));
    for (int64_t j = i; j < n; ++j) x[j] = t[j - i];
  }
}

}  // namespace

void fill_table_gelu(KernelTable* t) { t->gelu = gelu; }

}  // namespace herd::kernels::avx2
