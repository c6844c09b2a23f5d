// Dispatch of the reference quantizers by dtype, the plain-float conversions
// (f32, f16, bf16), and the per-format error bounds with their derivations.
//
// Block formats live in quant_legacy.cpp (32-element blocks) and
// quant_kquants.cpp (256-element super-blocks).
#include "tensor/quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/check.h"
#include "base/half.h"

namespace herd {

void quantize_row_ref(DType t, const float* x, void* dst, int64_t n) {
  HERD_DCHECK(row_size_ok(t, n), "quantize_row_ref(%s): n=%lld is not a multiple of %lld",
              dtype_name(t), static_cast<long long>(n),
              static_cast<long long>(dtype_info(t).block_elems));
  uint8_t* out = static_cast<uint8_t*>(dst);
  switch (t) {
    case DType::kF32:
      std::memcpy(out, x, static_cast<size_t>(n) * 4);
      return;
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = f32_to_f16(x[i]);
        std::memcpy(out + 2 * i, &h, 2);  // host order; herd targets little-endian hosts
      }
      return;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = f32_to_bf16(x[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      return;
    case DType::kF8_E4M3:  // the row's e4m3 values; its scale is the caller's (quantize_row_f8_e4m3)
      for (int64_t i = 0; i < n; ++i) out[i] = f32_to_f8_e4m3(x[i]);
      return;
    default:
      break;
  }
  if (detail::quantize_row_legacy(t, x, out, n)) return;
  if (detail::quantize_row_kquant(t, x, out, n)) return;
  HERD_CHECK(false, "quantize_row_ref: no reference quantizer for dtype %s", dtype_name(t));
}

void quantize_row_weighted(DType t, const float* x, void* dst, int64_t n, const float* importance) {
  auto* out = static_cast<uint8_t*>(dst);
  if (importance && (detail::quantize_row_legacy_weighted(t, x, out, n, importance) ||
                     detail::quantize_row_kquant_weighted(t, x, out, n, importance)))
    return;
  quantize_row_ref(t, x, dst, n);
}

void dequantize_row_ref(DType t, const void* src, float* y, int64_t n) {
  HERD_DCHECK(row_size_ok(t, n), "dequantize_row_ref(%s): n=%lld is not a multiple of %lld",
              dtype_name(t), static_cast<long long>(n),
              static_cast<long long>(dtype_info(t).block_elems));
  const uint8_t* in = static_cast<const uint8_t*>(src);
  switch (t) {
    case DType::kF32:
      std::memcpy(y, in, static_cast<size_t>(n) * 4);
      return;
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, in + 2 * i, 2);
        y[i] = f16_to_f32(h);
      }
      return;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, in + 2 * i, 2);
        y[i] = bf16_to_f32(h);
      }
      return;
    case DType::kF8_E4M3:  // without the row's scale (TensorView::row_scale)
      for (int64_t i = 0; i < n; ++i) y[i] = f8_e4m3_to_f32(in[i]);
      return;
    default:
      break;
  }
  if (detail::dequantize_row_legacy(t, in, y, n)) return;
  if (detail::dequantize_row_kquant(t, in, y, n)) return;
  HERD_CHECK(false, "dequantize_row_ref: no reference dequantizer for dtype %s", dtype_name(t));
}

// Error bounds. Notation for one block: A = max|x|, d = the scale the
// quantizer computes in float, d^ = fp16(d) the stored scale, q the integer
// level, Q = the largest |level| used by the format.
//
// Two facts are used throughout:
//  (F1) fp16 rounding: |d - d^| <= 2^-11 |d| for normal d, and <= 2^-25
//       (half the smallest subnormal, 2^-24) for |d| < 2^-14. So
//       |d - d^| <= 2^-11 |d| + 2^-25 always, and an element's error is
//         |x - q d^| <= |x - q d| + Q (2^-11 |d| + 2^-25).
//       The Q * 2^-25 term is quant_error_floor(); it is what lets a block
//       of values ~1e-8 (whose d underflows to 0) dequantize to all zeros.
//  (F2) float slack: the quantizers compute x * (1/d) or x / d in float, which
//       can move an element across a rounding boundary by a few ulps of the
//       level, i.e. by ~2^-22 * Q * d. kSlack = 2^-16 covers this with room.
namespace {
constexpr double kHalfUlp = 1.0 / 2048.0;     // 2^-11, fp16 relative rounding
constexpr double kF16Sub = 1.0 / 33554432.0;  // 2^-25, fp16 absolute rounding below 2^-14
constexpr double kSlack = 1.0 / 65536.0;      // 2^-16, see (F2)
}  // namespace

