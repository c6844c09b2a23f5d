// AVX-512 entries. For now only the f32 dot (attention scores) is widened;
// the weight row dots keep the AVX2 versions, which are memory-bound at
// decode. The speed work replaces these with VNNI integer dots.
#include <immintrin.h>

#include "kernels/kernel_table.h"

namespace herd::kernels::avx512 {
namespace {

float dot_f32(const float* a, const float* b, int64_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
  }
  float s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

}  // namespace

void fill_table(KernelTable* t) { t->dot_f32 = dot_f32; }

}  // namespace herd::kernels::avx512
