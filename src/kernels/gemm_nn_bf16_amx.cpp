// AMX-BF16 gemm_nn_bf16 (kernel_table.h): gemm_nn_bf16_avx512bf16.cpp's
// packing with tdpbf16ps's tile loop (gemm_bf16_pairs_amx.cpp) for the
// products, where the AVX512_BF16 form uses vdpbf16ps.
#include <cstdint>

#include "kernels/kernel_table.h"

namespace herd::kernels::amx {
namespace {

void gemm_nn_bf16(const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t M,
                  int64_t N, int64_t K) {
  avx512bf16::gemm_nn_bf16_packed(gemm_bf16_pairs, a, lda, b, ldb, c, ldc, M, N, K);
}

}  // namespace

void fill_table_gemm_nn_bf16(KernelTable* t) { t->gemm_nn_bf16 = gemm_nn_bf16; }

}  // namespace herd::kernels::amx
