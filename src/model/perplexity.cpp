// perplexity(): chunks, BOS, the scored half, the NLL sums (perplexity.h).
#include "model/perplexity.h"

#include <algorithm>
#include <cmath>

#include "base/progress.h"
#include "model/llama_context.h"

namespace herd::model {

double token_nll(std::span<const float> logits, int32_t target) {
  float mx = logits[0];
  for (float v : logits) mx = std::max(mx, v);
  double sum = 0;
  for (float v : logits) sum += std::exp(static_cast<double>(v) - mx);
  return -(static_cast<double>(logits[static_cast<size_t>(target)]) - mx - std::log(sum));
}

Result<PerplexityResult> perplexity(const LlamaModel& model, std::span<const int32_t> tokens, const PerplexityOptions& o,
                                    kernels::ExecContext exec, const std::function<void(int64_t, double)>& on_chunk) {
  const int64_t n_ctx = o.n_ctx;
  if (n_ctx < 4) return err(ErrorCode::kInvalidArgument, "the context (-c) must be at least 4 tokens, not %lld",
                            static_cast<long long>(n_ctx));
  const int64_t n_tok = static_cast<int64_t>(tokens.size());
  const int64_t min_chunks = std::max<int64_t>(1, o.min_chunks);
  if (n_tok < min_chunks * n_ctx)
    return err(ErrorCode::kInvalidArgument,
               "the text is %lld tokens; perplexity with a context of %lld needs at least %lld (%s)",
               static_cast<long long>(n_tok), static_cast<long long>(n_ctx), static_cast<long long>(min_chunks * n_ctx),
               min_chunks == 2 ? "two chunks" : "its chunks");
  const int64_t vocab = model.config().vocab_size;
  for (int32_t t : tokens)
    if (t < 0 || t >= vocab) return err(ErrorCode::kInvalidArgument, "token id %d is outside the vocabulary", t);
  PerplexityResult r;
  r.n_chunks = n_tok / n_ctx;
  if (o.n_chunks >= 0) r.n_chunks = std::min(r.n_chunks, o.n_chunks);
  const int64_t batch = std::clamp<int64_t>(o.batch, 1, n_ctx);
  const int64_t first = n_ctx / 2;

  LlamaContext ctx(model, n_ctx, batch, exec, o.kv_k, o.kv_v);
  std::vector<int32_t> chunk(static_cast<size_t>(n_ctx));
  std::vector<float> logits;
  double nll = 0, nll2 = 0;
  for (int64_t i = 0; i < r.n_chunks; ++i) {
    if (interrupted()) return err(ErrorCode::kCancelled, "interrupted after %lld chunks", static_cast<long long>(i));
    std::copy_n(tokens.begin() + i * n_ctx, n_ctx, chunk.begin());
    chunk[0] = o.bos_id;
    ctx.reset();
    // The first half only fills the cache (its last logits are not needed);
    // the second half's logits are all scored but the last.
    for (int64_t b = 0; b < n_ctx;) {
      const bool imatrix = o.taps != nullptr;
      const int64_t nb = std::min(batch, (b < first && !imatrix ? first : n_ctx) - b);
      const bool scored = b + nb > first;
      if (o.before_eval) o.before_eval(nb);
      HERD_TRY(ctx.eval(std::span<const int32_t>(chunk).subspan(static_cast<size_t>(b), static_cast<size_t>(nb)),
                        scored || imatrix, &logits, o.taps));
      for (int64_t k = 0; scored && k < nb; ++k) {
        const int64_t pos = b + k;  // its logits predict chunk[pos + 1]
        if (pos < first || pos + 1 >= n_ctx) continue;
        const std::span<const float> row =
            std::span<const float>(logits).subspan(static_cast<size_t>(k * vocab), static_cast<size_t>(vocab));
        const int32_t next = chunk[static_cast<size_t>(pos + 1)];
        if (o.on_scored) HERD_TRY(o.on_scored(row, next));
        const double v = token_nll(row, next);
        nll += v;
        nll2 += v * v;
        ++r.count;
      }
      b += nb;
    }
    if (on_chunk) on_chunk(i + 1, std::exp(nll / static_cast<double>(r.count)));
  }
  r.mean_nll = nll / static_cast<double>(r.count);
  r.ppl = std::exp(r.mean_nll);
  const double var = nll2 / static_cast<double>(r.count) - r.mean_nll * r.mean_nll;
  r.ppl_error = var > 0 && r.count > 1 ? std::sqrt(var / static_cast<double>(r.count - 1)) * r.ppl : 0;
  return r;
}

}  // namespace herd::model
