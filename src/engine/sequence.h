// Sequence: one request inside the engine, and its lifecycle.
//
//   kQueued -> kPrefilling -> kDecoding -> kFinished
//      |            |             |
//      +------------+-------------+--> kCancelled
//   (a preempted sequence goes back to kQueued with its generated tokens kept;
//    it is prefilled again, prompt + generated, and continues where it was)
//
// The per-token logic that does not depend on how logits were computed (bias,
// constraint mask, logprobs, sampling, stop ids, limits, callbacks) lives in
// SequenceRunner so the simple and the batched paths share it.
//
// Thread safety: owned by the engine thread, except `cancel_requested`.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "engine/engine.h"
#include "sampling/sampler.h"

namespace herd::engine {

enum class SeqState { kQueued, kPrefilling, kDecoding, kFinished, kCancelled };
const char* seq_state_name(SeqState s);

struct Sequence {
  uint64_t id = 0;
  GenerationRequest req;
  RequestCallbacks cb;
  SeqState state = SeqState::kQueued;
  sampling::Sampler sampler;
  std::vector<int32_t> tokens;  // prompt + generated (the sampler's history)
  int64_t n_prompt = 0;
  int64_t n_computed = 0;       // tokens whose KV is in the cache
  int64_t n_generated = 0;      // sampled tokens (stop token included)
  int64_t n_cached = 0;         // prompt tokens served by the prefix cache
  int64_t max_len = 0;          // prompt + generated at most (context limit)
  std::atomic<bool> cancel_requested{false};
  std::chrono::steady_clock::time_point t_submit;
  double ttft_s = -1;
  std::vector<uint64_t> block_hashes;  // chained hashes of full prompt blocks
  std::vector<int32_t> blocks;         // KV block table (cache index p in blocks[p / block_size])
  int64_t n_published = 0;             // full blocks published to the prefix cache
  bool admitted_once = false;          // prefix hits and prompt stats count the first admission only

  Sequence(uint64_t id_, GenerationRequest r, RequestCallbacks c)
      : id(id_), req(std::move(r)), cb(std::move(c)), sampler(req.sampling) {}
};

// What processing one position's logits decided.
struct TokenOutcome {
  bool finished = false;
  FinishReason reason = FinishReason::kStop;
  int32_t stop_id = -1;
  std::optional<Error> error;
};

// The draw of one position (phase 1), before it is applied to the sequence.
struct SampledToken {
  bool masked_out = false;  // every token masked: the request fails
  TokenEvent event;         // id, and logprobs when requested (not for a stop id)
  bool is_stop = false;     // id is one of req.stop_ids
};

// Phase 1 of a token, the costly part: bias, constraint mask, sampling and
// logprobs over `logits` (modified in place; V floats). Touches only `s` (its
// sampler and counters) and `scratch`, never a callback, so the engine runs it
// for several sequences at once on its pool (one scratch buffer per worker).
void sample_logits(Sequence& s, std::span<float> logits, std::vector<float>* scratch, SampledToken* out);

// Phase 2, on the engine thread in batch order: stop ids, the constraint's
// state, the token list, on_token, and the length limits. Does not call on_done.
TokenOutcome apply_token(Sequence& s, SampledToken& t);

// Both phases for one sequence.
TokenOutcome process_logits(Sequence& s, std::span<float> logits, std::vector<float>* scratch);

// Validates a request against the model (its vocabulary, its numbered --lora
// adapters) and the options.
Status validate_request(const GenerationRequest& r, int64_t vocab, int32_t n_lora_weights, const EngineOptions& o);

// Context limit of one sequence: min(max_seq_len, n_ctx).
inline int64_t seq_limit(const EngineOptions& o) { return o.max_seq_len < o.n_ctx ? o.max_seq_len : o.n_ctx; }

}  // namespace herd::engine
