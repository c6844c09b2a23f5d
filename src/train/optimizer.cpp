// AdamW, the cosine schedule and gradient clipping (optimizer.h).
#include "train/optimizer.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <span>
#include <vector>

namespace herd::train {

const std::array<float, 256>& dynamic_map(bool is_signed) {
  static const auto build = [](bool sgn) {
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
  };
  static const std::array<float, 256> s = build(true), u = build(false);
  return is_signed ? s : u;
}

namespace {

// f32 bits made monotone as unsigned integers (larger value, larger key).
inline uint32_t monotone_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  // Negative: every bit flipped; positive: the sign bit set. Without a branch
  // (the moments' signs are random: a branch would miss half the time).
  return u ^ (static_cast<uint32_t>(static_cast<int32_t>(u) >> 31) | 0x80000000u);
}

// For a map, lower_bound's answer for the smallest float of each range of
// 2^16 monotone keys: a search starts there and moves up at most `steps`
// codes (the maps' values are at least 0.7% apart where a range is 0.8%
// wide: two at most), compares without branches instead of eight
// unpredictable ones.
struct MapIndex {
  std::array<uint8_t, 65536> start{};
  int steps = 0;
  explicit MapIndex(const std::array<float, 256>& map) {
    for (uint32_t k = 0; k < 65536; ++k) {
      const uint32_t m = k << 16;
      const uint32_t u = (m & 0x80000000u) != 0 ? m & 0x7fffffffu : ~m;
      float lo, hi;
      std::memcpy(&lo, &u, 4);
      const uint32_t v = (m & 0x80000000u) != 0 ? (m | 0xffffu) & 0x7fffffffu : ~(m | 0xffffu);
      std::memcpy(&hi, &v, 4);
      if (std::isnan(lo) || std::isnan(hi)) continue;
      const auto a = static_cast<size_t>(std::lower_bound(map.begin(), map.end(), lo) - map.begin());
      const auto b = static_cast<size_t>(std::lower_bound(map.begin(), map.end(), hi) - map.begin());
      start[k] = static_cast<uint8_t>(std::min<size_t>(a, map.size() - 1));
      if (lo >= -1.0f && hi <= 1.0f) steps = std::max(steps, static_cast<int>(b - a));
    }
  }
};

const MapIndex& map_index(const std::array<float, 256>& map) {
  static const MapIndex s(dynamic_map(true)), u(dynamic_map(false));
  return &map == &dynamic_map(true) ? s : u;
}

}  // namespace

float quantize_block(std::span<const float> x, const std::array<float, 256>& map, uint8_t* codes) {
  float amax4[4] = {0.0f, 0.0f, 0.0f, 0.0f};  // four running maxima (the loop vectorizes)
  size_t i = 0;
  for (; i + 4 <= x.size(); i += 4)
    for (size_t k = 0; k < 4; ++k) {
      const float a = std::fabs(x[i + k]);
      amax4[k] = a > amax4[k] ? a : amax4[k];
    }
  for (; i < x.size(); ++i) amax4[0] = std::max(amax4[0], std::fabs(x[i]));
  const float amax = std::max(std::max(amax4[0], amax4[1]), std::max(amax4[2], amax4[3]));
  if (amax == 0.0f) {
    const auto zero = static_cast<uint8_t>(std::lower_bound(map.begin(), map.end(), 0.0f) - map.begin());
    std::fill(codes, codes + x.size(), zero);
    return 0.0f;
  }
  const bool indexed = &map == &dynamic_map(true) || &map == &dynamic_map(false);
  const MapIndex* index = indexed ? &map_index(map) : nullptr;
  const float r = 1.0f / amax;
  for (size_t j = 0; j < x.size(); ++j) {
    const float y = x[j] * r;  // clamped to [-1, 1] without branches
    const float s = std::min(1.0f, std::max(-1.0f, y));
    // hi = lower_bound(map, s): the first value >= s (every map ends with 1 >= s).
    size_t hi;
    if (index != nullptr) {
      hi = index->start[monotone_bits(s) >> 16];
      hi += static_cast<size_t>(map[hi] < s);  // steps is 1 for both maps (checked when built)
      for (int k = 1; k < index->steps; ++k) hi += static_cast<size_t>(map[hi] < s);
    } else {
      hi = std::min<size_t>(static_cast<size_t>(std::lower_bound(map.begin(), map.end(), s) - map.begin()), 255);
    }
    // The nearest is it or the one before it (ties: the lower index).
    const size_t lo = hi > 0 ? hi - 1 : 0;
    codes[j] = static_cast<uint8_t>(hi - static_cast<size_t>(hi > 0 && std::fabs(s - map[lo]) <= std::fabs(s - map[hi])));
  }
  return amax;
}

