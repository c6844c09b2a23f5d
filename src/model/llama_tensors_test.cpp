// The one tensor table (model/llama_tensors.h) against the names real files
// use: llama.cpp's converter (GGUF, LLM_TENSOR_NAMES for LLM_ARCH_LLAMA) and
// transformers' LlamaForCausalLM state dict (HF), spelled out here
// independently of the table.
#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "model/llama_tensors.h"

namespace herd::model {
namespace {

TEST(LlamaTensors, NamesAreThoseOfRealFiles) {
  const std::vector<std::pair<std::string, std::string>> want = {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"blk.7.attn_norm.weight", "model.layers.7.input_layernorm.weight"},
      {"blk.7.attn_q.weight", "model.layers.7.self_attn.q_proj.weight"},
      {"blk.7.attn_k.weight", "model.layers.7.self_attn.k_proj.weight"},
      {"blk.7.attn_v.weight", "model.layers.7.self_attn.v_proj.weight"},
      {"blk.7.attn_output.weight", "model.layers.7.self_attn.o_proj.weight"},
      {"blk.7.ffn_norm.weight", "model.layers.7.post_attention_layernorm.weight"},
      {"blk.7.ffn_gate.weight", "model.layers.7.mlp.gate_proj.weight"},
      {"blk.7.ffn_up.weight", "model.layers.7.mlp.up_proj.weight"},
      {"blk.7.ffn_down.weight", "model.layers.7.mlp.down_proj.weight"},
      {"output_norm.weight", "model.norm.weight"},
      {"output.weight", "lm_head.weight"},
  };
  ASSERT_EQ(llama_tensors().size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const LlamaTensor t = llama_tensors()[i].id;
    EXPECT_EQ(&llama_tensor_info(t), &llama_tensors()[i]);
    EXPECT_EQ(gguf_tensor_name(t, 7), want[i].first);
    EXPECT_EQ(hf_tensor_name(t, 7), want[i].second);
    std::optional<GgufTensorId> back = parse_gguf_tensor_name(want[i].first);
    ASSERT_TRUE(back.has_value()) << want[i].first;
    EXPECT_EQ(back->id, t);
    EXPECT_EQ(back->layer, llama_tensors()[i].per_layer ? 7 : -1);
  }
  EXPECT_EQ(parse_gguf_tensor_name("blk.123.ffn_down.weight")->layer, 123);
  for (const char* bad : {"rope_freqs.weight", "blk.7.attn_q", "blk..attn_q.weight", "blk.07.attn_q.weight",
                          "blk.x.attn_q.weight", "blk.7.token_embd.weight", "attn_q.weight", "blk.7.attn_q.bias",
                          "blk.99999999999.attn_q.weight", "blk.7.attn_q.weight.weight", ".weight", ""})
    EXPECT_FALSE(parse_gguf_tensor_name(bad).has_value()) << bad;
}

// Llama 3.1 8B (spec §1): d_model 4096, 32 heads of 128, 8 KV heads, d_ff 14336.
TEST(LlamaTensors, ShapesOf8B) {
  const LlamaDims d{4096, 32, 8, 128, 14336, 128256};
  EXPECT_EQ(llama_tensor_shape(LlamaTensor::kTokEmbd, d), (std::vector<int64_t>{128256, 4096}));
  EXPECT_EQ(llama_tensor_shape(LlamaTensor::kWq, d), (std::vector<int64_t>{4096, 4096}));
  EXPECT_EQ(llama_tensor_shape(LlamaTensor::kWk, d), (std::vector<int64_t>{1024, 4096}));
  EXPECT_EQ(llama_tensor_shape(LlamaTensor::kWv, d), (std::vector<int64_t>{1024, 4096}));
  EXPECT_EQ(llama_tensor_shape(LlamaTensor::kWo, d), (std::vector<int64_t>{4096, 4096}));
  EXPECT_EQ(llama_tensor_shape(LlamaTensor::kWGate, d), (std::vector<int64_t>{14336, 4096}));
  EXPECT_EQ(llama_tensor_shape(LlamaTensor::kWUp, d), (std::vector<int64_t>{14336, 4096}));
  EXPECT_EQ(llama_tensor_shape(LlamaTensor::kWDown, d), (std::vector<int64_t>{4096, 14336}));
  EXPECT_EQ(llama_tensor_shape(LlamaTensor::kAttnNorm, d), (std::vector<int64_t>{4096}));
  EXPECT_EQ(llama_tensor_shape(LlamaTensor::kOutput, d), (std::vector<int64_t>{128256, 4096}));
}

TEST(LlamaTensors, FileOrderVisitsEachTensorOnce) {
  std::vector<std::string> seen;
  for_each_file_tensor(3, [&](LlamaTensor t, int64_t il) { seen.push_back(gguf_tensor_name(t, il)); });
  ASSERT_EQ(seen.size(), 3u + 9u * 3u);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), seen.size());
  EXPECT_EQ(seen.front(), "token_embd.weight");
  EXPECT_EQ(seen[1], "blk.0.attn_norm.weight");
  EXPECT_EQ(seen[10], "blk.1.attn_norm.weight");
  EXPECT_EQ(seen[seen.size() - 3], "blk.2.ffn_down.weight");
  EXPECT_EQ(seen.back(), "output.weight");
}

}  // namespace
}  // namespace herd::model
