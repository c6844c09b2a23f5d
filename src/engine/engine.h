// Engine: runs many generation requests on one model, sharing each forward
// step between them (continuous batching). The server and the CLI submit
// already-tokenized requests and receive tokens through callbacks.
//
// Contract:
//  - submit() validates the request (prompt length vs context, token ids,
//    sampling params) and queues it; errors are returned, never thrown. A full
//    queue is ErrorCode::kOutOfRange (the server answers 429).
//  - submit_all() queues a group (the n choices of one API request) all or
//    nothing: each request of the group takes one queue slot, and a group
//    larger than the whole queue is kInvalidArgument (it can never fit).
//  - Callbacks run on the engine thread, in order, one request at a time; they
//    must be quick (push into a queue). on_token returning false cancels the
//    request (client gone); cancel() does the same from any thread. A
//    cancelled request's KV memory is freed before its on_done is called.
//  - A request's tokens depend only on (model, prompt, sampling params incl.
//    seed): never on what else is in the batch.
//
// Thread safety: submit(), cancel() and stats() may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "sampling/constraint.h"
#include "sampling/sampler.h"

namespace herd::model {
class CausalLm;
}

namespace herd::kernels {
struct KernelTable;  // kernels/kernel_table.h; the server layer above sees no kernels
}  // namespace herd::kernels

namespace herd::engine {

struct GenerationRequest {
  std::vector<int32_t> prompt;               // token ids, BOS included by the caller
  sampling::SamplingParams sampling;         // seed + stream make the sequence reproducible
  int32_t max_tokens = 256;                  // generated tokens at most
  std::vector<int32_t> stop_ids;             // tokens that end the request (reported, not emitted)
  std::vector<std::pair<int32_t, float>> logit_bias;  // added to the logits before sampling
  int32_t top_logprobs = -1;                 // -1: no logprobs; 0..20: chosen token + top N
  // Tokens whose log-probability every generated token's event reports
  // (TokenEvent::watched, in this order), whether or not they are drawn or in
  // the top N: a classifier's P("unsafe") at its verdict's first token. At
  // most 16, each a vocabulary id.
  std::vector<int32_t> watch_ids;
  std::shared_ptr<sampling::TokenConstraint> constraint;  // optional (grammars, forced calls)
  // The model's adapter set this request runs with (model/linear.h): 0 the model as
  // loaded; k > 0 the adapters attached with set k. Requests with different sets
  // share each step; their prefix-cache entries are kept apart.
  int32_t adapter = 0;
  // Weights of the model's numbered --lora adapters for this request, one per
  // adapter in order (llama-server's "lora": [{"id", "scale"}], unlisted ones 0);
  // empty: the weights they were loaded with. Requests with other weights share
  // each step too; their prefix-cache entries are kept apart.
  std::vector<float> lora_weights;
};

struct TokenEvent {
  int32_t id = 0;
  float logprob = 0.0f;                            // of the chosen token (if requested)
  std::vector<std::pair<int32_t, float>> top;      // top_logprobs alternatives
  std::vector<float> watched;                      // log-probabilities of the request's watch_ids
};

enum class FinishReason { kStop, kLength, kCancelled, kContextFull, kError };
const char* finish_reason_name(FinishReason r);   // "stop", "length", "cancelled", ...

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t cached_prompt_tokens = 0;  // served from the prefix cache
  int64_t completion_tokens = 0;
  double time_to_first_token_s = 0;
};

struct RequestCallbacks {
  std::function<bool(const TokenEvent&)> on_token;  // false: cancel
  // stop_id: the stop token that ended it (-1 if none).
  std::function<void(FinishReason, int32_t stop_id, const Usage&, const Error* error)> on_done;
};

struct EngineOptions {
  int threads = 2;
  int64_t n_ctx = 4096;        // KV tokens in the shared pool, all sequences together
  int64_t max_seq_len = 4096;  // one sequence at most (prompt + generated)
  int max_running = 4;         // sequences decoded together per step
  int max_queued = 64;         // waiting requests (beyond free running slots) before submit() refuses
  int64_t prefill_chunk = 256; // prompt tokens per step (long prompts do not stall decoding)
  // KV cache element types of the shared pool, by name (the server layer
  // sees no tensor types): "f16" (default, as llama.cpp) or "f32".
  std::string cache_type_k = "f16";
  std::string cache_type_v = "f16";
};

struct EngineStats {
  int64_t queued = 0, running = 0;
  // used: held by sequences (0 when idle); cached: free but still holding a
  // prefix-cache entry (reusable, handed out when nothing else is free).
  int64_t kv_tokens_used = 0, kv_tokens_total = 0, kv_tokens_cached = 0;
  int64_t requests_done = 0, prompt_tokens = 0, generated_tokens = 0, cached_prompt_tokens = 0;
  int64_t steps = 0;
  int64_t preemptions = 0;  // running sequences sent back to the queue (KV short), in all
};

class Engine {
 public:
  virtual ~Engine() = default;
  virtual Result<uint64_t> submit(GenerationRequest request, RequestCallbacks callbacks) = 0;
  // requests[i] with callbacks[i], all queued or none (see the contract above).
  // The default submits one by one and cancels the submitted ones on a refusal;
  // the batching engine checks the queue for the whole group at once.
  virtual Result<std::vector<uint64_t>> submit_all(std::vector<GenerationRequest> requests,
                                                   std::vector<RequestCallbacks> callbacks);
  virtual void cancel(uint64_t request_id) = 0;
  virtual EngineStats stats() const = 0;
};

// The engine for `model` (any causal LM, model/runner.h), computing with `table` (the table the model was
// repacked for: model::Runtime gives both) on `pool` when one is lent (the
// engine's thread is then its only user), else on a pool of options.threads
// of its own. model, table and pool must outlive the engine; starts its thread.
Result<std::unique_ptr<Engine>> make_engine(const model::CausalLm& model, const kernels::KernelTable& table,
                                            const EngineOptions& options, ThreadPool* pool = nullptr);

}  // namespace herd::engine
