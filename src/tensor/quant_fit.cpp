// The shared scale-fitting searches (tensor/quant_fit.h). Floats are
// evaluated left to right in float with no FMA contraction (no ISA flags on
// this file), as ggml's reference does.
#include "tensor/quant_fit.h"

#include <cmath>
#include <stdexcept>

namespace herd::detail {

namespace {
constexpr float kGroupMaxEps = 1e-15f;  // ggml GROUP_MAX_EPS: below this a group is "all zero"
constexpr int kMaxLaneN = 32;            // the longest group the lane forms take (K-quant sub-blocks)
constexpr int V = kFitLanes;

// The lane forms' vectors: one group per lane. These helpers are inlined within this
// file, so the vector-argument ABI GCC warns about (-Wpsabi) never applies.
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float vf __attribute__((vector_size(4 * V)));
typedef int32_t vi __attribute__((vector_size(4 * V)));
[[gnu::always_inline]] inline vf splat(float v) { return vf{} + v; }
[[gnu::always_inline]] inline vf vabs(vf v) { return reinterpret_cast<vf>(reinterpret_cast<vi>(v) & 0x7fffffff); }
// clamp_int(nearest_int(v), lo, hi) as a float, per lane: nearest_int's bits trick
// on each lane, then the clamp (the levels are small integers, exact in float).
[[gnu::always_inline]] inline vf levels(vf v, int lo, int hi) {
  vi l = (reinterpret_cast<vi>(v + 12582912.0f) & 0x007fffff) - 0x00400000;
  l = l < lo ? vi{} + lo : l;
  l = l > hi ? vi{} + hi : l;
  return __builtin_convertvector(l, vf);
}

void check_lane_n(int n) {
  if (n < 1 || n > kMaxLaneN) throw std::logic_error("quant_fit: lane form takes groups of 1..32 values");
}
}  // namespace

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

// fit_scale_min for V groups, one group per lane of GCC's generic vectors
// (vf/vi: lowered to whatever vector registers the build's baseline ISA has,
// lane by lane the scalar operation, IEEE with no contraction). The state the
// single fit keeps in scalars is one lane per group; its branches are per-lane
// selects. The levels of the winning candidate are not copied per win: the
// inverse scale and offset that produced them are kept, and the levels
// recomputed from them once at the end (the same expression on the same
// inputs, so the same levels).
void fit_scale_min_lanes(int n, int nmax, const float* const* x, const float* const* w, uint8_t* const* L,
                         float* scale_out, float* min_out, float rmin, float rdelta, int nstep) {
  check_lane_n(n);
  vf xt[kMaxLaneN] = {}, wt[kMaxLaneN] = {};
  for (int i = 0; i < n; ++i) {
    for (int g = 0; g < V; ++g) {
      xt[i][g] = x[g][i];
      wt[i][g] = w[g][i];
    }
  }
  vf mn = xt[0], mx = xt[0], sum_w = wt[0], sum_x = wt[0] * xt[0];
  for (int i = 1; i < n; ++i) {
    mn = xt[i] < mn ? xt[i] : mn;
    mx = xt[i] > mx ? xt[i] : mx;
    sum_w += wt[i];
    sum_x += wt[i] * xt[i];
  }
  const vf zero = splat(0.0f);
  mn = mn > zero ? zero : mn;
  const vi flat = mx == mn;
  const vf flat_min = -mn;
  const vf fmax = splat(static_cast<float>(nmax));
  vf lvl_iscale = fmax / (mx - mn);
  vf lvl_mn = mn;
  vf scale = splat(1.0f) / lvl_iscale;
  vf best_error = zero;
  for (int i = 0; i < n; ++i) {
    const vf fl = levels(lvl_iscale * (xt[i] - mn), 0, nmax);
    const vf diff = scale * fl + mn - xt[i];
    best_error += wt[i] * (diff * diff);
  }
  vf lv[kMaxLaneN];
  for (int is = 0; is <= nstep; ++is) {
    const vf iscale = splat(rmin + rdelta * static_cast<float>(is) + static_cast<float>(nmax)) / (mx - mn);
    vf sum_l = zero, sum_l2 = zero, sum_xl = zero;
    for (int i = 0; i < n; ++i) {
      const vf fl = levels(iscale * (xt[i] - mn), 0, nmax);
      lv[i] = fl;
      sum_l += wt[i] * fl;
      sum_l2 += wt[i] * fl * fl;
      sum_xl += wt[i] * fl * xt[i];
    }
    const vf det = sum_w * sum_l2 - sum_l * sum_l;
    vf this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
    vf this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    const vi pos_min = this_min > zero;
    this_min = pos_min ? zero : this_min;
    this_scale = pos_min ? sum_xl / sum_l2 : this_scale;
    vf cur_error = zero;
    for (int i = 0; i < n; ++i) {
      const vf diff = this_scale * lv[i] + this_min - xt[i];
      cur_error += wt[i] * (diff * diff);
    }
    const vi win = (det > zero) & (cur_error < best_error);
    best_error = win ? cur_error : best_error;
    scale = win ? this_scale : scale;
    lvl_iscale = win ? iscale : lvl_iscale;
    lvl_mn = win ? mn : lvl_mn;
    mn = win ? this_min : mn;
  }
  for (int i = 0; i < n; ++i) lv[i] = levels(lvl_iscale * (xt[i] - lvl_mn), 0, nmax);
  for (int g = 0; g < V; ++g) {
    for (int i = 0; i < n; ++i) L[g][i] = flat[g] ? uint8_t{0} : static_cast<uint8_t>(lv[i][g]);
    min_out[g] = flat[g] ? flat_min[g] : -mn[g];
    scale_out[g] = flat[g] ? 0.0f : scale[g];
  }
}

// fit_scale_symmetric for V groups, in the manner of fit_scale_min_lanes.
void fit_scale_symmetric_lanes(int n, int nmax, const float* const* x, int8_t* const* L, const float* const* w,
                               float* scale_out) {
  check_lane_n(n);
  vf xt[kMaxLaneN] = {}, wt[kMaxLaneN] = {};
  for (int i = 0; i < n; ++i) {
    for (int g = 0; g < V; ++g) {
      xt[i][g] = x[g][i];
      wt[i][g] = w ? w[g][i] : x[g][i] * x[g][i];
    }
  }
  const vf zero = splat(0.0f);
  vf max = zero, amax = zero;
  for (int i = 0; i < n; ++i) {
    const vf ax = vabs(xt[i]);
    const vi bigger = ax > amax;
    amax = bigger ? ax : amax;
    max = bigger ? xt[i] : max;
  }
  vf lvl_iscale = splat(static_cast<float>(-nmax)) / max;
  vf sumlx = zero, suml2 = zero;
  for (int i = 0; i < n; ++i) {
    const vf fl = levels(lvl_iscale * xt[i], -nmax, nmax - 1);
    sumlx += wt[i] * xt[i] * fl;
    suml2 += wt[i] * fl * fl;
  }
  vf scale = suml2 != zero ? sumlx / suml2 : zero;
  vf best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    const vf iscale = splat(-(static_cast<float>(nmax) + 0.1f * static_cast<float>(is))) / max;
    sumlx = suml2 = zero;
    for (int i = 0; i < n; ++i) {
      const vf fl = levels(iscale * xt[i], -nmax, nmax - 1);
      sumlx += wt[i] * xt[i] * fl;
      suml2 += wt[i] * fl * fl;
    }
    const vi win = (suml2 > zero) & (sumlx * sumlx > best * suml2);
    lvl_iscale = win ? iscale : lvl_iscale;
    scale = win ? sumlx / suml2 : scale;
    best = win ? scale * sumlx : best;
  }
  const vi tiny = amax < splat(kGroupMaxEps);
  vf lv[kMaxLaneN];
  for (int i = 0; i < n; ++i) lv[i] = levels(lvl_iscale * xt[i], -nmax, nmax - 1) + splat(static_cast<float>(nmax));
  for (int g = 0; g < V; ++g) {
    for (int i = 0; i < n; ++i) L[g][i] = tiny[g] ? int8_t{0} : static_cast<int8_t>(lv[i][g]);
    scale_out[g] = tiny[g] ? 0.0f : scale[g];
  }
}

