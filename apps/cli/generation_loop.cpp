// The single-sequence token loop (generation_loop.h).
#include "generation_loop.h"

#include <algorithm>
#include <cmath>
#include <span>

namespace herd::cli {

Result<LoopEnd> generation_loop(model::LlamaContext& ctx, sampling::Sampler& sampler, std::vector<int32_t>& history,
                                std::vector<float>& logits, const chat::StopTokens& stops, const LoopOptions& opts,
                                const std::function<bool(int32_t)>& on_token) {
  LoopEnd end;
  for (;;) {
    if (opts.interrupt != nullptr && opts.interrupt->load()) {
      end.interrupted = true;
      break;
    }
    if (end.generated >= opts.max_tokens) break;  // kLength
    if (opts.constraint != nullptr) {
      opts.constraint->mask(logits);
      if (std::none_of(logits.begin(), logits.end(), [](float v) { return v > -INFINITY; }))
        return err(ErrorCode::kInternal, "the output constraint allows no next token");
    }
    const int32_t id = sampler.sample(logits, history);
    const chat::StopReason r = stops.classify(id);
    if (r != chat::StopReason::kNone && !opts.ignore_eos) {
      end.reason = r;
      end.stop_id = id;
      break;
    }
    const bool fits = ctx.n_past() + 1 + opts.reserve <= ctx.n_ctx();
    if (!fits && opts.keep_in_cache) {
      end.context_full = true;
      break;
    }
    ++end.generated;
    const bool go_on = on_token(id);
    history.push_back(id);
    if (opts.constraint != nullptr) {
      opts.constraint->accept(id);
      end.constraint_complete = opts.constraint->complete();
    }
    const bool last = end.generated >= opts.max_tokens || end.constraint_complete;
    if (!opts.keep_in_cache && (last || !fits || !go_on)) {
      end.context_full = !fits && !last && go_on;
      if (!go_on) end.reason = chat::StopReason::kStopString;
      break;
    }
    HERD_TRY(ctx.eval(std::span<const int32_t>(&id, 1), false, &logits));
    ++end.evaluated;
    if (end.constraint_complete) break;
    if (!go_on) {
      end.reason = chat::StopReason::kStopString;
      break;
    }
  }
  return end;
}

}  // namespace herd::cli
