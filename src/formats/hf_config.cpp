// config.json / generation_config.json: typed key readers and validation.
//
// Duplicate keys follow Python's json module (the last one wins), since that
// is how transformers reads these files.
#include "formats/hf_config.h"

#include <cmath>
#include <exception>
#include <limits>
#include <utility>

#include "base/mapped_file.h"
#include "formats/config_json.h"

namespace herd::formats {

using namespace config_json;

namespace {

Result<std::optional<RopeScaling>> parse_rope_scaling(const Json& root) {
  auto it = root.find("rope_scaling");
  if (it == root.end() || it->is_null()) return std::optional<RopeScaling>();
  const char* kFile = "config.json";
  if (!it->is_object()) {
    return Fields(root, kFile).wrong_type("rope_scaling", "an object or null", *it);
  }
  Fields f(*it, kFile, "rope_scaling.");
  HERD_ASSIGN_OR_RETURN(std::optional<std::string> type, f.opt_string("rope_type"));
  if (!type) {
    // transformers < 4.45 wrote the legacy key "type".
    HERD_ASSIGN_OR_RETURN(type, f.opt_string("type"));
  }
  if (!type) return f.missing("rope_type", "\"llama3\"");
  if (*type == "default") return std::optional<RopeScaling>();
  if (*type != "llama3") {
    return err(ErrorCode::kUnsupported,
               "config.json: rope_scaling.rope_type '%s' is not supported (herd implements "
               "'llama3' and plain RoPE)",
               type->c_str());
  }
  RopeScaling rs;
  rs.rope_type = *type;
  HERD_ASSIGN_OR_RETURN(std::optional<double> factor, f.opt_double("factor"));
  if (!factor) return f.missing("factor", "a number such as 8.0");
  rs.factor = *factor;
  HERD_ASSIGN_OR_RETURN(std::optional<double> low, f.opt_double("low_freq_factor"));
  HERD_ASSIGN_OR_RETURN(std::optional<double> high, f.opt_double("high_freq_factor"));
  HERD_ASSIGN_OR_RETURN(std::optional<int64_t> orig,
                        f.opt_int("original_max_position_embeddings"));
  if (low) rs.low_freq_factor = *low;
  if (high) rs.high_freq_factor = *high;
  if (orig) rs.original_max_position_embeddings = *orig;
  if (!(rs.factor > 0)) return f.bad_value("factor", str_printf("is %g, expected > 0", rs.factor));
  if (!(rs.low_freq_factor > 0 && rs.high_freq_factor > rs.low_freq_factor)) {
    return f.bad_value("low_freq_factor",
                       str_printf("(%g) and high_freq_factor (%g) must satisfy 0 < low < high",
                                  rs.low_freq_factor, rs.high_freq_factor));
  }
  HERD_TRY(f.check_dim("original_max_position_embeddings", rs.original_max_position_embeddings,
                       kMaxPositions));
  return std::optional<RopeScaling>(rs);
}

}  // namespace

Result<HfLlamaConfig> parse_hf_config(std::string_view json_text) {
  const char* kFile = "config.json";
  HERD_ASSIGN_OR_RETURN(Json root, parse_object(json_text, kFile));
  Fields f(root, kFile);
  HfLlamaConfig c;

  HERD_ASSIGN_OR_RETURN(std::optional<std::string> model_type, f.opt_string("model_type"));
  if (!model_type) return f.missing("model_type", "\"llama\"");
  if (*model_type != "llama") {
    return err(ErrorCode::kUnsupported,
               "config.json: model_type '%s' is not supported (herd runs model_type 'llama', the "
               "Llama 3.x family)",
               model_type->c_str());
  }
  c.model_type = *model_type;
  if (const Json* a = f.get("architectures")) {
    if (!a->is_array()) return f.wrong_type("architectures", "an array of strings", *a);
    for (const Json& e : *a) {
      if (!e.is_string()) return f.wrong_type("architectures", "an array of strings", *a);
      c.architectures.push_back(e.get<std::string>());
    }
  }
  HERD_ASSIGN_OR_RETURN(c.hidden_size, f.dim("hidden_size", kMaxWidth));
  HERD_ASSIGN_OR_RETURN(c.intermediate_size, f.dim("intermediate_size", kMaxWidth));
  HERD_ASSIGN_OR_RETURN(c.num_hidden_layers, f.dim("num_hidden_layers", kMaxLayers));
  HERD_ASSIGN_OR_RETURN(c.num_attention_heads, f.dim("num_attention_heads", kMaxWidth));
  HERD_ASSIGN_OR_RETURN(std::optional<int64_t> kv, f.opt_int("num_key_value_heads"));
  c.num_key_value_heads = kv ? *kv : c.num_attention_heads;  // HF's default: no GQA
  HERD_TRY(f.check_dim("num_key_value_heads", c.num_key_value_heads, kMaxWidth));
  HERD_ASSIGN_OR_RETURN(c.vocab_size, f.dim("vocab_size", kMaxVocab));
  HERD_ASSIGN_OR_RETURN(c.max_position_embeddings,
                        f.dim("max_position_embeddings", kMaxPositions));

  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    return f.bad_value("num_key_value_heads",
                       str_printf("= %lld does not divide num_attention_heads = %lld",
                                  static_cast<long long>(c.num_key_value_heads),
                                  static_cast<long long>(c.num_attention_heads)));
  }
  HERD_ASSIGN_OR_RETURN(std::optional<int64_t> hd, f.opt_int("head_dim"));
  if (hd) {
    HERD_ASSIGN_OR_RETURN(c.head_dim, f.check_dim("head_dim", *hd, kMaxWidth));
    c.head_dim_in_file = true;
  } else {
    if (c.hidden_size % c.num_attention_heads != 0) {
      return f.bad_value("num_attention_heads",
                         str_printf("= %lld does not divide hidden_size = %lld (and no head_dim "
                                    "is given)",
                                    static_cast<long long>(c.num_attention_heads),
                                    static_cast<long long>(c.hidden_size)));
    }
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  if (c.head_dim % 2 != 0) {
    return f.bad_value("head_dim", str_printf("= %lld is odd; RoPE rotates pairs of dimensions",
                                              static_cast<long long>(c.head_dim)));
  }

  HERD_ASSIGN_OR_RETURN(std::optional<double> eps, f.opt_double("rms_norm_eps"));
  if (!eps) return f.missing("rms_norm_eps", "a number such as 1e-05");
  if (!(*eps > 0 && *eps < 1)) {
    return f.bad_value("rms_norm_eps", str_printf("is %g, expected 0 < eps < 1", *eps));
  }
  c.rms_norm_eps = *eps;
  HERD_ASSIGN_OR_RETURN(std::optional<double> theta, f.opt_double("rope_theta"));
  if (!theta) return f.missing("rope_theta", "a number such as 500000.0");
  if (!(*theta > 1)) return f.bad_value("rope_theta", str_printf("is %g, expected > 1", *theta));
  c.rope_theta = *theta;
  HERD_ASSIGN_OR_RETURN(c.rope_scaling, parse_rope_scaling(root));

  HERD_ASSIGN_OR_RETURN(std::optional<bool> tie, f.opt_bool("tie_word_embeddings"));
  c.tie_word_embeddings = tie.value_or(false);
  HERD_ASSIGN_OR_RETURN(std::optional<int64_t> bos, f.opt_int("bos_token_id"));
  if (bos && *bos < 0) return f.bad_value("bos_token_id", "is negative");
  c.bos_token_id = bos.value_or(-1);
  HERD_ASSIGN_OR_RETURN(c.eos_token_ids, f.token_ids("eos_token_id"));
  HERD_ASSIGN_OR_RETURN(std::optional<std::string> dtype, f.opt_string("torch_dtype"));
  if (!dtype) {
    HERD_ASSIGN_OR_RETURN(dtype, f.opt_string("dtype"));  // transformers >= 4.56 spelling
  }
  c.torch_dtype = dtype.value_or("");

  HERD_ASSIGN_OR_RETURN(std::optional<bool> attn_bias, f.opt_bool("attention_bias"));
  HERD_ASSIGN_OR_RETURN(std::optional<bool> mlp_bias, f.opt_bool("mlp_bias"));
  c.attention_bias = attn_bias.value_or(false);
  c.mlp_bias = mlp_bias.value_or(false);
  if (c.attention_bias || c.mlp_bias) {
    return err(ErrorCode::kUnsupported,
               "config.json: %s is true; Llama 3.x has no biases and herd does not load them",
               c.attention_bias ? "attention_bias" : "mlp_bias");
  }
  if (const Json* q = f.get("quantization_config")) {
    if (!q->is_object()) return f.wrong_type("quantization_config", "an object or null", *q);
    Fields qf(*q, kFile, "quantization_config.");
    HERD_ASSIGN_OR_RETURN(std::optional<std::string> method, qf.opt_string("quant_method"));
    if (method.value_or("") != "fbgemm_fp8")
      return err(ErrorCode::kUnsupported,
                 "config.json: quantization_config.quant_method '%s' is not supported (herd reads Meta's FP8 "
                 "checkpoints, fbgemm_fp8)", method.value_or("(none)").c_str());
    HfFp8Config fp8;
    HERD_ASSIGN_OR_RETURN(std::optional<double> ub, qf.opt_double("activation_scale_ub"));
    if (ub && !(*ub > 0)) return qf.bad_value("activation_scale_ub", "is not positive");
    fp8.activation_scale_ub = ub.value_or(1200.0);
    if (const Json* mods = qf.get("modules_to_not_convert")) {
      if (!mods->is_array() || mods->size() > (1u << 20))
        return qf.wrong_type("modules_to_not_convert", "an array of strings", *mods);
      for (const Json& m : *mods) {
        if (!m.is_string()) return qf.wrong_type("modules_to_not_convert", "an array of strings", m);
        fp8.modules_to_not_convert.push_back(m.get<std::string>());
      }
    }
    c.fp8 = std::move(fp8);
  }
  HERD_ASSIGN_OR_RETURN(std::optional<std::string> act, f.opt_string("hidden_act"));
  if (act && *act != "silu") {
    return err(ErrorCode::kUnsupported,
               "config.json: hidden_act '%s' is not supported (Llama uses 'silu')", act->c_str());
  }
  return c;
}

Result<HfLlamaConfig> load_hf_config(const std::string& path) {
  HERD_ASSIGN_OR_RETURN(std::string text, read_text_file(path, kMaxConfigBytes));
  Result<HfLlamaConfig> c = parse_hf_config(text);
  if (!c.has_value()) return std::move(c).error().with_context(path);
  return c;
}

std::string hf_config_to_json(const HfLlamaConfig& c) {
  try {
    Json j = Json::object();
    j["architectures"] =
        c.architectures.empty() ? std::vector<std::string>{"LlamaForCausalLM"} : c.architectures;
    j["attention_bias"] = c.attention_bias;
    j["attention_dropout"] = 0.0;
    j["bos_token_id"] = c.bos_token_id;
    if (c.eos_token_ids.size() == 1) {
      j["eos_token_id"] = c.eos_token_ids[0];
    } else {
      j["eos_token_id"] = c.eos_token_ids;
    }
    bool derived = c.num_attention_heads > 0 && c.hidden_size % c.num_attention_heads == 0 &&
                   c.head_dim == c.hidden_size / c.num_attention_heads;
    if (c.head_dim_in_file || !derived) j["head_dim"] = c.head_dim;
    j["hidden_act"] = "silu";
    j["hidden_size"] = c.hidden_size;
    j["initializer_range"] = 0.02;
    j["intermediate_size"] = c.intermediate_size;
    j["max_position_embeddings"] = c.max_position_embeddings;
    j["mlp_bias"] = c.mlp_bias;
    j["model_type"] = c.model_type.empty() ? std::string("llama") : c.model_type;
    j["num_attention_heads"] = c.num_attention_heads;
    j["num_hidden_layers"] = c.num_hidden_layers;
    j["num_key_value_heads"] = c.num_key_value_heads;
    j["pretraining_tp"] = 1;
    if (c.fp8) {
      j["quantization_config"] = {{"activation_scale_ub", c.fp8->activation_scale_ub},
                                  {"modules_to_not_convert", c.fp8->modules_to_not_convert},
                                  {"quant_method", "fbgemm_fp8"}};
    }
    j["rms_norm_eps"] = c.rms_norm_eps;
    if (c.rope_scaling) {
      const RopeScaling& r = *c.rope_scaling;
      j["rope_scaling"] = {{"factor", r.factor},
                           {"high_freq_factor", r.high_freq_factor},
                           {"low_freq_factor", r.low_freq_factor},
                           {"original_max_position_embeddings",
                            r.original_max_position_embeddings},
                           {"rope_type", r.rope_type}};
    } else {
      j["rope_scaling"] = nullptr;
    }
    j["rope_theta"] = c.rope_theta;
    j["tie_word_embeddings"] = c.tie_word_embeddings;
    j["torch_dtype"] = c.torch_dtype.empty() ? std::string("bfloat16") : c.torch_dtype;
    j["use_cache"] = true;
    j["vocab_size"] = c.vocab_size;
    return j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
  } catch (const std::exception&) {
    return std::string();  // only bad_alloc can get here
  }
}

Result<HfGenerationConfig> parse_generation_config(std::string_view json_text) {
  const char* kFile = "generation_config.json";
  HERD_ASSIGN_OR_RETURN(Json root, parse_object(json_text, kFile));
  Fields f(root, kFile);
  HfGenerationConfig g;
  HERD_ASSIGN_OR_RETURN(g.temperature, f.opt_double("temperature"));
  if (g.temperature && *g.temperature < 0) {
    return f.bad_value("temperature", str_printf("is %g, expected >= 0", *g.temperature));
  }
  HERD_ASSIGN_OR_RETURN(g.top_p, f.opt_double("top_p"));
  if (g.top_p && !(*g.top_p > 0 && *g.top_p <= 1)) {
    return f.bad_value("top_p", str_printf("is %g, expected 0 < top_p <= 1", *g.top_p));
  }
  HERD_ASSIGN_OR_RETURN(g.top_k, f.opt_int("top_k"));
  if (g.top_k && *g.top_k < 0) return f.bad_value("top_k", "is negative, expected >= 0");
  HERD_ASSIGN_OR_RETURN(std::optional<bool> sample, f.opt_bool("do_sample"));
  g.do_sample = sample.value_or(false);
  HERD_ASSIGN_OR_RETURN(g.eos_token_ids, f.token_ids("eos_token_id"));
  HERD_ASSIGN_OR_RETURN(g.bos_token_id, f.opt_int("bos_token_id"));
  if (g.bos_token_id && *g.bos_token_id < 0) return f.bad_value("bos_token_id", "is negative");
  HERD_ASSIGN_OR_RETURN(g.repetition_penalty, f.opt_double("repetition_penalty"));
  if (g.repetition_penalty && !(*g.repetition_penalty > 0)) {
    return f.bad_value("repetition_penalty",
                       str_printf("is %g, expected > 0", *g.repetition_penalty));
  }
  return g;
}

Result<HfGenerationConfig> load_generation_config(const std::string& path) {
  HERD_ASSIGN_OR_RETURN(std::string text, read_text_file(path, kMaxConfigBytes));
  Result<HfGenerationConfig> g = parse_generation_config(text);
  if (!g.has_value()) return std::move(g).error().with_context(path);
  return g;
}

std::string generation_config_to_json(const HfGenerationConfig& g) {
  try {
    Json j = Json::object();
    if (g.bos_token_id) j["bos_token_id"] = *g.bos_token_id;
    j["do_sample"] = g.do_sample;
    if (g.eos_token_ids.size() == 1) {
      j["eos_token_id"] = g.eos_token_ids[0];
    } else if (!g.eos_token_ids.empty()) {
      j["eos_token_id"] = g.eos_token_ids;
    }
    if (g.repetition_penalty) j["repetition_penalty"] = *g.repetition_penalty;
    if (g.temperature) j["temperature"] = *g.temperature;
    if (g.top_k) j["top_k"] = *g.top_k;
    if (g.top_p) j["top_p"] = *g.top_p;
    return j.dump(2) + "\n";
  } catch (const std::exception&) {
    return std::string();  // only bad_alloc can get here
  }
}

}  // namespace herd::formats
