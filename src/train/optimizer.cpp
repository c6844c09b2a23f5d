// AdamW, the cosine schedule and gradient clipping (optimizer.h).
#include "train/optimizer.h"

#include <algorithm>
#include <array>
#include <cmath>
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

float quantize_block(std::span<const float> x, const std::array<float, 256>& map, uint8_t* codes) {
  float amax = 0.0f;
  for (float e : x) amax = std::max(amax, std::fabs(e));
  if (amax == 0.0f) {
    const auto zero = static_cast<uint8_t>(std::lower_bound(map.begin(), map.end(), 0.0f) - map.begin());
    std::fill(codes, codes + x.size(), zero);
    return 0.0f;
  }
  const float r = 1.0f / amax;
  for (size_t i = 0; i < x.size(); ++i) {
    const float s = std::clamp(x[i] * r, -1.0f, 1.0f);
    // The nearest map value: the first >= s or the one before it (ties: the lower).
    auto hi = static_cast<size_t>(std::lower_bound(map.begin(), map.end(), s) - map.begin());
    if (hi == map.size()) hi = map.size() - 1;
    size_t q = hi;
    if (hi > 0 && std::fabs(s - map[hi - 1]) <= std::fabs(s - map[hi])) q = hi - 1;
    codes[i] = static_cast<uint8_t>(q);
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
