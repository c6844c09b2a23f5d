// Reference quantizers and dequantizers for the 256-element k-quant
// super-blocks: Q4_K, Q5_K and Q6_K.
//
// Byte layouts are in docs/formats/quant-blocks.md. The quantizers are the
// ones llama-quantize uses when no importance matrix is given
// (ggml-quants.c quantize_row_q{4,5,6}_K_ref):
//   * Q4_K / Q5_K: each 32-element sub-block gets an asymmetric fit
//     (scale, min) from a small grid search over candidate scales with a
//     weighted least-squares refit (ggml's make_qkx2_quants, weights
//     sqrt(mean x^2) + |x|); the 8 scales and 8 mins are then stored as 6-bit
//     multiples of two fp16 super-scales (d, dmin), and every element is
//     re-quantized against the stored (rounded) scale and min.
//   * Q6_K: each 16-element sub-block gets a symmetric scale from a search
//     over 18 perturbed candidate scales with x^2-weighted least squares
//     (ggml's make_qx_quants, rmse_type 1); the 16 scales are stored as int8
//     multiples of one fp16 super-scale d, and elements are re-quantized.
// Operation order, rounding (nearest_int: add 1.5*2^23 and read the mantissa,
// i.e. round half to even), the "skip sub-blocks whose stored scale is 0"
// rule and the all-zero thresholds all follow ggml, so the bytes match.
// Floats are evaluated strictly left to right in float with no FMA contraction
// (-std=c++20 implies -ffp-contract=off on GCC; no ISA flags on this file).
#include <cmath>
#include <cstdint>
#include <cstring>

#include "base/check.h"
#include "base/half.h"
#include "tensor/quant.h"
#include "tensor/quant_fit.h"

