// gemm_nn_bf16 (kernel_table.h; gemm_nn_bf16_ref in kernels_ref.cpp is its
// specification) on CPUs with AVX512_BF16: C [M, N] = bf16(A [M, K])
// bf16(B [K, N]) with f32 sums, for the encoder's per-head attention products
// when its model runs in bf16 (model/deberta: Q Kᵀ, the c2p and p2c terms,
// P V; M and N up to 512, K = 64 or 512).
//
// The operands are packed once per call: A into rows of K rounded up to 32
// bf16 (zero-filled), B into the pair form (pair p of rows 2p, 2p + 1: for
// each column n the two bf16 side by side, 16 columns = one 64-byte row of a
// panel; each 16 columns' rows contiguous), both rounded with round16
// (base/half.h f32_to_bf16 exactly). Then a gemm_bf16_pairs runs the products:
// vdpbf16ps here (gemm_bf16_pairs_avx512bf16.cpp), tdpbf16ps on AMX
// (gemm_nn_bf16_amx.cpp passes its own). Each C element depends only on its
// row of A and column of B, so any split of M or N gives the same bits. The
// products of bf16 are exact; the hardware sums them in an order it does not
// specify, hence the contract's gamma_K bound rather than the reference's
// bits. Both instructions treat bf16 subnormals (|x| < 2^-126) as zero: at
// most 2^-126 |b| per product from the specification.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/bf16_operands_avx512bf16_inl.h"
#include "kernels/kernel_table.h"

namespace herd::kernels::avx512bf16 {
namespace {

// 16 floats at p (the first n of them; the rest read as zero) as 16 bf16.
inline __m256i bf16x16(const float* p, int64_t n) {
  if (n >= 16) return round16(_mm512_loadu_ps(p));
  return round16(_mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p));
}

}  // namespace

void gemm_nn_bf16_packed(GemmBf16PairsFn pairs, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                         int64_t ldc, int64_t M, int64_t N, int64_t K) {
  if (M <= 0 || N <= 0) return;
  const int64_t Kp = std::max<int64_t>(32, (K + 31) / 32 * 32), Np = (N + 15) / 16 * 16;
  thread_local std::vector<uint16_t> ap, bp;
  ap.resize(static_cast<size_t>((M + 15) / 16 * 16 * Kp));  // rows past M: read, never used
  const int64_t panel = Kp / 2 * 16 + 16;  // words; 64 bytes past a multiple of 4 KB
  bp.resize(static_cast<size_t>(Np / 16 * panel * 2));
  for (int64_t i = 0; i < M; ++i) {
    uint16_t* row = ap.data() + i * Kp;
    for (int64_t k = 0; k < Kp; k += 16) {
      const __m256i v = k < K ? bf16x16(a + i * lda + k, K - k) : _mm256_setzero_si256();
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(row + k), v);
    }
  }
  for (int64_t p = 0; p < Kp / 2; ++p) {
    const int64_t k0 = 2 * p, k1 = 2 * p + 1;
    for (int64_t n = 0; n < Np; n += 16) {
      const __m256i lo = k0 < K ? bf16x16(b + k0 * ldb + n, N - n) : _mm256_setzero_si256();
      const __m256i hi = k1 < K ? bf16x16(b + k1 * ldb + n, N - n) : _mm256_setzero_si256();
      const __m512i pair = _mm512_or_si512(_mm512_cvtepu16_epi32(lo), _mm512_slli_epi32(_mm512_cvtepu16_epi32(hi), 16));
      _mm512_storeu_si512(bp.data() + ((n / 16) * panel + p * 16) * 2, pair);
    }
  }
  pairs(ap.data(), Kp, reinterpret_cast<const uint32_t*>(bp.data()), 16, panel, c, ldc, M, N, Kp, false);
}

namespace {

void gemm_nn_bf16(const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t M,
                  int64_t N, int64_t K) {
  gemm_nn_bf16_packed(gemm_bf16_pairs, a, lda, b, ldb, c, ldc, M, N, K);
}

}  // namespace

void fill_table_gemm_nn_bf16(KernelTable* t) { t->gemm_nn_bf16 = gemm_nn_bf16; }

}  // namespace herd::kernels::avx512bf16
