// The activation checkpointing choice of train/finetune.h (use_activation_checkpointing)
// and the memory it weighs (model::TrainStep::kept_intermediate_bytes). That the
// choice never changes a result is llama_train_test's (checkpointing on and off give
// the same bits).
#include "train/finetune.h"

#include <gtest/gtest.h>

#include "model/llama_train.h"

namespace herd::train {
namespace {

TEST(ActivationCheckpointing, AutoKeepsIntermediatesThatFitAQuarterOfTheMemory) {
  constexpr int64_t kGiB = int64_t{1} << 30;
  EXPECT_TRUE(use_activation_checkpointing(Checkpointing::kOn, 1, 64 * kGiB));    // asked: on
  EXPECT_FALSE(use_activation_checkpointing(Checkpointing::kOff, 64 * kGiB, 1));  // asked: off, even if it will not fit
  EXPECT_FALSE(use_activation_checkpointing(Checkpointing::kAuto, 25, 100));      // exactly a quarter: kept
  EXPECT_TRUE(use_activation_checkpointing(Checkpointing::kAuto, 26, 100));
  EXPECT_TRUE(use_activation_checkpointing(Checkpointing::kAuto, 1, std::nullopt));  // unknown memory: checkpoint
}

TEST(ActivationCheckpointing, KeptBytesAreEveryLayersIntermediates) {
  // Llama 3.2-1B: per token and layer the three d_model rows (two norms' outputs,
  // the residual between), q and the attention output, k and v, gate, up and their
  // product, and one log-sum-exp per head.
  model::LlamaConfig c;
  c.n_layers = 16;
  c.d_model = 2048;
  c.n_heads = 32;
  c.n_kv_heads = 8;
  c.head_dim = 64;
  c.d_ff = 8192;
  const int64_t per_token = 3 * 2048 + 2 * 32 * 64 + 2 * 8 * 64 + 3 * 8192 + 32;
  EXPECT_EQ(model::TrainStep::kept_intermediate_bytes(c, 256), int64_t{16} * 256 * per_token * 4);
  EXPECT_EQ(model::TrainStep::kept_intermediate_bytes(c, 0), 0);
}

}  // namespace
}  // namespace herd::train
