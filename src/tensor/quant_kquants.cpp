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

// Round to nearest, ties to even, for |v| <= 2^22: adding 1.5 * 2^23 puts the
// integer part in the low mantissa bits. Out-of-range input gives the same
// (meaningless but deterministic) result as ggml's nearest_int.
inline int nearest_int(float v) {
  const float biased = v + 12582912.0f;
  int32_t bits;
  std::memcpy(&bits, &biased, 4);
  return (bits & 0x007fffff) - 0x00400000;
}

inline int clamp_int(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Asymmetric fit of x[0..n) to L[i] in [0, nmax]: x ~ scale * L - the_min.
// Returns scale; writes the_min (>= 0, or -0.0) and L. `aux` is scratch of n.
// Candidate inverse scales are (nmax + rmin + rdelta * is) / (max - min) for
// is = 0..nstep; each candidate's L is refit by weighted least squares for
// (scale, min) (min forced <= 0), and the lowest weighted squared error wins.
float fit_scale_min(int n, int nmax, const float* x, const float* w, uint8_t* L, float* the_min,
                    uint8_t* aux, float rmin, float rdelta, int nstep) {
  float mn = x[0];
  float mx = x[0];
  float sum_w = w[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < mn) mn = x[i];
    if (x[i] > mx) mx = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (mn > 0) mn = 0;  // the grid always includes 0
  if (mx == mn) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *the_min = -mn;
    return 0.0f;
  }
  float iscale = static_cast<float>(nmax) / (mx - mn);
  float scale = 1.0f / iscale;
  float best_error = 0.0f;
  for (int i = 0; i < n; ++i) {
    L[i] = static_cast<uint8_t>(clamp_int(nearest_int(iscale * (x[i] - mn)), 0, nmax));
    const float diff = scale * static_cast<float>(L[i]) + mn - x[i];
    best_error += w[i] * (diff * diff);
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * static_cast<float>(is) + static_cast<float>(nmax)) / (mx - mn);
    float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
    for (int i = 0; i < n; ++i) {
      const int l = clamp_int(nearest_int(iscale * (x[i] - mn)), 0, nmax);
      aux[i] = static_cast<uint8_t>(l);
      const float fl = static_cast<float>(l);
      sum_l += w[i] * fl;
      sum_l2 += w[i] * fl * fl;
      sum_xl += w[i] * fl * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (det > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0.0f;
      for (int i = 0; i < n; ++i) {
        const float diff = this_scale * static_cast<float>(aux[i]) + this_min - x[i];
        cur_error += w[i] * (diff * diff);
      }
      if (cur_error < best_error) {
        for (int i = 0; i < n; ++i) L[i] = aux[i];
        best_error = cur_error;
        scale = this_scale;
        mn = this_min;
      }
    }
  }
  *the_min = -mn;
  return scale;
}

// Symmetric fit of x[0..n) to L[i] - nmax with L[i] in [0, 2*nmax):
// x ~ scale * (L - nmax), least squares weighted by x^2. The element of largest
// magnitude sets the starting inverse scale -nmax / max; 18 perturbations
// -(nmax + 0.1 * is) / max, is = -9..9 (is != 0), are tried and kept when they
// raise sumlx^2 / suml2 (equivalently lower the weighted error).
float fit_scale_symmetric(int n, int nmax, const float* x, int8_t* L) {
  float max = 0.0f;
  float amax = 0.0f;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.0f;
  }
  float iscale = static_cast<float>(-nmax) / max;
  float sumlx = 0.0f, suml2 = 0.0f;
  for (int i = 0; i < n; ++i) {
    const int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    L[i] = static_cast<int8_t>(l + nmax);
    const float w = x[i] * x[i];
    const float fl = static_cast<float>(l);
    sumlx += w * x[i] * fl;
    suml2 += w * fl * fl;
  }
  float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(is)) / max;
    sumlx = 0.0f;
    suml2 = 0.0f;
    for (int i = 0; i < n; ++i) {
      const int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
      const float w = x[i] * x[i];
      const float fl = static_cast<float>(l);
      sumlx += w * x[i] * fl;
      suml2 += w * fl * fl;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i)
        L[i] = static_cast<int8_t>(clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1) + nmax);
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
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

// Shared part of Q4_K and Q5_K: fit the 8 sub-blocks, store d, dmin and the
// 12 scale bytes at b[0..16), and leave in L[256] the final levels in [0, nmax].
void quantize_scales_mins(const float* x, uint8_t* b, uint8_t* L, int nmax, float rmin,
                          float rdelta, int nstep) {
  float mins[8];
  float scales[8];
  float weights[32];
  uint8_t aux[32];
  float max_scale = 0.0f;  // scales are positive: the min is subtracted first
  float max_min = 0.0f;
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    float sum_x2 = 0.0f;
    for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
    const float av_x = std::sqrt(sum_x2 / 32.0f);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
    scales[j] = fit_scale_min(32, nmax, xs, weights, L + 32 * j, &mins[j], aux, rmin, rdelta, nstep);
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

// ---- Q4_K: d @0, dmin @2, scales[12] @4, qs[128] @16 ----------------------

void quantize_q4_k(const float* x, uint8_t* b) {
  uint8_t L[kQK_K];
  quantize_scales_mins(x, b, L, 15, -1.0f, 0.1f, 20);
  // Each 64-element chunk c uses qs[32c .. 32c+32): low nibbles hold elements
  // 64c .. 64c+31, high nibbles 64c+32 .. 64c+63.
  uint8_t* q = b + 16;
  for (int j = 0; j < kQK_K; j += 64) {
    for (int l = 0; l < 32; ++l) q[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
    q += 32;
  }
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

void quantize_q5_k(const float* x, uint8_t* b) {
  uint8_t L[kQK_K];
  quantize_scales_mins(x, b, L, 31, -0.5f, 0.1f, 15);
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

void quantize_q6_k(const float* x, uint8_t* b) {
  int8_t L[kQK_K];
  float scales[16];
  float max_scale = 0.0f;  // signed: the sub-block scale of largest magnitude
  float max_abs_scale = 0.0f;
  for (int ib = 0; ib < 16; ++ib) {
    scales[ib] = fit_scale_symmetric(16, 32, x + 16 * ib, L + 16 * ib);
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

bool dequantize_row_kquant(DType t, const uint8_t* src, float* y, int64_t n) {
  const KFormat* f = find_format(t);
  if (f == nullptr) return false;
  HERD_DCHECK(n % kQK_K == 0, "dequantize_row_kquant: n=%lld not a multiple of %d",
              static_cast<long long>(n), kQK_K);
  for (int64_t i = 0; i < n / kQK_K; ++i) f->dequantize(src + i * f->block_bytes, y + i * kQK_K);
  return true;
}

}  // namespace herd::detail
