// The training step (model/llama_train.h) on tiny random models:
//  - its forward is the inference forward: with an f32 KV cache and exact f32
//    products, LlamaContext's logits equal TrainStep::logits bitwise, for one
//    sequence and for the second of two packed sequences;
//  - its gradients are the loss's: the LoRA and input gradients against
//    central differences of the f32 loss along random directions (the f32
//    loss limits this to about 1e-3 relative; tests/reference/grad_check.py
//    compares every gradient with PyTorch autograd in float64);
//  - B = 0 adapters leave the loss bitwise unchanged, and accumulation adds.
#include "model/llama_train.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "base/rng.h"
#include "base/thread_pool.h"
#include "kernels/kernel_table.h"
#include "model/llama_context.h"
#include "model/test_models.h"

namespace herd::model {
namespace {

std::vector<float> normals(uint64_t seed, int64_t n, float scale) {
  Rng r(seed, 5);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = r.next_normal() * scale;
  return v;
}

class TrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<kernels::KernelTable> t = kernels::select_kernels();
    ASSERT_TRUE(t.has_value());
    table_ = *t;
  }
  kernels::ExecContext exec(bool exact = true) {
    kernels::ExecContext e{&pool_, &table_};
    e.exact_f32 = exact;
    return e;
  }
  ThreadPool pool_{2};
  kernels::KernelTable table_;
};

const std::vector<int32_t> kSeqA = {128000, 791, 4062, 14198, 39935, 35308, 927, 279, 16053};
const std::vector<int32_t> kSeqB = {128000, 9906, 1917, 0, 220, 4438};

TEST_F(TrainTest, ForwardIsTheInferenceForward) {
  for (const char* dtype : {"f16", "q4_0"}) {
    SCOPED_TRACE(dtype);
    Result<LlamaModel> m = LlamaModel::load(make_test_model(std::string("train-") + dtype + ".gguf", "tiny", dtype, 3));
    ASSERT_TRUE(m.has_value());
    const int64_t V = m->config().vocab_size;
    TrainStep step(*m, 32);
    TrainBatch both;
    both.add_sequence(kSeqA);
    both.add_sequence(kSeqB);
    std::vector<float> train_logits;
    ASSERT_TRUE(step.logits(exec(), both, &train_logits).has_value());
    for (const std::vector<int32_t>* seq : {&kSeqA, &kSeqB}) {
      LlamaContext ctx(*m, 32, 32, exec(), DType::kF32, DType::kF32);
      std::vector<float> logits;
      ASSERT_TRUE(ctx.eval(*seq, true, &logits).has_value());
      const size_t off = seq == &kSeqA ? 0 : kSeqA.size();
      ASSERT_EQ(logits.size(), seq->size() * static_cast<size_t>(V));
      EXPECT_EQ(std::memcmp(logits.data(), train_logits.data() + off * V, logits.size() * sizeof(float)), 0)
          << (seq == &kSeqA ? "first" : "second (packed after the first)") << " sequence";
    }
    // Negative control: without the packing boundary the second differs.
    TrainBatch joined = both;
    std::fill(joined.first.begin(), joined.first.end(), 0);
    std::vector<float> joined_logits;
    ASSERT_TRUE(step.logits(exec(), joined, &joined_logits).has_value());
    EXPECT_NE(std::memcmp(joined_logits.data() + kSeqA.size() * V, train_logits.data() + kSeqA.size() * V,
                          kSeqB.size() * V * sizeof(float)),
              0);
  }
}

// Adapters of rank 2 on all seven matrices of every layer, with B != 0 so
// every gradient path carries signal.
struct Adapters {
  std::vector<std::vector<float>> a, b, da, db;
  TrainGrads grads;
  void zero_grads() {
    for (auto& g : da) std::fill(g.begin(), g.end(), 0.0f);
    for (auto& g : db) std::fill(g.begin(), g.end(), 0.0f);
  }
  Adapters(LlamaModel& m, int64_t rank, uint64_t seed, bool zero_b = false) {
    const LlamaConfig& c = m.config();
    grads.layers.resize(static_cast<size_t>(c.n_layers));
    uint64_t s = seed;
    for (int64_t il = 0; il < c.n_layers; ++il) {
      int slot = 0;
      for_each_layer_linear(m.layers()[static_cast<size_t>(il)], [&](LlamaTensor t, const Linear& lin) {
        const int64_t N = lin.w.rows(), K = lin.w.cols();
        a.push_back(normals(++s, rank * K, 0.05f));
        b.push_back(zero_b ? std::vector<float>(static_cast<size_t>(N * rank), 0.0f) : normals(++s, N * rank, 0.05f));
        da.emplace_back(static_cast<size_t>(rank * K), 0.0f);
        db.emplace_back(static_cast<size_t>(N * rank), 0.0f);
        EXPECT_TRUE(m.attach_lora(il, t, LoraAdapter{a.back().data(), b.back().data(), rank, 2.0f}).has_value());
        grads.layers[static_cast<size_t>(il)].lora[static_cast<size_t>(slot++)] = {da.back().data(), db.back().data()};
      });
    }
  }
};

