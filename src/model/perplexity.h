// Perplexity of a model on a token stream, computed as llama.cpp's
// llama-perplexity computes it (its default method), so figures compare
// across the two tools:
//   - the text is tokenized once with BOS in front (the caller does that);
//   - it is cut into n_chunk = floor(n_tokens / n_ctx) chunks of n_ctx tokens
//     (the tail is dropped; fewer than 2 * n_ctx tokens is an error, or
//     min_chunks * n_ctx);
//   - each chunk is evaluated from an empty cache with its first token
//     replaced by BOS;
//   - only the second half is scored: the logits at positions
//     first = n_ctx / 2 .. n_ctx - 2 predict the tokens after them, so each
//     chunk contributes n_ctx - first - 1 negative log-likelihoods;
//   - each NLL is -log_softmax(logits)[next] with the log-sum-exp in double;
//     PPL = exp(mean NLL), and the uncertainty printed beside it is
//     PPL * sqrt((mean(NLL^2) - mean(NLL)^2) / (count - 1)).
// The running estimate after each chunk is reported through a callback
// (llama-perplexity prints "[i]ppl," for each).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "base/result.h"
#include "kernels/exec_context.h"
#include "model/llama_model.h"
#include "model/taps.h"

namespace herd::model {

struct PerplexityOptions {
  int64_t n_ctx = 512;     // tokens per chunk (llama-perplexity's -c default)
  int64_t n_chunks = -1;   // at most this many chunks; -1: all
  int64_t batch = 512;     // tokens per forward call
  int64_t min_chunks = 2;  // a text of fewer chunks is refused (llama-perplexity's rule;
                           // its KL-divergence mode takes a base file of one)
  int32_t bos_id = 128000;
  DType kv_k = DType::kF16, kv_v = DType::kF16;  // as llama.cpp's default cache
  // llama-imatrix's pass over the same chunks: every eval computes all logits
  // (in batches of `batch` from each chunk's start, not split at its middle),
  // each is announced to before_eval(n_tokens), and the forward pass reports
  // to `taps`.
  TapSink* taps = nullptr;
  std::function<void(int64_t)> before_eval;
  // Called for every scored position, in order (chunk by chunk, position by
  // position): its logits and the token they predict. The KL-divergence
  // mode's writer and reader (kl_divergence.h). An error stops the run.
  std::function<Status(std::span<const float>, int32_t)> on_scored;
};

struct PerplexityResult {
  int64_t n_chunks = 0;
  int64_t count = 0;        // scored tokens
  double mean_nll = 0;      // mean negative log-likelihood (nats)
  double ppl = 0;           // exp(mean_nll)
  double ppl_error = 0;     // PPL's standard error, as llama-perplexity prints it
};

// `on_chunk(i, running_ppl)` after each chunk (i from 1). Errors: too few
// tokens, n_ctx < 4, a token id outside the vocabulary, cancellation.
Result<PerplexityResult> perplexity(const LlamaModel& model, std::span<const int32_t> tokens, const PerplexityOptions& o,
                                    kernels::ExecContext exec,
                                    const std::function<void(int64_t, double)>& on_chunk = nullptr);

// -log softmax(logits)[target], with the max subtracted and the sum in double.
double token_nll(std::span<const float> logits, int32_t target);

}  // namespace herd::model
