// AdamW, the cosine schedule and gradient clipping (optimizer.h).
#include "train/optimizer.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

namespace herd::train {

void AdamW::add(Param p) {
  params_.push_back(p);
  Moments mo;
  if (o_.moments_8bit && p.n >= kMin8bitElements) {
    const auto blocks = static_cast<size_t>((p.n + kMomentBlock - 1) / kMomentBlock);
    // Zero moments: absmax 0 decodes any code to 0; the codes are the maps' 0.
    const std::array<float, 256>& smap = kernels::dynamic_map(true);
    mo.qm.assign(static_cast<size_t>(p.n), static_cast<uint8_t>(std::lower_bound(smap.begin(), smap.end(), 0.0f) - smap.begin()));
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

void AdamW::step(double lr, ThreadPool* pool, const kernels::KernelTable* table) {
  ++t_;
  // torch 1.13 _single_tensor_adamw: scalars are Python floats, rounded to
  // f32 where an f32 tensor operation takes them.
  const double bc1 = 1.0 - std::pow(o_.beta1, static_cast<double>(t_));
  const double bc2 = 1.0 - std::pow(o_.beta2, static_cast<double>(t_));
  kernels::AdamWConsts c;
  c.decay = static_cast<float>(1.0 - lr * o_.weight_decay);
  c.b1 = static_cast<float>(o_.beta1);
  c.one_b1 = static_cast<float>(1.0 - o_.beta1);
  c.b2 = static_cast<float>(o_.beta2);
  c.one_b2 = static_cast<float>(1.0 - o_.beta2);
  c.step_size = static_cast<float>(lr / bc1);
  c.bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  c.eps = static_cast<float>(o_.eps);
  const kernels::AdamWF32Fn f32 = table != nullptr ? table->adamw_f32 : kernels::adamw_f32_ref;
  const kernels::AdamW8bitBlockFn b8 = table != nullptr ? table->adamw_8bit_block : kernels::adamw_8bit_block_ref;
  for (size_t i = 0; i < params_.size(); ++i) {
    float* p = params_[i].value;
    const float* g = params_[i].grad;
    const int64_t n = params_[i].n;
    Moments& mo = mom_[i];
    if (mo.qm.empty()) {
      float* m = mo.m.data();
      float* v = mo.v.data();
      auto update = [&](int64_t j0, int64_t j1, int) { f32(c, p + j0, g + j0, m + j0, v + j0, j1 - j0); };
      if (pool != nullptr)
        pool->parallel_for(n, update, kNormBlock);
      else
        update(0, n, 0);
      continue;
    }
    // 8-bit: block by block (each on its own: the same bits on any split).
    auto update = [&](int64_t b0, int64_t b1, int) {
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t j0 = b * kMomentBlock;
        const auto ub = static_cast<size_t>(b);
        b8(c, p + j0, g + j0, mo.qm.data() + j0, &mo.am[ub], mo.qv.data() + j0, &mo.av[ub],
           std::min(kMomentBlock, n - j0));
      }
    };
    const auto blocks = static_cast<int64_t>(mo.am.size());
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