float quantize_row_f8_e4m3(const float* x, uint8_t* dst, int64_t n) {
  float amax = 0.0f;
  for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  amax = std::max(amax, 1e-12f);
  const float q_scale = 448.0f / amax;
  for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_f8_e4m3(std::clamp(x[i] * q_scale, -448.0f, 448.0f));
  return amax / 448.0f;
}

float quantize_activation_row_fp8(const float* x, float* q, int64_t n, float ub) {
  float amax = 0.0f;
  for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  amax = std::clamp(amax, 1e-12f, ub);
  const float inv = 448.0f / amax;
  for (int64_t i = 0; i < n; ++i) q[i] = f8_e4m3_to_f32(f32_to_f8_e4m3(std::clamp(x[i] * inv, -448.0f, 448.0f)));
  return 1.0f / inv;
}

double quant_error_bound(DType t) {
  switch (t) {
    case DType::kF32:
      return 0.0;  // a copy
    case DType::kF16:
      // Round to nearest: relative error 2^-11 for normal results. Subnormal
      // results have absolute error <= 2^-25 (the floor), and values >= 65520
      // overflow to inf: callers keep |x| < 65504.
      return kHalfUlp;
    case DType::kBF16:
      // 8 significant bits: relative error 2^-8 (bf16 shares f32's exponent
      // range, so only f32 subnormals, below 1.2e-38, do worse).
      return 1.0 / 256.0;
    case DType::kF8_E4M3:
      // The row's values themselves (no scale): 4 significant bits, relative
      // error 2^-4 for normal results (|x| in [2^-6, 448]); below 2^-6 the
      // absolute error is <= 2^-10 (the floor). Callers keep |x| <= 448
      // (larger values saturate).
      return 1.0 / 16.0;
    case DType::kQ8_0:
      // d = A/127, q = round(x/d) in [-127, 127]: |x - q d| <= d/2 = A/254.
      // (F1) with Q = 127 adds 127 * 2^-11 * A/127 = 2^-11 A.
      return 1.0 / 254.0 + kHalfUlp + kSlack;
    case DType::kQ4_0:
      // d = max/-8, where max is the signed element of largest magnitude, so
      // x/d lies in [-8, 8] and max itself maps to level -8 exactly. Levels
      // are q - 8 in [-8, 7]: elements of the other sign with x/d in
      // (7.5, 8] are clamped to 7, an error of up to |d| = A/8 (not |d|/2:
      // a block holding both +A and -A has this error). Elsewhere round half
      // up gives <= |d|/2. (F1) with Q = 8: 8 * 2^-11 * A/8 = 2^-11 A.
      return 1.0 / 8.0 + kHalfUlp + kSlack;
    case DType::kQ5_0:
      // As Q4_0 with d = max/-16 and levels [-16, 15]: clamp error up to
      // |d| = A/16; (F1) with Q = 16 adds 2^-11 A.
      return 1.0 / 16.0 + kHalfUlp + kSlack;
    case DType::kQ4_1:
      // d = (max - min)/15 <= 2A/15, m = min, q = round((x - min)/d) in
      // [0, 15]: |x - (q d + min)| <= d/2 <= A/15. Storing d and m in fp16
      // (F1): 15 * 2^-11 * d <= 2 * 2^-11 A, plus |m - m^| <= 2^-11 A.
      return 1.0 / 15.0 + 3 * kHalfUlp + kSlack;
    case DType::kQ5_1:
      // As Q4_1 with 31 steps: d/2 <= A/31, fp16 terms again 3 * 2^-11 A.
      return 1.0 / 31.0 + 3 * kHalfUlp + kSlack;
    case DType::kQ4_K:
    case DType::kQ5_K: {
      // Super-block of 8 sub-blocks of 32; A is the super-block's max|x|.
      // Each sub-block j ends up on the grid {e_j q - m_j : q in [0, N]}
      // (N = 15 or 31) with e_j = d^ * ls_j and m_j = dmin^ * lm_j, and every
      // element is re-quantized to its nearest grid point. So its error is
      //   <= e_j / 2                    inside the grid's range,
      //   or the distance to the range  outside it (clipping).
      // * Step: the sub-block range is at most 2A (min is clamped to <= 0 and
      //   the grid includes 0); the search tries inverse scales
      //   (N + rmin + 0.1 is)/range with rmin = -1 (Q4_K) or -0.5 (Q5_K), so
      //   a sub-block scale is about range/(N - 1) <= 2A/(N - 1) (the
      //   least-squares refit moves it by a fraction of a step). The largest
      //   scale S and min M (M <= A, as mins are -min(x, 0)) set d = S/63,
      //   dmin = M/63, and 6-bit rounding moves e_j by <= S/126 and m_j by
      //   <= M/126.
      // * Clipping: the weighted least-squares refit may trade the extreme
      //   elements for the bulk, clipping them by up to about one step; the
      //   6-bit rounding moves the top of the range by <= N S/126 + M/126.
      // Total, with s = 2A/(N - 1): s/2 (rounding) + s (clipping) +
      //   N s/126 + A/126 (scale/min rounding) + fp16 (F1 on d and dmin).
      // For Q4_K: 1/14 + 1/7 + 15/(7*126) + 1/126 ~= 0.239 A; for Q5_K:
      // 1/30 + 1/15 + 31/(15*126) + 1/126 ~= 0.124 A. The clipping term is the
      // least rigorous (it is an upper estimate of what the least-squares
      // fit does, not a theorem); quant_test checks adversarial blocks
      // (outliers, two-sided extremes) against it.
      const double n = t == DType::kQ4_K ? 15.0 : 31.0;
      const double s = 2.0 / (n - 1.0);
      return s / 2 + s + n * s / 126.0 + 1.0 / 126.0 + 4 * kHalfUlp + kSlack;
    }
    case DType::kQ6_K:
      // 16 sub-blocks of 16, symmetric levels q in [-32, 31], sub-block j on
      // the grid {e_j q} with e_j = d^ * sc_j. Elements are re-quantized to the
      // nearest grid point, so the error is <= |e_j|/2 inside [-32, 31]|e_j|
      // and the distance to the grid's end outside it.
      // * Fit: the element of largest magnitude A_j maps to level -32 (the
      //   search tries 32 + 0.1 is, is in [-9, 9]), so |s_j| is between about
      //   A_j/32.9 and A_j/31.1. Elements of the other sign reach at most +A_j
      //   and are clamped at level 31: error <= A_j - 31 |s_j| <= A_j (1 -
      //   31/32.9) ~= A_j/17 in the worst case of the search, ~A_j/32 typically
      //   (the least-squares refit balances the two ends).
      // * Storing: d = S/128 with S the largest |s_j| <= A/31.1, and
      //   sc_j = round(s_j/d), so |e_j - s_j| <= S/256 and the grid's end
      //   31 |e_j| moves by <= 31 S/256 <= A/256. A sub-block whose sc_j
      //   rounds to 0 (|s_j| < S/256, so A_j < 32.9 S/256 ~= A/242) dequantizes
      //   to 0 with error A_j.
      // * fp16 (F1) on d: relative 2^-11 of each grid value, <= 2^-11 A.
      // Bound: A/31 (the clamp, taking the typical balanced fit with slack)
      // + A/256 + 2^-11 A. The A/17 extreme of the search needs a block where
      // the least-squares refit leaves a whole step of clamping on one side;
      // quant_test's "two-sided" (a +-A pair in every 16) and "signs" (every
      // element near +-A) rows reach about 0.7 of this bound.
      return 1.0 / 31.0 + 1.0 / 256.0 + kHalfUlp + kSlack;
    default:
      break;
  }
  HERD_CHECK(false, "quant_error_bound: unknown dtype %s", dtype_name(t));
}