// Symmetric fit of x[0..n) to L[i] - nmax with L[i] in [0, 2*nmax):
// x ~ scale * (L - nmax), least squares weighted by w[i] (x^2 when w is null). The element of largest
// magnitude sets the starting inverse scale -nmax / max; 18 perturbations
// -(nmax + 0.1 * is) / max, is = -9..9 (is != 0), are tried and kept when they
// raise sumlx^2 / suml2 (equivalently lower the weighted error).
float fit_scale_symmetric(int n, int nmax, const float* x, int8_t* L, const float* w) {
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
    const float wi = w ? w[i] : x[i] * x[i];
    const float fl = static_cast<float>(l);
    sumlx += wi * x[i] * fl;
    suml2 += wi * fl * fl;
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
      const float wi = w ? w[i] : x[i] * x[i];
      const float fl = static_cast<float>(l);
      sumlx += wi * x[i] * fl;
      suml2 += wi * fl * fl;
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

// make_qp_quants: the start scale nmax / max and 8 perturbations (nmax +
// 0.1 * is) / max, is = -4..4, are compared by weighted squared error; then
// up to 5 passes move single levels to x * suml2 / sumlx when that raises
// sumlx^2 / suml2. Levels are stored in uint8 as ggml stores them: a negative
// x wraps, as its int -> uint8_t conversion does.
float fit_scale_positive(int n, int nmax, const float* x, uint8_t* L, const float* w) {
  float max = 0.0f;
  for (int i = 0; i < n; ++i) max = max > x[i] ? max : x[i];
  if (max == 0.0f) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.0f;
  }
  float iscale = static_cast<float>(nmax) / max;
  for (int i = 0; i < n; ++i) L[i] = static_cast<uint8_t>(nearest_int(iscale * x[i]));
  const float scale = 1.0f / iscale;
  float best_mse = 0.0f;
  for (int i = 0; i < n; ++i) {
    const float diff = x[i] - scale * static_cast<float>(L[i]);
    best_mse += w[i] * diff * diff;
  }
  for (int is = -4; is <= 4; ++is) {
    if (is == 0) continue;
    const float iscale_is = (0.1f * static_cast<float>(is) + static_cast<float>(nmax)) / max;
    const float scale_is = 1.0f / iscale_is;
    float mse = 0.0f;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale_is * x[i]);
      l = l < nmax ? l : nmax;
      const float diff = x[i] - scale_is * static_cast<float>(l);
      mse += w[i] * diff * diff;
    }
    if (mse < best_mse) {
      best_mse = mse;
      iscale = iscale_is;
    }
  }
  float sumlx = 0.0f, suml2 = 0.0f;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = l < nmax ? l : nmax;
    L[i] = static_cast<uint8_t>(l);
    const float fl = static_cast<float>(L[i]);
    sumlx += w[i] * x[i] * fl;
    suml2 += w[i] * fl * fl;
  }
  for (int itry = 0; itry < 5; ++itry) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      const float fl = static_cast<float>(L[i]);
      float slx = sumlx - w[i] * x[i] * fl;
      float sl2 = suml2 - w[i] * fl * fl;
      if (slx > 0 && sl2 > 0) {
        int new_l = nearest_int(x[i] * sl2 / slx);
        new_l = new_l < nmax ? new_l : nmax;
        if (new_l != L[i]) {
          const float fn = static_cast<float>(new_l);
          slx += w[i] * x[i] * fn;
          sl2 += w[i] * fn * fn;
          if (slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<uint8_t>(new_l);
            sumlx = slx;
            suml2 = sl2;
            ++n_changed;
          }
        }
      }
    }
    if (!n_changed) break;
  }
  return sumlx / suml2;
}

}  // namespace herd::detail