namespace herd::detail {
namespace {

constexpr int kQK_K = 256;                // elements per super-block
constexpr float kGroupMaxEps = 1e-15f;    // ggml GROUP_MAX_EPS: below this a group is "all zero"
constexpr int kQ4KBytes = 144;
constexpr int kQ5KBytes = 176;
constexpr int kQ6KBytes = 210;

inline float load_f16(const uint8_t* p) {
  return f16_to_f32(static_cast<uint16_t>(p[0] | (p[1] << 8)));
}
inline void store_f16(uint8_t* p, float v) {
  const uint16_t h = f32_to_f16(v);
  p[0] = static_cast<uint8_t>(h & 0xff);
  p[1] = static_cast<uint8_t>(h >> 8);
}

// The 12 scale bytes of Q4_K/Q5_K hold eight 6-bit scales and eight 6-bit
// mins: sub-blocks 0..3 use the low 6 bits of bytes 0..3 (scale) and 4..7
// (min); sub-blocks 4..7 put their low 4 bits in bytes 8..11 (scale low
// nibble, min high nibble) and their top 2 bits in bits 6..7 of bytes 0..3
// (scale) and 4..7 (min).
inline void get_scale_min(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

inline void put_scale_min(int j, uint8_t ls, uint8_t lm, uint8_t* q) {
  // Sub-blocks 0..3 must be written before 4..7 (the latter OR into bytes 0..7).
  if (j < 4) {
    q[j] = ls;
    q[j + 4] = lm;
  } else {
    q[j + 4] = static_cast<uint8_t>((ls & 0x0f) | ((lm & 0x0f) << 4));
    q[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
    q[j] |= static_cast<uint8_t>((lm >> 4) << 6);
  }
}

// Q4_K/Q5_K after the scale bytes, d and dmin are stored: every element is
// re-quantized against its sub-block's stored (rounded) scale and min.
void requantize_with_stored_scales(const float* x, const uint8_t* b, uint8_t* L, int nmax) {
  const uint8_t* sc_bytes = b + 4;
  const float d_all = load_f16(b);
  const float dmin_all = load_f16(b + 2);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    get_scale_min(j, sc_bytes, &sc, &m);
    const float d = d_all * static_cast<float>(sc);
    if (d == 0.0f) continue;  // keep the levels from the fit (they dequantize to -min anyway)
    const float dm = dmin_all * static_cast<float>(m);
    for (int ii = 0; ii < 32; ++ii) {
      L[32 * j + ii] = static_cast<uint8_t>(clamp_int(nearest_int((x[32 * j + ii] + dm) / d), 0, nmax));
    }
  }
}

// Shared part of Q4_K and Q5_K: fit the 8 sub-blocks, store d, dmin and the
// 12 scale bytes at b[0..16), and leave in L[256] the final levels in [0, nmax].
void quantize_scales_mins(const float* x, uint8_t* b, uint8_t* L, int nmax, float rmin,
                          float rdelta, int nstep) {
  static_assert(kFitLanes == 8, "one lane per sub-block");
  float mins[8];
  float scales[8];
  float weights[8][32];
  const float* xs[8];
  const float* ws[8];
  uint8_t* levels[8];
  for (int j = 0; j < 8; ++j) {
    xs[j] = x + 32 * j;
    ws[j] = weights[j];
    levels[j] = L + 32 * j;
    float sum_x2 = 0.0f;
    for (int l = 0; l < 32; ++l) sum_x2 += xs[j][l] * xs[j][l];
    const float av_x = std::sqrt(sum_x2 / 32.0f);
    for (int l = 0; l < 32; ++l) weights[j][l] = av_x + std::fabs(xs[j][l]);
  }
  fit_scale_min_lanes(32, nmax, xs, ws, levels, scales, mins, rmin, rdelta, nstep);
  float max_scale = 0.0f;  // scales are positive: the min is subtracted first
  float max_min = 0.0f;
  for (int j = 0; j < 8; ++j) {
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
  uint8_t* sc_bytes = b + 4;
  for (int j = 0; j < 8; ++j) {
    // int -> uint8_t wraps like ggml's implicit conversion, then clamp to 6 bits.
    uint8_t ls = static_cast<uint8_t>(nearest_int(inv_scale * scales[j]));
    uint8_t lm = static_cast<uint8_t>(nearest_int(inv_min * mins[j]));
    if (ls > 63) ls = 63;
    if (lm > 63) lm = 63;
    put_scale_min(j, ls, lm, sc_bytes);
  }
  store_f16(b, max_scale / 63.0f);
  store_f16(b + 2, max_min / 63.0f);

  requantize_with_stored_scales(x, b, L, nmax);
}

// The same with an importance matrix (llama-quantize --imatrix, ggml
// quantize_row_q{4,5}_K_impl): weights importance[l] * sqrt(sigma2 + x^2) with
// sigma2 = 2 * mean(x^2) over the super-block, the asymmetric fit with rmin
// -0.9, step 0.05, 36 steps, and the 8 scales and 8 mins quantized to 6 bits by
// the weighted positive fit (make_qp_quants, each sub-block weighted by the sum
// of its weights). Q5_K clamps the 6-bit values to 63; Q4_K does not (ggml).
void quantize_scales_mins_weighted(const float* x, const float* importance, uint8_t* b, uint8_t* L, int nmax,
                                   bool clamp63) {
  float sum_x2 = 0.0f;
  for (int l = 0; l < kQK_K; ++l) sum_x2 += x[l] * x[l];
  const float sigma2 = 2 * sum_x2 / kQK_K;
  float weights[8][32], sw[8], mins[8], scales[8];
  uint8_t Ls[8], Lm[8];
  const float* xs[8];
  const float* ws[8];
  uint8_t* levels[8];
  for (int j = 0; j < 8; ++j) {
    const float* qw = importance + 32 * j;
    for (int l = 0; l < 32; ++l) weights[j][l] = qw[l] * std::sqrt(sigma2 + x[32 * j + l] * x[32 * j + l]);
    float sumw = 0.0f;
    for (int l = 0; l < 32; ++l) sumw += weights[j][l];
    sw[j] = sumw;
    xs[j] = x + 32 * j;
    ws[j] = weights[j];
    levels[j] = L + 32 * j;
  }
  fit_scale_min_lanes(32, nmax, xs, ws, levels, scales, mins, -0.9f, 0.05f, 36);
  const float d_block = fit_scale_positive(8, 63, scales, Ls, sw);
  const float m_block = fit_scale_positive(8, 63, mins, Lm, sw);
  uint8_t* sc_bytes = b + 4;
  for (int j = 0; j < 8; ++j) {
    uint8_t ls = Ls[j], lm = Lm[j];
    if (clamp63) {
      if (ls > 63) ls = 63;
      if (lm > 63) lm = 63;
    }
    put_scale_min(j, ls, lm, sc_bytes);
  }
  store_f16(b, d_block);
  store_f16(b + 2, m_block);
  requantize_with_stored_scales(x, b, L, nmax);
}

// ---- Q4_K: d @0, dmin @2, scales[12] @4, qs[128] @16 ----------------------

// The 256 levels L (0..15) into qs[128] @16.
void pack_q4_k(const uint8_t* L, uint8_t* b) {
  // Each 64-element chunk c uses qs[32c .. 32c+32): low nibbles hold elements
  // 64c .. 64c+31, high nibbles 64c+32 .. 64c+63.
  uint8_t* q = b + 16;
  for (int j = 0; j < kQK_K; j += 64) {
    for (int l = 0; l < 32; ++l) q[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
    q += 32;
  }
}

void quantize_q4_k(const float* x, uint8_t* b) {
  uint8_t L[kQK_K];
  quantize_scales_mins(x, b, L, 15, -1.0f, 0.1f, 20);
  pack_q4_k(L, b);
}

void dequantize_q4_k(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const float min = load_f16(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* q = b + 16;
  for (int j = 0, is = 0; j < kQK_K; j += 64, is += 2) {
    uint8_t sc, m;
    get_scale_min(is, scales, &sc, &m);
    const float d1 = d * static_cast<float>(sc);
    const float m1 = min * static_cast<float>(m);
    get_scale_min(is + 1, scales, &sc, &m);
    const float d2 = d * static_cast<float>(sc);
    const float m2 = min * static_cast<float>(m);
    for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0x0f) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    q += 32;
  }
}

// ---- Q5_K: d @0, dmin @2, scales[12] @4, qh[32] @16, qs[128] @48 ----------

// The 256 levels L (0..31) into qh[32] @16 and qs[128] @48.
void pack_q5_k(const uint8_t* L, uint8_t* b) {
  uint8_t* qh = b + 16;
  uint8_t* ql = b + 48;
  std::memset(qh, 0, 32);
  // Chunk c (64 elements) puts low nibbles like Q4_K and the 5th bits of its
  // first and second 32 elements in bits 2c and 2c+1 of qh[0..32).
  uint8_t m1 = 1, m2 = 2;
  for (int n = 0; n < kQK_K; n += 64) {
    for (int j = 0; j < 32; ++j) {
      int l1 = L[n + j];
      if (l1 > 15) {
        l1 -= 16;
        qh[j] |= m1;
      }
      int l2 = L[n + j + 32];
      if (l2 > 15) {
        l2 -= 16;
        qh[j] |= m2;
      }
      ql[j] = static_cast<uint8_t>(l1 | (l2 << 4));
    }
    m1 = static_cast<uint8_t>(m1 << 2);
    m2 = static_cast<uint8_t>(m2 << 2);
    ql += 32;
  }
}

void quantize_q5_k(const float* x, uint8_t* b) {
  uint8_t L[kQK_K];
  quantize_scales_mins(x, b, L, 31, -0.5f, 0.1f, 15);
  pack_q5_k(L, b);
}

void dequantize_q5_k(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  const float min = load_f16(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* ql = b + 48;
  uint8_t u1 = 1, u2 = 2;
  for (int j = 0, is = 0; j < kQK_K; j += 64, is += 2) {
    uint8_t sc, m;
    get_scale_min(is, scales, &sc, &m);
    const float d1 = d * static_cast<float>(sc);
    const float m1 = min * static_cast<float>(m);
    get_scale_min(is + 1, scales, &sc, &m);
    const float d2 = d * static_cast<float>(sc);
    const float m2 = min * static_cast<float>(m);
    for (int l = 0; l < 32; ++l)
      *y++ = d1 * static_cast<float>((ql[l] & 0x0f) + ((qh[l] & u1) ? 16 : 0)) - m1;
    for (int l = 0; l < 32; ++l)
      *y++ = d2 * static_cast<float>((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
    ql += 32;
    u1 = static_cast<uint8_t>(u1 << 2);
    u2 = static_cast<uint8_t>(u2 << 2);
  }
}

// ---- Q6_K: ql[128] @0, qh[64] @128, scales int8[16] @192, d fp16 @208 -----

// importance: null for the reference quantizer; else the 256 weights of the
// sub-block fits (llama-quantize --imatrix, ggml quantize_row_q6_K_impl, which
// passes them to make_qx_quants unchanged); nothing else differs.
void quantize_q6_k_weighted(const float* x, uint8_t* b, const float* importance) {
  int8_t L[kQK_K];
  float scales[16];
  float max_scale = 0.0f;  // signed: the sub-block scale of largest magnitude
  float max_abs_scale = 0.0f;
  for (int ib0 = 0; ib0 < 16; ib0 += kFitLanes) {
    const float* xs[kFitLanes];
    const float* ws[kFitLanes];
    int8_t* levels[kFitLanes];
    for (int g = 0; g < kFitLanes; ++g) {
      xs[g] = x + 16 * (ib0 + g);
      ws[g] = importance ? importance + 16 * (ib0 + g) : nullptr;
      levels[g] = L + 16 * (ib0 + g);
    }
    fit_scale_symmetric_lanes(16, 32, xs, levels, importance ? ws : nullptr, scales + ib0);
  }
  for (int ib = 0; ib < 16; ++ib) {
    const float abs_scale = std::fabs(scales[ib]);
    if (abs_scale > max_abs_scale) {
      max_abs_scale = abs_scale;
      max_scale = scales[ib];
    }
  }
  if (max_abs_scale < kGroupMaxEps) {
    std::memset(b, 0, kQ6KBytes);  // d = +0
    return;
  }
  int8_t* sc = reinterpret_cast<int8_t*>(b + 192);
  // The largest |scale| maps to -128; the others to [-128, 127].
  const float iscale = -128.0f / max_scale;
  store_f16(b + 208, 1.0f / iscale);
  for (int ib = 0; ib < 16; ++ib) {
    const int v = nearest_int(iscale * scales[ib]);
    sc[ib] = static_cast<int8_t>(v < 127 ? v : 127);
  }
  const float d_all = load_f16(b + 208);
  for (int j = 0; j < 16; ++j) {
    const float d = d_all * static_cast<float>(sc[j]);
    if (d == 0.0f) continue;  // keep the fit's levels (they dequantize to 0)
    for (int ii = 0; ii < 16; ++ii) {
      L[16 * j + ii] = static_cast<int8_t>(clamp_int(nearest_int(x[16 * j + ii] / d), -32, 31) + 32);
    }
  }
  // Chunk c (128 elements): ql[64c + l] holds elements 128c+l (low nibble) and
  // 128c+64+l (high); ql[64c + 32 + l] holds 128c+32+l and 128c+96+l; qh[32c + l]
  // holds the top 2 bits of 128c+l, +32, +64, +96 in bits 0-1, 2-3, 4-5, 6-7.
  uint8_t* ql = b;
  uint8_t* qh = b + 128;
  for (int j = 0; j < kQK_K; j += 128) {
    for (int l = 0; l < 32; ++l) {
      const int a0 = L[j + l], a1 = L[j + l + 32], a2 = L[j + l + 64], a3 = L[j + l + 96];
      ql[l] = static_cast<uint8_t>((a0 & 0x0f) | ((a2 & 0x0f) << 4));
      ql[l + 32] = static_cast<uint8_t>((a1 & 0x0f) | ((a3 & 0x0f) << 4));
      qh[l] = static_cast<uint8_t>((a0 >> 4) | ((a1 >> 4) << 2) | ((a2 >> 4) << 4) | ((a3 >> 4) << 6));
    }
    ql += 64;
    qh += 32;
  }
}

void quantize_q6_k(const float* x, uint8_t* b) { quantize_q6_k_weighted(x, b, nullptr); }

void dequantize_q6_k(const uint8_t* b, float* y) {
  const float d = load_f16(b + 208);
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
  for (int n = 0; n < kQK_K; n += 128) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      // (d * scale) * q, in this order, as ggml.
      y[l] = d * static_cast<float>(sc[is + 0]) * static_cast<float>(q1);
      y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
      y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
      y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
    }
    y += 128;
    ql += 64;
    qh += 32;
    sc += 8;
  }
}

using QuantizeBlock = void (*)(const float*, uint8_t*);
using DequantizeBlock = void (*)(const uint8_t*, float*);

struct KFormat {
  DType dtype;
  int block_bytes;
  QuantizeBlock quantize;
  DequantizeBlock dequantize;
};

constexpr KFormat kFormats[] = {
    {DType::kQ4_K, kQ4KBytes, quantize_q4_k, dequantize_q4_k},
    {DType::kQ5_K, kQ5KBytes, quantize_q5_k, dequantize_q5_k},
    {DType::kQ6_K, kQ6KBytes, quantize_q6_k, dequantize_q6_k},
};

const KFormat* find_format(DType t) {
  for (const auto& f : kFormats)
    if (f.dtype == t) return &f;
  return nullptr;
}

}  // namespace

bool quantize_row_kquant(DType t, const float* x, uint8_t* dst, int64_t n) {
  const KFormat* f = find_format(t);
  if (f == nullptr) return false;
  HERD_DCHECK(n % kQK_K == 0, "quantize_row_kquant: n=%lld not a multiple of %d",
              static_cast<long long>(n), kQK_K);
  for (int64_t i = 0; i < n / kQK_K; ++i) f->quantize(x + i * kQK_K, dst + i * f->block_bytes);
  return true;
}

bool quantize_row_kquant_weighted(DType t, const float* x, uint8_t* dst, int64_t n, const float* importance) {
  if (t != DType::kQ4_K && t != DType::kQ5_K && t != DType::kQ6_K) return false;
  const int bytes = t == DType::kQ4_K ? kQ4KBytes : t == DType::kQ5_K ? kQ5KBytes : kQ6KBytes;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* xb = x + i * kQK_K;
    const float* qw = importance + i * kQK_K;
    uint8_t* b = dst + i * bytes;
    uint8_t L[kQK_K];
    if (t == DType::kQ4_K) {
      quantize_scales_mins_weighted(xb, qw, b, L, 15, false);
      pack_q4_k(L, b);
    } else if (t == DType::kQ5_K) {
      quantize_scales_mins_weighted(xb, qw, b, L, 31, true);
      pack_q5_k(L, b);
    } else {
      quantize_q6_k_weighted(xb, b, qw);
    }
  }
  return true;
}

bool dequantize_row_kquant(DType t, const uint8_t* src, float* y, int64_t n) {
  const KFormat* f = find_format(t);
  if (f == nullptr) return false;
  HERD_DCHECK(n % kQK_K == 0, "dequantize_row_kquant: n=%lld not a multiple of %d",
              static_cast<long long>(n), kQK_K);
  for (int64_t i = 0; i < n / kQK_K; ++i) f->dequantize(src + i * f->block_bytes, y + i * kQK_K);
  return true;
}

}  // namespace herd::detail
