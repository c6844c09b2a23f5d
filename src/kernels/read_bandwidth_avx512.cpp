// The AVX-512 reader of read_bandwidth.h: 64-byte loads (a cache line each), four
// independent sums.
#include <immintrin.h>

#include "kernels/read_bandwidth.h"

namespace herd::kernels {

uint64_t read_sum_avx512(const uint8_t* p, size_t n, size_t prefetch) {
  __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
  for (const uint8_t* end = p + n; p < end; p += 256) {  // 4 cache lines per step
    if (prefetch) {
      _mm_prefetch(reinterpret_cast<const char*>(p + prefetch), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(p + prefetch + 64), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(p + prefetch + 128), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(p + prefetch + 192), _MM_HINT_T0);
    }
    const auto* v = reinterpret_cast<const __m512i*>(p);
    s0 = _mm512_add_epi64(s0, _mm512_loadu_si512(v + 0));
    s1 = _mm512_add_epi64(s1, _mm512_loadu_si512(v + 1));
    s2 = _mm512_add_epi64(s2, _mm512_loadu_si512(v + 2));
    s3 = _mm512_add_epi64(s3, _mm512_loadu_si512(v + 3));
  }
  // Lanes summed as unsigned (wrapping) integers: GCC's _mm512_reduce_add_epi64
  // adds them as signed long long, which overflows on arbitrary bytes (UBSan).
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes, _mm512_add_epi64(_mm512_add_epi64(s0, s1), _mm512_add_epi64(s2, s3)));
  uint64_t sum = 0;
  for (const uint64_t l : lanes) sum += l;
  return sum;
}

}  // namespace herd::kernels
