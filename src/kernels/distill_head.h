// The two heads of knowledge distillation (herd distill), computed over the
// vocabulary in chunks of kCeChunk rows of the output weight as the
// cross-entropy is (backward.h), so no [tokens, vocab] matrix exists:
//
// logits_topk: the teacher's side. For each token t, the k largest logits of
// h_t . W^T (ids and values, largest first; ties: the lower id first) and the
// log-sum-exp of logits / temperature, so the teacher's probability of a
// listed id is exp(logit / temperature - lse) and the rest of the vocabulary
// holds 1 - their sum (the "tail").
//
// soft_cross_entropy: the student's side. Token t's target puts weight
// weights[t, j] on ids[t, j] (j < k; id < 0: unused) and tail[t] on the ids
// not listed, spread as the student's own distribution over them; with
// q = softmax(h_t . W^T / temperature), q_T = the mass of the unlisted ids:
//   loss_t = -sum_j weights[t, j] log q(ids[t, j]) - tail[t] log q_T
//   d loss_t / d logit_tv = (S_t q_v - target_tv) / temperature,
//   S_t = sum_j weights[t, j] + tail[t], target_tv = weights[t, j] for a listed v,
//   tail[t] q_v / q_T otherwise.
// With weights = the teacher's top-k probabilities and tail its tail, loss_t
// is the cross-entropy H(p, q) of the teacher's and student's distributions
// over k + 1 bins (the listed ids and the tail); KL(p || q) = H(p, q) - H(p),
// the same gradient (torchtune reports H(p, q) as its KD loss, spec A3).
// A one-hot weight on the label is the plain cross-entropy. The mix of both
// that distillation trains on (1 - kd_ratio on the label, at temperature 1
// whatever the bins' temperature) is one call: with labels, each labelled
// token also gets its label's cross-entropy from the same logits,
//   ce_t = -log softmax(h_t . W^T)_label,   d ce_t / d logit_tv = p1_v - [v == label_t]
// (p1: the softmax at temperature 1), reported apart (label_loss_sum) and
// added to the gradient with its own factor label_scale, so the head's two
// passes over W serve both terms.
// Tokens with no bin weight, no tail and no label are not counted (0 gradient
// rows). dh [T, D] is overwritten; dh null: the loss only.
//
// Each has a double-precision reference beside it (dequantized W).
//
// Thread safety: pure functions; the work fans out on ctx.pool.
#pragma once

#include <cstdint>

#include "kernels/backward.h"
#include "kernels/exec_context.h"
#include "tensor/tensor_view.h"

namespace herd::kernels {

// scratch: ce_scratch_floats(T, D) floats.
void logits_topk(const ExecContext& ctx, const float* h, int64_t T, const TensorView& w, int64_t k, float temperature,
                 int32_t* ids, float* logits, double* lse, float* scratch);
void logits_topk_ref(const float* h, int64_t T, const TensorView& w, int64_t k, double temperature, int32_t* ids,
                     double* logits, double* lse);

struct SoftTargets {
  int64_t k = 0;                    // entries per token
  const int32_t* ids = nullptr;     // [T, k]; < 0: unused
  const float* weights = nullptr;   // [T, k]
  const float* tail = nullptr;      // [T]
  // The reverse KL of the bins instead, KL(q || p) with p the targets (the
  // teacher's top-k probabilities and tail) and q the student's binned
  // distribution (q_j its probability of a listed id, q_T its unlisted mass):
  //   loss_t = sum_b q_b (log q_b - log p_b)
  //   d loss_t / d logit_tv = q_v (c_b(v) - loss_t) / temperature,
  //   c_b = log q_b - log p_b, b(v) the bin of v
  // (mode-seeking: the student is pushed off what the teacher gives little
  // mass). A bin with p_b = 0 (only the tail can be: the listed ids held all
  // of the teacher's mass, to rounding) is taken as p_b = kReverseKlFloor.
  bool reverse = false;
  // Optional: each token's label (< 0: none) for the cross-entropy term above,
  // whose gradient is label_scale (p1_v - [v == label_t]) (absolute: grad_scale
  // does not apply to it).
  const int32_t* labels = nullptr;  // [T]
  float label_scale = 0;
};
constexpr double kReverseKlFloor = 1e-20;

// The bins' loss (loss_sum over the tokens with a bin weight or a tail,
// counted) and the labels' cross-entropy (over the labelled tokens).
struct SoftCeResult : CeResult {
  double label_loss_sum = 0;
  int64_t label_counted = 0;
};

// dh = grad_scale x d(sum_t loss_t)/dh. A token's listed ids must be distinct.
// With dw ([V, D], full fine-tuning of the head; needs dh): dw += the same
// factor times the head weight's gradient.
SoftCeResult soft_cross_entropy(const ExecContext& ctx, const float* h, int64_t T, const TensorView& w,
                                const SoftTargets& tg, float temperature, float grad_scale, float* dh, float* scratch,
                                float* dw = nullptr);
SoftCeResult soft_cross_entropy_ref(const float* h, int64_t T, const TensorView& w, const SoftTargets& tg,
                                    double temperature, double grad_scale, double* dh);

}  // namespace herd::kernels
