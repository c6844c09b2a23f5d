// The AVX-512 VNNI r8 tile machinery (no include guard, on purpose, like
// kernels/tile_r8_inl.h, which it includes): the 4-byte dot (vpdpbusd), the
// two-group unit V16, dot_groups and the Q8_0 operand. Included INSIDE an
// anonymous namespace by the files that run these tiles, each compiled with
// at least AVX-512 VNNI's flags: kernels_r8_avx512vnni.cpp (the avx512vnni
// table) and tile_r8_amx.cpp (whose AMX tile hands the remainders to these,
// and takes the weight operands and per-block scales from the same format
// code, so both give the same bits).
//
// Up to 8 tokens per register tile: 8 accumulators + 8 operands + scales fit
// the 32 registers.
//
// Prefill tiles run two groups of 8 rows per zmm register (V16 below): the
// same 4 elements of group g in the low half and of group g + 1 in the high
// half, so one vpdpbusd, conversion and FMA serve 16 rows, one broadcast of 4
// activation bytes feeds twice the products, and the 16 outputs are one
// store. Lane for lane the operations are V8's, so the bits are too.
// Measured on a 2-core Zen 4 (kernels_bench q4_0 r8 T:512, 1 thread, two
// alternating pairs): 2048x2048 216-226 -> 394-473 GFLOP/s, 8192x2048
// 220-232 -> 418-514.

constexpr int kTT = 8;
constexpr int kTTHalfBlock = 8;

__attribute__((always_inline)) inline __m256i dp4(__m256i a, __m256i u, __m256i x) {
  return _mm256_dpbusd_epi32(a, u, x);
}
__attribute__((always_inline)) inline __m512i dp4(__m512i a, __m512i u, __m512i x) {
  return _mm512_dpbusd_epi32(a, u, x);
}

#include "kernels/tile_r8_inl.h"

// Two groups of 8 rows in a zmm: group g in the low 256 bits, group g + 1
// (gb bytes further) in the high 256 bits, with V8's operations.
struct V16 {
  using I = __m512i;
  using F = __m512;
  static constexpr int kGroups = 2;
  [[gnu::always_inline]] static I ld(const uint8_t* p, int64_t gb) { return _mm512_inserti64x4(_mm512_castsi256_si512(load(p)), load(p + gb), 1); }
  [[gnu::always_inline]] static F both(__m256 lo, __m256 hi) {  // (vinsertf32x8 is AVX512DQ, not in this file's flags)
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(lo)), _mm256_castps_pd(hi), 1));
  }
  [[gnu::always_inline]] static F f16(const uint8_t* p, int64_t gb) { return both(f16x8(p), f16x8(p + gb)); }
  [[gnu::always_inline]] static F u8(const uint8_t* p, int64_t gb) { return both(u8x8(p), u8x8(p + gb)); }
  [[gnu::always_inline]] static F i8(const uint8_t* p, int64_t gb) { return both(i8x8(p), i8x8(p + gb)); }
  [[gnu::always_inline]] static I and_(I a, I b) { return _mm512_and_si512(a, b); }
  [[gnu::always_inline]] static I or_(I a, I b) { return _mm512_or_si512(a, b); }
  [[gnu::always_inline]] static I xor_(I a, I b) { return _mm512_xor_si512(a, b); }
  [[gnu::always_inline]] static I srli16_4(I a) { return _mm512_srli_epi16(a, 4); }
  [[gnu::always_inline]] static I slli16_4(I a) { return _mm512_slli_epi16(a, 4); }
  [[gnu::always_inline]] static I srl16(I a, __m128i n) { return _mm512_srl_epi16(a, n); }
  [[gnu::always_inline]] static I set1_8(char v) { return _mm512_set1_epi8(v); }
  [[gnu::always_inline]] static I set1_32(int32_t v) { return _mm512_set1_epi32(v); }
  [[gnu::always_inline]] static I zero() { return _mm512_setzero_si512(); }
  [[gnu::always_inline]] static I add32(I a, I b) { return _mm512_add_epi32(a, b); }
  [[gnu::always_inline]] static I broadcast4(const int8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
  }
  [[gnu::always_inline]] static I byte_of_lane(I v, int n) {  // vpshufb works within each 128-bit quarter, as in V8
    return _mm512_shuffle_epi8(v, _mm512_broadcast_i64x4(lane_byte_index(n)));
  }
  [[gnu::always_inline]] static I if_bits(I v, I bit, I val) {
    return _mm512_maskz_mov_epi8(_mm512_cmpeq_epi8_mask(_mm512_and_si512(v, bit), bit), val);
  }
  [[gnu::always_inline]] static F cvt(I a) { return _mm512_cvtepi32_ps(a); }
  [[gnu::always_inline]] static F set1(float v) { return _mm512_set1_ps(v); }
  [[gnu::always_inline]] static F zero_f() { return _mm512_setzero_ps(); }
  [[gnu::always_inline]] static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  [[gnu::always_inline]] static F fmadd(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  [[gnu::always_inline]] static F fnmadd(F a, F b, F c) { return _mm512_fnmadd_ps(a, b, c); }
  [[gnu::always_inline]] static void store(float* p, F a) { _mm512_storeu_ps(p, a); }  // rows 8g .. 8g + 15: one run of outputs
};

// One vpdpbusd per group: it sums in 32 bits, exact for any u8 operand.
// kChains 2 (the decode tiles of 1-2 tokens, where no other token's chain
// hides the latency of N dependent vpdpbusd): even and odd groups in two
// chains added at the end. Integer sums, so the order changes no bit.
template <class V, int kMaxQ, int N, int kChains>
__attribute__((always_inline)) inline typename V::I dot_groups(typename V::I a, const typename V::I* q,
                                                               const int8_t* xq) {
  if constexpr (kChains == 2 && N % 2 == 0) {
    typename V::I b = V::zero();
    #pragma GCC unroll 8
    for (int i = 0; i < N; i += 2) {
      a = dp4(a, q[i], V::broadcast4(xq + 4 * i));
      b = dp4(b, q[i + 1], V::broadcast4(xq + 4 * i + 4));
    }
    return V::add32(a, b);
  } else {
    #pragma GCC unroll 8
    for (int i = 0; i < N; ++i) a = dp4(a, q[i], V::broadcast4(xq + 4 * i));
    return a;
  }
}

// Q8_0: q + 128 (the top bit flipped, once per block) is the u8 operand;
// the offset folds into the start value.
template <class V>
__attribute__((always_inline)) inline void q8_0_prepare(const uint8_t* qs, int64_t gb, typename V::I* q) {
  #pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) q[i] = V::xor_(V::ld(qs + 32 * i, gb), V::set1_8(-128));
}
template <class V, int kChains>
__attribute__((always_inline)) inline typename V::I q8_0_isum(const typename V::I* q, const uint8_t*, const BlockQ8& xb) {
  return dot_groups<V, 255, 8, kChains>(V::set1_32(-128 * xb.s), q, xb.qs);
}

