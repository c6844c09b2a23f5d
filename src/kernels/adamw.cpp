// AdamW's scalar specification and the 8-bit moments' maps (adamw.h).
#include "kernels/adamw.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "base/check.h"

namespace herd::kernels {
namespace {

std::array<float, 256> build_map(bool sgn) {
  // bitsandbytes functional.create_dynamic_map(signed, max_exponent_bits=7,
  // total_bits=8): for exponent i = 0..6, the midpoints of linspace(0.1, 1,
  // 2^i + 1) (signed, with their negatives) or of linspace(0.1, 1, 2^(i+1) + 1)
  // (unsigned), times 10^(i - 6); then 0 and 1.
  std::vector<double> d;
  for (int i = 0; i < 7; ++i) {
    const int items = sgn ? (1 << i) + 1 : (1 << (i + 1)) + 1;
    const double step = 0.9 / (items - 1);
    auto lin = [&](int k) { return 2 * k < items ? 0.1 + k * step : 1.0 - (items - 1 - k) * step; };
    const double scale = std::pow(10.0, i - 6);
    for (int k = 0; k + 1 < items; ++k) {
      const double mean = (lin(k) + lin(k + 1)) / 2.0;
      d.push_back(scale * mean);
      if (sgn) d.push_back(-scale * mean);
    }
  }
  d.push_back(0.0);
  d.push_back(1.0);
  std::sort(d.begin(), d.end());
  std::array<float, 256> m{};
  for (size_t i = 0; i < m.size(); ++i) m[i] = static_cast<float>(d[i]);
  return m;
}

MomentMapIndex build_index(const std::array<float, 256>& map) {
  MomentMapIndex ix;
  for (uint32_t k = 0; k < 65536; ++k) {
    // The range's smallest and largest value (negative keys count down).
    const uint32_t m = k << 16, top = m | 0xffffu;
    const float lo = moment_value_of(m), hi = moment_value_of(top);
    if (std::isnan(lo) || std::isnan(hi)) continue;
    const auto a = static_cast<size_t>(std::lower_bound(map.begin(), map.end(), lo) - map.begin());
    const auto b = static_cast<size_t>(std::lower_bound(map.begin(), map.end(), hi) - map.begin());
    ix.start[k] = static_cast<uint8_t>(std::min<size_t>(a, map.size() - 1));
    if (lo >= -1.0f && hi <= 1.0f) ix.steps = std::max(ix.steps, static_cast<int>(b - a));
  }
  return ix;
}

}  // namespace

const std::array<float, 256>& dynamic_map(bool is_signed) {
  static const std::array<float, 256> s = build_map(true), u = build_map(false);
  return is_signed ? s : u;
}

const MomentMapIndex& moment_map_index(bool is_signed) {
  static const MomentMapIndex s = build_index(dynamic_map(true)), u = build_index(dynamic_map(false));
  return is_signed ? s : u;
}

uint8_t moment_code_ref(float s, bool is_signed) {
  const std::array<float, 256>& map = dynamic_map(is_signed);
  const MomentMapIndex& ix = moment_map_index(is_signed);
  // hi = lower_bound(map, s): the first value >= s (each map ends with 1 >= s).
  size_t hi = ix.start[moment_order_of(s) >> 16];
  for (int k = 0; k < ix.steps; ++k) hi += static_cast<size_t>(map[hi] < s);
  // The nearest is it or the one before it (ties: the lower index).
  const size_t lo = hi > 0 ? hi - 1 : 0;
  return static_cast<uint8_t>(hi - static_cast<size_t>(hi > 0 && std::fabs(s - map[lo]) <= std::fabs(s - map[hi])));
}

namespace {

MomentCodeCuts build_cuts(bool is_signed) {
  MomentCodeCuts t;
  const uint32_t lo_all = moment_order_of(-1.0f), hi_all = moment_order_of(1.0f);
  for (uint32_t k = 0; k < 65536; ++k) {
    t.cuts[k] = 0xffffffffu;
    // The key's lows whose value lies in [-1, 1] (the values a clamped s takes).
    const uint32_t a = std::max(k << 16, lo_all), b = std::min(k << 16 | 0xffffu, hi_all);
    if (a > b) continue;  // none: first 0, no steps (the reference's code of NaN)
    auto code = [&](uint32_t low) { return moment_code_ref(moment_value_of(k << 16 | low), is_signed); };
    const uint32_t la = a & 0xffffu, lb = b & 0xffffu;
    const uint8_t c0 = code(la), cb = code(lb);
    t.first[k] = c0;
    // Holds for both maps (at most one map value per key range, so at most
    // two midpoints); a map that broke it would need the search back.
    HERD_CHECK(cb - c0 <= 2, "moment_code_cuts: key %u holds %d code steps", k, cb - c0);
    // The last low whose code is at most c (code(la) <= c < code(lb)).
    auto last_at_most = [&](uint8_t c) {
      uint32_t x = la, y = lb;  // code(x) <= c < code(y)
      while (y - x > 1) {
        const uint32_t mid = x + (y - x) / 2;
        (code(mid) <= c ? x : y) = mid;
      }
      return x;
    };
    uint32_t cuts = 0xffffffffu;
    if (cb > c0) cuts = (cuts & 0xffff0000u) | last_at_most(c0);
    if (cb > c0 + 1) cuts = (cuts & 0x0000ffffu) | last_at_most(static_cast<uint8_t>(c0 + 1)) << 16;
    t.cuts[k] = cuts;
  }
  return t;
}

}  // namespace

const MomentCodeCuts& moment_code_cuts(bool is_signed) {
  static const MomentCodeCuts s = build_cuts(true), u = build_cuts(false);
  return is_signed ? s : u;
}

void adamw_f32_ref(const AdamWConsts& c, float* p, const float* g, float* m, float* v, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    p[j] *= c.decay;                                  // param.mul_(1 - lr * wd)
    m[j] = m[j] * c.b1 + c.one_b1 * g[j];             // exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
    v[j] = v[j] * c.b2 + c.one_b2 * g[j] * g[j];      // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    const float denom = std::sqrt(v[j]) / c.bc2_sqrt + c.eps;
    p[j] += -c.step_size * (m[j] / denom);            // param.addcdiv_(exp_avg, denom, value=-step_size)
  }
}

