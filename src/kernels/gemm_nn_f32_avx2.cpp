// AVX2 + FMA gemm_nn_f32 (kernel_table.h GemmNnF32Fn; kernels_ref.cpp has the
// scalar reference): C = A B, each C[i, j] the fma chain over k in order.
//
// Register tile: 4 rows of A x 16 columns of B (two ymm of accumulators per
// row, 8 of the 16 registers). Per k: the B row's two vectors are loaded once,
// each A element broadcast, one vfmadd231ps per accumulator: exactly the
// reference's chain, bit for bit. Column tails use vmaskmovps loads and stores
// (masked-out lanes are neither read nor written); row tails the same kernel
// with fewer rows. Columns outermost, as in gemm_nn_f32_avx512.cpp.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/count_dispatch_inl.h"
#include "kernels/kernel_table.h"

namespace herd::kernels::avx2 {
namespace {

constexpr int kRows = 4;

// Lanes [0, n) of 8 set (n may be <= 0 or >= 8).
inline __m256i lanes(int64_t n) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const auto v = static_cast<int>(std::clamp<int64_t>(n, 0, 8));
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(v), idx);
}

template <int R>
inline void block(const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t K,
                  __m256i m0, __m256i m1) {
  __m256 acc0[R], acc1[R];
  #pragma GCC unroll 4
  for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    const __m256 b0 = _mm256_maskload_ps(b + k * ldb, m0);
    const __m256 b1 = _mm256_maskload_ps(b + k * ldb + 8, m1);
    #pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r * lda + k);
      acc0[r] = _mm256_fmadd_ps(av, b0, acc0[r]);
      acc1[r] = _mm256_fmadd_ps(av, b1, acc1[r]);
    }
  }
  #pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
    _mm256_maskstore_ps(c + r * ldc, m0, acc0[r]);
    _mm256_maskstore_ps(c + r * ldc + 8, m1, acc1[r]);
  }
}

void gemm_nn_f32(const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t M,
                 int64_t N, int64_t K) {
  for (int64_t j = 0; j < N; j += 16) {
    const int64_t w = std::min<int64_t>(16, N - j);
    const __m256i m0 = lanes(w), m1 = lanes(w - 8);
    for (int64_t i = 0; i < M; i += kRows)
      dispatch_count<kRows>(std::min<int64_t>(kRows, M - i), [&](auto rows) {
        block<decltype(rows)::value>(a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, K, m0, m1);
      });
  }
}

}  // namespace

void fill_table_gemm_nn(KernelTable* t) { t->gemm_nn_f32 = gemm_nn_f32; }

}  // namespace herd::kernels::avx2
