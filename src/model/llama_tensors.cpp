// The Llama tensor table (model/llama_tensors.h).
#include "model/llama_tensors.h"

#include <cstdint>

#include "base/check.h"

namespace herd::model {
namespace {

constexpr LlamaTensorInfo kTensors[] = {
    {LlamaTensor::kTokEmbd, false, false, "tok_embd", "token_embd", "model.embed_tokens", "(vocab_size, d_model)", "tok_embeddings", 0},
    {LlamaTensor::kAttnNorm, true, true, "attn_norm", "attn_norm", "input_layernorm", "(d_model)", "attention_norm", -1},
    {LlamaTensor::kWq, true, false, "wq", "attn_q", "self_attn.q_proj", "(n_heads*head_dim, d_model)", "attention.wq", 0},
    {LlamaTensor::kWk, true, false, "wk", "attn_k", "self_attn.k_proj", "(n_kv_heads*head_dim, d_model)", "attention.wk", 0},
    {LlamaTensor::kWv, true, false, "wv", "attn_v", "self_attn.v_proj", "(n_kv_heads*head_dim, d_model)", "attention.wv", 0},
    {LlamaTensor::kWo, true, false, "wo", "attn_output", "self_attn.o_proj", "(d_model, n_heads*head_dim)", "attention.wo", 1},
    {LlamaTensor::kFfnNorm, true, true, "ffn_norm", "ffn_norm", "post_attention_layernorm", "(d_model)", "ffn_norm", -1},
    {LlamaTensor::kWGate, true, false, "w_gate", "ffn_gate", "mlp.gate_proj", "(d_ff, d_model)", "feed_forward.w1", 0},
    {LlamaTensor::kWUp, true, false, "w_up", "ffn_up", "mlp.up_proj", "(d_ff, d_model)", "feed_forward.w3", 0},
    {LlamaTensor::kWDown, true, false, "w_down", "ffn_down", "mlp.down_proj", "(d_model, d_ff)", "feed_forward.w2", 1},
    {LlamaTensor::kOutputNorm, false, true, "output_norm", "output_norm", "model.norm", "(d_model)", "norm", -1},
    {LlamaTensor::kOutput, false, false, "output", "output", "lm_head", "(vocab_size, d_model)", "output", 0},
};

}  // namespace

std::span<const LlamaTensorInfo> llama_tensors() { return kTensors; }

const LlamaTensorInfo& llama_tensor_info(LlamaTensor t) {
  const auto i = static_cast<size_t>(t);
  HERD_CHECK(i < std::size(kTensors) && kTensors[i].id == t, "llama tensor table out of order");
  return kTensors[i];
}

LlamaDims llama_dims(const LlamaConfig& c) {
  return LlamaDims{c.d_model, c.n_heads, c.n_kv_heads, c.head_dim, c.d_ff, c.vocab_size};
}

std::vector<int64_t> llama_tensor_shape(LlamaTensor t, const LlamaDims& d) {
  switch (t) {
    case LlamaTensor::kTokEmbd:
    case LlamaTensor::kOutput: return {d.vocab, d.d_model};
    case LlamaTensor::kAttnNorm:
    case LlamaTensor::kFfnNorm:
    case LlamaTensor::kOutputNorm: return {d.d_model};
    case LlamaTensor::kWq: return {d.n_heads * d.head_dim, d.d_model};
    case LlamaTensor::kWk:
    case LlamaTensor::kWv: return {d.n_kv_heads * d.head_dim, d.d_model};
    case LlamaTensor::kWo: return {d.d_model, d.n_heads * d.head_dim};
    case LlamaTensor::kWGate:
    case LlamaTensor::kWUp: return {d.d_ff, d.d_model};
    case LlamaTensor::kWDown: return {d.d_model, d.d_ff};
  }
  return {};
}

std::string meta_tensor_name(LlamaTensor t, int64_t layer) {
  const LlamaTensorInfo& i = llama_tensor_info(t);
  return (i.per_layer ? "layers." + std::to_string(layer) + "." : std::string()) + i.meta + ".weight";
}

std::string gguf_tensor_name(LlamaTensor t, int64_t layer) {
  const LlamaTensorInfo& i = llama_tensor_info(t);
  return (i.per_layer ? "blk." + std::to_string(layer) + "." : std::string()) + i.gguf + ".weight";
}

std::optional<GgufTensorId> parse_gguf_tensor_name(std::string_view name) {
  constexpr std::string_view kSuffix = ".weight", kBlk = "blk.";
  if (name.size() <= kSuffix.size() || name.substr(name.size() - kSuffix.size()) != kSuffix) return std::nullopt;
  name.remove_suffix(kSuffix.size());
  int64_t layer = -1;
  if (name.substr(0, kBlk.size()) == kBlk) {
    name.remove_prefix(kBlk.size());
    const size_t dot = name.find('.');
    if (dot == 0 || dot == std::string_view::npos || dot > 10 || (dot > 1 && name[0] == '0')) return std::nullopt;
    layer = 0;
    for (size_t i = 0; i < dot; ++i) {
      if (name[i] < '0' || name[i] > '9') return std::nullopt;
      layer = layer * 10 + (name[i] - '0');
    }
    if (layer > INT32_MAX) return std::nullopt;
    name.remove_prefix(dot + 1);
  }
  for (const LlamaTensorInfo& i : llama_tensors())
    if (i.per_layer == (layer >= 0) && name == i.gguf) return GgufTensorId{i.id, layer};
  return std::nullopt;
}

std::string hf_tensor_name(LlamaTensor t, int64_t layer) {
  const LlamaTensorInfo& i = llama_tensor_info(t);
  return (i.per_layer ? "model.layers." + std::to_string(layer) + "." : std::string()) + i.hf + ".weight";
}

}  // namespace herd::model
