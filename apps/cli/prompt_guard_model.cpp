// PromptGuardModel (see prompt_guard_model.h).
#include "prompt_guard_model.h"

#include <filesystem>

#include "args.h"

namespace herd::cli {

Result<std::unique_ptr<PromptGuardModel>> PromptGuardModel::open(const std::string& dir, const std::string& isa,
                                                                  int threads, double threshold, bool bf16) {
  std::unique_ptr<PromptGuardModel> m(new PromptGuardModel(threads));
  HERD_ASSIGN_OR_RETURN(m->model_, model::deberta::DebertaClassifier::load(dir));
  Result<model::deberta::PromptGuardLabels> labels = model::deberta::prompt_guard_labels(m->model_.config());
  if (!labels) return std::move(labels.error()).with_context(dir);
  HERD_ASSIGN_OR_RETURN(m->table_, kernels::select_kernels(isa));
  if (bf16 && !m->table_.repacks_r16(DType::kBF16))
    return err(ErrorCode::kUnsupported, "%s: --prompt-guard-bf16 needs the bf16 path (ISA avx512bf16 or amx: "
               "AVX512_BF16); ISA %s has none", dir.c_str(), m->table_.isa);
  m->model_.repack_weights(m->table_, m->pool_, bf16);
  m->ctx_.pool = &m->pool_;
  m->ctx_.table = &m->table_;
  m->threshold_ = threshold;
  std::filesystem::path p(dir);
  m->model_id_ = (p.has_filename() ? p.filename() : p.parent_path().filename()).string();
  return m;
}

Result<std::vector<server::PromptShieldScores>> PromptGuardModel::score(const std::vector<std::string>& texts,
                                                                       int64_t max_tokens) const {
  std::vector<std::string_view> views(texts.begin(), texts.end());
  // Windows hold max_window() - 2 pieces each.
  const int64_t room = model_.max_window() - 2;
  const int64_t max_windows = max_tokens > 0 ? (max_tokens + room - 1) / room : 0;
  std::lock_guard<std::mutex> l(mu_);
  HERD_ASSIGN_OR_RETURN(std::vector<model::deberta::PromptGuardScores> s,
                        model::deberta::prompt_guard_scores(model_, ctx_, views, 1.0, max_windows));
  std::vector<server::PromptShieldScores> out;
  for (const auto& x : s) out.push_back({x.jailbreak, x.injection, x.windows});
  return out;
}

void add_prompt_guard_options(ArgParser& p, const char* use) {
  p.add("--prompt-guard", "DIR", use);
  p.add("--prompt-guard-threshold", "P", "flag when the Prompt Guard score is above P (default 0.9, Llama Stack's)");
  add_prompt_guard_bf16_option(p);
}

void add_prompt_guard_bf16_option(ArgParser& p) {
  p.add("--prompt-guard-bf16", "",
        "run Prompt Guard's F32 linear layers in bf16 (weights rounded at load; ~2x faster, half the memory; needs "
        "AVX512_BF16)");
}

Result<std::unique_ptr<PromptGuardModel>> open_prompt_guard_option(const ArgParser& p, int threads) {
  if (!p.has("--prompt-guard")) {
    if (p.has("--prompt-guard-threshold") || p.has("--prompt-guard-bf16"))
      return err(ErrorCode::kInvalidArgument, "%s needs --prompt-guard",
                 p.has("--prompt-guard-bf16") ? "--prompt-guard-bf16" : "--prompt-guard-threshold");
    return std::unique_ptr<PromptGuardModel>();
  }
  Result<double> thr = p.get_double("--prompt-guard-threshold", model::deberta::kPromptGuardThreshold);
  if (!thr.has_value() || !(*thr >= 0 && *thr <= 1))
    return err(ErrorCode::kInvalidArgument, "--prompt-guard-threshold must be a number in [0, 1]");
  Result<std::unique_ptr<PromptGuardModel>> pg = PromptGuardModel::open(p.get("--prompt-guard"), p.get("--isa", "auto"), threads, *thr,
                                                                     p.has("--prompt-guard-bf16"));
  if (!pg) {
    Error e = std::move(pg.error()).with_context("--prompt-guard");
    // A model that cannot be opened is a failure while running, not a usage error.
    if (e.code() == ErrorCode::kInvalidArgument) return Error(ErrorCode::kCorrupt, e.message());
    return e;
  }
  return pg;
}

}  // namespace herd::cli