// kSeqA and kSeqB packed into one batch.
TrainBatch two_sequences() {
  TrainBatch b;
  b.add_sequence(kSeqA);
  b.add_sequence(kSeqB);
  return b;
}

TEST_F(TrainTest, GradientsMatchCentralDifferences) {
  Result<LlamaModel> m = LlamaModel::load(make_test_model("train-grad.gguf", "tiny", "q8_0", 4));
  ASSERT_TRUE(m.has_value());
  Adapters ad(*m, 2, 40);
  TrainStep step(*m, 32);
  const TrainBatch b = two_sequences();
  Result<kernels::CeResult> r = step.run(exec(), b, 1.0f, &ad.grads);
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(r->counted, static_cast<int64_t>(kSeqA.size() + kSeqB.size() - 2));
  auto loss = [&] { return step.run(exec(), b, 1.0f, nullptr)->loss_sum; };
  // For a few adapter matrices (first and last layer; A and B), the loss along
  // a random direction E: (L(p + eE) - L(p - eE)) / 2e = <grad, E> + O(e^2).
  // The f32 loss (a sum of ~15 log-probabilities of ~12) carries rounding of
  // ~1e-5, so e = 1e-2 on weights of size 0.05, and 2% relative to sum|g E|.
  const size_t n = ad.a.size();
  for (size_t i : {size_t{0}, size_t{3}, size_t{6}, n - 7, n - 1}) {
    for (int which = 0; which < 2; ++which) {
      std::vector<float>& p = which == 0 ? ad.a[i] : ad.b[i];
      const std::vector<float>& g = which == 0 ? ad.da[i] : ad.db[i];
      const std::vector<float> e = normals(100 + i * 2 + static_cast<size_t>(which), static_cast<int64_t>(p.size()), 1.0f);
      const std::vector<float> p0 = p;
      const float eps = 1e-2f;
      double want = 0, mag = 0;
      for (size_t j = 0; j < p.size(); ++j) {
        want += static_cast<double>(g[j]) * e[j];
        mag += std::fabs(static_cast<double>(g[j]) * e[j]);
      }
      for (size_t j = 0; j < p.size(); ++j) p[j] = p0[j] + eps * e[j];
      const double lp = loss();
      for (size_t j = 0; j < p.size(); ++j) p[j] = p0[j] - eps * e[j];
      const double lm = loss();
      p = p0;
      const double fd = (lp - lm) / (2.0 * eps);
      EXPECT_NEAR(fd, want, 0.02 * mag + 1e-4) << "adapter " << i << (which == 0 ? " A" : " B");
    }
  }
}

TEST_F(TrainTest, ZeroBLeavesTheLossAndAccumulationAdds) {
  Result<LlamaModel> m = LlamaModel::load(make_test_model("train-zero.gguf", "tiny", "f32", 5));
  ASSERT_TRUE(m.has_value());
  TrainStep step(*m, 16);
  TrainBatch b;
  b.add_sequence(kSeqA);
  const double base = step.run(exec(), b, 1.0f, nullptr)->loss_sum;
  Adapters ad(*m, 4, 7, /*zero_b=*/true);
  Result<kernels::CeResult> r = step.run(exec(), b, 0.5f, &ad.grads);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->loss_sum, base);
  // With B = 0, dA = 0 and dB != 0 (PEFT's initialisation trains B first).
  double da = 0, db = 0;
  for (size_t i = 0; i < ad.da.size(); ++i) {
    for (float v : ad.da[i]) da += std::fabs(v);
    for (float v : ad.db[i]) db += std::fabs(v);
  }
  EXPECT_EQ(da, 0.0);
  EXPECT_GT(db, 0.0);
  // A second identical step with grad scale 0.5 doubles the sums: 0.5 + 0.5 = 1.
  const std::vector<float> once = ad.db[3];
  ASSERT_TRUE(step.run(exec(), b, 0.5f, &ad.grads).has_value());
  // (up to the rounding of adding T more terms to the kept sums)
  float big = 0;
  for (float v : once) big = std::max(big, std::fabs(v));
  for (size_t j = 0; j < once.size(); ++j) EXPECT_NEAR(ad.db[3][j], 2 * once[j], 1e-5f * big) << j;
}

