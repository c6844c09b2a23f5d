// AVX-512 BF16 outer-product tile for F16 and BF16 weights in the r16 pair
// layout (TileDotBf16R16Fn in kernels/kernel_table.h, tensor/repack_r16.h).
//
// One weight register holds a pair of consecutive elements of 16 rows; one
// activation pair of a token, broadcast to the 16 lanes, multiplies it with
// one vdpbf16ps, so each lane accumulates its own row and a weight register
// serves every token of the register tile. Register tile: 4 groups (64 rows)
// x 6 tokens, 24 accumulators. The file-layout tile (kernels_avx512bf16.cpp)
// loads an activation vector per token and weight vector per row and ends
// every output with a horizontal sum; in L1, with the same 4 x 6 shape, it ran
// at 300-390 GFLOP/s on one Zen 5 core against this form's 420-430 (the
// core's vdpbf16ps peak measured ~430).
//
// Order (the contract): K in blocks of kBf16R16Block elements from k = 0;
// per block one chain per lane from +0, pairs in order; the block's sum is
// stored (first block) or added to the output. Every output gets that same
// sequence whatever the tile shape or walk, so prefill and decode, and any
// thread split by groups, give the same bits.
//
// Walks:
//  * Prefill (n_tok >= kToks): for each tile of 4 groups and each K block, the
//    block (4 x 16 rows x 256 elements = 32 KB of bf16, in L1) is multiplied by
//    every token tile before the next one is read, so each weight byte comes
//    from memory once per token group; F16 blocks are first converted to
//    bf16 in a stack buffer (the conversion once per block instead of once
//    per token tile). A token group's activations for one block (at most
//    kTokGroup x 512 B) stay in L2.
//  * Decode (fewer tokens): kDecodeGroups groups at a time (4: 75 GB/s against
//    68-69 with 2 on kernels_bench bf16 8192 x 2048 T 1, 2 threads), each read from
//    start to end in address order, F16 converted in registers.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/bf16_operands_avx512bf16_inl.h"
#include "kernels/count_dispatch_inl.h"
#include "kernels/kernel_table.h"
#include "tensor/repack_r16.h"

namespace herd::kernels::avx512bf16 {
namespace {

constexpr int kGroups = 4, kToks = 6;
constexpr int kDecodeGroups = 4;
constexpr int64_t kTokGroup = 512;
constexpr int64_t kBlockBytes = 32 * kBf16R16Block;  // one group's block: 16 rows x 256 elements x 2 B

// x + k as the 32-bit pair (x[k] low, x[k + 1] high) broadcast to 16 lanes.
inline __m512bh pair(const uint16_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return as_bh(_mm512_set1_epi32(v));
}

// One K block of kn (even, <= kBf16R16Block) elements of RV groups (w: the
// first group's block, the next ones ws bytes on) by TT token rows (x: their
// block, xs elements apart): each lane's chain from +0, then the block sums
// stored (first) or added to out[t * os + 16 r ..].
template <class W, int RV, int TT>
inline void block(const uint8_t* w, int64_t ws, const uint16_t* x, int64_t xs, int64_t kn, float* out, int64_t os,
                  bool first) {
  __m512 acc[RV][TT];
  #pragma GCC unroll 16
  for (int r = 0; r < RV; ++r)
    #pragma GCC unroll 16
    for (int t = 0; t < TT; ++t) acc[r][t] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kn; k += 2) {
    __m512bh wv[RV];
    #pragma GCC unroll 16
    for (int r = 0; r < RV; ++r) wv[r] = W::full(w + r * ws + 32 * k);
    #pragma GCC unroll 16
    for (int t = 0; t < TT; ++t) {
      const __m512bh xv = pair(x + t * xs + k);
      #pragma GCC unroll 16
      for (int r = 0; r < RV; ++r) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], wv[r], xv);
    }
  }
  #pragma GCC unroll 16
  for (int r = 0; r < RV; ++r)
    #pragma GCC unroll 16
    for (int t = 0; t < TT; ++t) {
      float* o = out + t * os + 16 * r;
      _mm512_storeu_ps(o, first ? acc[r][t] : _mm512_add_ps(_mm512_loadu_ps(o), acc[r][t]));
    }
}

