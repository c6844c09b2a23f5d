// Tests for config.json and generation_config.json parsing and writing.
//
// The accepted texts are the released Meta configs quoted in llama31.md
// sections 9.3-9.4 (8B Instruct) and the 3.2 1B values listed there. Each
// rejected config checks the error code and that the message names the key.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "formats/hf_config.h"

namespace herd::formats {
namespace {

const char* kLlama31_8B_Instruct = R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
 "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
 "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
 "max_position_embeddings": 131072, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
 "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                  "original_max_position_embeddings": 8192, "rope_type": "llama3"},
 "hidden_act": "silu", "attention_bias": false, "attention_dropout": 0.0, "mlp_bias": false,
 "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009],
 "tie_word_embeddings": false, "torch_dtype": "bfloat16", "pretraining_tp": 1,
 "initializer_range": 0.02, "use_cache": true})";

const char* kLlama32_1B = R"({
  "architectures": ["LlamaForCausalLM"],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 128000,
  "eos_token_id": 128001,
  "head_dim": 64,
  "hidden_act": "silu",
  "hidden_size": 2048,
  "initializer_range": 0.02,
  "intermediate_size": 8192,
  "max_position_embeddings": 131072,
  "mlp_bias": false,
  "model_type": "llama",
  "num_attention_heads": 32,
  "num_hidden_layers": 16,
  "num_key_value_heads": 8,
  "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": {
    "factor": 32.0,
    "high_freq_factor": 4.0,
    "low_freq_factor": 1.0,
    "original_max_position_embeddings": 8192,
    "rope_type": "llama3"
  },
  "rope_theta": 500000.0,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.45.0.dev0",
  "use_cache": true,
  "vocab_size": 128256
})";

// The 8B config with `key` replaced by `value` (JSON text), or removed when
// value is nullptr.
std::string with(const char* key, const char* value) {
  nlohmann::json j = nlohmann::json::parse(kLlama31_8B_Instruct);
  if (value) {
    j[key] = nlohmann::json::parse(value);
  } else {
    j.erase(key);
  }
  return j.dump();
}

void expect_config_error(const std::string& text, ErrorCode code,
                         std::initializer_list<const char*> needles) {
  auto r = parse_hf_config(text);
  ASSERT_FALSE(r.has_value()) << "accepted: " << text;
  const std::string msg = r.error().to_string();
  EXPECT_EQ(r.error().code(), code) << msg;
  for (const char* n : needles) EXPECT_NE(msg.find(n), std::string::npos) << n << " in: " << msg;
}

TEST(HfConfigTest, ParsesLlama31_8BInstruct) {
  auto r = parse_hf_config(kLlama31_8B_Instruct);
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  const HfLlamaConfig& c = *r;
  EXPECT_EQ(c.architectures, std::vector<std::string>{"LlamaForCausalLM"});
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.hidden_size, 4096);
  EXPECT_EQ(c.intermediate_size, 14336);
  EXPECT_EQ(c.num_hidden_layers, 32);
  EXPECT_EQ(c.num_attention_heads, 32);
  EXPECT_EQ(c.num_key_value_heads, 8);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_FALSE(c.head_dim_in_file);
  EXPECT_EQ(c.vocab_size, 128256);
  EXPECT_EQ(c.max_position_embeddings, 131072);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
  ASSERT_TRUE(c.rope_scaling.has_value());
  EXPECT_EQ(c.rope_scaling->rope_type, "llama3");
  EXPECT_DOUBLE_EQ(c.rope_scaling->factor, 8.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling->low_freq_factor, 1.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling->high_freq_factor, 4.0);
  EXPECT_EQ(c.rope_scaling->original_max_position_embeddings, 8192);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.bos_token_id, 128000);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
  EXPECT_EQ(c.torch_dtype, "bfloat16");
  EXPECT_FALSE(c.attention_bias);
  EXPECT_FALSE(c.mlp_bias);
}

TEST(HfConfigTest, ParsesLlama32_1B) {
  auto r = parse_hf_config(kLlama32_1B);
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(r->hidden_size, 2048);
  EXPECT_EQ(r->head_dim, 64);
  EXPECT_TRUE(r->head_dim_in_file);
  EXPECT_TRUE(r->tie_word_embeddings);
  EXPECT_DOUBLE_EQ(r->rope_scaling->factor, 32.0);
  EXPECT_EQ(r->eos_token_ids, std::vector<int64_t>{128001});
}

