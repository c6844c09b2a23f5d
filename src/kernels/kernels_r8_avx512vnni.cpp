// AVX-512 VNNI tile kernels for the row-interleaved r8 weight layouts
// (tensor/repack_r8.h; TileDotQ8R8Fn in kernel_table.h): kernels/tile_r8_inl.h
// with vpdpbusd as the 4-byte dot. Up to 8 tokens per register tile: 8
// accumulators + 8 operands + scales fit the 32 ymm registers.
#include <immintrin.h>

#include <cstring>
#include <utility>

#include "kernels/kernel_table.h"
#include "tensor/repack_r8.h"

namespace herd::kernels::avx512vnni {
namespace {

constexpr int kTT = 8;
constexpr int kTTHalfBlock = 8;

__attribute__((always_inline)) inline __m256i dp4(__m256i a, __m256i u, __m256i x) {
  return _mm256_dpbusd_epi32(a, u, x);
}

template <int kMaxQ, int N, int kChains>
__m256i dot_groups(__m256i a, const __m256i* q, const int8_t* xq);
inline void q8_0_prepare(const uint8_t* qs, __m256i* q);
template <int kChains>
inline __m256i q8_0_isum(const __m256i* q, const uint8_t* qs, const BlockQ8& xb);

#include "kernels/tile_r8_inl.h"

// One vpdpbusd per group: it sums in 32 bits, exact for any u8 operand.
// kChains 2 (the decode tiles of 1-2 tokens, where no other token's chain
// hides the latency of N dependent vpdpbusd): even and odd groups in two
// chains added at the end. Integer sums, so the order changes no bit.
template <int kMaxQ, int N, int kChains>
__attribute__((always_inline)) inline __m256i dot_groups(__m256i a, const __m256i* q, const int8_t* xq) {
  if constexpr (kChains == 2 && N % 2 == 0) {
    __m256i b = _mm256_setzero_si256();
    #pragma GCC unroll 8
    for (int i = 0; i < N; i += 2) {
      a = dp4(a, q[i], bcast4(xq + 4 * i));
      b = dp4(b, q[i + 1], bcast4(xq + 4 * i + 4));
    }
    return _mm256_add_epi32(a, b);
  } else {
    #pragma GCC unroll 8
    for (int i = 0; i < N; ++i) a = dp4(a, q[i], bcast4(xq + 4 * i));
    return a;
  }
}

// Q8_0: q + 128 (the top bit flipped, once per block) is the u8 operand;
// the offset folds into the start value.
__attribute__((always_inline)) inline void q8_0_prepare(const uint8_t* qs, __m256i* q) {
  #pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) q[i] = _mm256_xor_si256(load(qs + 32 * i), _mm256_set1_epi8(-128));
}
template <int kChains>
__attribute__((always_inline)) inline __m256i q8_0_isum(const __m256i* q, const uint8_t*, const BlockQ8& xb) {
  return dot_groups<255, 8, kChains>(_mm256_set1_epi32(-128 * xb.s), q, xb.qs);
}

}  // namespace

void fill_table_r8(KernelTable* t) {
  t->tile_q8_r8[static_cast<int>(DType::kQ4_0)] = tile_r8<Q4_0>;
  t->tile_q8_r8[static_cast<int>(DType::kQ4_1)] = tile_r8<Q4_1>;
  t->tile_q8_r8[static_cast<int>(DType::kQ5_0)] = tile_r8<Q5_0>;
  t->tile_q8_r8[static_cast<int>(DType::kQ5_1)] = tile_r8<Q5_1>;
  t->tile_q8_r8[static_cast<int>(DType::kQ8_0)] = tile_r8<Q8_0>;
  t->tile_q8_r8[static_cast<int>(DType::kQ4_K)] = tile_r8<Q4_K>;
  t->tile_q8_r8[static_cast<int>(DType::kQ5_K)] = tile_r8<Q5_K>;
  t->tile_q8_r8[static_cast<int>(DType::kQ6_K)] = tile_r8<Q6_K>;
}

}  // namespace herd::kernels::avx512vnni
