// params.json -> HfLlamaConfig, with Meta's derivations (meta_params.h).
#include "formats/meta_params.h"

#include "formats/config_json.h"

namespace herd::formats {

using namespace config_json;

Result<HfLlamaConfig> hf_config_from_meta_params(std::string_view json_text) {
  const char* kFile = "params.json";
  HERD_ASSIGN_OR_RETURN(Json root, parse_object(json_text, kFile));
  Fields f(root, kFile);
  for (const char* k : {"vision_chunk_size", "vision_max_num_chunks", "vision_num_cross_attention_layers", "moe_args",
                        "quantization_args", "lora_args"})
    if (f.get(k))
      return err(ErrorCode::kUnsupported,
                 "params.json has '%s': a model herd does not run (it runs the Llama 3.1/3.2 text models in "
                 "bf16/f16/f32)",
                 k);
  HfLlamaConfig c;
  c.architectures = {"LlamaForCausalLM"};
  HERD_ASSIGN_OR_RETURN(c.hidden_size, f.dim("dim", kMaxWidth));
  HERD_ASSIGN_OR_RETURN(c.num_hidden_layers, f.dim("n_layers", kMaxLayers));
  HERD_ASSIGN_OR_RETURN(c.num_attention_heads, f.dim("n_heads", kMaxWidth));
  HERD_ASSIGN_OR_RETURN(std::optional<int64_t> kv, f.opt_int("n_kv_heads"));
  c.num_key_value_heads = kv ? *kv : c.num_attention_heads;
  HERD_TRY(f.check_dim("n_kv_heads", c.num_key_value_heads, kMaxWidth));
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    return f.bad_value("n_kv_heads", str_printf("= %lld does not divide n_heads = %lld",
                                                static_cast<long long>(c.num_key_value_heads),
                                                static_cast<long long>(c.num_attention_heads)));
  if (c.hidden_size % c.num_attention_heads != 0 || (c.hidden_size / c.num_attention_heads) % 2 != 0)
    return f.bad_value("n_heads", str_printf("= %lld does not give an even head size of dim = %lld",
                                             static_cast<long long>(c.num_attention_heads),
                                             static_cast<long long>(c.hidden_size)));
  c.head_dim = c.hidden_size / c.num_attention_heads;
  HERD_ASSIGN_OR_RETURN(std::optional<int64_t> vocab, f.opt_int("vocab_size"));
  if (vocab && *vocab != -1) {
    HERD_ASSIGN_OR_RETURN(c.vocab_size, f.check_dim("vocab_size", *vocab, kMaxVocab));
  }

  HERD_ASSIGN_OR_RETURN(std::optional<int64_t> hidden_dim, f.opt_int("hidden_dim"));
  if (hidden_dim) {
    HERD_ASSIGN_OR_RETURN(c.intermediate_size, f.check_dim("hidden_dim", *hidden_dim, kMaxWidth));
  } else {
    HERD_ASSIGN_OR_RETURN(std::optional<int64_t> multiple_of, f.opt_int("multiple_of"));
    const int64_t m = multiple_of ? *multiple_of : 256;
    HERD_TRY(f.check_dim("multiple_of", m, kMaxWidth));
    HERD_ASSIGN_OR_RETURN(std::optional<double> mult, f.opt_double("ffn_dim_multiplier"));
    if (mult && !(*mult > 0 && *mult <= 64))
      return f.bad_value("ffn_dim_multiplier", str_printf("is %g, expected in (0, 64]", *mult));
    int64_t h = 2 * (4 * c.hidden_size) / 3;
    if (mult) h = static_cast<int64_t>(*mult * static_cast<double>(h));
    h = m * ((h + m - 1) / m);
    HERD_ASSIGN_OR_RETURN(c.intermediate_size, f.check_dim("ffn_dim_multiplier", h, kMaxWidth));
  }

  HERD_ASSIGN_OR_RETURN(std::optional<double> eps, f.opt_double("norm_eps"));
  c.rms_norm_eps = eps ? *eps : 1e-5;
  if (!(c.rms_norm_eps > 0 && c.rms_norm_eps < 1))
    return f.bad_value("norm_eps", str_printf("is %g, expected in (0, 1)", c.rms_norm_eps));
  HERD_ASSIGN_OR_RETURN(std::optional<double> theta, f.opt_double("rope_theta"));
  c.rope_theta = theta ? *theta : 500000.0;
  if (!(c.rope_theta > 1)) return f.bad_value("rope_theta", str_printf("is %g, expected > 1", c.rope_theta));
  HERD_ASSIGN_OR_RETURN(std::optional<bool> scaled, f.opt_bool("use_scaled_rope"));
  if (scaled && *scaled) {
    RopeScaling rs;
    rs.factor = c.hidden_size == 2048 || c.hidden_size == 3072 ? 32 : 8;
    HERD_ASSIGN_OR_RETURN(std::optional<double> factor, f.opt_double("rope_scaling_factor"));
    if (factor) rs.factor = *factor;
    if (!(rs.factor >= 1 && rs.factor <= 1024))
      return f.bad_value("rope_scaling_factor", str_printf("is %g, expected in [1, 1024]", rs.factor));
    c.rope_scaling = rs;
    c.max_position_embeddings = 131072;
  } else {
    c.max_position_embeddings = 8192;
  }
  c.bos_token_id = 128000;
  c.eos_token_ids = {128001, 128008, 128009};
  return c;
}

}  // namespace herd::formats
