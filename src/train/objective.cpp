// SftObjective (objective.h).
#include "train/objective.h"

namespace herd::train {

int64_t SftObjective::denominator(std::span<const size_t> items) const {
  int64_t n = 0;
  for (size_t i : items) n += data_.examples[i].n_trained();
  return n;
}

std::string SftObjective::fingerprint() const { return "sft examples=" + std::to_string(data_.examples.size()); }

Result<MicroResult> SftObjective::run(kernels::ExecContext exec, model::TrainStep& step, std::span<const size_t> items,
                                      float grad_scale, model::TrainGrads* grads) {
  model::TrainBatch tb;
  for (size_t i : items) tb.add_sequence(data_.examples[i].ids, data_.examples[i].trained);
  HERD_ASSIGN_OR_RETURN(const kernels::CeResult r, step.run(exec, tb, grad_scale, grads));
  MicroResult m;
  m.loss_sum = r.loss_sum;
  m.tokens = static_cast<int64_t>(tb.tokens.size());
  return m;
}

}  // namespace herd::train
