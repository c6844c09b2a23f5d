// The Llama 3.x forward pass (spec §2; Meta models/llama3/model.py):
//   h = E[tokens]
//   for each layer: h += Wo . attn(rope(Wq.norm(h)), rope(Wk.norm(h)), Wv.norm(h))
//                   h += W_down . (silu(W_gate.norm(h)) * W_up.norm(h))
//   logits = W_out . norm(h)
// All arithmetic is f32 with f32 (or wider) accumulation; weights are read in
// their file dtype through the kernel table.
#include "model/llama_forward.h"

#include <string>

#include "kernels/ops.h"
#include "model/feed_forward.h"

namespace herd::model {

void llama_layer(const kernels::ExecContext& exec, const LlamaConfig& c, const LayerWeights& L, int64_t il,
                 const kv::KvView& kv, int64_t kv_layer, Activations& a, int64_t T, TapSink* taps) {
  const int64_t D = c.d_model, hd = c.head_dim, H = c.n_heads, KV = c.n_kv_heads;
  const int64_t kv_dim = KV * hd;
  const auto eps = static_cast<float>(c.rms_eps);
  const std::string prefix = taps ? "blk." + std::to_string(il) + "." : std::string();
  auto tap = [&](const char* name, const float* p, int64_t cols) {
    if (taps) taps->tap(prefix + name, p, T, cols);
  };
  float* x = a.x.data();
  float* xn = a.xn.data();
  float* proj = a.proj.data();
  const bool mm_in = taps && taps->wants_matmul_inputs();
  auto tap_input = [&](LlamaTensor t, const float* p, int64_t rows, int64_t cols) {
    if (mm_in) taps->tap(gguf_tensor_name(t, il), p, rows, cols);
  };

  // Attention sublayer.
  kernels::rms_norm(x, L.attn_norm, eps, T, D, xn);
  tap("attn_norm", xn, D);
  for (LlamaTensor t : {LlamaTensor::kWq, LlamaTensor::kWk, LlamaTensor::kWv}) tap_input(t, xn, T, D);
  // One activation quantization for the three projections of the same input.
  kernels::matmul_shared_input(exec, xn, T, {{&L.wq.w, a.q.data()}, {&L.wk.w, a.k.data()}, {&L.wv.w, a.v.data()}});
  lora_forward_add(exec, L.wq, xn, T, a.q.data(), a.lora.data(), a.lora_rows());
  lora_forward_add(exec, L.wk, xn, T, a.k.data(), a.lora.data(), a.lora_rows());
  lora_forward_add(exec, L.wv, xn, T, a.v.data(), a.lora.data(), a.lora_rows());
  kernels::rope(a.q.data(), T, H, hd, a.pos.data(), c.inv_freq.data(), c.rope_style);
  kernels::rope(a.k.data(), T, KV, hd, a.pos.data(), c.inv_freq.data(), c.rope_style);
  uint8_t* kc = kv.k(kv_layer);
  uint8_t* vc = kv.v(kv_layer);
  const int64_t k_row = kernels::kv_row_bytes(kv.kt, kv_dim), v_row = kernels::kv_row_bytes(kv.vt, kv_dim);
  const auto* tables = a.tables.data();
  const int64_t* idx = a.idx.data();
  for (int64_t t = 0; t < T;) {  // a contiguous cache's consecutive rows in one store
    const int64_t r = kv.row(tables[t], idx[t]);
    int64_t n = 1;
    if (tables[t] == nullptr)
      while (t + n < T && tables[t + n] == nullptr && idx[t + n] == idx[t] + n) ++n;
    kernels::kv_store(exec, kv.kt, a.k.data() + t * kv_dim, kc + r * k_row, n * kv_dim);
    kernels::kv_store(exec, kv.vt, a.v.data() + t * kv_dim, vc + r * v_row, n * kv_dim);
    t += n;
  }
  const kernels::AttnCache cache{kc, vc, kv.kt, kv.vt, kv.block_rows, a.idx.data(), a.tables.data()};
  kernels::attention_seqs(exec, a.q.data(), T, H, KV, hd, cache, a.tiles.data(), a.score_ptrs.data(), a.attn.data());
  tap_input(LlamaTensor::kWo, a.attn.data(), T, H * hd);
  kernels::matmul(exec, a.attn.data(), T, L.wo.w, proj);
  lora_forward_add(exec, L.wo, a.attn.data(), T, proj, a.lora.data(), a.lora_rows());
  tap("attn_out", proj, D);
  for (int64_t i = 0; i < T * D; ++i) x[i] += proj[i];
  tap("ffn_inp", x, D);

  // Feed-forward sublayer (SwiGLU).
  kernels::rms_norm(x, L.ffn_norm, eps, T, D, xn);
  for (LlamaTensor t : {LlamaTensor::kWGate, LlamaTensor::kWUp}) tap_input(t, xn, T, D);
  const std::function<void(const float*, int64_t)> down_input = [&](const float* p, int64_t rows) {
    tap_input(LlamaTensor::kWDown, p, rows, c.d_ff);
  };
  feed_forward(exec, L, xn, T, D, c.d_ff, a.gate.data(), a.up.data(), proj, a.lora.data(), a.lora_rows(),
               mm_in ? &down_input : nullptr);
  tap("ffn_out", proj, D);
  for (int64_t i = 0; i < T * D; ++i) x[i] += proj[i];
  tap("out", x, D);
}

Status llama_forward(const kernels::ExecContext& exec, const LlamaModel& model, const kv::KvView& kv,
                     std::span<const int32_t> tokens, Activations& a, std::vector<float>* logits, TapSink* taps) {
  const LlamaConfig& c = model.config();
  const auto T = static_cast<int64_t>(tokens.size());
  const int64_t D = c.d_model, V = c.vocab_size;
  if (T == 0) return err(ErrorCode::kInvalidArgument, "eval: no tokens");
  if (T > a.max_tokens())
    return err(ErrorCode::kInvalidArgument, "eval: %lld tokens exceed the batch size %lld", static_cast<long long>(T),
               static_cast<long long>(a.max_tokens()));
  for (int64_t t = 0; t < T; ++t) {
    if (tokens[t] < 0 || tokens[t] >= V)
      return err(ErrorCode::kInvalidArgument, "token %d at index %lld is outside the vocabulary [0, %lld)", tokens[t],
                 static_cast<long long>(t), static_cast<long long>(V));
  }
  if (model.holds_embedding()) {
    for (int64_t t = 0; t < T; ++t) kernels::embedding_row(exec, model.tok_embd(), tokens[t], a.x.data() + t * D);
    if (taps) taps->tap("tok_embd", a.x.data(), T, D);
  }
  const auto n_held = static_cast<int64_t>(model.layers().size());
  for (int64_t i = 0; i < n_held; ++i) {
    a.save_layer_input(i, T);
    llama_layer(exec, c, model.layers()[static_cast<size_t>(i)], model.layer_range().first + i, kv, i, a, T, taps);
  }
  a.save_layer_input(n_held, T);
  if (!model.holds_head()) {
    logits->clear();
    return Ok{};
  }

  const auto n_out = static_cast<int64_t>(a.out_rows.size());
  logits->resize(static_cast<size_t>(n_out * V));
  if (n_out == 0) return Ok{};
  for (int64_t i = 0; i < n_out; ++i)
    kernels::rms_norm(a.x.data() + a.out_rows[static_cast<size_t>(i)] * D, model.output_norm(),
                      static_cast<float>(c.rms_eps), 1, D, a.xn.data() + i * D);
  if (taps) taps->tap("result_norm", a.xn.data(), n_out, D);
  if (taps && taps->wants_matmul_inputs() && !c.tied_embeddings)
    taps->tap(gguf_tensor_name(LlamaTensor::kOutput, -1), a.xn.data(), n_out, D);
  kernels::matmul(exec, a.xn.data(), n_out, model.output(), logits->data());
  if (taps) taps->tap("logits", logits->data(), n_out, V);
  return Ok{};
}

}  // namespace herd::model
