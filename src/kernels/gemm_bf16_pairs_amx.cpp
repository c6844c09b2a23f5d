// AMX-BF16 gemm_bf16_pairs (kernel_table.h GemmBf16PairsFn; its specification
// gemm_bf16_pairs_ref is in kernels_ref.cpp): C [M, N] (+)= A B with A bf16
// rows and B already in tdpbf16ps's pair form, the operand layout of the
// frozen products of training with --bf16 (matmul_bf16_products.cpp) and of
// gemm_nn_bf16 (which packs its f32 operands and calls this).
//
// C is walked in blocks of 32 x 32 outputs, rows outer: four accumulator tiles (0-3),
// two A tiles of 16 rows (4, 5) and two B tiles of 16 columns (6, 7, each
// from its panel of 16 columns: one contiguous kilobyte in the panel form), so each
// step of 32 elements of K loads four tiles for four tdpbf16ps (a last block
// of 16 rows or columns uses the tiles it needs). Every accumulator starts
// from zero (or from C when accumulating) and takes K in order, 32 elements
// per tdpbf16ps, and is stored once: C[i, j] is the same chain whatever block
// it falls in, so any split of M or N gives the same bits. A block's rows
// past M or columns past N are computed from what lies there and dropped (a
// partial tile goes through a small buffer).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/amx_tile_config.h"
#include "kernels/kernel_table.h"

namespace herd::kernels::amx {
namespace {

void configure() {
  AmxTileConfig c;
  for (int i = 0; i < 8; ++i) {
    c.colsb[i] = 64;
    c.rows[i] = 16;
  }
  load_tile_config(c);
}

// GCC's tile intrinsics paste their tile number into the instruction text,
// so it must be a literal: these dispatch a runtime tile index 0-3.
#define HERD_AMX_C_TILE(op) \
  switch (tile) {           \
    case 0: op(0); break;   \
    case 1: op(1); break;   \
    case 2: op(2); break;   \
    default: op(3); break;  \
  }

// Accumulator tile `tile` of the block at c (its first m rows and n columns valid).
inline void load_c(int tile, const float* c, int64_t ldc, int m, int n, bool accumulate) {
  alignas(64) float part[16 * 16];
  const float* src = c;
  int64_t stride = ldc * 4;
  if (accumulate && (m < 16 || n < 16)) {
    std::memset(part, 0, sizeof part);
    for (int r = 0; r < m; ++r) std::memcpy(part + r * 16, c + r * ldc, static_cast<size_t>(n) * sizeof(float));
    src = part;
    stride = 64;
  }
#define HERD_LOAD(t)         \
  if (accumulate) {          \
    _tile_loadd(t, src, stride); \
  } else {                   \
    _tile_zero(t);           \
  }
  HERD_AMX_C_TILE(HERD_LOAD)
#undef HERD_LOAD
}

inline void store_c(int tile, float* c, int64_t ldc, int m, int n) {
  if (m == 16 && n == 16) {
#define HERD_STORE(t) _tile_stored(t, c, ldc * 4)
    HERD_AMX_C_TILE(HERD_STORE)
#undef HERD_STORE
    return;
  }
  alignas(64) float part[16 * 16];
#define HERD_STORE_PART(t) _tile_stored(t, part, 64)
  HERD_AMX_C_TILE(HERD_STORE_PART)
#undef HERD_STORE_PART
  for (int r = 0; r < m; ++r) std::memcpy(c + r * ldc, part + r * 16, static_cast<size_t>(n) * sizeof(float));
}

// One block of kMb x kNb tiles at (i0, j0); m0/m1 and n0/n1 the valid rows and columns of each tile.
template <int kMb, int kNb>
void block(const uint16_t* a, int64_t lda, const uint32_t* b0, const uint32_t* b1, int64_t ldb, float* c, int64_t ldc,
           int64_t Kp, const int m[2], const int n[2], bool accumulate) {
  load_c(0, c, ldc, m[0], n[0], accumulate);
  if constexpr (kNb == 2) load_c(1, c + 16, ldc, m[0], n[1], accumulate);
  if constexpr (kMb == 2) load_c(2, c + 16 * ldc, ldc, m[1], n[0], accumulate);
  if constexpr (kMb == 2 && kNb == 2) load_c(3, c + 16 * ldc + 16, ldc, m[1], n[1], accumulate);
  for (int64_t k = 0; k < Kp; k += 32) {
    _tile_loadd(4, a + k, lda * 2);
    _tile_loadd(6, b0 + (k / 2) * ldb, ldb * 4);
    if constexpr (kNb == 2) _tile_loadd(7, b1 + (k / 2) * ldb, ldb * 4);
    _tile_dpbf16ps(0, 4, 6);
    if constexpr (kNb == 2) _tile_dpbf16ps(1, 4, 7);
    if constexpr (kMb == 2) {
      _tile_loadd(5, a + 16 * lda + k, lda * 2);
      _tile_dpbf16ps(2, 5, 6);
      if constexpr (kNb == 2) _tile_dpbf16ps(3, 5, 7);
    }
  }
  store_c(0, c, ldc, m[0], n[0]);
  if constexpr (kNb == 2) store_c(1, c + 16, ldc, m[0], n[1]);
  if constexpr (kMb == 2) store_c(2, c + 16 * ldc, ldc, m[1], n[0]);
  if constexpr (kMb == 2 && kNb == 2) store_c(3, c + 16 * ldc + 16, ldc, m[1], n[1]);
}

}  // namespace

void gemm_bf16_pairs(const uint16_t* a, int64_t lda, const uint32_t* b, int64_t ldb, int64_t b_panel, float* c,
                     int64_t ldc, int64_t M, int64_t N, int64_t Kp, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  configure();
  // Rows outer: C is written a strip of 32 rows at a time (gemm_nn_bf16's
  // [512, 512] score blocks of a short K are store-bound: walking C by columns
  // made the tile stores a tenth of a Prompt Guard window). The training
  // products call with at most 32 rows, where the order is the same.
  for (int64_t i0 = 0; i0 < M; i0 += 32) {
    const int m[2] = {static_cast<int>(std::min<int64_t>(16, M - i0)),
                      static_cast<int>(std::clamp<int64_t>(M - i0 - 16, 0, 16))};
    for (int64_t j0 = 0; j0 < N; j0 += 32) {
      const int n[2] = {static_cast<int>(std::min<int64_t>(16, N - j0)),
                        static_cast<int>(std::clamp<int64_t>(N - j0 - 16, 0, 16))};
      const uint16_t* ai = a + i0 * lda;
      const uint32_t* b0 = b + (j0 / 16) * b_panel;
      const uint32_t* b1 = b0 + b_panel;
      float* cij = c + i0 * ldc + j0;
      if (m[1] > 0 && n[1] > 0)
        block<2, 2>(ai, lda, b0, b1, ldb, cij, ldc, Kp, m, n, accumulate);
      else if (m[1] > 0)
        block<2, 1>(ai, lda, b0, b1, ldb, cij, ldc, Kp, m, n, accumulate);
      else if (n[1] > 0)
        block<1, 2>(ai, lda, b0, b1, ldb, cij, ldc, Kp, m, n, accumulate);
      else
        block<1, 1>(ai, lda, b0, b1, ldb, cij, ldc, Kp, m, n, accumulate);
    }
  }
  _tile_release();
}

void fill_table_gemm_bf16_pairs(KernelTable* t) { t->gemm_bf16_pairs = gemm_bf16_pairs; }

}  // namespace herd::kernels::amx
