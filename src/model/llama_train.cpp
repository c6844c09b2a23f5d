// The training step (llama_train.h). Per layer, forward (as llama_layer):
//   xn1 = norm(x) w_attn;  q, k, v = xn1 . Wq|Wk|Wv^T (+ LoRA);  rope(q), rope(k)
//   attn = attention(q, k, v);  xmid = x + attn . Wo^T (+ LoRA)
//   xn2 = norm(xmid) w_ffn;  g, u = xn2 . Wg|Wu^T (+ LoRA);  h = silu(g) u
//   out = xmid + h . Wd^T (+ LoRA)
// and backward, given dout (in place into dx):
//   dh = dout . Wd (+ LoRA terms), LoRA(Wd) grads from (h, dout)
//   dg, du = silu_mul_backward;  dxn2 = dg . Wg + du . Wu;  dxmid = dout + norm'(dxn2)
//   dattn = dxmid . Wo;  dq, dk, dv = attention backward;  rope back dq, dk
//   dxn1 = dq . Wq + dk . Wk + dv . Wv;  dx = dxmid + norm'(dxn1)
#include "model/llama_train.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "base/rng.h"
#include "kernels/ops.h"
#include "model/llama_tensors.h"

namespace herd::model {

void TrainBatch::add_sequence(const std::vector<int32_t>& ids, const std::vector<bool>& mask) {
  const auto start = static_cast<int32_t>(tokens.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    tokens.push_back(ids[i]);
    const bool has_next = i + 1 < ids.size() && (mask.empty() || mask[i + 1]);
    labels.push_back(has_next ? ids[i + 1] : -100);
    pos.push_back(static_cast<int64_t>(i));
    first.push_back(start);
  }
}

namespace {

void add(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void resize(std::vector<float>& v, int64_t n) { v.assign(static_cast<size_t>(n), 0.0f); }

}  // namespace

TrainStep::TrainStep(const LlamaModel& model, int64_t max_tokens) : model_(model), max_tokens_(max_tokens) {
  const LlamaConfig& c = model.config();
  const int64_t T = max_tokens, D = c.d_model, F = c.d_ff, Q = c.n_heads * c.head_dim, KVD = c.n_kv_heads * c.head_dim;
  inputs_.resize(static_cast<size_t>(c.n_layers + 1));
  for (auto& in : inputs_) resize(in, T * D);
  for (auto* b : {&xf_, &proj_, &dxn_, &tmp_}) resize(*b, T * std::max(D, std::max(F, Q)));
  for (auto* b : {&dq_, &dattn_}) resize(*b, T * Q);
  for (auto* b : {&dk_, &dv_}) resize(*b, T * KVD);
  for (auto* b : {&dh_, &dg_, &du_}) resize(*b, T * F);
  acts_.resize(1);
  size_acts(acts_[0]);
  resize(ce_, kernels::ce_scratch_floats(T, D));
  max_rank_ = 0;
}

// One layer's kept intermediates per token, in floats: what size_acts gives a
// LayerActs for each of its tokens.
static int64_t layer_act_floats_per_token(const LlamaConfig& c) {
  const int64_t Q = c.n_heads * c.head_dim, KVD = c.n_kv_heads * c.head_dim;
  return 3 * c.d_model + 2 * Q + 2 * KVD + 3 * c.d_ff + c.n_heads;
}

int64_t TrainStep::kept_intermediate_bytes(const LlamaConfig& c, int64_t tokens) {
  const int64_t logits = tokens * c.vocab_size * static_cast<int64_t>(sizeof(float));
  return c.n_layers * tokens * layer_act_floats_per_token(c) * static_cast<int64_t>(sizeof(float)) +
         (logits <= kKeptLogitsBytes ? logits : 0);
}

void TrainStep::size_acts(LayerActs& a) const {
  const LlamaConfig& c = model_.config();
  const int64_t T = max_tokens_, D = c.d_model, F = c.d_ff, Q = c.n_heads * c.head_dim, KVD = c.n_kv_heads * c.head_dim;
  for (auto* b : {&a.xn1, &a.xmid, &a.xn2}) resize(*b, T * D);
  for (auto* b : {&a.q, &a.attn}) resize(*b, T * Q);
  for (auto* b : {&a.k, &a.v}) resize(*b, T * KVD);
  for (auto* b : {&a.gate, &a.up, &a.h}) resize(*b, T * F);
  resize(a.lse, T * c.n_heads);
  HERD_DCHECK(static_cast<int64_t>(a.xn1.size() * 3 + a.q.size() * 2 + a.k.size() * 2 + a.gate.size() * 3 + a.lse.size()) ==
                  T * layer_act_floats_per_token(c),
              "layer_act_floats_per_token does not match size_acts");
}

void TrainStep::set_activation_checkpointing(bool on) {
  if (on) {
    acts_.resize(1);
    return;
  }
  const auto n = static_cast<size_t>(model_.config().n_layers);
  const size_t had = acts_.size();
  acts_.resize(std::max<size_t>(n, 1));
  for (size_t i = had; i < acts_.size(); ++i) size_acts(acts_[i]);
}

void TrainStep::set_lora_dropout(double p, uint64_t seed) {
  dropout_ = p;
  dropout_seed_ = seed;
}

void TrainStep::dropout_factors(size_t layer, int slot, int64_t T, int64_t K, float* out) const {
  const Rng r(dropout_seed_, dropout_salt_ * 65536 + static_cast<uint64_t>(layer) * 8 + static_cast<uint64_t>(slot));
  // Dropped when a 24-bit uniform falls below p (in units of 2^-24).
  const auto drop_below = static_cast<uint64_t>(std::llround(dropout_ * 16777216.0));
  const auto keep = static_cast<float>(1.0 / (1.0 - dropout_));
  for (int64_t i = 0; i < T * K; ++i) out[i] = (r.at(static_cast<uint64_t>(i)) >> 40) < drop_below ? 0.0f : keep;
}

const float* TrainStep::lora_factor(const Linear& lin) const {
  const bool on = dropout_active_ && dropout_ > 0 &&
                  std::any_of(lin.adapters.begin(), lin.adapters.end(), [](const LoraAdapter& a) { return a.set == 0; });
  return on ? drop_f_.data() : nullptr;
}

const float* TrainStep::lora_input(size_t il, int slot, const Linear& lin, const float* x, int64_t T, int64_t K) {
  if (!dropout_active_ || dropout_ <= 0 || lora_factor(lin) == nullptr) return x;
  dropout_factors(il, slot, T, K, drop_f_.data());
  for (int64_t i = 0; i < T * K; ++i) drop_x_[static_cast<size_t>(i)] = x[i] * drop_f_[static_cast<size_t>(i)];
  return drop_x_.data();
}

Status TrainStep::check(const TrainBatch& b) const {
  const auto T = static_cast<int64_t>(b.tokens.size());
  const LlamaConfig& c = model_.config();
  if (!model_.holds_embedding() || !model_.holds_head())
    return err(ErrorCode::kInvalidArgument, "training needs the whole model (this one holds a layer range)");
  if (T == 0) return err(ErrorCode::kInvalidArgument, "train: an empty batch");
  if (T > max_tokens_)
    return err(ErrorCode::kInvalidArgument, "train: %lld tokens exceed the step's %lld", static_cast<long long>(T),
               static_cast<long long>(max_tokens_));
  if (b.labels.size() != b.tokens.size() || b.pos.size() != b.tokens.size() || b.first.size() != b.tokens.size())
    return err(ErrorCode::kInvalidArgument, "train: tokens, labels, pos and first differ in length");
  bool any_repacked = false;
  model_.for_each_matmul_weight([&](int64_t, LlamaTensor, const TensorView& w) { any_repacked |= w.interleave != 1; });
  if (any_repacked)
    return err(ErrorCode::kInvalidArgument, "train: the model's weights are repacked (load without repacking)");
  for (int64_t t = 0; t < T; ++t) {
    if (b.tokens[t] < 0 || b.tokens[t] >= c.vocab_size || b.labels[t] >= c.vocab_size)
      return err(ErrorCode::kInvalidArgument, "train: token or label at %lld outside the vocabulary",
                 static_cast<long long>(t));
    if (b.first[t] < 0 || b.first[t] > t || b.pos[t] < 0)
      return err(ErrorCode::kInvalidArgument, "train: token %lld has first %d, pos %lld", static_cast<long long>(t),
                 b.first[t], static_cast<long long>(b.pos[t]));
  }
  return Ok{};
}

void TrainStep::embed(const kernels::ExecContext& exec, const TrainBatch& b) {
  const int64_t D = model_.config().d_model;
  for (size_t t = 0; t < b.tokens.size(); ++t)
    kernels::embedding_row(exec, model_.tok_embd(), b.tokens[t], inputs_[0].data() + static_cast<int64_t>(t) * D);
}

void TrainStep::layer_forward(const kernels::ExecContext& exec, const TrainBatch& b, size_t il, const float* x,
                              float* out) {
  const LlamaConfig& c = model_.config();
  const LayerWeights& L = model_.layers()[il];
  LayerActs& a = acts(il);
  const auto T = static_cast<int64_t>(b.tokens.size());
  const int64_t D = c.d_model, F = c.d_ff, hd = c.head_dim, Q = c.n_heads * c.head_dim;
  const auto eps = static_cast<float>(c.rms_eps);
  kernels::rms_norm(x, L.attn_norm, eps, T, D, a.xn1.data());
  kernels::matmul_shared_input(exec, a.xn1.data(), T, {{&L.wq.w, a.q.data()}, {&L.wk.w, a.k.data()}, {&L.wv.w, a.v.data()}});
  lora_forward_add(exec, L.wq, lora_input(il, 0, L.wq, a.xn1.data(), T, D), T, a.q.data(), lora_.data());
  lora_forward_add(exec, L.wk, lora_input(il, 1, L.wk, a.xn1.data(), T, D), T, a.k.data(), lora_.data());
  lora_forward_add(exec, L.wv, lora_input(il, 2, L.wv, a.xn1.data(), T, D), T, a.v.data(), lora_.data());
  kernels::rope(a.q.data(), T, c.n_heads, hd, b.pos.data(), c.inv_freq.data(), c.rope_style);
  kernels::rope(a.k.data(), T, c.n_kv_heads, hd, b.pos.data(), c.inv_freq.data(), c.rope_style);
  const kernels::AttnTrainShape s{T, c.n_heads, c.n_kv_heads, hd, b.first.data()};
  kernels::attention_train(exec, s, a.q.data(), a.k.data(), a.v.data(), a.attn.data(), a.lse.data());
  kernels::matmul(exec, a.attn.data(), T, L.wo.w, proj_.data());
  lora_forward_add(exec, L.wo, lora_input(il, 3, L.wo, a.attn.data(), T, Q), T, proj_.data(), lora_.data());
  for (int64_t i = 0; i < T * D; ++i) a.xmid[static_cast<size_t>(i)] = x[i] + proj_[static_cast<size_t>(i)];
  kernels::rms_norm(a.xmid.data(), L.ffn_norm, eps, T, D, a.xn2.data());
  kernels::matmul_shared_input(exec, a.xn2.data(), T, {{&L.w_gate.w, a.gate.data()}, {&L.w_up.w, a.up.data()}});
  lora_forward_add(exec, L.w_gate, lora_input(il, 4, L.w_gate, a.xn2.data(), T, D), T, a.gate.data(), lora_.data());
  lora_forward_add(exec, L.w_up, lora_input(il, 5, L.w_up, a.xn2.data(), T, D), T, a.up.data(), lora_.data());
  std::copy(a.gate.begin(), a.gate.begin() + T * F, a.h.begin());
  kernels::silu_mul(exec, a.h.data(), a.up.data(), T * F);
  kernels::matmul(exec, a.h.data(), T, L.w_down.w, proj_.data());
  lora_forward_add(exec, L.w_down, lora_input(il, 6, L.w_down, a.h.data(), T, F), T, proj_.data(), lora_.data());
  for (int64_t i = 0; i < T * D; ++i) out[i] = a.xmid[static_cast<size_t>(i)] + proj_[static_cast<size_t>(i)];
}

void TrainStep::layer_backward(const kernels::ExecContext& exec, const TrainBatch& b, size_t il, const float* x,
                               float* dx, LayerGrads* g) {
  const LlamaConfig& c = model_.config();
  const LayerWeights& L = model_.layers()[il];
  LayerActs& a = acts(il);
  const auto T = static_cast<int64_t>(b.tokens.size());
  const int64_t D = c.d_model, F = c.d_ff, hd = c.head_dim, Q = c.n_heads * c.head_dim;
  const auto eps = static_cast<float>(c.rms_eps);
  // The trained gradients of one Linear (its own weight's from its input,
  // its adapter's from what the adapter saw: the input after dropout).
  auto lora_grads = [&](const Linear& lin, int slot, const float* in, const float* lin_in, const float* dy) {
    if (g == nullptr) return;
    if (float* dw = g->weight[static_cast<size_t>(slot)])
      kernels::weight_grad(exec, dy, in, T, lin.w.rows(), lin.w.cols(), dw);
    if (lin.adapters.empty()) return;
    const LoraGrad& lg = g->lora[static_cast<size_t>(slot)];
    if (lg.da == nullptr) return;
    lora_backward_weights(exec, lin, 0, lin_in, dy, T, lg.da, lg.db, lora_.data());
  };
  // dx of one Linear into out (its dropout mask drawn again for the adapter's term).
  auto input_grad = [&](const Linear& lin, int slot, const float* in, int64_t K, const float* dy, float* out) {
    const float* lin_in = lora_input(il, slot, lin, in, T, K);
    linear_backward_input(exec, lin, dy, T, out, lora_.data(), lora_factor(lin));
    return lin_in;
  };
  float* d_attn_norm = g != nullptr ? g->attn_norm : nullptr;
  float* d_ffn_norm = g != nullptr ? g->ffn_norm : nullptr;
  // dx: the gradient at the layer's output, on entry; at its input, on return.
  // Feed-forward sublayer.
  const float* in6 = input_grad(L.w_down, 6, a.h.data(), F, dx, dh_.data());
  lora_grads(L.w_down, 6, a.h.data(), in6, dx);
  kernels::silu_mul_backward(exec, a.gate.data(), a.up.data(), dh_.data(), T * F, dg_.data(), du_.data());
  const float* in4 = input_grad(L.w_gate, 4, a.xn2.data(), D, dg_.data(), dxn_.data());
  lora_grads(L.w_gate, 4, a.xn2.data(), in4, dg_.data());
  const float* in5 = input_grad(L.w_up, 5, a.xn2.data(), D, du_.data(), tmp_.data());
  lora_grads(L.w_up, 5, a.xn2.data(), in5, du_.data());
  add(dxn_.data(), tmp_.data(), T * D);
  kernels::rms_norm_backward(a.xmid.data(), L.ffn_norm, eps, dxn_.data(), T, D, tmp_.data(), d_ffn_norm);
  add(dx, tmp_.data(), T * D);  // dx is now d xmid
  // Attention sublayer.
  const float* in3 = input_grad(L.wo, 3, a.attn.data(), Q, dx, dattn_.data());
  lora_grads(L.wo, 3, a.attn.data(), in3, dx);
  const kernels::AttnTrainShape s{T, c.n_heads, c.n_kv_heads, hd, b.first.data()};
  kernels::attention_train_backward(exec, s, a.q.data(), a.k.data(), a.v.data(), a.attn.data(), a.lse.data(),
                                    dattn_.data(), dq_.data(), dk_.data(), dv_.data());
  kernels::rope_backward(dq_.data(), T, c.n_heads, hd, b.pos.data(), c.inv_freq.data(), c.rope_style);
  kernels::rope_backward(dk_.data(), T, c.n_kv_heads, hd, b.pos.data(), c.inv_freq.data(), c.rope_style);
  const float* in0 = input_grad(L.wq, 0, a.xn1.data(), D, dq_.data(), dxn_.data());
  lora_grads(L.wq, 0, a.xn1.data(), in0, dq_.data());
  const float* in1 = input_grad(L.wk, 1, a.xn1.data(), D, dk_.data(), tmp_.data());
  lora_grads(L.wk, 1, a.xn1.data(), in1, dk_.data());
  add(dxn_.data(), tmp_.data(), T * D);
  const float* in2 = input_grad(L.wv, 2, a.xn1.data(), D, dv_.data(), tmp_.data());
  lora_grads(L.wv, 2, a.xn1.data(), in2, dv_.data());
  add(dxn_.data(), tmp_.data(), T * D);
  kernels::rms_norm_backward(x, L.attn_norm, eps, dxn_.data(), T, D, tmp_.data(), d_attn_norm);
  add(dx, tmp_.data(), T * D);
}

Result<kernels::CeResult> TrainStep::run(kernels::ExecContext exec, const TrainBatch& b, float grad_scale,
                                         TrainGrads* grads, float* d_input) {
  return run_weighted(
      exec, b, [grad_scale](std::span<const double>, std::span<float> s) { std::fill(s.begin(), s.end(), grad_scale); },
      grads, d_input);
}

Result<kernels::CeResult> TrainStep::run_weighted(kernels::ExecContext exec, const TrainBatch& b,
                                                  const TokenWeigher& weigh, TrainGrads* grads,
                                                  float* d_input) {
  // The cross-entropy of every token, its factors, its gradient.
  return run_head(
      exec, b,
      [&](const kernels::ExecContext& ex, const float* xn, int64_t T, const TensorView& out, float* dxn, float* dw,
          float* scratch) -> Result<kernels::CeResult> {
        std::vector<double> lse(static_cast<size_t>(T)), nll(static_cast<size_t>(T));
        // With the intermediates kept (speed over memory), the logits are kept
        // too, up to kKeptLogitsBytes: the gradient pass reads them instead of
        // computing them again (the same bits).
        float* keep = nullptr;
        const int64_t keep_floats = kernels::logits_keep_floats(T, out.rows());
        if (dxn != nullptr && acts_.size() > 1 && keep_floats * static_cast<int64_t>(sizeof(float)) <= kKeptLogitsBytes) {
          if (static_cast<int64_t>(kept_logits_.size()) < keep_floats) resize(kept_logits_, keep_floats);
          keep = kept_logits_.data();
        }
        const kernels::CeResult r =
            kernels::cross_entropy_loss(ex, xn, T, out, b.labels.data(), lse.data(), nll.data(), scratch, keep);
        std::vector<float> scale(static_cast<size_t>(T), 0.0f);
        weigh(nll, scale);
        if (dxn != nullptr)
          kernels::cross_entropy_grad(ex, xn, T, out, b.labels.data(), lse.data(), scale.data(), dxn, scratch, dw,
                                      keep);
        return r;
      },
      grads, d_input);
}

Result<kernels::CeResult> TrainStep::run_head(kernels::ExecContext exec, const TrainBatch& b, const Head& head,
                                              TrainGrads* grads, float* d_input) {
  HERD_TRY(check(b));
  const LlamaConfig& c = model_.config();
  const auto n_layers = static_cast<size_t>(c.n_layers);
  if (grads != nullptr && !grads->layers.empty() && grads->layers.size() != n_layers)
    return err(ErrorCode::kInvalidArgument, "train: %zu layers of gradients for a %zu-layer model",
               grads->layers.size(), n_layers);
  exec.exact_f32 = true;
  const auto T = static_cast<int64_t>(b.tokens.size());
  const int64_t D = c.d_model;
  const int64_t rank = model_.max_lora_rank();
  const bool backward = grads != nullptr || d_input != nullptr;
  dropout_active_ = backward && dropout_ > 0 && rank > 0;
  const int64_t widest = std::max(D, std::max(c.d_ff, c.n_heads * c.head_dim));
  const int64_t lora_floats = 2 * max_tokens_ * rank + (dropout_active_ ? max_tokens_ * widest : 0);
  if (static_cast<int64_t>(lora_.size()) < lora_floats) resize(lora_, lora_floats);
  if (dropout_active_ && static_cast<int64_t>(drop_x_.size()) < max_tokens_ * widest) {
    resize(drop_x_, max_tokens_ * widest);
    resize(drop_f_, max_tokens_ * widest);
  }
  embed(exec, b);
  for (size_t il = 0; il < n_layers; ++il) layer_forward(exec, b, il, inputs_[il].data(), inputs_[il + 1].data());
  // Head: the final norm, then the loss and its gradient at the norm's output.
  const float* xf = inputs_[n_layers].data();
  const auto eps = static_cast<float>(c.rms_eps);
  kernels::rms_norm(xf, model_.output_norm(), eps, T, D, xf_.data());
  Result<kernels::CeResult> hr = head(exec, xf_.data(), T, model_.output(), backward ? dxn_.data() : nullptr,
                                      grads != nullptr ? grads->output : nullptr, ce_.data());
  if (!hr.has_value() || !backward) {
    dropout_active_ = false;
    return hr;
  }
  const kernels::CeResult r = *hr;
  std::vector<float> dcur(static_cast<size_t>(T * D));
  kernels::rms_norm_backward(xf, model_.output_norm(), eps, dxn_.data(), T, D, dcur.data(),
                             grads != nullptr ? grads->output_norm : nullptr);
  const bool layer_grads = grads != nullptr && !grads->layers.empty();
  for (size_t il = n_layers; il-- > 0;) {
    if (acts_.size() == 1)  // checkpointing: the layer's intermediates again, from its kept input
      layer_forward(exec, b, il, inputs_[il].data(), tmp_.data());
    layer_backward(exec, b, il, inputs_[il].data(), dcur.data(), layer_grads ? &grads->layers[il] : nullptr);
  }
  dropout_active_ = false;
  if (grads != nullptr && grads->tok_embd != nullptr)
    kernels::embedding_backward(b.tokens.data(), T, dcur.data(), D, grads->tok_embd);
  if (d_input != nullptr) std::copy(dcur.begin(), dcur.end(), d_input);
  return r;
}

Status TrainStep::logits(kernels::ExecContext exec, const TrainBatch& b, std::vector<float>* out) {
  HERD_TRY(check(b));
  const LlamaConfig& c = model_.config();
  exec.exact_f32 = true;
  const auto T = static_cast<int64_t>(b.tokens.size());
  const int64_t rank = model_.max_lora_rank();
  if (static_cast<int64_t>(lora_.size()) < 2 * max_tokens_ * rank) resize(lora_, 2 * max_tokens_ * rank);
  embed(exec, b);
  const auto n_layers = static_cast<size_t>(c.n_layers);
  for (size_t il = 0; il < n_layers; ++il) layer_forward(exec, b, il, inputs_[il].data(), inputs_[il + 1].data());
  kernels::rms_norm(inputs_[n_layers].data(), model_.output_norm(), static_cast<float>(c.rms_eps), T, c.d_model,
                    xf_.data());
  out->resize(static_cast<size_t>(T * c.vocab_size));
  kernels::matmul(exec, xf_.data(), T, model_.output(), out->data());
  return Ok{};
}

}  // namespace herd::model
