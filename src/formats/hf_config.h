// Hugging Face config.json and generation_config.json for Llama 3.x.
//
// parse_hf_config() reads the keys herd needs (llama31.md section 9.3) and
// validates them once, here, so the model layer can trust them: model_type
// "llama"; positive dimensions below generous caps (so later products cannot
// overflow); kv heads dividing heads; heads dividing hidden_size unless
// head_dim is given; an even head_dim; rope_scaling absent, null, "default"
// or "llama3" (every other rope_type, e.g. "yarn", is kUnsupported and named);
// attention_bias / mlp_bias false and hidden_act "silu" when present
// (otherwise kUnsupported); eos_token_id an integer or an array of integers.
// Integer fields must be JSON integers (4096.0 is refused); float fields take
// either. Keys herd does not use (pretraining_tp, initializer_range, ...) are
// ignored. Errors name the key, the expected type or range and what was found.
//
// hf_config_to_json() writes the key set of Meta's released Llama 3.1
// config.json (keys sorted, 2-space indent, as transformers writes it), with
// head_dim added when it is not hidden_size / num_attention_heads or when
// head_dim_in_file is set (as in the Llama 3.2 configs).
//
// Thread safety: pure functions. No exception escapes (nlohmann calls are
// wrapped).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace herd::formats {

// HF rope_scaling with rope_type "llama3" (llama31.md section 3).
struct RopeScaling {
  std::string rope_type = "llama3";
  double factor = 1;               // 8 for Llama 3.1, 32 for Llama 3.2 1B/3B
  double low_freq_factor = 1;
  double high_freq_factor = 4;
  int64_t original_max_position_embeddings = 8192;
};

// quantization_config of Meta's FP8 checkpoints ("quant_method": "fbgemm_fp8",
// llama31.md 7.1): which modules stay unquantized, and the activation bound.
struct HfFp8Config {
  double activation_scale_ub = 1200.0;
  std::vector<std::string> modules_to_not_convert;  // module paths: "model.layers.0.mlp.down_proj", "lm_head"
};

struct HfLlamaConfig {
  std::vector<std::string> architectures;  // ["LlamaForCausalLM"]
  std::string model_type = "llama";
  int64_t hidden_size = 0;                 // d_model
  int64_t intermediate_size = 0;           // d_ff
  int64_t num_hidden_layers = 0;           // n_layers
  int64_t num_attention_heads = 0;         // n_heads
  int64_t num_key_value_heads = 0;         // n_kv_heads (absent: = n_heads)
  int64_t head_dim = 0;                    // explicit, or hidden_size / n_heads
  bool head_dim_in_file = false;           // config.json states head_dim
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-5;
  double rope_theta = 500000.0;
  std::optional<RopeScaling> rope_scaling;  // nullopt: plain RoPE
  bool tie_word_embeddings = false;
  int64_t bos_token_id = -1;               // -1 when absent or null
  std::vector<int64_t> eos_token_ids;      // empty when absent or null
  std::string torch_dtype;                 // "bfloat16"; empty when absent
  bool attention_bias = false;
  bool mlp_bias = false;
  std::optional<HfFp8Config> fp8;          // quantization_config, when fbgemm_fp8 (other methods are refused)
};

Result<HfLlamaConfig> parse_hf_config(std::string_view json_text);
// Reads and parses `path` (config.json); errors carry the path.
Result<HfLlamaConfig> load_hf_config(const std::string& path);
std::string hf_config_to_json(const HfLlamaConfig& config);

// generation_config.json: sampling defaults (llama31.md section 9.4).
struct HfGenerationConfig {
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int64_t> top_k;
  bool do_sample = false;
  std::vector<int64_t> eos_token_ids;  // empty when absent
  std::optional<int64_t> bos_token_id;
  std::optional<double> repetition_penalty;
};

// Validates: temperature >= 0, 0 < top_p <= 1, top_k >= 0,
// repetition_penalty > 0, token ids >= 0. Null values count as absent;
// unknown keys (max_length, pad_token_id, transformers_version) are ignored.
Result<HfGenerationConfig> parse_generation_config(std::string_view json_text);
Result<HfGenerationConfig> load_generation_config(const std::string& path);
// Writes the keys that are set (sorted, 2-space indent); do_sample always.
std::string generation_config_to_json(const HfGenerationConfig& config);

}  // namespace herd::formats
