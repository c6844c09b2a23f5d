// Loading a Llama model from GGUF (llama.cpp's format): hyperparameters from
// llama.* metadata, llama3 RoPE scaling from the rope_freqs.weight divisors,
// weights in Meta row order (interleaved RoPE pairs).
#include <cmath>

#include "formats/gguf.h"
#include "model/model_builder.h"

namespace herd::model {
namespace {

Result<int64_t> get_dim(const formats::GgufFile& f, const std::string& key) {
  HERD_ASSIGN_OR_RETURN(uint64_t v, f.get_uint(key));
  if (v == 0 || v > (1ull << 31))
    return err(ErrorCode::kCorrupt, "metadata %s is %llu, expected 1..2^31", key.c_str(),
               static_cast<unsigned long long>(v));
  return static_cast<int64_t>(v);
}

Result<int64_t> get_dim_or(const formats::GgufFile& f, const std::string& key, int64_t fallback) {
  if (!f.find(key)) return fallback;
  return get_dim(f, key);
}

}  // namespace

Result<LlamaModel> load_gguf_model(const std::string& path, LayerRange range) {
  HERD_ASSIGN_OR_RETURN(formats::GgufFile file, formats::GgufFile::open(path));
  LlamaModel m;
  auto& f = *(ModelBuilder::gguf(m) = std::make_unique<formats::GgufFile>(std::move(file)));
  ModelBuilder::set_format(m, ModelFormat::kGguf, path);

  HERD_ASSIGN_OR_RETURN(std::string arch, f.get_string("general.architecture"));
  if (arch != "llama")
    return err(ErrorCode::kUnsupported,
               "general.architecture is '%s', expected 'llama'; herd runs the Llama 3.x family only",
               arch.c_str());
  LlamaConfig& c = ModelBuilder::config(m);
  if (f.find("general.name")) {
    HERD_ASSIGN_OR_RETURN(c.name, f.get_string("general.name"));
  }
  HERD_ASSIGN_OR_RETURN(c.d_model, get_dim(f, "llama.embedding_length"));
  HERD_ASSIGN_OR_RETURN(c.n_layers, get_dim(f, "llama.block_count"));
  HERD_ASSIGN_OR_RETURN(c.d_ff, get_dim(f, "llama.feed_forward_length"));
  HERD_ASSIGN_OR_RETURN(c.n_heads, get_dim(f, "llama.attention.head_count"));
  HERD_ASSIGN_OR_RETURN(c.n_kv_heads, get_dim_or(f, "llama.attention.head_count_kv", c.n_heads));
  HERD_ASSIGN_OR_RETURN(c.head_dim, get_dim_or(f, "llama.attention.key_length", c.d_model / c.n_heads));
  HERD_ASSIGN_OR_RETURN(int64_t rope_dims, get_dim_or(f, "llama.rope.dimension_count", c.head_dim));
  if (rope_dims != c.head_dim)
    return err(ErrorCode::kUnsupported, "llama.rope.dimension_count is %lld but head_dim is %lld; "
               "partial rotary embeddings are not part of Llama 3", static_cast<long long>(rope_dims),
               static_cast<long long>(c.head_dim));
  HERD_ASSIGN_OR_RETURN(c.n_ctx_train, get_dim_or(f, "llama.context_length", 131072));
  if (f.find("llama.attention.layer_norm_rms_epsilon")) {
    HERD_ASSIGN_OR_RETURN(c.rms_eps, f.get_float("llama.attention.layer_norm_rms_epsilon"));
  }
  c.rope_theta = 10000.0;  // llama.cpp's default when the key is absent
  if (f.find("llama.rope.freq_base")) {
    HERD_ASSIGN_OR_RETURN(c.rope_theta, f.get_float("llama.rope.freq_base"));
  }
  const std::string embd_name = gguf_tensor_name(LlamaTensor::kTokEmbd, -1);
  const formats::GgufTensor* embd = f.find_tensor(embd_name);
  if (!embd || embd->shape.size() != 2)
    return err(ErrorCode::kNotFound, "tensor '%s' is missing or not 2-D", embd_name.c_str());
  c.vocab_size = embd->shape[0];
  if (f.find("llama.vocab_size")) {
    HERD_ASSIGN_OR_RETURN(int64_t v, get_dim(f, "llama.vocab_size"));
    if (v != c.vocab_size)
      return err(ErrorCode::kCorrupt, "llama.vocab_size is %lld but %s has %lld rows",
                 static_cast<long long>(v), embd_name.c_str(), static_cast<long long>(c.vocab_size));
  }
  if (f.find("tokenizer.ggml.bos_token_id")) {
    HERD_ASSIGN_OR_RETURN(uint64_t bos, f.get_uint("tokenizer.ggml.bos_token_id"));
    c.bos_id = static_cast<int32_t>(bos);
  }
  c.rope_style = kernels::RopeStyle::kInterleaved;

  std::vector<double> divisors;
  if (const formats::GgufTensor* rf = f.find_tensor("rope_freqs.weight")) {
    if (rf->dtype != DType::kF32 || rf->shape != std::vector<int64_t>{c.head_dim / 2})
      return err(ErrorCode::kCorrupt, "tensor 'rope_freqs.weight' is %s %s, expected f32 [%lld] (head_dim/2)",
                 dtype_name(rf->dtype), shape_string(rf->shape).c_str(), static_cast<long long>(c.head_dim / 2));
    const float* d = reinterpret_cast<const float*>(rf->data);
    for (int64_t i = 0; i < c.head_dim / 2; ++i) {
      if (!(d[i] > 0) || !std::isfinite(d[i]))
        return err(ErrorCode::kCorrupt, "rope_freqs.weight[%lld] is %g, expected a positive divisor",
                   static_cast<long long>(i), static_cast<double>(d[i]));
      divisors.push_back(d[i]);
    }
  }
  c.inv_freq = rope_inv_freq(c.rope_theta, c.head_dim, divisors);

  ModelBuilder::Lookup lookup = [&f](const std::string& name) -> Result<std::optional<TensorView>> {
    const formats::GgufTensor* t = f.find_tensor(name);
    if (!t) return std::optional<TensorView>();
    return std::optional<TensorView>(t->view());
  };
  return ModelBuilder::build(std::move(m), lookup, gguf_tensor_name, range);
}

}  // namespace herd::model
