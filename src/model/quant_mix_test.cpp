// The llama-quantize mix (model/quant_mix.h) against the tensor types of
// published files, spelled out here from those files rather than from the rule:
// Llama 3.1 8B Q4_K_M (32 layers) has attn_v and ffn_down in Q6_K in layers
// 0-3, 6, 9, ..., 27 and 28-31, everything else Q4_K but the Q6_K head; its
// Q4_K_S has Q5_K attn_v in layers 0-3 and Q5_K ffn_down in layers 0-3; a 70B
// (80 layers, 8 KV heads) Q4_K_M has no Q4_K attn_v at all (Q5_K or Q6_K); Llama
// 3.2 1B (tied, 16 layers) Q4_0 has token_embd in Q6_K; and Q8_0 keeps the head in Q8_0.
#include <gtest/gtest.h>

#include <set>

#include "model/quant_mix.h"

namespace herd::model {
namespace {

DType mix(const char* type, LlamaTensor t, int64_t layer, const QuantMixModel& m, int64_t cols = 4096) {
  const FileType* ft = file_type_by_name(type);
  EXPECT_NE(ft, nullptr) << type;
  Result<DType> d = quant_mix_dtype(*ft, t, layer, cols, m);
  EXPECT_TRUE(d.has_value());
  return d.has_value() ? *d : DType::kF32;
}

TEST(QuantMix, Llama31_8B_Q4_K_M) {
  const QuantMixModel m{32, 32, 8, true};
  const std::set<int64_t> six = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31};
  for (int64_t l = 0; l < 32; ++l) {
    const DType up = six.count(l) ? DType::kQ6_K : DType::kQ4_K;
    EXPECT_EQ(mix("Q4_K_M", LlamaTensor::kWv, l, m), up) << l;
    EXPECT_EQ(mix("Q4_K_M", LlamaTensor::kWDown, l, m, 14336), up) << l;
    for (LlamaTensor t : {LlamaTensor::kWq, LlamaTensor::kWk, LlamaTensor::kWo, LlamaTensor::kWGate, LlamaTensor::kWUp})
      EXPECT_EQ(mix("Q4_K_M", t, l, m), DType::kQ4_K);
  }
  EXPECT_EQ(mix("Q4_K_M", LlamaTensor::kOutput, -1, m), DType::kQ6_K);
  EXPECT_EQ(mix("Q4_K_M", LlamaTensor::kTokEmbd, -1, m), DType::kQ4_K);
  // llama-quantize's alias: "Q4_K" is Q4_K_M.
  EXPECT_EQ(file_type_by_name("Q4_K"), file_type_by_name("q4_k_m"));
}

TEST(QuantMix, Llama31_8B_Q4_K_S) {
  const QuantMixModel m{32, 32, 8, true};
  for (int64_t l = 0; l < 32; ++l) {
    EXPECT_EQ(mix("Q4_K_S", LlamaTensor::kWv, l, m), l < 4 ? DType::kQ5_K : DType::kQ4_K) << l;
    EXPECT_EQ(mix("Q4_K_S", LlamaTensor::kWDown, l, m, 14336), l < 4 ? DType::kQ5_K : DType::kQ4_K) << l;
  }
}

TEST(QuantMix, Llama31_70B_AttnV) {
  const QuantMixModel m{80, 64, 8, true};
  for (int64_t l = 0; l < 80; ++l) {
    EXPECT_NE(mix("Q4_K_M", LlamaTensor::kWv, l, m, 8192), DType::kQ4_K) << l;
    EXPECT_EQ(mix("Q4_K_S", LlamaTensor::kWv, l, m, 8192), DType::kQ5_K) << l;
    EXPECT_EQ(mix("Q4_K_M", LlamaTensor::kWq, l, m, 8192), DType::kQ4_K) << l;
  }
  // Not a 70B: 80 layers without grouped-query attention (llama.cpp's 65B).
  EXPECT_EQ(mix("Q4_K_S", LlamaTensor::kWv, 50, QuantMixModel{80, 64, 64, true}, 8192), DType::kQ4_K);
}

// With an importance matrix llama-quantize keeps the first eighth's ffn_down of a
// Q4_0 / Q5_0 file in Q4_1 / Q5_1; nothing else changes.
TEST(QuantMix, ImatrixFfnDownGuard) {
  QuantMixModel m{32, 32, 8, true};
  m.has_imatrix = true;
  for (int64_t l = 0; l < 32; ++l) {
    EXPECT_EQ(mix("Q4_0", LlamaTensor::kWDown, l, m, 14336), l < 4 ? DType::kQ4_1 : DType::kQ4_0) << l;
    EXPECT_EQ(mix("Q5_0", LlamaTensor::kWDown, l, m, 14336), l < 4 ? DType::kQ5_1 : DType::kQ5_0) << l;
    EXPECT_EQ(mix("Q4_1", LlamaTensor::kWDown, l, m, 14336), DType::kQ4_1) << l;
    EXPECT_EQ(mix("Q4_0", LlamaTensor::kWUp, l, m), DType::kQ4_0) << l;
    EXPECT_EQ(mix("Q4_K_M", LlamaTensor::kWDown, l, m, 14336),
              mix("Q4_K_M", LlamaTensor::kWDown, l, QuantMixModel{32, 32, 8, true}, 14336)) << l;
  }
  EXPECT_EQ(mix("Q4_0", LlamaTensor::kWDown, 0, QuantMixModel{32, 32, 8, true}, 14336), DType::kQ4_0);
}

TEST(QuantMix, TiedHeadAndQ8_0AndFloats) {
  const QuantMixModel tied{16, 32, 8, false};
  EXPECT_EQ(mix("Q4_0", LlamaTensor::kTokEmbd, -1, tied, 2048), DType::kQ6_K);
  EXPECT_EQ(mix("Q4_0", LlamaTensor::kWv, 0, tied, 2048), DType::kQ4_0);
  EXPECT_EQ(mix("Q8_0", LlamaTensor::kTokEmbd, -1, tied, 2048), DType::kQ8_0);
  EXPECT_EQ(mix("Q8_0", LlamaTensor::kOutput, -1, QuantMixModel{32, 32, 8, true}), DType::kQ8_0);
  EXPECT_EQ(mix("F16", LlamaTensor::kOutput, -1, QuantMixModel{32, 32, 8, true}), DType::kF16);
  EXPECT_EQ(mix("BF16", LlamaTensor::kWv, 0, QuantMixModel{32, 32, 8, true}), DType::kBF16);
}

TEST(QuantMix, RowLengthFallbacks) {
  const QuantMixModel m{32, 32, 8, true};
  EXPECT_EQ(mix("Q4_K_M", LlamaTensor::kWq, 5, m, 4096 + 32), DType::kQ5_0);
  EXPECT_EQ(mix("Q5_K_M", LlamaTensor::kWq, 5, m, 4096 + 32), DType::kQ5_1);
  EXPECT_EQ(mix("Q6_K", LlamaTensor::kWq, 5, m, 4096 + 32), DType::kQ8_0);
  EXPECT_EQ(mix("Q4_K_M", LlamaTensor::kWq, 5, m, 4096 + 16), DType::kF16);
  EXPECT_EQ(mix("Q4_0", LlamaTensor::kOutput, -1, m, 4096 + 32), DType::kQ8_0);  // the head: Q8_0, not Q6_K
  EXPECT_FALSE(quant_mix_dtype(*file_type_by_name("Q4_0"), LlamaTensor::kWq, 0, 4096 + 16, m).has_value());
}

}  // namespace
}  // namespace herd::model