TEST(HfConfigTest, WritesMetaKeySet) {
  auto r = parse_hf_config(kLlama31_8B_Instruct);
  ASSERT_TRUE(r.has_value());
  std::string text = hf_config_to_json(*r);
  nlohmann::json out = nlohmann::json::parse(text);
  nlohmann::json ref = nlohmann::json::parse(kLlama31_8B_Instruct);
  // Same keys and the same values as Meta's file.
  EXPECT_EQ(out, ref) << text;
  EXPECT_NE(text.find("\"rms_norm_eps\": 1e-05"), std::string::npos) << text;
  EXPECT_NE(text.find("\"rope_theta\": 500000.0"), std::string::npos) << text;
  auto again = parse_hf_config(text);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(hf_config_to_json(*again), text);
}

TEST(HfConfigTest, WritesHeadDimWhenInFileOrNotDerived) {
  auto r = parse_hf_config(kLlama32_1B);
  ASSERT_TRUE(r.has_value());
  nlohmann::json out = nlohmann::json::parse(hf_config_to_json(*r));
  nlohmann::json ref = nlohmann::json::parse(kLlama32_1B);
  ref.erase("transformers_version");
  EXPECT_EQ(out, ref);
  HfLlamaConfig c = *r;
  c.head_dim_in_file = false;
  EXPECT_FALSE(nlohmann::json::parse(hf_config_to_json(c)).contains("head_dim"));
  c.head_dim = 128;  // not hidden / heads: must be written
  EXPECT_EQ(nlohmann::json::parse(hf_config_to_json(c))["head_dim"], 128);
}

TEST(HfConfigTest, OptionalKeysTakeHfDefaults) {
  nlohmann::json j = nlohmann::json::parse(kLlama31_8B_Instruct);
  for (const char* k : {"num_key_value_heads", "rope_scaling", "tie_word_embeddings",
                        "bos_token_id", "eos_token_id", "torch_dtype", "attention_bias",
                        "mlp_bias", "architectures", "hidden_act"})
    j.erase(k);
  auto r = parse_hf_config(j.dump());
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(r->num_key_value_heads, 32);
  EXPECT_FALSE(r->rope_scaling.has_value());
  EXPECT_EQ(r->bos_token_id, -1);
  EXPECT_TRUE(r->eos_token_ids.empty());
  EXPECT_EQ(r->torch_dtype, "");
}

TEST(HfConfigTest, RopeScalingVariants) {
  auto null_rs = parse_hf_config(with("rope_scaling", "null"));
  ASSERT_TRUE(null_rs.has_value());
  EXPECT_FALSE(null_rs->rope_scaling.has_value());
  auto def = parse_hf_config(with("rope_scaling", R"({"rope_type": "default"})"));
  ASSERT_TRUE(def.has_value());
  EXPECT_FALSE(def->rope_scaling.has_value());
  auto legacy = parse_hf_config(with("rope_scaling", R"({"type": "llama3", "factor": 8})"));
  ASSERT_TRUE(legacy.has_value()) << legacy.error().to_string();
  EXPECT_DOUBLE_EQ(legacy->rope_scaling->factor, 8.0);
  EXPECT_DOUBLE_EQ(legacy->rope_scaling->high_freq_factor, 4.0);
}

TEST(HfConfigTest, RopeTypeYarnIsUnsupported) {
  expect_config_error(with("rope_scaling", R"({"rope_type": "yarn", "factor": 4.0})"),
                      ErrorCode::kUnsupported, {"rope_type 'yarn'", "not supported"});
  expect_config_error(with("rope_scaling", R"({"type": "linear", "factor": 2.0})"),
                      ErrorCode::kUnsupported, {"'linear'"});
}

TEST(HfConfigTest, BadRopeScaling) {
  expect_config_error(with("rope_scaling", R"({"rope_type": "llama3"})"),
                      ErrorCode::kInvalidArgument, {"rope_scaling.factor"});
  expect_config_error(with("rope_scaling", R"({"factor": 8.0})"), ErrorCode::kInvalidArgument,
                      {"rope_scaling.rope_type"});
  expect_config_error(with("rope_scaling",
                           R"({"rope_type": "llama3", "factor": 8, "low_freq_factor": 4,
                               "high_freq_factor": 1})"),
                      ErrorCode::kInvalidArgument, {"low_freq_factor"});
  expect_config_error(with("rope_scaling", R"({"rope_type": "llama3", "factor": "8"})"),
                      ErrorCode::kInvalidArgument, {"rope_scaling.factor", "a string"});
  expect_config_error(with("rope_scaling", "[8]"), ErrorCode::kInvalidArgument,
                      {"rope_scaling", "an object or null"});
}

TEST(HfConfigTest, MissingRequiredKeys) {
  for (const char* k : {"hidden_size", "intermediate_size", "num_hidden_layers",
                        "num_attention_heads", "vocab_size", "max_position_embeddings",
                        "rms_norm_eps", "rope_theta", "model_type"}) {
    auto r = parse_hf_config(with(k, nullptr));
    ASSERT_FALSE(r.has_value()) << k;
    EXPECT_NE(r.error().message().find(std::string("missing required key '") + k + "'"),
              std::string::npos)
        << r.error().message();
  }
}

