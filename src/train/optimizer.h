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
// tests/reference/grad_check.py compares ten steps with torch.optim.AdamW.
//
// 8-bit moments (AdamWOptions::moments_8bit; `--optimizer adamw8bit`, the
// bitsandbytes AdamW8bit torchtune's low-memory recipes use): m and v are
// stored as one byte each per element, in blocks of kMomentBlock elements,
// each block scaled by its largest magnitude (f32) and coded through
// bitsandbytes' dynamic maps (dynamic_map: signed for m, unsigned for v; 256
// values, dense near 0). A step decodes a block (code * absmax), applies the
// f32 update above, and codes it again: absmax = max |x| of the new block,
// each element to the nearest map value of clamp(x * (1 / absmax), -1, 1),
// the lower index on a tie, a block of zeros to the map's 0 (kernels/adamw.h
// has the arithmetic and the maps). Tensors under
// kMin8bitElements elements (norms) keep f32 moments, as bitsandbytes'
// min_8bit_size does. 2.03 bytes of state per element instead of 8; the
// update is no longer PyTorch AdamW's to the bit (the moments carry the
// coding's error: under 1% of a block's absmax for m, tests/reference/
// adamw8bit_check.py checks herd's steps against an independent numpy
// implementation of this specification, byte for byte).
//
// Thread safety: an AdamW is used by one thread.
#pragma once

#include "base/thread_pool.h"
#include "kernels/adamw.h"
#include "kernels/kernel_table.h"

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
  bool moments_8bit = false;  // blockwise 8-bit m and v (see above)
};

constexpr int64_t kMomentBlock = kernels::kMomentBlock;
constexpr int64_t kMin8bitElements = 4096;

// One optimizer state tensor, for checkpoints: f32 values or 8-bit codes.
struct StateBuffer {
  std::span<float> f32;
  std::span<uint8_t> u8;  // set instead of f32 for codes
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
  // With pool, each tensor's elements (8-bit: blocks) are split over it (each
  // depends only on itself: the same bits). The arithmetic is the table's
  // adamw_f32 / adamw_8bit_block (kernels/adamw.h: every ISA gives the
  // reference's bits); no table: the reference.
  void step(double lr, ThreadPool* pool = nullptr, const kernels::KernelTable* table = nullptr);
  int64_t steps() const { return t_; }
  const AdamWOptions& options() const { return o_; }
  // The moments, for checkpoints (with the step count resume continues
  // bit-identically): per parameter m and v, f32 or, 8-bit, their codes and
  // block absmaxes (m codes, m absmax, v codes, v absmax).
  std::vector<StateBuffer> state();
  // Bytes of optimizer state per parameter of n elements.
  static int64_t state_bytes(int64_t n, bool moments_8bit);
  void set_steps(int64_t t) { t_ = t; }

 private:
  AdamWOptions o_;
  struct Moments {
    std::vector<float> m, v;            // f32 moments
    std::vector<uint8_t> qm, qv;        // 8-bit codes
    std::vector<float> am, av;          // their blocks' absmax
  };
  std::vector<Param> params_;
  std::vector<Moments> mom_;
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