void AdamW::add(Param p) {
  params_.push_back(p);
  Moments mo;
  if (o_.moments_8bit && p.n >= kMin8bitElements) {
    const auto blocks = static_cast<size_t>((p.n + kMomentBlock - 1) / kMomentBlock);
    // Zero moments: absmax 0 decodes any code to 0; the codes are the maps' 0.
    std::array<float, 256>::const_iterator z = std::lower_bound(dynamic_map(true).begin(), dynamic_map(true).end(), 0.0f);
    mo.qm.assign(static_cast<size_t>(p.n), static_cast<uint8_t>(z - dynamic_map(true).begin()));
    mo.qv.assign(static_cast<size_t>(p.n), 0);
    mo.am.assign(blocks, 0.0f);
    mo.av.assign(blocks, 0.0f);
  } else {
    mo.m.assign(static_cast<size_t>(p.n), 0.0f);
    mo.v.assign(static_cast<size_t>(p.n), 0.0f);
  }
  mom_.push_back(std::move(mo));
}

int64_t AdamW::state_bytes(int64_t n, bool moments_8bit) {
  if (!moments_8bit || n < kMin8bitElements) return 8 * n;
  return 2 * n + 8 * ((n + kMomentBlock - 1) / kMomentBlock);
}

namespace {

// torch 1.13 _single_tensor_adamw's constants for one step: scalars are
// Python floats, rounded to f32 where an f32 tensor operation takes them.
struct StepConsts {
  float decay, b1, one_b1, b2, one_b2, step_size, bc2_sqrt, eps;
};

// One element's update (the header's formula, in torch's order).
inline void adamw_element(const StepConsts& c, float& p, float g, float& m, float& v) {
  p *= c.decay;                              // param.mul_(1 - lr * wd)
  m = m * c.b1 + c.one_b1 * g;               // exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
  v = v * c.b2 + c.one_b2 * g * g;           // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
  const float denom = std::sqrt(v) / c.bc2_sqrt + c.eps;
  p += -c.step_size * (m / denom);           // param.addcdiv_(exp_avg, denom, value=-step_size)
}

}  // namespace