float quantize_moment_block_ref(const float* x, int64_t n, bool is_signed, uint8_t* codes) {
  const std::array<float, 256>& map = dynamic_map(is_signed);
  float amax = 0.0f;
  for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  if (amax == 0.0f) {
    const auto zero = static_cast<uint8_t>(std::lower_bound(map.begin(), map.end(), 0.0f) - map.begin());
    std::fill(codes, codes + n, zero);
    return 0.0f;
  }
  const float r = 1.0f / amax;
  for (int64_t i = 0; i < n; ++i) codes[i] = moment_code_ref(std::min(1.0f, std::max(-1.0f, x[i] * r)), is_signed);
  return amax;
}

void adamw_8bit_block_ref(const AdamWConsts& c, float* p, const float* g, uint8_t* qm, float* am, uint8_t* qv, float* av,
                          int64_t n) {
  const std::array<float, 256>& smap = dynamic_map(true);
  const std::array<float, 256>& umap = dynamic_map(false);
  float m[kMomentBlock], v[kMomentBlock];
  for (int64_t k = 0; k < n; ++k) {
    m[k] = smap[qm[k]] * *am;
    v[k] = umap[qv[k]] * *av;
  }
  adamw_f32_ref(c, p, g, m, v, n);
  *am = quantize_moment_block_ref(m, n, true, qm);
  *av = quantize_moment_block_ref(v, n, false, qv);
}

}  // namespace herd::kernels
