// AVX2 tile kernels for the row-interleaved r8 weight layouts
// (tensor/repack_r8.h; TileDotQ8R8Fn in kernel_table.h): kernels/tile_r8_inl.h
// with the 4-byte dot built from vpmaddubsw (u8 x s8 pairs -> s16) and
// vpmaddwd (pairs -> s32), for CPUs without AVX512_VNNI.
//
// Exactness: vpmaddubsw saturates a pair sum beyond 2^15 - 1. The r8 operands
// are Q4_0 and Q4_K nibbles (<= 15), Q5_K's 5-bit values (<= 31) and Q6_K's
// 6-bit values (<= 63) against activations |x| <= 127: at most
// 2 * 63 * 127 = 16002, exact. Q8_0's signed q
// as a u8 operand would need q + 128 (up to 255, which could saturate), so it
// uses the sign trick instead: |q| (u8, <= 128) against x with q's sign
// (vpsignb), at most 2 * 128 * 127 = 32512, exact. The integer sums are
// therefore the VNNI kernels' bit for bit, and so is every output. Where the
// operands are small enough (dot_groups below), several vpmaddubsw results
// are added in 16 bits before one vpmaddwd widens them.
//
// 4 tokens per register tile: 4 accumulators + 8 block operands + the
// broadcast activations and constants fill the 16 ymm registers (Q6_K,
// which keeps half a block's operands live: 8 tokens).
#include <immintrin.h>

#include <cstring>
#include <utility>

#include "kernels/kernel_table.h"
#include "tensor/repack_r8.h"

namespace herd::kernels::avx2 {
namespace {

constexpr int kTT = 4;
constexpr int kTTHalfBlock = 8;

__attribute__((always_inline)) inline __m256i dp4(__m256i a, __m256i u, __m256i x) {
  return _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), _mm256_set1_epi16(1)));
}

#include "kernels/tile_r8_inl.h"

// Only the 8-row unit V8 (ymm) exists here: V is always V8.
//
// vpmaddubsw's 16-bit pair sums are added in 16 bits for runs of kRun groups
// and only then widened by one vpmaddwd: a run of L groups sums at most
// 2 L kMaxQ 128 in magnitude per 16-bit lane, exact while that is <= 32767
// (Q4_0 / Q4_K nibbles: runs of 8, a whole block, summed in two chains; Q5_K
// and Q6_K: pairs). Fewer multiplies than one vpmaddwd per group, the same exact sums.
// These chains are already short, so kChains (the VNNI file's decode split) is
// not used here.
template <class V, int kMaxQ, int N, int kChains>
__attribute__((always_inline)) inline typename V::I dot_groups(typename V::I a, const typename V::I* q,
                                                               const int8_t* xq) {
  static_assert(V::kGroups == 1, "AVX2 has the 8-row unit only");
  constexpr int kRun = 32767 / (2 * kMaxQ * 128);
  static_assert(kRun >= 2 && N % 2 == 0, "operands too large to sum in 16 bits (Q8_0 uses q8_0_isum's sign trick)");
  if constexpr (kRun >= N) {
    __m256i s0 = _mm256_maddubs_epi16(q[0], bcast4(xq)), s1 = _mm256_maddubs_epi16(q[1], bcast4(xq + 4));
    #pragma GCC unroll 8
    for (int i = 2; i < N; i += 2) {
      s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(q[i], bcast4(xq + 4 * i)));
      s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(q[i + 1], bcast4(xq + 4 * i + 4)));
    }
    return _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_add_epi16(s0, s1), _mm256_set1_epi16(1)));
  } else {
    #pragma GCC unroll 8
    for (int i = 0; i < N; i += 2) {
      const __m256i s = _mm256_add_epi16(_mm256_maddubs_epi16(q[i], bcast4(xq + 4 * i)),
                                         _mm256_maddubs_epi16(q[i + 1], bcast4(xq + 4 * i + 4)));
      a = _mm256_add_epi32(a, _mm256_madd_epi16(s, _mm256_set1_epi16(1)));
    }
    return a;
  }
}

// The sign trick: |q| (u8, <= 128; the 8 registers made once per block) times
// x with q's sign. vpsignb takes q's signed bytes straight from the weights
// as its memory operand (the asm keeps GCC from hoisting those 8 loads into
// registers as well, which spills: 16 registers for one block's operands),
// so a group and token cost vpsignb, vpmaddubsw, vpmaddwd and an add.
// Recomputing |q| per token, as before, cost ~1/5 of the kernel's time.
template <class V>
__attribute__((always_inline)) inline void q8_0_prepare(const uint8_t* qs, int64_t, typename V::I* q) {
  #pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) q[i] = _mm256_abs_epi8(load(qs + 32 * i));
}

__attribute__((always_inline)) inline __m256i sign_by_mem(__m256i x, const uint8_t* s) {
  __m256i r;
  asm("vpsignb %2, %1, %0" : "=x"(r) : "x"(x), "m"(*reinterpret_cast<const __m256i*>(s)));
  return r;
}

template <class V, int kChains>
__attribute__((always_inline)) inline typename V::I q8_0_isum(const typename V::I* q, const uint8_t* qs,
                                                              const BlockQ8& xb) {
  __m256i a = _mm256_setzero_si256();
  #pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) a = dp4(a, q[i], sign_by_mem(bcast4(xb.qs + 4 * i), qs + 32 * i));
  return a;
}

}  // namespace

void fill_table_r8(KernelTable* t) { fill_r8_entries<V8>(t); }

}  // namespace herd::kernels::avx2
