// Activations: buffer sizes and the scratch sizing rules (model/activations.h).
#include "model/activations.h"

#include <algorithm>
#include <cstring>

#include "kernels/ops.h"
#include "model/feed_forward.h"

namespace herd::model {

struct Activations::Sizes {
  size_t tokens = 0;                    // pos, idx, tables, out_rows
  size_t x = 0, q = 0, kv = 0, ffn = 0;  // x, xn, proj, attn (q-sized), k and v, gate and up
  size_t lora = 0, tiles = 0, scores = 0, xq = 0, xb = 0;
  int workers = 0;
  uint64_t bytes() const {
    return (3 * x + 2 * q + 2 * kv + 2 * ffn + lora + scores * static_cast<size_t>(workers)) * sizeof(float) +
           xq * sizeof(kernels::BlockQ8) + xb * sizeof(uint16_t) + (3 * tokens + tiles) * sizeof(int64_t) +
           tokens * sizeof(const int32_t*);
  }
};

Activations::Sizes Activations::sizes(const LlamaModel& model, const kernels::KernelTable& table, int64_t max_tokens,
                                      int64_t max_keys, int n_workers) {
  const LlamaConfig& c = model.config();
  const auto B = static_cast<size_t>(max_tokens);
  Sizes z;
  z.tokens = B;
  z.x = B * static_cast<size_t>(c.d_model);
  z.q = B * static_cast<size_t>(c.n_heads * c.head_dim);
  z.kv = B * static_cast<size_t>(c.n_kv_heads * c.head_dim);
  z.ffn = static_cast<size_t>(ffn_rows(max_tokens) * c.d_ff);
  z.lora = B * static_cast<size_t>(model.max_lora_rank());
  z.tiles = B + 1;
  const int64_t group = c.n_heads / c.n_kv_heads;  // attention_rows scores a GQA group at once
  z.scores = static_cast<size_t>(kernels::attention_scratch_floats(group, max_keys, c.head_dim));
  z.workers = n_workers;
  z.xq = static_cast<size_t>(q8_scratch_blocks(c, max_tokens));
  z.xb = static_cast<size_t>(bf16_scratch_elems(model, table, max_tokens));
  return z;
}

uint64_t Activations::planned_bytes(const LlamaModel& model, const kernels::KernelTable& table, int64_t max_tokens,
                                    int64_t max_keys, int n_workers) {
  return sizes(model, table, max_tokens, max_keys, n_workers).bytes();
}

Activations::Activations(const LlamaModel& model, const kernels::KernelTable& table, int64_t max_tokens,
                         int64_t max_keys, int n_workers)
    : max_tokens_(max_tokens), max_keys_(max_keys), d_model_(model.config().d_model),
      n_layers_(static_cast<int64_t>(model.layers().size())) {
  const Sizes z = sizes(model, table, max_tokens, max_keys, n_workers);
  pos.resize(z.tokens);
  idx.resize(z.tokens);
  tables.resize(z.tokens);
  lora_set.assign(z.tokens, 0);
  lora_n_weights = static_cast<int32_t>(model.lora_weights().size());
  lora_weight.resize(z.tokens * model.lora_weights().size());
  for (size_t t = 0; t < z.tokens; ++t)
    std::copy(model.lora_weights().begin(), model.lora_weights().end(),
              lora_weight.begin() + static_cast<ptrdiff_t>(t * model.lora_weights().size()));
  out_rows.reserve(z.tokens);
  for (std::vector<float>* buf : {&x, &xn, &proj}) buf->resize(z.x);
  for (std::vector<float>* buf : {&q, &attn}) buf->resize(z.q);
  for (std::vector<float>* buf : {&k, &v}) buf->resize(z.kv);
  for (std::vector<float>* buf : {&gate, &up}) buf->resize(z.ffn);
  lora.resize(z.lora);
  tiles.resize(z.tiles);
  scores.assign(static_cast<size_t>(n_workers), std::vector<float>(z.scores));
  for (auto& sc : scores) score_ptrs.push_back(sc.data());
  xq_.resize(z.xq);
  xb_.resize(z.xb);
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
  for (const auto& sc : scores) n += sc.size() * sizeof(float);
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