TEST(HfConfigTest, WrongTypes) {
  expect_config_error(with("hidden_size", "\"4096\""), ErrorCode::kInvalidArgument,
                      {"'hidden_size'", "a string \"4096\"", "expected an integer"});
  expect_config_error(with("hidden_size", "4096.0"), ErrorCode::kInvalidArgument,
                      {"'hidden_size'", "floating-point", "expected an integer"});
  expect_config_error(with("rope_theta", "\"big\""), ErrorCode::kInvalidArgument,
                      {"'rope_theta'", "expected a number"});
  expect_config_error(with("tie_word_embeddings", "1"), ErrorCode::kInvalidArgument,
                      {"'tie_word_embeddings'", "true or false"});
  expect_config_error(with("eos_token_id", "\"128001\""), ErrorCode::kInvalidArgument,
                      {"'eos_token_id'", "an integer or an array of integers"});
  expect_config_error(with("eos_token_id", "[128001, \"x\"]"), ErrorCode::kInvalidArgument,
                      {"'eos_token_id'"});
  expect_config_error(with("eos_token_id", "[-1]"), ErrorCode::kInvalidArgument,
                      {"'eos_token_id'", "negative"});
  expect_config_error(with("architectures", "\"LlamaForCausalLM\""), ErrorCode::kInvalidArgument,
                      {"'architectures'"});
}

TEST(HfConfigTest, BadDimensions) {
  expect_config_error(with("hidden_size", "0"), ErrorCode::kInvalidArgument,
                      {"'hidden_size'", "positive"});
  expect_config_error(with("num_hidden_layers", "-2"), ErrorCode::kInvalidArgument,
                      {"'num_hidden_layers'", "positive"});
  expect_config_error(with("vocab_size", "9223372036854775807"), ErrorCode::kOutOfRange,
                      {"'vocab_size'", "limit"});
  expect_config_error(with("hidden_size", "18446744073709551615"), ErrorCode::kInvalidArgument,
                      {"'hidden_size'", "2^63-1"});
  expect_config_error(with("num_key_value_heads", "5"), ErrorCode::kInvalidArgument,
                      {"num_key_value_heads", "does not divide num_attention_heads"});
  expect_config_error(with("num_attention_heads", "24"), ErrorCode::kInvalidArgument,
                      {"num_attention_heads", "does not divide hidden_size"});
  expect_config_error(with("head_dim", "127"), ErrorCode::kInvalidArgument, {"head_dim", "odd"});
  expect_config_error(with("rms_norm_eps", "0"), ErrorCode::kInvalidArgument, {"rms_norm_eps"});
}

TEST(HfConfigTest, UnsupportedArchitectureFeatures) {
  expect_config_error(with("model_type", "\"mistral\""), ErrorCode::kUnsupported,
                      {"model_type 'mistral'"});
  expect_config_error(with("attention_bias", "true"), ErrorCode::kUnsupported,
                      {"attention_bias"});
  expect_config_error(with("mlp_bias", "true"), ErrorCode::kUnsupported, {"mlp_bias"});
  expect_config_error(with("hidden_act", "\"gelu\""), ErrorCode::kUnsupported, {"'gelu'"});
}

TEST(HfConfigTest, NotJson) {
  expect_config_error("{\"hidden_size\": ", ErrorCode::kInvalidArgument, {"not valid JSON"});
  expect_config_error("[1, 2]", ErrorCode::kInvalidArgument, {"expected a JSON object"});
  expect_config_error("", ErrorCode::kInvalidArgument, {"config.json"});
}

TEST(HfConfigTest, LoadMissingFileNamesPath) {
  auto r = load_hf_config("/nonexistent/herd/config.json");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(r.error().to_string().find("/nonexistent/herd/config.json"), std::string::npos);
}

// --- generation_config.json -------------------------------------------------------------

TEST(HfGenerationConfigTest, ParsesInstructAndBase) {
  auto r = parse_generation_config(
      R"({"bos_token_id": 128000, "do_sample": true, "eos_token_id": [128001, 128008, 128009],
          "temperature": 0.6, "top_p": 0.9, "transformers_version": "4.42.3"})");
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(r->bos_token_id, 128000);
  EXPECT_TRUE(r->do_sample);
  EXPECT_EQ(r->eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
  EXPECT_DOUBLE_EQ(*r->temperature, 0.6);
  EXPECT_DOUBLE_EQ(*r->top_p, 0.9);
  EXPECT_FALSE(r->top_k.has_value());
  EXPECT_FALSE(r->repetition_penalty.has_value());

  auto base = parse_generation_config(
      R"({"bos_token_id": 128000, "do_sample": true, "eos_token_id": 128001,
          "temperature": 0.6, "top_p": 0.9})");
  ASSERT_TRUE(base.has_value());
  EXPECT_EQ(base->eos_token_ids, std::vector<int64_t>{128001});

  auto empty = parse_generation_config("{}");
  ASSERT_TRUE(empty.has_value());
  EXPECT_FALSE(empty->do_sample);
  EXPECT_FALSE(empty->temperature.has_value());
}

