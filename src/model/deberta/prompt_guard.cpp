// Prompt Guard's scores (see prompt_guard.h).
#include "model/deberta/prompt_guard.h"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace herd::model::deberta {
namespace {

std::string upper(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

}  // namespace

Result<PromptGuardLabels> prompt_guard_labels(const DebertaConfig& c) {
  PromptGuardLabels l;
  if (c.num_labels() == 2) {
    l.jailbreak = 1;
    return l;
  }
  for (int i = 0; i < static_cast<int>(c.labels.size()); ++i) {
    const std::string u = upper(c.labels[static_cast<size_t>(i)]);
    if (u == "JAILBREAK") l.jailbreak = i;
    if (u == "INJECTION") l.injection = i;
  }
  if (c.num_labels() != 3 || l.jailbreak < 0 || l.injection < 0)
    return err(ErrorCode::kUnsupported,
               "the classifier's labels are not Prompt Guard's (BENIGN, INJECTION, JAILBREAK) nor Prompt Guard 2's "
               "(two labels, 1 = malicious)");
  return l;
}

Result<std::vector<PromptGuardScores>> prompt_guard_scores(const DebertaClassifier& m, const kernels::ExecContext& ctx,
                                                           const std::vector<std::string_view>& texts,
                                                           double temperature, int64_t max_windows) {
  if (!(temperature > 0 && std::isfinite(temperature)))
    return err(ErrorCode::kInvalidArgument, "the temperature must be positive");
  HERD_ASSIGN_OR_RETURN(PromptGuardLabels labels, prompt_guard_labels(m.config()));
  std::vector<std::vector<int32_t>> all;
  std::vector<size_t> first;  // first window of each text
  std::vector<PromptGuardScores> out(texts.size());
  const size_t specials = m.tokenizer().prefix_ids().size() + m.tokenizer().suffix_ids().size();
  for (size_t i = 0; i < texts.size(); ++i) {
    first.push_back(all.size());
    for (auto& w : m.windows(texts[i])) {
      out[i].tokens += static_cast<int64_t>(w.size() - specials);
      all.push_back(std::move(w));
    }
    out[i].windows = static_cast<int64_t>(all.size() - first.back());
    if (max_windows > 0 && out[i].windows > max_windows)
      return err(ErrorCode::kOutOfRange, "text %zu is %lld tokens, %lld windows of %lld; at most %lld are scanned", i,
                 static_cast<long long>(out[i].tokens), static_cast<long long>(out[i].windows),
                 static_cast<long long>(m.max_window()), static_cast<long long>(max_windows));
  }
  HERD_ASSIGN_OR_RETURN(std::vector<std::vector<float>> logits, m.classify(ctx, all));
  for (size_t i = 0; i < texts.size(); ++i) {
    PromptGuardScores& s = out[i];
    s.injection = -1;
    for (size_t w = first[i]; w < first[i] + static_cast<size_t>(s.windows); ++w) {
      const std::vector<float>& z = logits[w];
      double mx = -INFINITY, sum = 0;
      for (float v : z) mx = std::max(mx, v / temperature);
      std::vector<double> p(z.size());
      for (size_t k = 0; k < z.size(); ++k) sum += (p[k] = std::exp(z[k] / temperature - mx));
      for (double& v : p) v /= sum;
      const double jb = p[static_cast<size_t>(labels.jailbreak)];
      const double inj = labels.injection < 0 ? jb : jb + p[static_cast<size_t>(labels.injection)];
      s.jailbreak = std::max(s.jailbreak, jb);
      if (inj > s.injection) {
        s.injection = inj;
        s.probs = p;
      }
    }
  }
  return out;
}

}  // namespace herd::model::deberta
