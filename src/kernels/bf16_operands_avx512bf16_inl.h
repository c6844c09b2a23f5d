// The bf16 path's weight operands on AVX-512 BF16, shared by the file-layout
// tile (kernels_avx512bf16.cpp) and the r16 outer-product tile
// (tile_bf16_r16_avx512bf16.cpp): 32 elements of BF16 or F16 weights as one
// vdpbf16ps operand, in their memory order; and round16, the activations'
// rounding (also gemm_nn_bf16_amx.cpp's). Included only by *_avx512bf16.cpp
// and *_amx.cpp files (compiled with -mavx512bf16).
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace herd::kernels::avx512bf16 {

// 16 floats -> 16 bf16, round to nearest even; NaN -> quiet NaN. Exactly
// base/half.h f32_to_bf16, lane by lane, in integer arithmetic
// (vcvtneps2bf16 would flush f32 subnormals; base/half.h rounds them).
inline __m256i round16(__m512 v) {
  const __m512i u = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  const __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), lsb), 16);
  const __mmask16 nan =
      _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
  const __m512i q = _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
  return _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(nan, r, q));
}

inline __m512bh as_bh(__m512i v) { return reinterpret_cast<__m512bh&>(v); }
inline __m512i as_si(__m512bh v) { return reinterpret_cast<__m512i&>(v); }

// One 32-element weight operand at p (64 bytes); the masked forms read only
// the first n < 32 elements and zero the rest.
struct LoadBF16 {
  static constexpr int64_t kBytes = 2;
  static __m512bh full(const uint8_t* p) { return as_bh(_mm512_loadu_si512(p)); }
  static __m512bh part(const uint8_t* p, __mmask32 m) { return as_bh(_mm512_maskz_loadu_epi16(m, p)); }
};
struct LoadF16 {
  static constexpr int64_t kBytes = 2;
  static __m512bh full(const uint8_t* p) {
    const __m512 lo = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    const __m512 hi = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32)));
    return _mm512_cvtne2ps_pbh(hi, lo);  // elements 0-15 from lo, 16-31 from hi
  }
  static __m512bh part(const uint8_t* p, __mmask32 m) {
    const __m512 lo = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(static_cast<__mmask16>(m), p));
    const __m512 hi = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(static_cast<__mmask16>(m >> 16), p + 32));
    return _mm512_cvtne2ps_pbh(hi, lo);
  }
};

}  // namespace herd::kernels::avx512bf16