// block<W, rv, tn> for run-time rv in 1..RV, tn in 1..TT.
template <class W, int RV, int TT>
inline void block_n(int64_t rv, int64_t tn, const uint8_t* w, int64_t ws, const uint16_t* x, int64_t xs, int64_t kn,
                    float* out, int64_t os, bool first) {
  dispatch_count<RV>(rv, [&](auto r) {
    dispatch_count<TT>(tn, [&](auto t) { block<W, decltype(r)::value, decltype(t)::value>(w, ws, x, xs, kn, out, os, first); });
  });
}

template <class W>
void tile(const uint8_t* w, int64_t n_groups, const uint16_t* x, int64_t xs, int64_t n_tok, int64_t K, float* out,
          int64_t os) {
  const int64_t gb = r16_group_bytes(K);
  if (n_tok < kToks) {
    for (int64_t g = 0; g < n_groups; g += kDecodeGroups) {
      const int64_t rv = std::min<int64_t>(kDecodeGroups, n_groups - g);
      for (int64_t k0 = 0; k0 < K; k0 += kBf16R16Block)
        block_n<W, kDecodeGroups, kToks - 1>(rv, n_tok, w + g * gb + 32 * k0, gb, x + k0, xs,
                                            std::min(kBf16R16Block, K - k0), out + 16 * g, os, k0 == 0);
    }
    return;
  }
  alignas(64) uint8_t staged[kGroups * kBlockBytes];
  for (int64_t t0 = 0; t0 < n_tok; t0 += kTokGroup) {
    const int64_t tg = std::min(kTokGroup, n_tok - t0);
    for (int64_t g = 0; g < n_groups; g += kGroups) {
      const int64_t rv = std::min<int64_t>(kGroups, n_groups - g);
      for (int64_t k0 = 0; k0 < K; k0 += kBf16R16Block) {
        const int64_t kn = std::min(kBf16R16Block, K - k0);
        const uint8_t* b = w + g * gb + 32 * k0;
        int64_t bs = gb;
        if constexpr (!std::is_same_v<W, LoadBF16>) {
          // This block as bf16, converted once for every token tile.
          for (int64_t r = 0; r < rv; ++r)
            for (int64_t k = 0; k < kn; k += 2)
              _mm512_store_si512(staged + r * kBlockBytes + 32 * k, as_si(W::full(b + r * gb + 32 * k)));
          b = staged;
          bs = kBlockBytes;
          // The next block (this tile's next K block, or the next tile's first)
          // into L2 while this one is multiplied: staging reads memory with no
          // products to overlap (kernels_bench f16 r16 8192 x 2048, T 128, 2
          // threads, two alternating rounds: 617 / 632 GFLOP/s without it, 660 / 677 with).
          const int64_t nk = k0 + kBf16R16Block < K ? k0 + kBf16R16Block : 0;
          const int64_t ng = nk > 0 ? g : g + kGroups;
          if (ng < n_groups) {
            const int64_t nrv = std::min<int64_t>(kGroups, n_groups - ng);
            const int64_t nbytes = 32 * std::min(kBf16R16Block, K - nk);
            for (int64_t r = 0; r < nrv; ++r)
              for (int64_t o = 0; o < nbytes; o += 64)
                _mm_prefetch(reinterpret_cast<const char*>(w + (ng + r) * gb + 32 * nk + o), _MM_HINT_T1);
          }
        }
        for (int64_t t = 0; t < tg; t += kToks)
          block_n<LoadBF16, kGroups, kToks>(rv, std::min<int64_t>(kToks, tg - t), b, bs, x + (t0 + t) * xs + k0, xs, kn,
                                            out + (t0 + t) * os + 16 * g, os, k0 == 0);
      }
    }
  }
}

void tile_bf16_r16(const uint8_t* w, int64_t n_groups, const uint16_t* x, int64_t xs, int64_t n_tok, int64_t K,
                   float* out, int64_t os) {
  tile<LoadBF16>(w, n_groups, x, xs, n_tok, K, out, os);
}
void tile_f16_r16(const uint8_t* w, int64_t n_groups, const uint16_t* x, int64_t xs, int64_t n_tok, int64_t K,
                  float* out, int64_t os) {
  tile<LoadF16>(w, n_groups, x, xs, n_tok, K, out, os);
}

}  // namespace

void fill_table_r16(KernelTable* t) {
  t->tile_bf16_r16[static_cast<int>(DType::kBF16)] = tile_bf16_r16;
  t->tile_bf16_r16[static_cast<int>(DType::kF16)] = tile_f16_r16;
}

}  // namespace herd::kernels::avx512bf16
