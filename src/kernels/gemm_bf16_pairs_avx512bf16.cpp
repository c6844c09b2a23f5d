// AVX512_BF16 gemm_bf16_pairs (kernel_table.h GemmBf16PairsFn; its
// specification gemm_bf16_pairs_ref is in kernels_ref.cpp) for CPUs with
// vdpbf16ps and no AMX (AMD Zen 4 and 5): C [M, N] (+)= A B with A bf16 rows
// and B in the pair form, which is vdpbf16ps's operand as it is (one 64-byte
// row of a panel of B = 16 columns' pairs).
//
// An outer product in registers: a block of R <= 4 rows x Q <= 4 vectors of
// 16 columns keeps R x Q accumulators; for each pair p of K, Q vectors of B
// are loaded once and each row's pair (a[2p], a[2p + 1]) is broadcast to
// all 16 lanes, one vdpbf16ps per accumulator. Every C element is one chain
// over p in order from zero (or from C when accumulating), whatever block
// it falls in: any split of M or N gives the same bits, and a reduction cut
// in blocks gives the same bits as one call (the f32 accumulator is stored
// and reloaded exactly). Columns past N are masked off at the store (B is
// readable there, the caller's contract).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/kernel_table.h"

namespace herd::kernels::avx512bf16 {
namespace {

template <int R, int Q>
void block(const uint16_t* a, int64_t lda, const uint32_t* b, int64_t ldb, int64_t b_panel, float* c, int64_t ldc,
           int64_t n, int64_t Kp, bool accumulate) {
  __mmask16 mask[Q];
  for (int q = 0; q < Q; ++q) {
    const int64_t cols = std::clamp<int64_t>(n - 16 * q, 0, 16);
    mask[q] = static_cast<__mmask16>((1u << cols) - 1);
  }
  __m512 acc[R][Q];
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < Q; ++q)
      acc[r][q] = accumulate ? _mm512_maskz_loadu_ps(mask[q], c + r * ldc + 16 * q) : _mm512_setzero_ps();
  for (int64_t p = 0; p < Kp / 2; ++p) {
    __m512bh bv[Q];
    for (int q = 0; q < Q; ++q) bv[q] = (__m512bh)_mm512_loadu_si512(b + p * ldb + q * b_panel);
    for (int r = 0; r < R; ++r) {
      int32_t pr;
      std::memcpy(&pr, a + r * lda + 2 * p, sizeof(pr));
      const __m512bh av = (__m512bh)_mm512_set1_epi32(pr);
      for (int q = 0; q < Q; ++q) acc[r][q] = _mm512_dpbf16_ps(acc[r][q], av, bv[q]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < Q; ++q) _mm512_mask_storeu_ps(c + r * ldc + 16 * q, mask[q], acc[r][q]);
}

template <int R>
void row_block(const uint16_t* a, int64_t lda, const uint32_t* b, int64_t ldb, int64_t b_panel, float* c, int64_t ldc,
               int64_t N, int64_t Kp, bool accumulate) {
  for (int64_t j0 = 0; j0 < N; j0 += 64) {
    const int64_t n = std::min<int64_t>(64, N - j0);
    const uint32_t* bj = b + (j0 / 16) * b_panel;
    switch ((n + 15) / 16) {
      case 1: block<R, 1>(a, lda, bj, ldb, b_panel, c + j0, ldc, n, Kp, accumulate); break;
      case 2: block<R, 2>(a, lda, bj, ldb, b_panel, c + j0, ldc, n, Kp, accumulate); break;
      case 3: block<R, 3>(a, lda, bj, ldb, b_panel, c + j0, ldc, n, Kp, accumulate); break;
      default: block<R, 4>(a, lda, bj, ldb, b_panel, c + j0, ldc, n, Kp, accumulate); break;
    }
  }
}

void gemm_bf16_pairs(const uint16_t* a, int64_t lda, const uint32_t* b, int64_t ldb, int64_t b_panel, float* c,
                     int64_t ldc, int64_t M, int64_t N, int64_t Kp, bool accumulate) {
  for (int64_t i0 = 0; i0 < M; i0 += 4) {
    const uint16_t* ai = a + i0 * lda;
    float* ci = c + i0 * ldc;
    switch (std::min<int64_t>(4, M - i0)) {
      case 1: row_block<1>(ai, lda, b, ldb, b_panel, ci, ldc, N, Kp, accumulate); break;
      case 2: row_block<2>(ai, lda, b, ldb, b_panel, ci, ldc, N, Kp, accumulate); break;
      case 3: row_block<3>(ai, lda, b, ldb, b_panel, ci, ldc, N, Kp, accumulate); break;
      default: row_block<4>(ai, lda, b, ldb, b_panel, ci, ldc, N, Kp, accumulate); break;
    }
  }
}

}  // namespace

void fill_table_gemm_bf16_pairs(KernelTable* t) { t->gemm_bf16_pairs = gemm_bf16_pairs; }

}  // namespace herd::kernels::avx512bf16
