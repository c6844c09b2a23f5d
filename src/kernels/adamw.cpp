// AdamW's scalar specification and the 8-bit moments' maps (adamw.h).
#include "kernels/adamw.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

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
    const uint32_t ulo = (m & 0x80000000u) != 0 ? m & 0x7fffffffu : ~m;
    const uint32_t uhi = (top & 0x80000000u) != 0 ? top & 0x7fffffffu : ~top;
    float lo, hi;
    std::memcpy(&lo, &ulo, 4);
    std::memcpy(&hi, &uhi, 4);
    if (std::isnan(lo) || std::isnan(hi)) continue;
    const auto a = static_cast<size_t>(std::lower_bound(map.begin(), map.end(), lo) - map.begin());
    const auto b = static_cast<size_t>(std::lower_bound(map.begin(), map.end(), hi) - map.begin());
    ix.start[k] = static_cast<uint8_t>(std::min<size_t>(a, map.size() - 1));
    if (lo >= -1.0f && hi <= 1.0f) ix.steps = std::max(ix.steps, static_cast<int>(b - a));
  }
  return ix;
}

uint32_t bits_of(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
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
  const MomentMapIndex& ix = moment_map_index(is_signed);
  const float r = 1.0f / amax;
  for (int64_t i = 0; i < n; ++i) {
    const float s = std::min(1.0f, std::max(-1.0f, x[i] * r));
    // hi = lower_bound(map, s): the first value >= s (each map ends with 1 >= s).
    size_t hi = ix.start[moment_key(bits_of(s))];
    for (int k = 0; k < ix.steps; ++k) hi += static_cast<size_t>(map[hi] < s);
    // The nearest is it or the one before it (ties: the lower index).
    const size_t lo = hi > 0 ? hi - 1 : 0;
    codes[i] = static_cast<uint8_t>(hi - static_cast<size_t>(hi > 0 && std::fabs(s - map[lo]) <= std::fabs(s - map[hi])));
  }
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
