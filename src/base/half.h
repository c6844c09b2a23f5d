// IEEE binary16 (f16), bfloat16 (bf16) and FP8 e4m3 <-> float32 conversions.
//
// Scalar and exact: f16 -> f32, bf16 -> f32 and e4m3 -> f32 are exact; f32 ->
// f16 and f32 -> bf16 round to nearest, ties to even, as numpy, PyTorch and
// ggml do (NaN stays NaN, overflow saturates to infinity per IEEE). e4m3 is
// PyTorch's float8_e4m3fn (spec/llama31.md 7.1): 1 sign, 4 exponent bits of
// bias 7, 3 mantissa bits, no infinities, NaN = S.1111.111, max finite 448.
#pragma once

#include <cstdint>
#include <cstring>

namespace herd {

inline float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint32_t float_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

inline float bf16_to_f32(uint16_t h) { return bits_to_float(static_cast<uint32_t>(h) << 16); }

inline uint16_t f32_to_bf16(float f) {
  uint32_t u = float_to_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

inline float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  if (exp == 0) {
    // zero or subnormal: man * 2^-24
    float v = static_cast<float>(man) * 5.9604644775390625e-08f;
    return sign ? -v : v;
  }
  if (exp == 31) return bits_to_float(sign | 0x7f800000u | (man << 13));
  return bits_to_float(sign | ((exp + 112) << 23) | (man << 13));
}

inline uint16_t f32_to_f16(float f) {
  uint32_t u = float_to_bits(f);
  uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to inf
  if (abs < 0x38800000u) {
    // result is subnormal (or zero): round abs / 2^-24 to nearest even integer
    float v = bits_to_float(abs) * 16777216.0f;  // exact scaling by 2^24
    uint32_t m = static_cast<uint32_t>(v);
    float rem = v - static_cast<float>(m);
    if (rem > 0.5f || (rem == 0.5f && (m & 1u))) ++m;
    return static_cast<uint16_t>(sign | m);
  }
  // normal: rebias exponent, round mantissa from 23 to 10 bits (ties to even)
  uint32_t r = abs - 0x38000000u;  // exponent rebias 127 -> 15
  r += 0xfffu + ((r >> 13) & 1u);
  return static_cast<uint16_t>(sign | (r >> 13));
}

// e4m3 -> f32: (-1)^s 2^(e-7) (1 + m/8) for e >= 1, (-1)^s 2^-6 m/8 for e = 0;
// 0x7F and 0xFF are NaN.
inline float f8_e4m3_to_f32(uint8_t b) {
  const uint32_t e = (b >> 3) & 0xfu, m = b & 0x7u;
  float v;
  if ((b & 0x7fu) == 0x7fu) {
    v = bits_to_float(0x7fc00000u);
  } else if (e == 0) {
    v = static_cast<float>(m) * 0.001953125f;  // m * 2^-9
  } else {
    v = bits_to_float(((e + 120) << 23) | (m << 20));  // rebias 7 -> 127
  }
  return (b & 0x80u) ? -v : v;
}

// f32 -> e4m3, round to nearest, ties to even, saturating: |x| past 448
// gives +-448 (Meta's quantizer clamps to [-448, 448] before the cast, so a
// clamp-then-cast and this agree); NaN gives 0x7F.
inline uint8_t f32_to_f8_e4m3(float f) {
  const uint32_t u = float_to_bits(f);
  const uint8_t sign = static_cast<uint8_t>((u >> 24) & 0x80u);
  const uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return 0x7f;
  if (abs >= 0x43e00000u) return static_cast<uint8_t>(sign | 0x7e);  // >= 448: saturate
  if (abs < 0x3c800000u) {
    // below 2^-6: subnormal grid m * 2^-9, m = 0..8 (8 is the smallest normal, 0x08)
    const float v = bits_to_float(abs) * 512.0f;  // exact scaling by 2^9
    uint32_t m = static_cast<uint32_t>(v);
    const float rem = v - static_cast<float>(m);
    if (rem > 0.5f || (rem == 0.5f && (m & 1u))) ++m;
    return static_cast<uint8_t>(sign | m);
  }
  // normal: rebias 127 -> 7, round the mantissa from 23 to 3 bits (ties to
  // even); a carry moves into the exponent, and 448 < |x| rounds at most to 0x7E.
  uint32_t r = abs - (120u << 23);
  r += 0x7ffffu + ((r >> 20) & 1u);
  return static_cast<uint8_t>(sign | (r >> 20));
}

}  // namespace herd
