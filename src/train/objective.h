// Objective: what a training run minimises, for the one training loop
// (train/finetune.h) that `herd finetune` and `herd dpo` share: a set of
// items (SFT examples, preference pairs), how a micro-batch of them turns into
// a loss and adapter gradients, and what the loss is a mean over.
//
// An optimizer step's loss is (sum of its micro-batches' loss_sum) /
// (sum of denominator over its items): SFT's denominator is the trained
// tokens (torchtune's normalisation), DPO's the pairs. Metrics (DPO's
// rewards, accuracies, log-probs) are summed like the loss and reported
// divided by the same denominator.
//
// SftObjective: next-token cross-entropy over SftData's trained positions,
// the examples of a micro-batch packed into one TrainBatch.
//
// Thread safety: one thread drives an objective; kernels fan out on the pool.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "kernels/exec_context.h"
#include "model/llama_train.h"
#include "train/sft_data.h"

namespace herd::train {

struct MicroResult {
  double loss_sum = 0;
  int64_t tokens = 0;               // tokens processed (trained or not)
  std::vector<double> metric_sums;  // one per Objective::metric_names()
};

class Objective {
 public:
  virtual ~Objective() = default;
  virtual size_t size() const = 0;
  // Tokens item i puts into a TrainBatch (the step's capacity).
  virtual int64_t item_tokens(size_t i) const = 0;
  // What the loss of these items is a mean over.
  virtual int64_t denominator(std::span<const size_t> items) const = 0;
  virtual std::vector<std::string> metric_names() const { return {}; }
  // The data and the objective's own options, for checkpoints: a run resumes
  // only on the same.
  virtual std::string fingerprint() const = 0;
  // The micro-batch `items`: returns the loss sum and metric sums; with grads,
  // adds grad_scale x d(loss_sum)/d(adapters) to them.
  virtual Result<MicroResult> run(kernels::ExecContext exec, model::TrainStep& step, std::span<const size_t> items,
                                  float grad_scale, model::TrainGrads* grads) = 0;
};

class SftObjective final : public Objective {
 public:
  explicit SftObjective(const SftData& data) : data_(data) {}
  size_t size() const override { return data_.examples.size(); }
  int64_t item_tokens(size_t i) const override { return static_cast<int64_t>(data_.examples[i].ids.size()); }
  int64_t denominator(std::span<const size_t> items) const override;
  std::string fingerprint() const override;
  Result<MicroResult> run(kernels::ExecContext exec, model::TrainStep& step, std::span<const size_t> items,
                          float grad_scale, model::TrainGrads* grads) override;

 private:
  const SftData& data_;
};

}  // namespace herd::train
