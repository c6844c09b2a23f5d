// AdamW, the cosine schedule and gradient clipping (optimizer.h).
#include "train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace herd::train {

void AdamW::add(Param p) {
  params_.push_back(p);
  m_.emplace_back(static_cast<size_t>(p.n), 0.0f);
  v_.emplace_back(static_cast<size_t>(p.n), 0.0f);
}

void AdamW::step(double lr, ThreadPool* pool) {
  ++t_;
  // torch 1.13 _single_tensor_adamw: scalars are Python floats, rounded to
  // f32 where an f32 tensor operation takes them.
  const double bc1 = 1.0 - std::pow(o_.beta1, static_cast<double>(t_));
  const double bc2 = 1.0 - std::pow(o_.beta2, static_cast<double>(t_));
  const auto decay = static_cast<float>(1.0 - lr * o_.weight_decay);  // param.mul_(1 - lr * wd)
  const auto b1 = static_cast<float>(o_.beta1), one_b1 = static_cast<float>(1.0 - o_.beta1);
  const auto b2 = static_cast<float>(o_.beta2), one_b2 = static_cast<float>(1.0 - o_.beta2);
  const auto step_size = static_cast<float>(lr / bc1);
  const auto bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  const auto eps = static_cast<float>(o_.eps);
  for (size_t i = 0; i < params_.size(); ++i) {
    float* p = params_[i].value;
    const float* g = params_[i].grad;
    float* m = m_[i].data();
    float* v = v_[i].data();
    auto update = [&](int64_t j0, int64_t j1, int) {
      for (int64_t j = j0; j < j1; ++j) {
        p[j] *= decay;
        m[j] = m[j] * b1 + one_b1 * g[j];            // exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
        v[j] = v[j] * b2 + one_b2 * g[j] * g[j];     // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        const float denom = std::sqrt(v[j]) / bc2_sqrt + eps;
        p[j] += -step_size * (m[j] / denom);         // param.addcdiv_(exp_avg, denom, value=-step_size)
      }
    };
    if (pool != nullptr)
      pool->parallel_for(params_[i].n, update, kNormBlock);
    else
      update(0, params_[i].n, 0);
  }
}

std::vector<std::span<float>> AdamW::state() {
  std::vector<std::span<float>> s;
  for (size_t i = 0; i < params_.size(); ++i) {
    s.emplace_back(m_[i]);
    s.emplace_back(v_[i]);
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
