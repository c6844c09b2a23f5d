// AVX2 + FMA silu_mul (kernel_table.h SiluMulFn; kernels_ref.cpp has the
// scalar reference): g[i] = silu(g[i]) * u[i], silu(z) = z / (1 + exp(-z)),
// 8 elements at a time with exp_ps (exp_avx2_inl.h, within 2 u).
//
// exp_ps takes arguments <= 0, so with e = exp(-|z|) <= 1:
//   z >= 0: silu(z) = z / (1 + e)
//   z <  0: silu(z) = z * e / (1 + e)     (= z / (1 + exp(-z)), multiplied
//                                          through by e; never overflows)
// Relative error: e 2 u, 1 + e at most 2 u (e <= 1), z * e 3 u, the division
// and the product by u one u each: at most 7 u, which kernels_test.cpp's
// SiluMulWithinBound checks against long double. The tail goes through the
// same vector code on a padded buffer, so every element gets the same
// instructions wherever it lies: results do not depend on how a caller splits
// the array (threads, token counts).
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/exp_avx2_inl.h"
#include "kernels/kernel_table.h"

namespace herd::kernels::avx2 {
namespace {

inline __m256 silu_mul8(__m256 z, __m256 u) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 e = exp_ps(_mm256_or_ps(z, sign));  // exp(-|z|)
  const __m256 den = _mm256_add_ps(_mm256_set1_ps(1.0f), e);
  const __m256 neg = _mm256_cmp_ps(z, _mm256_setzero_ps(), _CMP_LT_OQ);
  const __m256 num = _mm256_blendv_ps(z, _mm256_mul_ps(z, e), neg);
  return _mm256_mul_ps(_mm256_div_ps(num, den), u);
}

void silu_mul(float* g, const float* u, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(g + i, silu_mul8(_mm256_loadu_ps(g + i), _mm256_loadu_ps(u + i)));
  if (i < n) {
    alignas(32) float gt[8] = {}, ut[8] = {};
    const auto rest = static_cast<size_t>(n - i);
    std::memcpy(gt, g + i, rest * sizeof(float));
    std::memcpy(ut, u + i, rest * sizeof(float));
    _mm256_store_ps(gt, silu_mul8(_mm256_load_ps(gt), _mm256_load_ps(ut)));
    std::memcpy(g + i, gt, rest * sizeof(float));
  }
}

}  // namespace

void fill_table_silu(KernelTable* t) { t->silu_mul = silu_mul; }

}  // namespace herd::kernels::avx2
