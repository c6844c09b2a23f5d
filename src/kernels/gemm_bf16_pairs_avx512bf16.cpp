// AVX512_BF16 gemm_bf16_pairs (kernel_table.h GemmBf16PairsFn; its
// specification gemm_bf16_pairs_ref is in kernels_ref.cpp) for CPUs with
// vdpbf16ps and no AMX (AMD Zen 4 and 5): C [M, N] (+)= A B with A bf16 rows
// and B in the pair form, which is vdpbf16ps's operand as it is (one 64-byte
// row of a panel of B = 16 columns' pairs).
//
// An outer product in registers: a block of R <= 8 rows x Q <= 2 vectors of
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
  // Every loop over r and q unrolled (the build's -O2 leaves an 8-trip loop
  // rolled, and then keeps acc on the stack: a store and a load around every
  // vdpbf16ps, 2.7x slower on Zen 4).
  __m512 acc[R][Q];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int q = 0; q < Q; ++q)
      acc[r][q] = accumulate ? _mm512_maskz_loadu_ps(mask[q], c + r * ldc + 16 * q) : _mm512_setzero_ps();
  for (int64_t p = 0; p < Kp / 2; ++p) {
    __m512bh bv[Q];
#pragma GCC unroll 2
    for (int q = 0; q < Q; ++q) bv[q] = (__m512bh)_mm512_loadu_si512(b + p * ldb + q * b_panel);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      int32_t pr;
      std::memcpy(&pr, a + r * lda + 2 * p, sizeof(pr));
      const __m512bh av = (__m512bh)_mm512_set1_epi32(pr);
#pragma GCC unroll 2
      for (int q = 0; q < Q; ++q) acc[r][q] = _mm512_dpbf16_ps(acc[r][q], av, bv[q]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int q = 0; q < Q; ++q) _mm512_mask_storeu_ps(c + r * ldc + 16 * q, mask[q], acc[r][q]);
}

// The block: 8 rows x 2 vectors (32 columns), 16 accumulators; per pair of K
// it loads 2 vectors of B and broadcasts 8 pairs of A. On Zen 4 (2-core EPYC,
// 7 Dec 2026) this beat the former 4 x 4 (4 loads of B per 16 products)
// everywhere: kernels_bench train/avx512bf16 fwd 142-164 -> 164-184 GFLOP/s,
// bwd 97-127 -> 160-175 over the 2048x2048, 8192x2048 and 2048x8192 shapes,
// F16 and Q4_0; 6 x 4, 8 x 3, 12 x 2 and 16 x 1 measured between the two.
// Those figures were taken while -O2 still kept the accumulators on the stack;
// with the loops unrolled the 8192x2048 products run at fwd 371 and bwd 344
// GFLOP/s on 2 Zen 4 cores, and a stand-alone copy of this block reaches 216
// of the core's ~230 GFLOP/s peak from L1/L2, so the shape is kept.
// (Zen 5 not re-measured.)
constexpr int kR = 8, kQ = 2;

template <int R>
void row_block(const uint16_t* a, int64_t lda, const uint32_t* b, int64_t ldb, int64_t b_panel, float* c, int64_t ldc,
               int64_t N, int64_t Kp, bool accumulate) {
  for (int64_t j0 = 0; j0 < N; j0 += 16 * kQ) {
    const int64_t n = std::min<int64_t>(16 * kQ, N - j0);
    const uint32_t* bj = b + (j0 / 16) * b_panel;
    switch ((n + 15) / 16) {
      case 1: block<R, 1>(a, lda, bj, ldb, b_panel, c + j0, ldc, n, Kp, accumulate); break;
      default: block<R, kQ>(a, lda, bj, ldb, b_panel, c + j0, ldc, n, Kp, accumulate); break;
    }
  }
}

template <int R>
void rows(const uint16_t* a, int64_t lda, const uint32_t* b, int64_t ldb, int64_t b_panel, float* c, int64_t ldc,
          int64_t rows_left, int64_t N, int64_t Kp, bool accumulate) {
  if constexpr (R > 0) {
    if (rows_left == R) return row_block<R>(a, lda, b, ldb, b_panel, c, ldc, N, Kp, accumulate);
    rows<R - 1>(a, lda, b, ldb, b_panel, c, ldc, rows_left, N, Kp, accumulate);
  }
}

}  // namespace

void gemm_bf16_pairs(const uint16_t* a, int64_t lda, const uint32_t* b, int64_t ldb, int64_t b_panel, float* c,
                     int64_t ldc, int64_t M, int64_t N, int64_t Kp, bool accumulate) {
  for (int64_t i0 = 0; i0 < M; i0 += kR)
    rows<kR>(a + i0 * lda, lda, b, ldb, b_panel, c + i0 * ldc, ldc, std::min<int64_t>(kR, M - i0), N, Kp, accumulate);
}

void fill_table_gemm_bf16_pairs(KernelTable* t) { t->gemm_bf16_pairs = gemm_bf16_pairs; }

}  // namespace herd::kernels::avx512bf16
