// Block quants unpacked 16 at a time (SSE2) as int8 values, shared by the row
// conversions that read weights as values (row_to_f32_avx2.cpp,
// row_to_bf16_avx512bf16.cpp).
//
// Q4_0 (18-byte block: f16 d, then 16 bytes whose low nibbles are elements
// 0..15 and high nibbles 16..31): each value nibble - 8.
//
// Q6_K: a super-block's half (128
// elements) holds ql[64] (low nibbles), qh[32] (two high bits each) and eight
// scales; element 32 qn + l + i (qn = 0..3, l = 0 or 16, i < 16) is
// (low nibble | high bits << 4) - 32, the reference's q1..q4
// (tensor/quant_kquants.cpp), scaled by scale[l / 16 + 2 qn].
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "base/half.h"

namespace herd::kernels {

// The 32 values of a Q4_0 block's quants qs: elements 0..15 in lo, 16..31 in hi.
inline void q4_0_values(const uint8_t* qs, __m128i* lo, __m128i* hi) {
  const __m128i low = _mm_set1_epi8(0x0f), eight = _mm_set1_epi8(8);
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  *lo = _mm_sub_epi8(_mm_and_si128(q, low), eight);
  *hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), low), eight);
}

// q[qn] = the 16 int8 values of quarter qn at offset l of the half (ql, qh).
inline void q6_k_quarters(const uint8_t* ql, const uint8_t* qh, int l, __m128i q[4]) {
  const __m128i low = _mm_set1_epi8(0x0f), three = _mm_set1_epi8(3), bias = _mm_set1_epi8(32);
  const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(ql + l));
  const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(ql + l + 32));
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qh + l));
  const __m128i hbits[4] = {_mm_and_si128(h, three), _mm_and_si128(_mm_srli_epi16(h, 2), three),
                            _mm_and_si128(_mm_srli_epi16(h, 4), three), _mm_and_si128(_mm_srli_epi16(h, 6), three)};
  const __m128i lbits[4] = {_mm_and_si128(a, low), _mm_and_si128(c, low), _mm_and_si128(_mm_srli_epi16(a, 4), low),
                            _mm_and_si128(_mm_srli_epi16(c, 4), low)};
  for (int qn = 0; qn < 4; ++qn) q[qn] = _mm_sub_epi8(_mm_or_si128(lbits[qn], _mm_slli_epi16(hbits[qn], 4)), bias);
}

// Every group of 16 values of a Q6_K row of K elements (K % 256 == 0; 210-byte
// super-blocks, f16 d last), in element order: fn(i, s, q) with i the group's
// first element, s = fl(d * scale) its factor and q its 16 int8 values (each
// value fl(s * q), the reference's order).
template <class Fn>
inline void for_each_q6_k_group(const uint8_t* b, int64_t K, Fn&& fn) {
  for (int64_t i = 0; i < K; i += 256, b += 210) {
    uint16_t dh;
    std::memcpy(&dh, b + 208, sizeof dh);
    const float d = f16_to_f32(dh);
    const uint8_t* ql = b;
    const uint8_t* qh = b + 128;
    const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
    for (int64_t n = 0; n < 256; n += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; l += 16) {
        __m128i q[4];
        q6_k_quarters(ql, qh, l, q);
        for (int qn = 0; qn < 4; ++qn) fn(i + n + 32 * qn + l, d * static_cast<float>(sc[l / 16 + 2 * qn]), q[qn]);
      }
    }
  }
}

}  // namespace herd::kernels
