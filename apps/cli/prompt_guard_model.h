// A Prompt Guard classifier opened for checks (herd guard --prompt-guard,
// herd serve --prompt-guard): the DeBERTa model (model/deberta/), its kernel
// table and threads, and the server's PromptShield interface over them
// (apps/server/prompt_shield.h). Checks from several threads take turns (one
// lock); the windows of one check run as one batch.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "kernels/exec_context.h"
#include "kernels/kernel_table.h"
#include "model/deberta/prompt_guard.h"
#include "prompt_shield.h"

namespace herd::cli {

class PromptGuardModel : public server::PromptShield {
 public:
  // Errors: the directory (loading, labels), the ISA. bf16: the F32 linear
  // layers (Prompt Guard's released dtype) rounded to bf16 at load and run on
  // the bf16 path, as BF16 weights are (half the memory, 2x the speed, bf16's
  // precision); kUnsupported where the ISA has no bf16 path.
  static Result<std::unique_ptr<PromptGuardModel>> open(const std::string& dir, const std::string& isa, int threads,
                                                        double threshold, bool bf16 = false);

  Result<std::vector<server::PromptShieldScores>> score(const std::vector<std::string>& texts,
                                                        int64_t max_tokens = 0) const override;
  std::string model_id() const override { return model_id_; }
  double threshold() const override { return threshold_; }

  // For herd guard: the classifier and a context on this model's threads
  // (callers hold no lock: one thread).
  const model::deberta::DebertaClassifier& classifier() const { return model_; }
  const kernels::ExecContext& ctx() const { return ctx_; }

 private:
  PromptGuardModel(int threads) : pool_(threads) {}
  model::deberta::DebertaClassifier model_;
  kernels::KernelTable table_;
  ThreadPool pool_;
  kernels::ExecContext ctx_;
  std::string model_id_;
  double threshold_ = model::deberta::kPromptGuardThreshold;
  mutable std::mutex mu_;
};

class ArgParser;

// --prompt-guard DIR, --prompt-guard-threshold P and --prompt-guard-bf16
// (herd chat, herd serve; herd guard takes the last too):
// add_prompt_guard_options registers them (`use` says what the shield does in
// that command); open_prompt_guard_option opens the model when --prompt-guard
// is given (null otherwise). Errors: kInvalidArgument for the options (a usage
// error), else the model's (a failure while running).
void add_prompt_guard_options(ArgParser& p, const char* use);
void add_prompt_guard_bf16_option(ArgParser& p);
Result<std::unique_ptr<PromptGuardModel>> open_prompt_guard_option(const ArgParser& p, int threads);

}  // namespace herd::cli
