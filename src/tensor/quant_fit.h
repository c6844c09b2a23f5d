// The scale-fitting searches shared by the reference quantizers (quant_legacy.cpp,
// quant_kquants.cpp) and their importance-weighted forms (quant_weighted.cpp):
// ggml's nearest_int, make_qkx2/qkx3_quants (fit_scale_min), make_qx_quants
// with rmse_type 1 (fit_scale_symmetric) and make_qp_quants
// (fit_scale_positive). Operation order and rounding follow ggml, so the bytes
// of every quantizer built on them match llama-quantize's. Internal to the
// tensor layer.
#pragma once

#include <cstdint>
#include <cstring>

namespace herd::detail {

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

// Asymmetric fit of x[0..n) to L[i] in [0, nmax] (x ~ scale * L - the_min)
// weighted by w; see quant_fit.cpp.
float fit_scale_min(int n, int nmax, const float* x, const float* w, uint8_t* L, float* the_min, uint8_t* aux,
                    float rmin, float rdelta, int nstep);
// Symmetric fit of x[0..n) to L[i] - nmax, weighted by w (x^2 when null).
float fit_scale_symmetric(int n, int nmax, const float* x, int8_t* L, const float* w = nullptr);
// The same searches for kLanes independent groups at once (the 8 sub-blocks of a
// Q4_K/Q5_K block, 8 of Q6_K's 16): group g is x[g], w[g], L[g], scale[g], and
// the_min[g]. Each group's arithmetic is the single fit's, operation for
// operation, so the results are bit for bit those of kLanes calls above
// (quant_test.cpp holds them to it); only the groups' loops are interleaved, so
// that the searches run as independent chains (and SIMD lanes) rather than one
// dependent chain of float additions.
constexpr int kFitLanes = 8;
void fit_scale_min_lanes(int n, int nmax, const float* const* x, const float* const* w, uint8_t* const* L,
                         float* scale, float* the_min, float rmin, float rdelta, int nstep);
// w null: x^2 weights, as fit_scale_symmetric.
void fit_scale_symmetric_lanes(int n, int nmax, const float* const* x, int8_t* const* L, const float* const* w,
                               float* scale);
// Fit of non-negative x[0..n) to L[i] in [0, nmax] (x ~ scale * L), weighted
// by w: ggml's make_qp_quants, which quantizes the sub-block scales and mins
// of Q4_K/Q5_K when an importance matrix is given.
float fit_scale_positive(int n, int nmax, const float* x, uint8_t* L, const float* w);

}  // namespace herd::detail