void AdamW::step(double lr, ThreadPool* pool) {
  ++t_;
  const double bc1 = 1.0 - std::pow(o_.beta1, static_cast<double>(t_));
  const double bc2 = 1.0 - std::pow(o_.beta2, static_cast<double>(t_));
  StepConsts c;
  c.decay = static_cast<float>(1.0 - lr * o_.weight_decay);
  c.b1 = static_cast<float>(o_.beta1);
  c.one_b1 = static_cast<float>(1.0 - o_.beta1);
  c.b2 = static_cast<float>(o_.beta2);
  c.one_b2 = static_cast<float>(1.0 - o_.beta2);
  c.step_size = static_cast<float>(lr / bc1);
  c.bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  c.eps = static_cast<float>(o_.eps);
  const std::array<float, 256>& smap = dynamic_map(true);
  const std::array<float, 256>& umap = dynamic_map(false);
  for (size_t i = 0; i < params_.size(); ++i) {
    float* p = params_[i].value;
    const float* g = params_[i].grad;
    const int64_t n = params_[i].n;
    Moments& mo = mom_[i];
    if (mo.qm.empty()) {
      float* m = mo.m.data();
      float* v = mo.v.data();
      auto update = [&](int64_t j0, int64_t j1, int) {
        for (int64_t j = j0; j < j1; ++j) adamw_element(c, p[j], g[j], m[j], v[j]);
      };
      if (pool != nullptr)
        pool->parallel_for(n, update, kNormBlock);
      else
        update(0, n, 0);
      continue;
    }
    // 8-bit: block by block, decode, update, code (each block on its own: the same bits on any split).
    auto update = [&](int64_t b0, int64_t b1, int) {
      float m[kMomentBlock], v[kMomentBlock];
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t j0 = b * kMomentBlock, len = std::min(kMomentBlock, n - j0);
        const auto ub = static_cast<size_t>(b);
        for (int64_t k = 0; k < len; ++k) {
          m[k] = smap[mo.qm[static_cast<size_t>(j0 + k)]] * mo.am[ub];
          v[k] = umap[mo.qv[static_cast<size_t>(j0 + k)]] * mo.av[ub];
          adamw_element(c, p[j0 + k], g[j0 + k], m[k], v[k]);
        }
        const auto l = static_cast<size_t>(len);
        mo.am[ub] = quantize_block(std::span<const float>(m, l), smap, mo.qm.data() + j0);
        mo.av[ub] = quantize_block(std::span<const float>(v, l), umap, mo.qv.data() + j0);
      }
    };
    const int64_t blocks = static_cast<int64_t>(mo.am.size());
    if (pool != nullptr)
      pool->parallel_for(blocks, update, kNormBlock / kMomentBlock);
    else
      update(0, blocks, 0);
  }
}

std::vector<StateBuffer> AdamW::state() {
  std::vector<StateBuffer> s;
  for (Moments& mo : mom_) {
    if (mo.qm.empty()) {
      s.push_back({mo.m, {}});
      s.push_back({mo.v, {}});
    } else {
      s.push_back({{}, mo.qm});
      s.push_back({mo.am, {}});
      s.push_back({{}, mo.qv});
      s.push_back({mo.av, {}});
    }
  }
  return s;
}

double cosine_lr(double peak, int64_t step, int64_t warmup, int64_t total) {
  if (step < warmup) return peak * static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup));
  const double progress =
      total > warmup ? static_cast<double>(step - warmup) / static_cast<double>(total - warmup) : 1.0;
  return peak * std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
}

double clip_grad_norm(std::span<const Param> params, double max_norm, ThreadPool* pool) {
  double ss = 0;
  std::vector<double> part;
  for (const Param& p : params) {
    const int64_t blocks = (p.n + kNormBlock - 1) / kNormBlock;
    part.assign(static_cast<size_t>(blocks), 0.0);
    auto sum = [&](int64_t b0, int64_t b1, int) {
      for (int64_t b = b0; b < b1; ++b) {
        double s = 0;
        for (int64_t j = b * kNormBlock; j < std::min(p.n, (b + 1) * kNormBlock); ++j)
          s += static_cast<double>(p.grad[j]) * p.grad[j];
        part[static_cast<size_t>(b)] = s;
      }
    };
    if (pool != nullptr)
      pool->parallel_for(blocks, sum);
    else
      sum(0, blocks, 0);
    for (double s : part) ss += s;
  }
  const double norm = std::sqrt(ss);
  if (max_norm > 0 && norm > max_norm) {
    const auto c = static_cast<float>(max_norm / (norm + 1e-6));
    for (const Param& p : params) {
      auto scale = [&](int64_t j0, int64_t j1, int) {
        for (int64_t j = j0; j < j1; ++j) p.grad[j] *= c;
      };
      if (pool != nullptr)
        pool->parallel_for(p.n, scale, kNormBlock);
      else
        scale(0, p.n, 0);
    }
  }
  return norm;
}

}  // namespace herd::train
