// exp_ps: exp of 8 floats x <= 0 with AVX2 + FMA, for the kernels that need a
// vector exp (attention_avx2.cpp's softmax, silu_avx2.cpp). Include it only
// from files compiled with the AVX2 flags (*_avx2.cpp). Within 2 u of exp in
// long double where the result is a normal float (kernels_test.cpp
// ExpPsWithinBound; measured worst 1.39 u).
#pragma once

#include <immintrin.h>

namespace herd::kernels::avx2 {

// ln(2^-126): below it exp(x) is under the least normal f32.
constexpr float kExpMin = -87.33654475f;

// exp(x) for f32 x <= 0 (and -inf): Cephes' expf polynomial on
// r = x - n ln2 (|r| <= ln2 / 2, ln2 split hi + lo), scaled by 2^n built in
// the exponent field (n >= -126 after the clamp, so 2^n is a normal f32; the
// final product may round into the subnormals, correctly). x < kExpMin gives
// 0: the exact value is below 2^-126 there.
inline __m256 exp_ps(__m256 x) {
  const __m256 tiny = _mm256_cmp_ps(x, _mm256_set1_ps(kExpMin), _CMP_LT_OQ);
  x = _mm256_max_ps(x, _mm256_set1_ps(kExpMin));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  const __m256 r2 = _mm256_mul_ps(r, r);
  const __m256 y = _mm256_add_ps(_mm256_fmadd_ps(p, r2, r), _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(tiny, _mm256_mul_ps(y, _mm256_castsi256_ps(e)));
}

}  // namespace herd::kernels::avx2
