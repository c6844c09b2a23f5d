// Direct preference optimisation (`herd dpo`): the loss of a preference pair
// from the policy's and the reference's log-probs of the chosen and rejected
// completions, and the Objective (objective.h) that trains LoRA adapters on
// it through the shared training loop (finetune.h).
//
// With pi_c, pi_r the policy's and ref_c, ref_r the reference's log-prob sums
// of the counted positions (pref_data.h), as TRL and torchtune define them
// (spec/post-training-safety.md A2):
//   sigmoid (DPO):  h = (pi_c - ref_c) - (pi_r - ref_r),
//                   loss = -(1 - eps) log sigmoid(beta h) - eps log sigmoid(-beta h)
//                   (eps = label_smoothing: conservative DPO; 0 by default)
//   ipo:            the same h from log-probs averaged over each completion's counted
//                   tokens (TRL's IPO), loss = (h - 1 / (2 beta))^2
//   hinge (RSO):    loss = max(0, 1 - beta h)
// plus, with rpo_alpha > 0, rpo_alpha times the chosen completion's NLL
// averaged over its counted tokens (the NLL term of the Llama 3 recipe and
// TRL's rpo_alpha, per pair). Reported as TRL names them: rewards/chosen =
// beta (pi_c - ref_c), rewards/rejected, rewards/margins (their difference),
// rewards/accuracies (1 when chosen's reward > rejected's), logps/chosen,
// logps/rejected (the policy's, as the loss uses them). At the start the
// policy is the reference (a new adapter's B is 0), so h = 0 and the sigmoid
// loss is ln 2.
//
// The reference: compute_reference runs the model as it is when called (the
// base, or the base with the adapter the run starts from) over every pair
// once, before training, and keeps the sums in the pairs (TRL's
// precompute_ref_log_probs); a separate reference model goes through the same
// call with its own TrainStep. One training micro-batch packs each pair's
// chosen and rejected sequences together (attention kept apart) and takes one
// forward and one backward (TrainStep::run_weighted).
//
// Thread safety: one thread drives it; kernels fan out on the pool.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "train/objective.h"
#include "train/pref_data.h"

namespace herd::train {

enum class DpoLoss { kSigmoid, kIpo, kHinge };
Result<DpoLoss> parse_dpo_loss(const std::string& name);  // "sigmoid", "ipo", "hinge"
const char* dpo_loss_name(DpoLoss l);

struct DpoOptions {
  DpoLoss loss = DpoLoss::kSigmoid;
  double beta = 0.1;
  double label_smoothing = 0;  // sigmoid only
  double rpo_alpha = 0;        // weight of the chosen completion's mean NLL
};

// One pair's loss and its derivatives with respect to the policy's log-prob
// sums pi_c and pi_r (n_c, n_r: counted tokens, for the averages).
struct PairLoss {
  double loss = 0, d_pi_c = 0, d_pi_r = 0;
  double reward_chosen = 0, reward_rejected = 0, logp_chosen = 0, logp_rejected = 0;
};
PairLoss dpo_pair_loss(const DpoOptions& o, double pi_c, double pi_r, double ref_c, double ref_r, int64_t n_c,
                       int64_t n_r);

class DpoObjective final : public Objective {
 public:
  DpoObjective(PrefData& data, const DpoOptions& o) : data_(data), o_(o) {}
  // Fills every pair's ref_chosen / ref_rejected with `step`'s model as it is
  // now, `batch` pairs per forward.
  Status compute_reference(kernels::ExecContext exec, model::TrainStep& step, int64_t batch);

  size_t size() const override { return data_.pairs.size(); }
  int64_t item_tokens(size_t i) const override;
  int64_t denominator(std::span<const size_t> items) const override {
    return static_cast<int64_t>(items.size());
  }
  std::vector<std::string> metric_names() const override;
  std::string fingerprint() const override;
  Result<MicroResult> run(kernels::ExecContext exec, model::TrainStep& step, std::span<const size_t> items,
                          float grad_scale, model::TrainGrads* grads) override;

 private:
  PrefData& data_;
  DpoOptions o_;
};

}  // namespace herd::train
