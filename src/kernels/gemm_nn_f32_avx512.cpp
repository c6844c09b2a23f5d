// AVX-512 gemm_nn_f32 (kernel_table.h GemmNnF32Fn; kernels_ref.cpp has the
// scalar reference): C = A B, each C[i, j] the fma chain over k in order.
//
// Register tile: 6 rows of A x 32 columns of B (two zmm of accumulators per
// row, 12 in all). Per k: the B row's two vectors are loaded once, each of the
// 6 A elements broadcast, 12 vfmadd231ps: every C element gets exactly one
// fused multiply-add per k, in k order, so the result is the reference's bit
// for bit. Column tails use masked loads and stores (zero lanes never stored);
// row tails use the same kernel with fewer rows. Columns outermost, so a
// 32-column strip of B (32 x K floats: 8 KB at K = 64) stays in L1 while every
// row block of A passes over it.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/count_dispatch_inl.h"
#include "kernels/kernel_table.h"

namespace herd::kernels::avx512 {
namespace {

constexpr int kRows = 6;

template <int R>
inline void block(const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t K,
                  __mmask16 m0, __mmask16 m1) {
  __m512 acc0[R], acc1[R];
  #pragma GCC unroll 6
  for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    const __m512 b0 = _mm512_maskz_loadu_ps(m0, b + k * ldb);
    const __m512 b1 = _mm512_maskz_loadu_ps(m1, b + k * ldb + 16);
    #pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m512 av = _mm512_set1_ps(a[r * lda + k]);
      acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
      acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);
    }
  }
  #pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    _mm512_mask_storeu_ps(c + r * ldc, m0, acc0[r]);
    _mm512_mask_storeu_ps(c + r * ldc + 16, m1, acc1[r]);
  }
}

void gemm_nn_f32(const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t M,
                 int64_t N, int64_t K) {
  for (int64_t j = 0; j < N; j += 32) {
    const int64_t w = std::min<int64_t>(32, N - j);
    const auto m0 = static_cast<__mmask16>(w >= 16 ? 0xffff : (1u << w) - 1);
    const auto m1 = static_cast<__mmask16>(w >= 32 ? 0xffff : w > 16 ? (1u << (w - 16)) - 1 : 0);
    for (int64_t i = 0; i < M; i += kRows)
      dispatch_count<kRows>(std::min<int64_t>(kRows, M - i), [&](auto rows) {
        block<decltype(rows)::value>(a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, K, m0, m1);
      });
  }
}

}  // namespace

void fill_table_gemm_nn(KernelTable* t) { t->gemm_nn_f32 = gemm_nn_f32; }

}  // namespace herd::kernels::avx512
