// AVX2 + FMA + F16C outer-product tiles for F16 and BF16 weights in the r8
// layout (tensor/repack_r8.h: element k of 8 rows side by side), f32
// activations: TileDotF32R8Fn in kernel_table.h, whose order of operations
// (blocks of kF32R8Block elements, one FMA chain per block, block sums added
// in order) they follow exactly, so they equal tile_f32_r8_ref bit for bit.
//
// Why this layout: in the file layout (kernels_avx2.cpp's tile_rows) a
// converted weight vector holds 8 elements of one row and meets one token per
// FMA, so a 2-row x 3-token tile spends 2 conversions (vcvtph2ps: 2 uops on
// Zen 3, on the FMA pipes) per 6 FMAs, and measured ~1.5 FMA per cycle where
// 2 is the peak. Here a vector holds element k of 8 rows: 2 conversions serve
// 16 rows x 6 tokens = 12 FMAs, the activations come as broadcast loads (load
// pipes only), and nothing needs a horizontal sum. The same loop measured
// ~2.2 FMAs per TSC tick against the 2.25 of FMAs alone (this host's TSC runs
// slower than the core).
//
// Registers: 2 groups x 6 tokens = 12 accumulators, 2 weight vectors and the
// broadcast fill 15 of the 16 ymm; decode (1-2 tokens) takes 4 groups so that
// 4-8 FMA chains, not 2, hide the FMA latency. The running sums of the blocks
// live in `out` (8 floats per group and token, one load-add-store per block).
//
// Compiled with -mavx2 -mfma -mf16c only; nothing here is called unless the
// CPU has them.
#include <immintrin.h>

#include "kernels/kernel_table.h"
#include "tensor/dtype.h"

namespace herd::kernels::avx2 {
namespace {

// Element k of a group's 8 rows as 8 f32.
struct LoadF16R8 {
  static __m256 v8(const uint8_t* group, int64_t k) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(group + 16 * k)));
  }
};
struct LoadBf16R8 {
  static __m256 v8(const uint8_t* group, int64_t k) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(group + 16 * k));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(v), 16));
  }
};

// G groups (gb bytes apart) x TT tokens, all of K.
template <class L, int G, int TT>
__attribute__((always_inline)) inline void r8_tile(const uint8_t* w, int64_t gb, const float* x, int64_t xs, int64_t K,
                                                   float* out, int64_t os) {
  for (int64_t k0 = 0; k0 < K; k0 += kF32R8Block) {
    const int64_t k1 = K - k0 < kF32R8Block ? K : k0 + kF32R8Block;
    __m256 a[G][TT];
    #pragma GCC unroll 4
    for (int g = 0; g < G; ++g) {
      #pragma GCC unroll 6
      for (int t = 0; t < TT; ++t) a[g][t] = _mm256_setzero_ps();
    }
    for (int64_t k = k0; k < k1; ++k) {
      __m256 wv[G];
      #pragma GCC unroll 4
      for (int g = 0; g < G; ++g) wv[g] = L::v8(w + g * gb, k);
      #pragma GCC unroll 6
      for (int t = 0; t < TT; ++t) {
        const __m256 b = _mm256_broadcast_ss(x + t * xs + k);
        #pragma GCC unroll 4
        for (int g = 0; g < G; ++g) a[g][t] = _mm256_fmadd_ps(wv[g], b, a[g][t]);
      }
    }
    #pragma GCC unroll 4
    for (int g = 0; g < G; ++g) {
      #pragma GCC unroll 6
      for (int t = 0; t < TT; ++t) {
        float* o = out + t * os + 8 * g;
        _mm256_storeu_ps(o, k0 == 0 ? a[g][t] : _mm256_add_ps(_mm256_loadu_ps(o), a[g][t]));
      }
    }
  }
}

// Every token of G groups, in register tiles of kTT tokens and one tail tile.
template <class L, int G>
void groups_times_tokens(const uint8_t* w, int64_t gb, const float* x, int64_t xs, int64_t n_tok, int64_t K,
                         float* out, int64_t os) {
  constexpr int kTT = G >= 4 ? 2 : 6;  // G * kTT <= 12 accumulators
  int64_t t = 0;
  for (; t + kTT <= n_tok; t += kTT) r8_tile<L, G, kTT>(w, gb, x + t * xs, xs, K, out + t * os, os);
  float* o = out + t * os;
  const float* xt = x + t * xs;
  switch (n_tok - t) {
    case 1: r8_tile<L, G, 1>(w, gb, xt, xs, K, o, os); break;
    case 2: if constexpr (kTT > 2) r8_tile<L, G, 2>(w, gb, xt, xs, K, o, os); break;
    case 3: if constexpr (kTT > 3) r8_tile<L, G, 3>(w, gb, xt, xs, K, o, os); break;
    case 4: if constexpr (kTT > 4) r8_tile<L, G, 4>(w, gb, xt, xs, K, o, os); break;
    case 5: if constexpr (kTT > 5) r8_tile<L, G, 5>(w, gb, xt, xs, K, o, os); break;
    default: break;
  }
}

template <class L>
void tile_r8(const uint8_t* w, int64_t n_groups, const float* x, int64_t xs, int64_t n_tok, int64_t K, float* out,
             int64_t os) {
  const int64_t gb = 16 * K;
  int64_t g = 0;
  if (n_tok <= 2)
    for (; g + 4 <= n_groups; g += 4) groups_times_tokens<L, 4>(w + g * gb, gb, x, xs, n_tok, K, out + 8 * g, os);
  for (; g + 2 <= n_groups; g += 2) groups_times_tokens<L, 2>(w + g * gb, gb, x, xs, n_tok, K, out + 8 * g, os);
  for (; g < n_groups; ++g) groups_times_tokens<L, 1>(w + g * gb, gb, x, xs, n_tok, K, out + 8 * g, os);
}

}  // namespace

void fill_table_f32_r8(KernelTable* t) {
  t->tile_f32_r8[static_cast<int>(DType::kF16)] = tile_r8<LoadF16R8>;
  t->tile_f32_r8[static_cast<int>(DType::kBF16)] = tile_r8<LoadBf16R8>;
}

}  // namespace herd::kernels::avx2
