// PromptGuardModel (see prompt_guard_model.h).
#include "prompt_guard_model.h"

#include <filesystem>

namespace herd::cli {

Result<std::unique_ptr<PromptGuardModel>> PromptGuardModel::open(const std::string& dir, const std::string& isa,
                                                                  int threads, double threshold) {
  std::unique_ptr<PromptGuardModel> m(new PromptGuardModel(threads));
  HERD_ASSIGN_OR_RETURN(m->model_, model::deberta::DebertaClassifier::load(dir));
  Result<model::deberta::PromptGuardLabels> labels = model::deberta::prompt_guard_labels(m->model_.config());
  if (!labels) return std::move(labels.error()).with_context(dir);
  HERD_ASSIGN_OR_RETURN(m->table_, kernels::select_kernels(isa));
  m->ctx_.pool = &m->pool_;
  m->ctx_.table = &m->table_;
  m->threshold_ = threshold;
  std::filesystem::path p(dir);
  m->model_id_ = (p.has_filename() ? p.filename() : p.parent_path().filename()).string();
  return m;
}

Result<std::vector<server::PromptShieldScores>> PromptGuardModel::score(const std::vector<std::string>& texts) const {
  std::vector<std::string_view> views(texts.begin(), texts.end());
  std::lock_guard<std::mutex> l(mu_);
  HERD_ASSIGN_OR_RETURN(std::vector<model::deberta::PromptGuardScores> s,
                        model::deberta::prompt_guard_scores(model_, ctx_, views));
  std::vector<server::PromptShieldScores> out;
  for (const auto& x : s) out.push_back({x.jailbreak, x.injection, x.windows});
  return out;
}

}  // namespace herd::cli