TEST(HfGenerationConfigTest, RoundTrip) {
  HfGenerationConfig g;
  g.bos_token_id = 128000;
  g.do_sample = true;
  g.eos_token_ids = {128001, 128008, 128009};
  g.temperature = 0.6;
  g.top_p = 0.9;
  std::string text = generation_config_to_json(g);
  EXPECT_EQ(nlohmann::json::parse(text),
            nlohmann::json::parse(R"({"bos_token_id": 128000, "do_sample": true,
              "eos_token_id": [128001, 128008, 128009], "temperature": 0.6, "top_p": 0.9})"))
      << text;
  auto back = parse_generation_config(text);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(generation_config_to_json(*back), text);
  g.top_k = 40;
  g.repetition_penalty = 1.1;
  g.eos_token_ids = {128001};
  auto j = nlohmann::json::parse(generation_config_to_json(g));
  EXPECT_EQ(j["top_k"], 40);
  EXPECT_EQ(j["eos_token_id"], 128001);
}

TEST(HfGenerationConfigTest, RejectsBadValues) {
  auto check = [](const char* text, const char* key) {
    auto r = parse_generation_config(text);
    ASSERT_FALSE(r.has_value()) << text;
    EXPECT_NE(r.error().message().find(key), std::string::npos) << r.error().message();
    EXPECT_NE(r.error().message().find("generation_config.json"), std::string::npos);
  };
  check(R"({"temperature": -1})", "temperature");
  check(R"({"temperature": "hot"})", "temperature");
  check(R"({"top_p": 0})", "top_p");
  check(R"({"top_p": 1.5})", "top_p");
  check(R"({"top_k": -3})", "top_k");
  check(R"({"top_k": 4.5})", "top_k");
  check(R"({"do_sample": "yes"})", "do_sample");
  check(R"({"repetition_penalty": 0})", "repetition_penalty");
  check(R"({"eos_token_id": {"a": 1}})", "eos_token_id");
  check("[]", "JSON object");
}

}  // namespace
}  // namespace herd::formats

namespace herd::formats {
namespace {

// Meta-Llama-3.1-405B-Instruct-FP8's quantization_config (llama31.md 7.1), abridged list.
TEST(HfConfigTest, Fp8QuantizationConfig) {
  auto r = parse_hf_config(with("quantization_config",
                                R"({"quant_method": "fbgemm_fp8", "activation_scale_ub": 1200.0,
                                    "modules_to_not_convert": ["model.layers.0.mlp.down_proj", "lm_head"]})"));
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  ASSERT_TRUE(r->fp8.has_value());
  EXPECT_EQ(r->fp8->activation_scale_ub, 1200.0);
  EXPECT_EQ(r->fp8->modules_to_not_convert, (std::vector<std::string>{"model.layers.0.mlp.down_proj", "lm_head"}));
  // Written back and read again: the same.
  auto again = parse_hf_config(hf_config_to_json(*r));
  ASSERT_TRUE(again.has_value());
  ASSERT_TRUE(again->fp8.has_value());
  EXPECT_EQ(again->fp8->modules_to_not_convert, r->fp8->modules_to_not_convert);
  EXPECT_FALSE(parse_hf_config(kLlama31_8B_Instruct)->fp8.has_value());
  EXPECT_FALSE(parse_hf_config(with("quantization_config", "null"))->fp8.has_value());
  expect_config_error(with("quantization_config", R"({"quant_method": "gptq"})"), ErrorCode::kUnsupported,
                      {"quant_method 'gptq'", "fbgemm_fp8"});
  expect_config_error(with("quantization_config", R"({"quant_method": "fbgemm_fp8", "activation_scale_ub": -1})"),
                      ErrorCode::kInvalidArgument, {"activation_scale_ub"});
  expect_config_error(with("quantization_config", R"({"quant_method": "fbgemm_fp8", "modules_to_not_convert": [1]})"),
                      ErrorCode::kInvalidArgument, {"modules_to_not_convert"});
  expect_config_error(with("quantization_config", "[]"), ErrorCode::kInvalidArgument, {"quantization_config"});
}

}  // namespace
}  // namespace herd::formats
