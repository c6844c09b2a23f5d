// The token loop of the single-sequence commands, herd run and herd chat (and
// the C API). Each token is decided by the engine's per-token step, the code
// that decides every token of herd serve (engine/sequence.h: constraint mask,
// sampling, chat::StopTokens, budget, context limit); this loop only drives it
// with a LlamaContext: evaluate the shown token for the next logits. run and
// chat differ only in options: chat keeps every shown token in its cache (the
// conversation cache must hold exactly what was shown, plus room for the
// closing token), run evaluates a token only when another one will follow.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "base/result.h"
#include "chat/stop.h"
#include "model/llama_context.h"
#include "sampling/constraint.h"
#include "sampling/sampler.h"

namespace herd::cli {

struct LoopOptions {
  int64_t max_tokens = 0;      // tokens generated at most (a stop token is not counted)
  bool ignore_eos = false;     // stop tokens are generated like any other
  // true: a token is shown only if it fits in the cache with `reserve` indices
  // to spare, and every shown token is evaluated (chat); false: the last token
  // and one that no longer fits are shown but not evaluated (run).
  bool keep_in_cache = false;
  int64_t reserve = 0;
  const std::atomic<bool>* interrupt = nullptr;  // checked before each token
  // Optional (a JSON schema's grammar): masks the logits before each draw, follows
  // each shown token, and ends the loop when its output is complete.
  sampling::TokenConstraint* constraint = nullptr;
};

struct LoopEnd {
  chat::StopReason reason = chat::StopReason::kLength;
  int32_t stop_id = -1;        // the stop token, when reason is one
  bool context_full = false;   // ended for lack of cache (reason kLength)
  bool interrupted = false;
  bool constraint_complete = false;  // the constraint's output is whole
  int64_t generated = 0;       // tokens handed to on_token
  int64_t evaluated = 0;       // of those, evaluated (decode steps)
};

// on_token(id) shows a token; false ends the loop after it (a stop string
// completed: reason kStopString). history: the sampler's (prompt and
// generated tokens), appended to. logits: the last evaluation's, replaced.
Result<LoopEnd> generation_loop(model::LlamaContext& ctx, sampling::Sampler& sampler, std::vector<int32_t>& history,
                                std::vector<float>& logits, const chat::StopTokens& stops, const LoopOptions& opts,
                                const std::function<bool(int32_t)>& on_token);

}  // namespace herd::cli