double quant_error_floor(DType t) {
  // Q * 2^-25 from (F1): the largest level times fp16's absolute rounding of a
  // subnormal scale. Formats with an fp16 min (Q4_1, Q5_1) add one more 2^-25;
  // k-quants add it for both d and dmin, times the 6-bit (or int8) sub-scale.
  switch (t) {
    case DType::kF32:
      return 0.0;
    case DType::kF16:
      return kF16Sub;
    case DType::kBF16:
      return 0.0;  // f32 subnormals aside, see quant_error_bound
    case DType::kF8_E4M3:
      return 1.0 / 1024.0;  // half the smallest subnormal, 2^-9
    case DType::kQ8_0:
      return 127 * kF16Sub;
    case DType::kQ4_0:
      return 8 * kF16Sub;
    case DType::kQ5_0:
      return 16 * kF16Sub;
    case DType::kQ4_1:
      return 16 * kF16Sub;
    case DType::kQ5_1:
      return 32 * kF16Sub;
    case DType::kQ4_K:
      return (15 * 63 + 63) * kF16Sub;
    case DType::kQ5_K:
      return (31 * 63 + 63) * kF16Sub;
    case DType::kQ6_K:
      return 32 * 128 * kF16Sub;
    default:
      break;
  }
  HERD_CHECK(false, "quant_error_floor: unknown dtype %s", dtype_name(t));
}

}  // namespace herd
