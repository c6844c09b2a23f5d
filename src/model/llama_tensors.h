// The Llama 3.x tensors, once: every weight's role, its GGUF, Hugging Face and
// Meta native names, its shape from the hyperparameters, and a field visitor over a
// loaded model's weights (gemma.cpp's ForEachTensor). The loaders (GGUF, HF),
// repacking, the scratch sizing, `make-model` and the coming quantize/convert
// writers all go through this file; nothing else spells a tensor name.
//
// File order (what llama.cpp's converter writes): token_embd, then per layer
// attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate, ffn_up,
// ffn_down, then output_norm and output (absent when tied to token_embd, the
// Llama 3.2 1B/3B). rope_freqs.weight (GGUF only: the llama3 RoPE divisors)
// is metadata in tensor form and is not in this table.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/llama_config.h"

namespace herd::model {

enum class LlamaTensor : uint8_t {
  kTokEmbd, kAttnNorm, kWq, kWk, kWv, kWo, kFfnNorm, kWGate, kWUp, kWDown, kOutputNorm, kOutput,
};

struct LlamaTensorInfo {
  LlamaTensor id;
  bool per_layer;
  bool norm;          // a [d_model] vector (kept as f32); else a matrix
  const char* field;  // herd's name (the LlamaModel / LayerWeights field; run.json keys)
  const char* gguf;   // per layer: after "blk.{i}."
  const char* hf;     // per layer: after "model.layers.{i}."
  const char* shape_meaning;  // how errors describe the shape
  const char* meta;   // Meta's consolidated.NN.pth; per layer: after "layers.{i}."
  // How Meta's model-parallel shards split it (llama31.md 9.5): 0 along rows
  // (column-parallel), 1 along columns (row-parallel), -1 replicated (norms).
  int meta_split;
};

// Every tensor in file order (per_layer entries once, for each layer).
std::span<const LlamaTensorInfo> llama_tensors();
const LlamaTensorInfo& llama_tensor_info(LlamaTensor t);

// The hyperparameters that fix the shapes.
struct LlamaDims {
  int64_t d_model = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0, d_ff = 0, vocab = 0;
};
LlamaDims llama_dims(const LlamaConfig& c);

// Shape, outermost first: [rows, cols] for a matrix, [d_model] for a norm.
std::vector<int64_t> llama_tensor_shape(LlamaTensor t, const LlamaDims& d);
// "blk.3.attn_q.weight" / "model.layers.3.self_attn.q_proj.weight" (layer ignored when not per_layer).
std::string gguf_tensor_name(LlamaTensor t, int64_t layer);
std::string hf_tensor_name(LlamaTensor t, int64_t layer);
// "layers.3.attention.wq.weight" (Meta's native checkpoints).
std::string meta_tensor_name(LlamaTensor t, int64_t layer);

// The inverse of gguf_tensor_name: which tensor, which layer (-1 outside the
// layers); nullopt for any other name (rope_freqs.weight, a tensor of another
// architecture, "blk.x.", a layer number with leading zeros or over 2^31).
struct GgufTensorId {
  LlamaTensor id;
  int64_t layer;
};
std::optional<GgufTensorId> parse_gguf_tensor_name(std::string_view name);

// Calls f(LlamaTensor, layer) for every tensor of an n_layers model in file
// order (layer -1 for the tensors outside the layers); the caller skips
// kOutput for a tied model.
template <class F>
void for_each_file_tensor(int64_t n_layers, F&& f) {
  bool layers_done = false;
  for (const LlamaTensorInfo& i : llama_tensors()) {
    if (!i.per_layer) {
      f(i.id, int64_t{-1});
      continue;
    }
    if (layers_done) continue;
    layers_done = true;
    for (int64_t il = 0; il < n_layers; ++il)
      for (const LlamaTensorInfo& j : llama_tensors())
        if (j.per_layer) f(j.id, il);
  }
}

// The field visitors over a layer's seven matrices in file order:
// f(LlamaTensor, Linear&) (weights and adapters), and f(LlamaTensor,
// TensorView&) (the stored weights only).
template <class L, class F>
void for_each_layer_linear(L& layer, F&& f) {
  f(LlamaTensor::kWq, layer.wq);
  f(LlamaTensor::kWk, layer.wk);
  f(LlamaTensor::kWv, layer.wv);
  f(LlamaTensor::kWo, layer.wo);
  f(LlamaTensor::kWGate, layer.w_gate);
  f(LlamaTensor::kWUp, layer.w_up);
  f(LlamaTensor::kWDown, layer.w_down);
}
template <class L, class F>
void for_each_layer_matrix(L& layer, F&& f) {
  for_each_layer_linear(layer, [&](LlamaTensor t, auto& lin) { f(t, lin.w); });
}

}  // namespace herd::model
