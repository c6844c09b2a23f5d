// Reference quantizers and dequantizers for the 32-element "legacy" ggml
// blocks: Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0.
//
// Byte layouts are in docs/formats/quant-blocks.md. Every function follows the
// operation order of ggml's quantize_row_*_ref / dequantize_row_* (ggml-quants.c):
// the same float expressions, evaluated left to right in float, the same
// truncating casts and the same clamps. With IEEE float arithmetic and no FMA
// contraction (herd builds with -std=c++20, which implies -ffp-contract=off on
// GCC, and this file gets no ISA flags) the bytes equal what llama-quantize
// writes without an importance matrix, and dequantized floats are bit-identical.
//
// Blocks are read and written bytewise (little-endian), never through packed
// structs, so no alignment is assumed for src/dst.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "base/check.h"
#include "base/half.h"
#include "tensor/quant.h"
#include "tensor/quant_fit.h"

namespace herd::detail {
namespace {

constexpr int kQK = 32;  // elements per legacy block

inline float load_f16(const uint8_t* p) {
  return f16_to_f32(static_cast<uint16_t>(p[0] | (p[1] << 8)));
}
inline void store_f16(uint8_t* p, float v) {
  const uint16_t h = f32_to_f16(v);
  p[0] = static_cast<uint8_t>(h & 0xff);
  p[1] = static_cast<uint8_t>(h >> 8);
}
inline uint32_t load_u32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
inline void store_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

// The element of largest magnitude, keeping its sign; the first one wins ties
// (strict '<', as ggml). Returns 0 for an all-zero block.
inline float signed_absmax(const float* x) {
  float amax = 0.0f;
  float max = 0.0f;
  for (int j = 0; j < kQK; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

inline void min_max(const float* x, float* mn, float* mx) {
  float lo = 3.402823466e+38f;  // FLT_MAX
  float hi = -3.402823466e+38f;
  for (int j = 0; j < kQK; ++j) {
    if (x[j] < lo) lo = x[j];
    if (x[j] > hi) hi = x[j];
  }
  *mn = lo;
  *mx = hi;
}

// ---- Q4_0: d fp16 @0, qs[16] @2; y = (nibble - 8) * d --------------------

void quantize_q4_0(const float* x, uint8_t* b) {
  // d = max / -8 maps the largest-magnitude element to nibble 0 (value -8 * d);
  // the other sign reaches at most +8, clamped to 7.
  const float d = signed_absmax(x) / -8.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  store_f16(b, d);
  for (int j = 0; j < kQK / 2; ++j) {
    const float x0 = x[j] * id;
    const float x1 = x[j + kQK / 2] * id;
    // x0 + 8.5 >= 0.5, so the truncating cast rounds half up; then clamp to 15.
    const int q0 = static_cast<int8_t>(x0 + 8.5f);
    const int q1 = static_cast<int8_t>(x1 + 8.5f);
    const int c0 = q0 < 15 ? q0 : 15;
    const int c1 = q1 < 15 ? q1 : 15;
    b[2 + j] = static_cast<uint8_t>(c0 | (c1 << 4));
  }
}

void dequantize_q4_0(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < kQK / 2; ++j) {
    const int v0 = (qs[j] & 0x0f) - 8;
    const int v1 = (qs[j] >> 4) - 8;
    y[j] = static_cast<float>(v0) * d;
    y[j + kQK / 2] = static_cast<float>(v1) * d;
  }
}

// ---- Q4_1: d fp16 @0, m fp16 @2, qs[16] @4; y = nibble * d + m -----------

void quantize_q4_1(const float* x, uint8_t* b) {
  float mn, mx;
  min_max(x, &mn, &mx);
  const float d = (mx - mn) / 15.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  store_f16(b, d);
  store_f16(b + 2, mn);
  for (int j = 0; j < kQK / 2; ++j) {
    const float x0 = (x[j] - mn) * id;
    const float x1 = (x[j + kQK / 2] - mn) * id;
    const int q0 = static_cast<int8_t>(x0 + 0.5f);
    const int q1 = static_cast<int8_t>(x1 + 0.5f);
    const int c0 = q0 < 15 ? q0 : 15;
    const int c1 = q1 < 15 ? q1 : 15;
    b[4 + j] = static_cast<uint8_t>(c0 | (c1 << 4));
  }
}

void dequantize_q4_1(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const float m = load_f16(b + 2);
  const uint8_t* qs = b + 4;
  for (int j = 0; j < kQK / 2; ++j) {
    y[j] = static_cast<float>(qs[j] & 0x0f) * d + m;
    y[j + kQK / 2] = static_cast<float>(qs[j] >> 4) * d + m;
  }
}

// ---- Q5_0: d fp16 @0, qh u32 @2, qs[16] @6; y = (5-bit q - 16) * d -------

void quantize_q5_0(const float* x, uint8_t* b) {
  const float d = signed_absmax(x) / -16.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  store_f16(b, d);
  uint32_t qh = 0;
  for (int j = 0; j < kQK / 2; ++j) {
    const float x0 = x[j] * id;
    const float x1 = x[j + kQK / 2] * id;
    const int t0 = static_cast<int8_t>(x0 + 16.5f);
    const int t1 = static_cast<int8_t>(x1 + 16.5f);
    const uint32_t q0 = static_cast<uint32_t>(t0 < 31 ? t0 : 31);
    const uint32_t q1 = static_cast<uint32_t>(t1 < 31 ? t1 : 31);
    b[6 + j] = static_cast<uint8_t>((q0 & 0x0f) | ((q1 & 0x0f) << 4));
    qh |= ((q0 >> 4) & 1u) << j;
    qh |= ((q1 >> 4) & 1u) << (j + kQK / 2);
  }
  store_u32(b + 2, qh);
}

void dequantize_q5_0(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const uint32_t qh = load_u32(b + 2);
  const uint8_t* qs = b + 6;
  for (int j = 0; j < kQK / 2; ++j) {
    const int h0 = static_cast<int>((qh >> j) & 1u) << 4;
    const int h1 = static_cast<int>((qh >> (j + kQK / 2)) & 1u) << 4;
    const int v0 = ((qs[j] & 0x0f) | h0) - 16;
    const int v1 = ((qs[j] >> 4) | h1) - 16;
    y[j] = static_cast<float>(v0) * d;
    y[j + kQK / 2] = static_cast<float>(v1) * d;
  }
}

// ---- Q5_1: d fp16 @0, m fp16 @2, qh u32 @4, qs[16] @8; y = q * d + m -----

void quantize_q5_1(const float* x, uint8_t* b) {
  float mn, mx;
  min_max(x, &mn, &mx);
  const float d = (mx - mn) / 31.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  store_f16(b, d);
  store_f16(b + 2, mn);
  uint32_t qh = 0;
  for (int j = 0; j < kQK / 2; ++j) {
    const float x0 = (x[j] - mn) * id;
    const float x1 = (x[j + kQK / 2] - mn) * id;
    // No clamp here (as in ggml): (max - min) * id rounds to at most 31.5.
    const uint32_t q0 = static_cast<uint8_t>(x0 + 0.5f);
    const uint32_t q1 = static_cast<uint8_t>(x1 + 0.5f);
    b[8 + j] = static_cast<uint8_t>((q0 & 0x0f) | ((q1 & 0x0f) << 4));
    qh |= ((q0 >> 4) & 1u) << j;
    qh |= ((q1 >> 4) & 1u) << (j + kQK / 2);
  }
  store_u32(b + 4, qh);
}

void dequantize_q5_1(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const float m = load_f16(b + 2);
  const uint32_t qh = load_u32(b + 4);
  const uint8_t* qs = b + 8;
  for (int j = 0; j < kQK / 2; ++j) {
    const int h0 = static_cast<int>((qh >> j) & 1u) << 4;
    const int h1 = static_cast<int>((qh >> (j + kQK / 2)) & 1u) << 4;
    y[j] = static_cast<float>((qs[j] & 0x0f) | h0) * d + m;
    y[j + kQK / 2] = static_cast<float>((qs[j] >> 4) | h1) * d + m;
  }
}

// ---- Q8_0: d fp16 @0, qs int8[32] @2; y = q * d -------------------------

void quantize_q8_0(const float* x, uint8_t* b) {
  float amax = 0.0f;
  for (int j = 0; j < kQK; ++j) {
    const float a = std::fabs(x[j]);
    amax = amax > a ? amax : a;
  }
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  store_f16(b, d);
  for (int j = 0; j < kQK; ++j) {
    // roundf: half away from zero. |x * id| <= 127 up to an ulp.
    const int8_t q = static_cast<int8_t>(std::round(x[j] * id));
    std::memcpy(b + 2 + j, &q, 1);
  }
}

void dequantize_q8_0(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  for (int j = 0; j < kQK; ++j) {
    int8_t q;
    std::memcpy(&q, b + 2 + j, 1);
    y[j] = static_cast<float>(q) * d;
  }
}

using QuantizeBlock = void (*)(const float*, uint8_t*);
using DequantizeBlock = void (*)(const uint8_t*, float*);

struct LegacyFormat {
  DType dtype;
  int block_bytes;
  QuantizeBlock quantize;
  DequantizeBlock dequantize;
};

constexpr LegacyFormat kFormats[] = {
    {DType::kQ4_0, 18, quantize_q4_0, dequantize_q4_0},
    {DType::kQ4_1, 20, quantize_q4_1, dequantize_q4_1},
    {DType::kQ5_0, 22, quantize_q5_0, dequantize_q5_0},
    {DType::kQ5_1, 24, quantize_q5_1, dequantize_q5_1},
    {DType::kQ8_0, 34, quantize_q8_0, dequantize_q8_0},
};

const LegacyFormat* find_format(DType t) {
  for (const auto& f : kFormats)
    if (f.dtype == t) return &f;
  return nullptr;
}

}  // namespace

bool quantize_row_legacy(DType t, const float* x, uint8_t* dst, int64_t n) {
  const LegacyFormat* f = find_format(t);
  if (f == nullptr) return false;
  HERD_DCHECK(n % kQK == 0, "quantize_row_legacy: n=%lld not a multiple of %d",
              static_cast<long long>(n), kQK);
  for (int64_t i = 0; i < n / kQK; ++i) f->quantize(x + i * kQK, dst + i * f->block_bytes);
  return true;
}

// llama-quantize --imatrix (ggml quantize_row_q{4,5}_{0,1}_impl): each block's
// weights are importance[j] * sqrt(sigma2 + x[j]^2), sigma2 the row's mean
// square; Q4_0/Q5_0 take the weighted symmetric fit (make_qx_quants), Q4_1/Q5_1
// the weighted asymmetric one (make_qkx3_quants, rmin -0.9, step 0.05, 36 steps),
// and the fitted levels are stored as they are (no re-quantization).
bool quantize_row_legacy_weighted(DType t, const float* x, uint8_t* dst, int64_t n, const float* importance) {
  const LegacyFormat* f = find_format(t);
  if (f == nullptr || t == DType::kQ8_0) return false;
  float sum_x2 = 0.0f;
  for (int64_t j = 0; j < n; ++j) sum_x2 += x[j] * x[j];
  const float sigma2 = sum_x2 / static_cast<float>(n);
  float weight[kQK];
  for (int64_t ib = 0; ib < n / kQK; ++ib) {
    const float* xb = x + ib * kQK;
    const float* qw = importance + ib * kQK;
    uint8_t* b = dst + ib * f->block_bytes;
    for (int j = 0; j < kQK; ++j) weight[j] = qw[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
    uint8_t L[kQK];
    if (t == DType::kQ4_0 || t == DType::kQ5_0) {
      int8_t l[kQK];
      const float d = fit_scale_symmetric(kQK, t == DType::kQ4_0 ? 8 : 16, xb, l, weight);
      store_f16(b, d);
      for (int j = 0; j < kQK; ++j) L[j] = static_cast<uint8_t>(l[j]);
    } else {
      uint8_t aux[kQK];
      float min;
      const float d = fit_scale_min(kQK, t == DType::kQ4_1 ? 15 : 31, xb, weight, L, &min, aux, -0.9f, 0.05f, 36);
      store_f16(b, d);
      store_f16(b + 2, -min);
    }
    const bool has_min = t == DType::kQ4_1 || t == DType::kQ5_1;
    if (t == DType::kQ4_0 || t == DType::kQ4_1) {
      uint8_t* qs = b + (has_min ? 4 : 2);
      for (int j = 0; j < kQK / 2; ++j) qs[j] = static_cast<uint8_t>(L[j] | (L[j + kQK / 2] << 4));
    } else {
      uint8_t* qs = b + (has_min ? 8 : 6);
      uint32_t qh = 0;
      for (int j = 0; j < kQK / 2; ++j) {
        const uint32_t q0 = L[j], q1 = L[j + kQK / 2];
        qs[j] = static_cast<uint8_t>((q0 & 0x0f) | ((q1 & 0x0f) << 4));
        qh |= ((q0 >> 4) & 1u) << j;
        qh |= ((q1 >> 4) & 1u) << (j + kQK / 2);
      }
      store_u32(b + (has_min ? 4 : 2), qh);
    }
  }
  return true;
}

bool dequantize_row_legacy(DType t, const uint8_t* src, float* y, int64_t n) {
  const LegacyFormat* f = find_format(t);
  if (f == nullptr) return false;
  HERD_DCHECK(n % kQK == 0, "dequantize_row_legacy: n=%lld not a multiple of %d",
              static_cast<long long>(n), kQK);
  for (int64_t i = 0; i < n / kQK; ++i) f->dequantize(src + i * f->block_bytes, y + i * kQK);
  return true;
}

}  // namespace herd::detail