TEST_F(TrainTest, LoraDropoutMasksAreDeterministicAndOnlyInTraining) {
  Result<LlamaModel> m = LlamaModel::load(make_test_model("train-dropout.gguf", "tiny", "q8_0", 8));
  ASSERT_TRUE(m.has_value());
  Adapters ad(*m, 2, 50);
  TrainStep step(*m, 32);
  const TrainBatch b = two_sequences();
  auto train_loss = [&](uint64_t salt, std::vector<float>* da0 = nullptr) {
    ad.zero_grads();
    step.set_dropout_salt(salt);
    const double l = step.run(exec(), b, 1.0f, &ad.grads)->loss_sum;
    if (da0 != nullptr) *da0 = ad.da[0];
    return l;
  };
  const double plain = train_loss(0);
  const double eval = step.run(exec(), b, 1.0f, nullptr)->loss_sum;
  EXPECT_EQ(plain, eval);
  step.set_lora_dropout(0.25, 9);
  std::vector<float> g1, g2, g3;
  const double l1 = train_loss(3, &g1), l2 = train_loss(3, &g2), l3 = train_loss(4, &g3);
  EXPECT_EQ(l1, l2);  // the same salt: the same masks, the same loss and gradients
  EXPECT_EQ(g1, g2);
  EXPECT_NE(l1, plain);
  EXPECT_NE(l1, l3);  // another micro-step draws other masks
  EXPECT_NE(g1, g3);
  // Passes without a backward see no dropout.
  EXPECT_EQ(step.run(exec(), b, 1.0f, nullptr)->loss_sum, eval);
  // The factors: 0 or 1 / (1 - p), dropped at rate p (binomial over 19 x 256
  // draws: within 4 standard deviations), and independent between matrices.
  const auto T = static_cast<int64_t>(b.tokens.size());
  const int64_t K = m->config().d_model;
  std::vector<float> f(static_cast<size_t>(T * K)), f2(f.size());
  step.dropout_factors(1, 2, T, K, f.data());
  step.dropout_factors(1, 1, T, K, f2.data());
  int64_t dropped = 0;
  for (float v : f) {
    EXPECT_TRUE(v == 0.0f || v == static_cast<float>(1.0 / 0.75)) << v;
    dropped += v == 0.0f;
  }
  const double n = static_cast<double>(f.size()), sd = std::sqrt(n * 0.25 * 0.75);
  EXPECT_NEAR(static_cast<double>(dropped), 0.25 * n, 4 * sd);
  EXPECT_NE(f, f2);
}

TEST_F(TrainTest, KeptActivationsGiveTheCheckpointedBits) {
  // Without checkpointing (every layer's intermediates kept) the loss and
  // every gradient are the same bits as with it (recomputed), with LoRA
  // dropout on, so the masks of the forward and the backward agree either way.
  Result<LlamaModel> m = LlamaModel::load(make_test_model("train-keep.gguf", "tiny", "q8_0", 12));
  ASSERT_TRUE(m.has_value());
  Adapters ad(*m, 2, 60);
  const TrainBatch b = two_sequences();
  const auto T = static_cast<int64_t>(b.tokens.size());
  auto run = [&](bool checkpointing, std::vector<float>* d_input) {
    ad.zero_grads();
    TrainStep step(*m, T);
    step.set_activation_checkpointing(checkpointing);
    step.set_lora_dropout(0.2, 4);
    step.set_dropout_salt(1);
    d_input->assign(static_cast<size_t>(T * m->config().d_model), 0.0f);
    return step.run(exec(), b, 1.0f, &ad.grads, d_input->data())->loss_sum;
  };
  std::vector<float> dx1, dx2;
  const double l1 = run(true, &dx1);
  const std::vector<std::vector<float>> da1 = ad.da, db1 = ad.db;
  const double l2 = run(false, &dx2);
  EXPECT_EQ(l1, l2);
  EXPECT_EQ(dx1, dx2);
  EXPECT_EQ(da1, ad.da);
  EXPECT_EQ(db1, ad.db);
}

TEST_F(TrainTest, BadBatchesAreRefused) {
  Result<LlamaModel> m = LlamaModel::load(make_test_model("train-bad.gguf", "tiny", "f32", 6));
  ASSERT_TRUE(m.has_value());
  TrainStep step(*m, 8);
  TrainBatch b;
  b.add_sequence(kSeqA);  // 9 tokens > 8
  EXPECT_FALSE(step.run(exec(), b, 1.0f, nullptr).has_value());
  TrainBatch c;
  c.add_sequence({128000, 5});
  c.tokens[1] = static_cast<int32_t>(m->config().vocab_size);
  EXPECT_FALSE(step.run(exec(), c, 1.0f, nullptr).has_value());
  TrainBatch d;
  d.add_sequence({128000, 5, 6});
  d.first[1] = 2;  // after itself
  EXPECT_FALSE(step.run(exec(), d, 1.0f, nullptr).has_value());
}

}  // namespace
}  // namespace herd::model
