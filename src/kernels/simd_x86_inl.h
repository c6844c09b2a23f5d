// The small x86 helpers every SIMD kernel file shares: hsum (eight floats to one in
// the one order all the 8-lane dots reduce in, so that every file's dot of the same
// inputs is the same bits) and load_f16 (one stored f16 to f32 by F16C).
// Include only from files compiled with AVX2 + FMA + F16C or wider (*_avx2.cpp,
// *_avx512*.cpp). Everything here has internal linkage on purpose: each file keeps
// its own copy, built with its own target flags; one shared inline definition could
// let the linker keep an AVX-512 encoding and run it on an AVX2-only host.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace herd::kernels {
namespace {

// ((v0+v4) + (v2+v6)) + ((v1+v5) + (v3+v7)).
inline float hsum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
  return _mm_cvtss_f32(lo);
}

inline float load_f16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

}  // namespace
}  // namespace herd::kernels
