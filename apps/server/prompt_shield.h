// The Prompt Guard shield of `herd serve --prompt-guard`: before inference, a
// chat request's last user turn is scored for a jailbreak and the tool results
// that end it (role tool or ipython: the third-party text the model is about
// to read) for an injection, as Meta's model card and Llama Stack use Prompt
// Guard; a score above the threshold blocks the request (finish_reason
// "content_filter", the chat model sees nothing).
//
// The server sees no model headers: PromptShield is the interface it calls,
// implemented beside the DeBERTa classifier in apps/cli (prompt_guard_model.h),
// which owns the classifier, its threads and its lock (one check at a time;
// the windows of one check run as one batch).
//
// Thread safety: score() may be called from any number of threads.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "chat/messages.h"

namespace herd::server {

struct PromptShieldScores {
  double jailbreak = 0;  // model/deberta/prompt_guard.h: max over the text's windows
  double injection = 0;
  int64_t windows = 0;
};

class PromptShield {
 public:
  virtual ~PromptShield() = default;
  // One result per text, in order. max_tokens > 0 bounds the work: a text of
  // more tokens than that (counted in the classifier's windows) is refused
  // with kOutOfRange before anything runs.
  virtual Result<std::vector<PromptShieldScores>> score(const std::vector<std::string>& texts,
                                                        int64_t max_tokens = 0) const = 0;
  virtual std::string model_id() const = 0;
  virtual double threshold() const = 0;
};

// What of a conversation the shield reads: the last user turn (checked for a
// jailbreak) and the tool / ipython results after the last assistant turn
// (checked for an injection). Empty strings are left out.
struct PromptShieldInputs {
  std::vector<std::string> user;
  std::vector<std::string> third_party;
};
PromptShieldInputs prompt_shield_inputs(const std::vector<chat::Message>& messages);

}  // namespace herd::server
