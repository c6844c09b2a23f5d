// Knowledge distillation (`herd distill`): a teacher's next-token
// distributions cached as top-k logits + log-sum-exp per trained position,
// and the Objective (objective.h) that trains a student's LoRA adapter
// toward them through the shared training loop (finetune.h).
//
// Teacher cache: for every example of the data (sft_data.h: chats or text)
// and every position whose next token is trained, the teacher's k largest
// logits (ids and values) and the log-sum-exp of logits / temperature
// (kernels/distill_head.h logits_topk), so p_i = exp(logit_i / T - lse) for the
// listed ids and the tail 1 - sum p_i for the rest. It is computed once (the
// teacher need not be in memory while the student trains, and one pass
// serves every epoch) and written as a safetensors file: tensors "offsets"
// (I64 [examples + 1], rows per example), "ids" (I32 [rows, k]), "logits"
// (F32 [rows, k]), "lse" (F64 [rows]); metadata: herd_teacher_cache, k,
// temperature, the data's fingerprint (a hash of every example's ids and
// masks), the tokenizer's fingerprint (a hash of its vocabulary) and the
// teacher's name. A cache is reused only for the same data, k, temperature
// and tokenizer. The live path (no file) goes through the same structure, so
// it gives the same losses bit for bit.
//
// Loss per trained token, as torchtune's KD recipe mixes it (spec A3):
//   (1 - kd_ratio) CE(label) + kd_ratio T^2 H(p_T, q_T)
// where q_T is the student's softmax of logits / T and H the cross-entropy over
// the k + 1 bins (the teacher's listed ids and the tail; kernels/distill_head.h);
// T^2 keeps the gradient's scale (Hinton; T = 1, torchtune's setting, leaves it
// out). The step's loss is the mean over its trained tokens. Metrics: kd_kl
// (KL(p || q) over the bins, = H - H(p); with reverse_kl, KL(q || p), which
// then replaces H in the loss), ce (the label's cross-entropy).
// Both terms come from one head call (kernels/distill_head.h: the KD term at
// T and the CE at 1 from the same logits).
//
// Thread safety: one thread drives it; kernels fan out on the pool.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "tokenizer/tokenizer.h"
#include "train/objective.h"
#include "train/sft_data.h"

namespace herd::train {

struct DistillOptions {
  int64_t top_k = 32;
  double temperature = 1.0;
  double kd_ratio = 0.5;
  // The KD term as the reverse KL(q_T || p_T) over the same bins
  // (kernels/distill_head.h SoftTargets::reverse; mode-seeking, as MiniLLM
  // and GKD use it) instead of the forward cross-entropy; kd_kl then
  // reports it.
  bool reverse_kl = false;
};

struct TeacherCache {
  int64_t k = 0;
  double temperature = 1.0;
  std::string data_fingerprint, tokenizer_fingerprint, teacher;
  std::vector<int64_t> offsets;  // [examples + 1]
  std::vector<int32_t> ids;      // [rows, k]
  std::vector<float> logits;     // [rows, k]
  std::vector<double> lse;       // [rows]
};

// A hash (hex) of the examples' ids and masks.
std::string data_fingerprint(const SftData& data);

// The teacher pass: `step`'s model over every example, `batch` per forward.
Result<TeacherCache> compute_teacher_cache(kernels::ExecContext exec, model::TrainStep& step, const SftData& data,
                                           const DistillOptions& o, int64_t batch, const std::string& teacher);
Status write_teacher_cache(const std::string& path, const TeacherCache& c);
Result<TeacherCache> read_teacher_cache(const std::string& path);
// Whether `c` was made for this data, k, temperature and tokenizer (tokenizer_fp:
// Tokenizer::fingerprint() of the student's; an error saying which differs).
Status check_teacher_cache(const TeacherCache& c, const SftData& data, const DistillOptions& o,
                           const std::string& tokenizer_fp);

class DistillObjective final : public Objective {
 public:
  DistillObjective(const SftData& data, const TeacherCache& cache, const DistillOptions& o)
      : data_(data), cache_(cache), o_(o) {}
  size_t size() const override { return data_.examples.size(); }
  int64_t item_tokens(size_t i) const override { return static_cast<int64_t>(data_.examples[i].ids.size()); }
  int64_t denominator(std::span<const size_t> items) const override;
  std::vector<std::string> metric_names() const override { return {"kd_kl", "ce"}; }
  std::string fingerprint() const override;
  Result<MicroResult> run(kernels::ExecContext exec, model::TrainStep& step, std::span<const size_t> items,
                          float grad_scale, model::TrainGrads* grads) override;

 private:
  const SftData& data_;
  const TeacherCache& cache_;
  DistillOptions o_;
};

}  // namespace herd::train
