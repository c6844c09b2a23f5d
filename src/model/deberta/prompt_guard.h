// Prompt Guard's scores from a DeBERTa classifier's logits: the label
// probabilities softmax(logits / T), and the two scores Meta's model cards and
// Llama Stack use, each the maximum over a text's 512-token windows (a long
// text is flagged when any window is):
//   Prompt Guard (BENIGN, INJECTION, JAILBREAK):
//     jailbreak = P(JAILBREAK)                  for direct user turns
//     injection = P(INJECTION) + P(JAILBREAK)   for third-party text (tool
//                                               results, retrieved documents)
//   Prompt Guard 2 (LABEL_0 benign, LABEL_1 malicious): both are P(LABEL_1).
// A text is flagged when its score for the chosen check exceeds the threshold
// (Llama Stack: 0.9, strictly greater).
//
// Thread safety: pure functions over a const classifier; one call at a time
// per ExecContext.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "kernels/exec_context.h"
#include "model/deberta/deberta_model.h"

namespace herd::model::deberta {

enum class PromptGuardCheck { kJailbreak, kInjection };
constexpr double kPromptGuardThreshold = 0.9;

struct PromptGuardScores {
  double jailbreak = 0, injection = 0;  // maxima over the windows
  std::vector<double> probs;            // label probabilities of the window with the highest injection score
  int64_t windows = 0, tokens = 0;      // tokens: the text's pieces (no [CLS]/[SEP])
};

// Which label ids the scores read: Prompt Guard's three or Prompt Guard 2's
// two (by id2label); anything else is kUnsupported.
struct PromptGuardLabels {
  int jailbreak = -1, injection = -1;  // injection -1: Prompt Guard 2 (both scores read `jailbreak`)
};
Result<PromptGuardLabels> prompt_guard_labels(const DebertaConfig& c);

// Scores each text, every window of every text in one batched classify().
// max_windows > 0 bounds the work: a text of more windows is refused
// (kOutOfRange, naming the text) before anything runs.
Result<std::vector<PromptGuardScores>> prompt_guard_scores(const DebertaClassifier& m, const kernels::ExecContext& ctx,
                                                           const std::vector<std::string_view>& texts,
                                                           double temperature = 1.0, int64_t max_windows = 0);

inline double prompt_guard_score(const PromptGuardScores& s, PromptGuardCheck c) {
  return c == PromptGuardCheck::kJailbreak ? s.jailbreak : s.injection;
}

}  // namespace herd::model::deberta
