// The single-sequence token loop (generation_loop.h): a driver around the
// engine's per-token step (engine/sequence.h: sample_logits + apply_token),
// the same code that decides every token of herd serve. What differs from the
// engine is only who evaluates the logits (a LlamaContext here, a batch there)
// and the two cache modes of run and chat.
#include "generation_loop.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>

#include "engine/sequence.h"

namespace herd::cli {

Result<LoopEnd> generation_loop(model::LlamaContext& ctx, sampling::Sampler& sampler, std::vector<int32_t>& history,
                                std::vector<float>& logits, const chat::StopTokens& stops, const LoopOptions& opts,
                                const std::function<bool(int32_t)>& on_token) {
  LoopEnd end;
  if (opts.max_tokens <= 0) return end;  // kLength: nothing to generate (run -n 0)
  engine::GenerationRequest req;
  req.sampling = sampler.params();
  req.max_tokens = static_cast<int32_t>(std::min<int64_t>(opts.max_tokens, INT32_MAX));
  if (!opts.ignore_eos) req.stop_ids = stops.ids();
  // The engine holds constraints shared; this one stays the caller's (no owner).
  if (opts.constraint != nullptr) req.constraint = std::shared_ptr<sampling::TokenConstraint>(std::shared_ptr<void>(), opts.constraint);
  engine::RequestCallbacks cb;
  cb.on_token = [&](const engine::TokenEvent& ev) { return on_token(ev.id); };
  engine::Sequence seq(0, std::move(req), std::move(cb));
  seq.sampler = std::move(sampler);
  seq.tokens = std::move(history);
  const size_t start = seq.tokens.size();
  // The engine's limit on prompt + generated tokens. Chat shows a token only
  // if it fits with `reserve` indices to spare (it evaluates every token it
  // shows); run shows one more, the one that no longer fits, unevaluated, as
  // the engine does with a sequence's last token.
  seq.max_len = opts.keep_in_cache ? ctx.n_ctx() - opts.reserve : ctx.n_ctx() + 1;
  std::vector<float> scratch;  // logprobs' (none requested)
  Status failed;
  for (;;) {
    if (opts.interrupt != nullptr && opts.interrupt->load()) {
      end.interrupted = true;
      break;
    }
    if (static_cast<int64_t>(seq.tokens.size()) >= seq.max_len) {  // chat's cache already full
      end.context_full = true;
      break;
    }
    engine::SampledToken t;
    engine::sample_logits(seq, logits, &scratch, &t);
    const engine::TokenOutcome o = engine::apply_token(seq, t);
    if (o.error) {
      failed = *o.error;
      break;
    }
    const bool shown = !t.is_stop;
    if (o.finished) {
      switch (o.reason) {
        case engine::FinishReason::kStop:
          if (t.is_stop) {
            end.reason = stops.classify(o.stop_id);
            end.stop_id = o.stop_id;
          }
          break;
        case engine::FinishReason::kCancelled: end.reason = chat::StopReason::kStopString; break;  // on_token said stop
        case engine::FinishReason::kContextFull: end.context_full = true; break;
        default: break;  // kLength
      }
    }
    if (shown && (!o.finished || opts.keep_in_cache)) {
      const int32_t id = t.event.id;
      failed = ctx.eval(std::span<const int32_t>(&id, 1), false, &logits);
      if (!failed.has_value()) break;
      ++end.evaluated;
    }
    if (o.finished) break;
  }
  end.generated = static_cast<int64_t>(seq.tokens.size() - start);
  if (opts.constraint != nullptr) end.constraint_complete = opts.constraint->complete();
  sampler = std::move(seq.sampler);
  history = std::move(seq.tokens);
  if (!failed.has_value()) return failed.error();
  return end;
}

}  // namespace herd::cli
