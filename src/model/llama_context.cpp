// The Llama 3.x forward pass (spec §2; Meta models/llama3/model.py):
//   h = E[tokens]
//   for each layer: h += Wo . attn(rope(Wq.norm(h)), rope(Wk.norm(h)), Wv.norm(h))
//                   h += W_down . (silu(W_gate.norm(h)) * W_up.norm(h))
//   logits = W_out . norm(h)
// All arithmetic is f32 with f32 (or wider) accumulation; weights are read in
// their file dtype through the kernel table.
#include "model/llama_context.h"

#include <algorithm>

#include "kernels/ops.h"
#include "model/feed_forward.h"

namespace herd::model {

using kernels::matmul;

LlamaContext::LlamaContext(const LlamaModel& model, int64_t n_ctx, int64_t max_batch,
                           kernels::ExecContext exec, DType kv_k, DType kv_v)
    : model_(model), c_(model.config()), exec_(exec), n_ctx_(n_ctx), max_batch_(max_batch),
      kv_(c_.n_layers, n_ctx, c_.n_kv_heads * c_.head_dim, kv_k, kv_v) {
  const auto B = static_cast<size_t>(max_batch);
  x_.resize(B * c_.d_model);
  xn_.resize(B * c_.d_model);
  q_.resize(B * c_.n_heads * c_.head_dim);
  k_.resize(B * c_.n_kv_heads * c_.head_dim);
  v_.resize(B * c_.n_kv_heads * c_.head_dim);
  attn_.resize(B * c_.n_heads * c_.head_dim);
  proj_.resize(B * c_.d_model);
  const auto F = static_cast<size_t>(ffn_rows(static_cast<int64_t>(B)));
  gate_.resize(F * c_.d_ff);
  up_.resize(F * c_.d_ff);
  pos_.resize(B);
  xq_.resize(static_cast<size_t>(q8_scratch_blocks(c_, static_cast<int64_t>(B))));
  exec_.q8 = xq_.data();
  exec_.q8_blocks = static_cast<int64_t>(xq_.size());
  xb_.resize(static_cast<size_t>(bf16_scratch_elems(model, *exec_.table, max_batch)));
  exec_.bf16 = xb_.data();
  exec_.bf16_elems = static_cast<int64_t>(xb_.size());
  const int64_t group = c_.n_heads / c_.n_kv_heads;  // attention_rows scores a GQA group at once
  scores_.assign(static_cast<size_t>(exec_.pool->size()),
                 std::vector<float>(static_cast<size_t>(kernels::attention_scratch_floats(group, n_ctx, c_.head_dim))));
  for (auto& s : scores_) score_ptrs_.push_back(s.data());
}

int64_t bf16_scratch_elems(const LlamaModel& model, const kernels::KernelTable& table, int64_t max_tokens) {
  int64_t elems = 0;
  auto see = [&](const TensorView& w, int64_t rows) {
    if (kernels::matmul_path(table, w) == kernels::MatmulPath::kBf16) elems = std::max(elems, rows * w.cols());
  };
  see(model.output(), max_tokens);
  for (const LayerWeights& L : model.layers()) {
    for (const TensorView* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up}) see(*w, max_tokens);
    see(L.w_down, ffn_rows(max_tokens));  // its input is a feed-forward chunk
  }
  return elems;
}

int64_t q8_scratch_blocks(const LlamaConfig& c, int64_t max_tokens) {
  const int64_t k_batch = std::max(c.d_model, c.n_heads * c.head_dim);  // inputs of all tokens of the call
  return std::max(max_tokens * (k_batch / 32 + 1), ffn_rows(max_tokens) * (c.d_ff / 32 + 1));  // w_down: a chunk
}

uint64_t LlamaContext::state_bytes() const {
  uint64_t act = (x_.size() + xn_.size() + q_.size() + k_.size() + v_.size() + attn_.size() + proj_.size() +
                  gate_.size() + up_.size()) * sizeof(float);
  act += xq_.size() * sizeof(kernels::BlockQ8);
  act += xb_.size() * sizeof(uint16_t);
  return kv_.bytes() + act + scores_.size() * static_cast<uint64_t>(scores_.empty() ? 0 : scores_[0].size()) * sizeof(float);
}

