// The AVX2 reader of read_bandwidth.h: 32-byte loads, four independent sums.
#include <immintrin.h>

#include "kernels/read_bandwidth.h"

namespace herd::kernels {

uint64_t read_sum_avx2(const uint8_t* p, size_t n, size_t prefetch) {
  __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
  for (const uint8_t* end = p + n; p < end; p += 256) {  // 4 cache lines per step
    if (prefetch) {
      _mm_prefetch(reinterpret_cast<const char*>(p + prefetch), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(p + prefetch + 64), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(p + prefetch + 128), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(p + prefetch + 192), _MM_HINT_T0);
    }
    const auto* v = reinterpret_cast<const __m256i*>(p);
    s0 = _mm256_add_epi64(s0, _mm256_add_epi64(_mm256_loadu_si256(v + 0), _mm256_loadu_si256(v + 1)));
    s1 = _mm256_add_epi64(s1, _mm256_add_epi64(_mm256_loadu_si256(v + 2), _mm256_loadu_si256(v + 3)));
    s2 = _mm256_add_epi64(s2, _mm256_add_epi64(_mm256_loadu_si256(v + 4), _mm256_loadu_si256(v + 5)));
    s3 = _mm256_add_epi64(s3, _mm256_add_epi64(_mm256_loadu_si256(v + 6), _mm256_loadu_si256(v + 7)));
  }
  const __m256i s = _mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3));
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), s);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

}  // namespace herd::kernels
