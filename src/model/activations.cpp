// Activations: buffer sizes and the scratch sizing rules (model/activations.h).
#include "model/activations.h"

#include <algorithm>
#include <cstring>

#include "kernels/ops.h"
#include "model/feed_forward.h"

namespace herd::model {

Activations::Activations(const LlamaModel& model, const kernels::KernelTable& table, int64_t max_tokens,
                         int64_t max_keys, int n_workers)
    : max_tokens_(max_tokens), max_keys_(max_keys), d_model_(model.config().d_model),
      n_layers_(static_cast<int64_t>(model.layers().size())) {
  const LlamaConfig& c = model.config();
  const auto B = static_cast<size_t>(max_tokens);
  pos.resize(B);
  idx.resize(B);
  tables.resize(B);
  out_rows.reserve(B);
  x.resize(B * c.d_model);
  xn.resize(B * c.d_model);
  q.resize(B * c.n_heads * c.head_dim);
  k.resize(B * c.n_kv_heads * c.head_dim);
  v.resize(B * c.n_kv_heads * c.head_dim);
  attn.resize(B * c.n_heads * c.head_dim);
  proj.resize(B * c.d_model);
  const auto F = static_cast<size_t>(ffn_rows(max_tokens));
  gate.resize(F * c.d_ff);
  up.resize(F * c.d_ff);
  lora.resize(B * static_cast<size_t>(model.max_lora_rank()));
  tiles.resize(B + 1);
  const int64_t group = c.n_heads / c.n_kv_heads;  // attention_rows scores a GQA group at once
  scores.assign(static_cast<size_t>(n_workers),
                std::vector<float>(static_cast<size_t>(kernels::attention_scratch_floats(group, max_keys, c.head_dim))));
  for (auto& s : scores) score_ptrs.push_back(s.data());
  xq_.resize(static_cast<size_t>(q8_scratch_blocks(c, max_tokens)));
  xb_.resize(static_cast<size_t>(bf16_scratch_elems(model, table, max_tokens)));
}

kernels::ExecContext Activations::bind(kernels::ExecContext exec) {
  exec.q8 = xq_.data();
  exec.q8_blocks = static_cast<int64_t>(xq_.size());
  exec.bf16 = xb_.data();
  exec.bf16_elems = static_cast<int64_t>(xb_.size());
  return exec;
}

void Activations::keep_layer_inputs(bool on) {
  layer_inputs_.clear();
  if (on)
    layer_inputs_.assign(static_cast<size_t>(n_layers_ + 1),
                         std::vector<float>(static_cast<size_t>(max_tokens_ * d_model_)));
}

void Activations::save_layer_input(int64_t il, int64_t T) {
  if (layer_inputs_.empty()) return;
  std::memcpy(layer_inputs_[static_cast<size_t>(il)].data(), x.data(), static_cast<size_t>(T * d_model_) * sizeof(float));
}

uint64_t Activations::bytes() const {
  uint64_t n = (x.size() + xn.size() + q.size() + k.size() + v.size() + attn.size() + proj.size() + gate.size() +
                up.size() + lora.size()) * sizeof(float);
  n += xq_.size() * sizeof(kernels::BlockQ8) + xb_.size() * sizeof(uint16_t);
  for (const auto& s : scores) n += s.size() * sizeof(float);
  for (const auto& l : layer_inputs_) n += l.size() * sizeof(float);
  n += (pos.size() + idx.size() + tiles.size() + out_rows.capacity()) * sizeof(int64_t) +
       tables.size() * sizeof(const int32_t*);
  return n;
}

int64_t bf16_scratch_elems(const LlamaModel& model, const kernels::KernelTable& table, int64_t max_tokens) {
  int64_t elems = 0;
  auto see = [&](const TensorView& w, int64_t rows) {
    if (kernels::matmul_path(table, w) == kernels::MatmulPath::kBf16) elems = std::max(elems, rows * w.cols());
  };
  model.for_each_matmul_weight([&](int64_t, LlamaTensor t, const TensorView& w) {
    see(w, t == LlamaTensor::kWDown ? ffn_rows(max_tokens) : max_tokens);  // w_down's input: a feed-forward chunk
  });
  return elems;
}

int64_t q8_scratch_blocks(const LlamaConfig& c, int64_t max_tokens) {
  const int64_t k_batch = std::max(c.d_model, c.n_heads * c.head_dim);  // inputs of all tokens of the call
  return std::max(max_tokens * (k_batch / 32 + 1), ffn_rows(max_tokens) * (c.d_ff / 32 + 1));  // w_down: a chunk
}

}  // namespace herd::model