void LlamaContext::forward_layer(int64_t il, int64_t T, TapSink* taps) {
  const LayerWeights& L = model_.layers()[static_cast<size_t>(il)];
  const int64_t D = c_.d_model, hd = c_.head_dim, H = c_.n_heads, KV = c_.n_kv_heads;
  const int64_t kv_dim = KV * hd;
  const std::string prefix = taps ? "blk." + std::to_string(il) + "." : std::string();
  auto tap = [&](const char* name, const float* p, int64_t cols) {
    if (taps) taps->tap(prefix + name, p, T, cols);
  };

  // Attention sublayer.
  kernels::rms_norm(x_.data(), L.attn_norm, static_cast<float>(c_.rms_eps), T, D, xn_.data());
  tap("attn_norm", xn_.data(), D);
  // One activation quantization for the three projections of the same input.
  kernels::matmul_shared_input(exec_, xn_.data(), T, {{&L.wq, q_.data()}, {&L.wk, k_.data()}, {&L.wv, v_.data()}});
  kernels::rope(q_.data(), T, H, hd, pos_.data(), c_.inv_freq.data(), c_.rope_style);
  kernels::rope(k_.data(), T, KV, hd, pos_.data(), c_.inv_freq.data(), c_.rope_style);
  const DType kt = kv_.k_type(), vt = kv_.v_type();
  auto* kc = static_cast<uint8_t*>(kv_.k(il));
  auto* vc = static_cast<uint8_t*>(kv_.v(il));
  kernels::kv_store(exec_, kt, k_.data(), kc + n_past_ * kernels::kv_row_bytes(kt, kv_dim), T * kv_dim);
  kernels::kv_store(exec_, vt, v_.data(), vc + n_past_ * kernels::kv_row_bytes(vt, kv_dim), T * kv_dim);
  kernels::attention(exec_, q_.data(), T, H, KV, hd, kc, vc, kt, vt, n_past_, score_ptrs_.data(), attn_.data());
  matmul(exec_, attn_.data(), T, L.wo, proj_.data());
  tap("attn_out", proj_.data(), D);
  for (int64_t i = 0; i < T * D; ++i) x_[i] += proj_[i];
  tap("ffn_inp", x_.data(), D);

  // Feed-forward sublayer (SwiGLU).
  kernels::rms_norm(x_.data(), L.ffn_norm, static_cast<float>(c_.rms_eps), T, D, xn_.data());
  feed_forward(exec_, L, xn_.data(), T, D, c_.d_ff, gate_.data(), up_.data(), proj_.data());
  tap("ffn_out", proj_.data(), D);
  for (int64_t i = 0; i < T * D; ++i) x_[i] += proj_[i];
  tap("out", x_.data(), D);
}

Status LlamaContext::eval(std::span<const int32_t> tokens, bool all_logits, std::vector<float>* logits,
                          TapSink* taps) {
  const auto T = static_cast<int64_t>(tokens.size());
  const int64_t D = c_.d_model, V = c_.vocab_size;
  if (T == 0) return err(ErrorCode::kInvalidArgument, "eval: no tokens");
  if (T > max_batch_)
    return err(ErrorCode::kInvalidArgument, "eval: %lld tokens exceed the batch size %lld",
               static_cast<long long>(T), static_cast<long long>(max_batch_));
  if (n_past_ + T > n_ctx_)
    return err(ErrorCode::kOutOfRange, "context full: %lld cached + %lld new tokens exceed n_ctx %lld",
               static_cast<long long>(n_past_), static_cast<long long>(T), static_cast<long long>(n_ctx_));
  for (int64_t t = 0; t < T; ++t) {
    if (tokens[t] < 0 || tokens[t] >= V)
      return err(ErrorCode::kInvalidArgument, "token %d at index %lld is outside the vocabulary [0, %lld)",
                 tokens[t], static_cast<long long>(t), static_cast<long long>(V));
  }
  for (int64_t t = 0; t < T; ++t) {
    pos_[t] = pos_offset_ + n_past_ + t;
    kernels::embedding_row(exec_, model_.tok_embd(), tokens[t], x_.data() + t * D);
  }
  if (taps) taps->tap("tok_embd", x_.data(), T, D);
  for (int64_t il = 0; il < c_.n_layers; ++il) forward_layer(il, T, taps);

  const int64_t first = all_logits ? 0 : T - 1;
  const int64_t n_out = T - first;
  kernels::rms_norm(x_.data() + first * D, model_.output_norm(), static_cast<float>(c_.rms_eps), n_out, D,
                    xn_.data());
  if (taps) taps->tap("result_norm", xn_.data(), n_out, D);
  logits->resize(static_cast<size_t>(n_out * V));
  matmul(exec_, xn_.data(), n_out, model_.output(), logits->data());
  if (taps) taps->tap("logits", logits->data(), n_out, V);
  n_past_ += T;
  return Ok{};
}

}  // namespace herd::model
