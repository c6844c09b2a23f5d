// LlamaBatch: the engine's chunks over the shared forward pass
// (model/llama_forward.h): each token's keys go through its sequence's block
// table into the BlockPool.
#include "model/llama_batch.h"

#include <algorithm>

#include "model/llama_forward.h"

namespace herd::model {

LlamaBatch::LlamaBatch(const LlamaModel& model, kv::BlockPool& pool, int64_t max_tokens, int64_t max_seq_len,
                       kernels::ExecContext exec)
    : model_(model), kv_(pool), max_seq_len_(max_seq_len),
      acts_(model, *exec.table, max_tokens, max_seq_len, exec.pool->size()) {
  exec_ = acts_.bind(exec);
  tokens_.resize(static_cast<size_t>(max_tokens));
}

Status LlamaBatch::eval(std::span<const BatchChunk> chunks, std::vector<float>* logits) {
  int64_t T = 0;
  for (const BatchChunk& ch : chunks) T += ch.n;
  if (T == 0) return err(ErrorCode::kInvalidArgument, "batch eval: no tokens");
  if (T > acts_.max_tokens())
    return err(ErrorCode::kInvalidArgument, "batch eval: %lld tokens exceed the step size %lld",
               static_cast<long long>(T), static_cast<long long>(acts_.max_tokens()));
  acts_.out_rows.clear();
  int64_t t = 0;
  for (const BatchChunk& ch : chunks) {
    const int32_t nw = acts_.lora_n_weights;
    if (ch.lora_weights != nullptr && ch.n_lora_weights != nw)
      return err(ErrorCode::kInvalidArgument, "batch eval: %d LoRA weights for a model with %d numbered adapters",
                 ch.n_lora_weights, nw);
    if (ch.n_past + ch.n > max_seq_len_)
      return err(ErrorCode::kOutOfRange, "batch eval: %lld cached + %lld new tokens exceed %lld",
                 static_cast<long long>(ch.n_past), static_cast<long long>(ch.n), static_cast<long long>(max_seq_len_));
    for (int64_t i = 0; i < ch.n; ++i, ++t) {
      const auto r = static_cast<size_t>(t);
      tokens_[r] = ch.tokens[i];
      acts_.pos[r] = acts_.idx[r] = ch.n_past + i;
      acts_.tables[r] = ch.block_table;
      acts_.lora_set[r] = ch.adapter;
      const float* w = ch.lora_weights != nullptr ? ch.lora_weights : model_.lora_weights().data();
      std::copy(w, w + nw, acts_.lora_weight.begin() + static_cast<ptrdiff_t>(r) * nw);
    }
    if (ch.want_logits) acts_.out_rows.push_back(t - 1);
  }
  return llama_forward(exec_, model_, kv_.view(), std::span<const int32_t>(tokens_.data(), static_cast<size_t>(T)),
                       acts_, logits, nullptr);
}

}  // namespace herd::model
