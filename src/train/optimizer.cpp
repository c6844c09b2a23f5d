// AdamW, the cosine schedule and gradient clipping (optimizer.h).
#include "train/optimizer.h"

#include <algorithm>
#include <cmath>

namespace herd::train {

void AdamW::add(Param p) {
  params_.push_back(p);
  m_.emplace_back(static_cast<size_t>(p.n), 0.0f);
  v_.emplace_back(static_cast<size_t>(p.n), 0.0f);
}

void AdamW::step(double lr) {
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
    for (int64_t j = 0; j < params_[i].n; ++j) {
      p[j] *= decay;
      m[j] = m[j] * b1 + one_b1 * g[j];            // exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
      v[j] = v[j] * b2 + one_b2 * g[j] * g[j];     // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
      const float denom = std::sqrt(v[j]) / bc2_sqrt + eps;
      p[j] += -step_size * (m[j] / denom);         // param.addcdiv_(exp_avg, denom, value=-step_size)
    }
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

double clip_grad_norm(std::span<const Param> params, double max_norm) {
  double ss = 0;
  for (const Param& p : params)
    for (int64_t j = 0; j < p.n; ++j) ss += static_cast<double>(p.grad[j]) * p.grad[j];
  const double norm = std::sqrt(ss);
  if (max_norm > 0 && norm > max_norm) {
    const auto c = static_cast<float>(max_norm / (norm + 1e-6));
    for (const Param& p : params)
      for (int64_t j = 0; j < p.n; ++j) p.grad[j] *= c;
  }
  return norm;
}

}  // namespace herd::train
