// LlamaContext: one sequence over the shared forward pass
// (model/llama_forward.h): cache index p is row p of its own KvCache.
#include "model/llama_context.h"

#include "model/llama_forward.h"

namespace herd::model {

LlamaContext::LlamaContext(const LlamaModel& model, int64_t n_ctx, int64_t max_batch, kernels::ExecContext exec,
                           DType kv_k, DType kv_v)
    : model_(model), n_ctx_(n_ctx),
      kv_(static_cast<int64_t>(model.layers().size()), n_ctx, model.config().n_kv_heads * model.config().head_dim, kv_k,
          kv_v),
      acts_(model, *exec.table, max_batch, n_ctx, exec.pool->size()) {
  exec_ = acts_.bind(exec);
}

uint64_t LlamaContext::state_bytes() const { return kv_.bytes() + acts_.bytes(); }

Status LlamaContext::eval(std::span<const int32_t> tokens, bool all_logits, std::vector<float>* logits,
                          TapSink* taps) {
  if (!model_.holds_embedding() || !model_.holds_head())
    return err(ErrorCode::kInvalidArgument, "a context evaluates a whole model; this one holds layers [%lld, %lld)",
               static_cast<long long>(model_.layer_range().first), static_cast<long long>(model_.layer_range().last));
  const auto T = static_cast<int64_t>(tokens.size());
  if (T > 0 && T <= acts_.max_tokens() && n_past_ + T > n_ctx_)
    return err(ErrorCode::kOutOfRange, "context full: %lld cached + %lld new tokens exceed n_ctx %lld",
               static_cast<long long>(n_past_), static_cast<long long>(T), static_cast<long long>(n_ctx_));
  acts_.out_rows.clear();
  for (int64_t t = 0; t < T && t < acts_.max_tokens(); ++t) {
    const auto i = static_cast<size_t>(t);
    acts_.idx[i] = n_past_ + t;
    acts_.pos[i] = pos_offset_ + n_past_ + t;
    acts_.tables[i] = nullptr;
    if (all_logits || t == T - 1) acts_.out_rows.push_back(t);
  }
  HERD_TRY(llama_forward(exec_, model_, kv_.view(), tokens, acts_, logits, taps));
  n_past_ += T;
  return Ok{};
}

}  // namespace herd::model
