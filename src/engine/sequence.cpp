#include "engine/sequence.h"

#include <algorithm>
#include <cmath>

namespace herd::engine {

const char* seq_state_name(SeqState s) {
  switch (s) {
    case SeqState::kQueued: return "queued";
    case SeqState::kPrefilling: return "prefilling";
    case SeqState::kDecoding: return "decoding";
    case SeqState::kFinished: return "finished";
    case SeqState::kCancelled: return "cancelled";
  }
  return "?";
}

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kContextFull: return "context_full";
    case FinishReason::kError: return "error";
  }
  return "?";
}

Status validate_request(const GenerationRequest& r, int64_t vocab, int32_t n_lora_weights, const EngineOptions& o) {
  const auto n = static_cast<int64_t>(r.prompt.size());
  if (n == 0) return err(ErrorCode::kInvalidArgument, "prompt: empty (at least one token, BOS included, is needed)");
  const int64_t limit = seq_limit(o);
  // One position must remain for the first generated token.
  if (n >= limit)
    return err(ErrorCode::kInvalidArgument,
               "context overflow: the prompt has %lld tokens but the context holds %lld tokens "
               "(%lld prompt tokens at most, to leave room for one generated token)",
               static_cast<long long>(n), static_cast<long long>(limit), static_cast<long long>(limit - 1));
  for (int64_t i = 0; i < n; ++i) {
    if (r.prompt[i] < 0 || r.prompt[i] >= vocab)
      return err(ErrorCode::kInvalidArgument, "prompt[%lld]: token %d is outside the vocabulary [0, %lld)",
                 static_cast<long long>(i), r.prompt[i], static_cast<long long>(vocab));
  }
  if (r.max_tokens < 1)
    return err(ErrorCode::kInvalidArgument, "max_tokens: %d must be >= 1", r.max_tokens);
  if (!r.lora_weights.empty() && r.lora_weights.size() != static_cast<size_t>(n_lora_weights))
    return err(ErrorCode::kInvalidArgument, "lora_weights: %zu weights for %d numbered LoRA adapters (--lora)",
               r.lora_weights.size(), n_lora_weights);
  for (size_t i = 0; i < r.lora_weights.size(); ++i)
    if (!std::isfinite(r.lora_weights[i]))
      return err(ErrorCode::kInvalidArgument, "lora_weights[%zu]: not a finite number", i);
  if (r.watch_ids.size() > 16) return err(ErrorCode::kInvalidArgument, "watch_ids: %zu ids, at most 16", r.watch_ids.size());
  for (int32_t id : r.watch_ids)
    if (id < 0 || id >= vocab)
      return err(ErrorCode::kInvalidArgument, "watch_ids: token %d is outside the vocabulary", id);
  if (r.top_logprobs < -1 || r.top_logprobs > 20)
    return err(ErrorCode::kInvalidArgument, "top_logprobs: %d must be in [0, 20] (or -1: none)", r.top_logprobs);
  for (size_t i = 0; i < r.stop_ids.size(); ++i) {
    if (r.stop_ids[i] < 0 || r.stop_ids[i] >= vocab)
      return err(ErrorCode::kInvalidArgument, "stop_ids[%zu]: token %d is outside the vocabulary [0, %lld)", i,
                 r.stop_ids[i], static_cast<long long>(vocab));
  }
  for (size_t i = 0; i < r.logit_bias.size(); ++i) {
    const auto& [id, b] = r.logit_bias[i];
    if (id < 0 || id >= vocab)
      return err(ErrorCode::kInvalidArgument, "logit_bias[%zu]: token %d is outside the vocabulary [0, %lld)", i, id,
                 static_cast<long long>(vocab));
    if (std::isnan(b))
      return err(ErrorCode::kInvalidArgument, "logit_bias[%zu]: bias for token %d is NaN", i, id);
  }
  Status st = r.sampling.validate();
  if (!st) {
    Error e = st.error();
    return e.with_context("sampling");
  }
  return Ok{};
}

