// The optimizer of fine-tuning: AdamW with PyTorch's semantics (torch.optim.AdamW,
// what torchtune, PEFT and TRL use), the learning-rate schedule torchtune's
// recipes use (linear warmup, then cosine decay to 0: get_cosine_schedule_with_warmup,
// num_cycles 0.5), and gradient clipping by global norm (torch.nn.utils.clip_grad_norm_).
//
// AdamW step t (1-based) on a parameter p with gradient g, for every element:
//   p <- p - lr wd p                                     (decoupled weight decay)
//   m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2
//   p <- p - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
// in f32 per element as torch 1.13's single-tensor (foreach=False) path orders it;
// tests/reference/optimizer_check.py compares steps with torch.optim.AdamW.
//
// Thread safety: an AdamW is used by one thread.
#pragma once

#include "base/thread_pool.h"

#include <cstdint>
#include <span>
#include <vector>

namespace herd::train {

// Doubles, as PyTorch holds them (Python floats); each scalar an element
// operation uses is rounded to f32 as torch does for an f32 tensor.
struct AdamWOptions {
  double lr = 3e-4;  // the peak learning rate (the schedule scales it)
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
};

// One trained tensor: its values, its gradient (same length), and the
// optimizer's two moments (owned by the AdamW, sized on add()).
struct Param {
  float* value = nullptr;
  float* grad = nullptr;
  int64_t n = 0;
};

class AdamW {
 public:
  explicit AdamW(AdamWOptions o) : o_(o) {}
  void add(Param p);
  // One step with learning rate lr (the schedule's value for this step).
  // With pool, each tensor's elements are split over it (each element's
  // update depends only on itself: the same bits).
  void step(double lr, ThreadPool* pool = nullptr);
  int64_t steps() const { return t_; }
  const AdamWOptions& options() const { return o_; }
  // The moments and the step count, for checkpoints (resume continues bit-identically).
  std::vector<std::span<float>> state();
  void set_steps(int64_t t) { t_ = t; }

 private:
  AdamWOptions o_;
  std::vector<Param> params_;
  std::vector<std::vector<float>> m_, v_;
  int64_t t_ = 0;
};

// The learning rate of step `step` (0-based) of `total`: peak * step / warmup
// during the warmup, then peak * 0.5 (1 + cos(pi * progress)), progress =
// (step - warmup) / (total - warmup) (torchtune's cosine schedule).
double cosine_lr(double peak, int64_t step, int64_t warmup, int64_t total);

// Scales every gradient by min(1, max_norm / (norm + 1e-6)) when the global
// L2 norm exceeds max_norm; returns the norm before clipping (computed in
// double: each block of kNormBlock elements of a tensor summed in order, the
// block sums added in order, so the pool, when given, changes no bit).
// max_norm <= 0: no clipping, the norm is still returned.
constexpr int64_t kNormBlock = int64_t{1} << 16;
double clip_grad_norm(std::span<const Param> params, double max_norm, ThreadPool* pool = nullptr);

}  // namespace herd::train