void sample_logits(Sequence& s, std::span<float> logits, std::vector<float>* scratch, SampledToken* out) {
  *out = SampledToken{};
  const auto V = static_cast<int64_t>(logits.size());
  // Plain pointer loops over the vocabulary: cheap in the unoptimised
  // sanitizer builds too (the load test runs the server under ASan).
  float* lg = logits.data();
  for (const auto& [id, b] : s.req.logit_bias) lg[id] += b;
  if (s.req.constraint) s.req.constraint->mask(logits);
  int64_t first_allowed = 0;
  while (first_allowed < V && !(lg[first_allowed] > -INFINITY)) ++first_allowed;
  if (first_allowed == V) {
    out->masked_out = true;
    return;
  }
  const int32_t id = s.sampler.sample(logits, s.tokens);
  ++s.n_generated;
  if (s.ttft_s < 0)
    s.ttft_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - s.t_submit).count();
  out->event.id = id;
  out->is_stop = std::find(s.req.stop_ids.begin(), s.req.stop_ids.end(), id) != s.req.stop_ids.end();
  if (out->is_stop || (s.req.top_logprobs < 0 && s.req.watch_ids.empty())) return;

  // log-softmax of the final logits (after bias and mask), in double.
  TokenEvent& ev = out->event;
  float mx = -INFINITY;
  for (int64_t i = 0; i < V; ++i)
    if (mx < lg[i]) mx = lg[i];
  double sum = 0;
  for (int64_t i = 0; i < V; ++i) sum += std::exp(static_cast<double>(lg[i]) - mx);
  const double lse = mx + std::log(sum);
  ev.logprob = static_cast<float>(lg[id] - lse);
  for (int32_t w : s.req.watch_ids) ev.watched.push_back(static_cast<float>(lg[w] - lse));
  if (s.req.top_logprobs > 0) {
    // Partial selection of the top N ids (ties: lower id first).
    scratch->assign(logits.begin(), logits.end());
    float* sc = scratch->data();
    const int n = static_cast<int>(std::min<int64_t>(s.req.top_logprobs, V));
    ev.top.reserve(static_cast<size_t>(n));
    for (int k = 0; k < n; ++k) {
      int64_t best = -1;
      for (int64_t i = 0; i < V; ++i)
        if (sc[i] > -INFINITY && (best < 0 || sc[i] > sc[best])) best = i;
      if (best < 0) break;
      ev.top.emplace_back(static_cast<int32_t>(best), static_cast<float>(sc[best] - lse));
      sc[best] = -INFINITY;
    }
  }
}

TokenOutcome apply_token(Sequence& s, SampledToken& t) {
  TokenOutcome out;
  if (t.masked_out) {
    out.finished = true;
    out.reason = FinishReason::kError;
    out.error = Error(ErrorCode::kInternal, "every token is masked (constraint and logit_bias allow none)");
    return out;
  }
  const int32_t id = t.event.id;
  if (t.is_stop) {
    out.finished = true;
    out.reason = FinishReason::kStop;
    out.stop_id = id;
    return out;
  }
  if (s.req.constraint) s.req.constraint->accept(id);
  s.tokens.push_back(id);
  bool keep = true;
  if (s.cb.on_token) keep = s.cb.on_token(t.event);
  if (!keep) {
    out.finished = true;
    out.reason = FinishReason::kCancelled;
    return out;
  }
  if (s.req.constraint && s.req.constraint->complete()) {
    out.finished = true;
    out.reason = FinishReason::kStop;
    return out;
  }
  if (s.n_generated >= s.req.max_tokens) {
    out.finished = true;
    out.reason = FinishReason::kLength;
    return out;
  }
  if (static_cast<int64_t>(s.tokens.size()) >= s.max_len) {
    out.finished = true;
    out.reason = FinishReason::kContextFull;
    return out;
  }
  return out;
}

TokenOutcome process_logits(Sequence& s, std::span<float> logits, std::vector<float>* scratch) {
  SampledToken t;
  sample_logits(s, logits, scratch, &t);
  return apply_token(s, t);
}

}  // namespace herd::engine
