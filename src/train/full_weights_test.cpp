// FullWeights (full_weights.h): the master copy holds the model's exact
// values, so a prepared model computes the same loss bit for bit as the base
// it was read from (the training step reads every weight as exact f32 in
// either case); the forward reads the copy (a changed value changes the
// loss; AdamW steps on the copy lower it); every tensor is a parameter with
// its gradient wired, a tied head sharing the embedding's; and what it
// refuses.
#include "train/full_weights.h"

#include <gtest/gtest.h>

#include "base/thread_pool.h"
#include "kernels/kernel_table.h"
#include "model/llama_train.h"
#include "model/test_models.h"
#include "train/optimizer.h"

namespace herd::train {
namespace {

model::TrainBatch batch() {
  model::TrainBatch b;
  b.add_sequence({128000, 791, 4062, 14198, 39935, 35308, 927, 279});
  b.add_sequence({128000, 9906, 1917, 0, 220}, {true, false, false, true, true});
  return b;
}

struct Fixture {
  ThreadPool pool{2};
  kernels::KernelTable table = *kernels::select_kernels();
  kernels::ExecContext exec() { return kernels::ExecContext{&pool, &table}; }
  double loss(model::LlamaModel& m, model::TrainGrads* g = nullptr) {
    const model::TrainBatch b = batch();
    model::TrainStep step(m, static_cast<int64_t>(b.tokens.size()));
    Result<kernels::CeResult> r = step.run(exec(), b, 1.0f, g);
    HERD_CHECK(r.has_value(), "train step: %s", r.error().to_string().c_str());
    return r->loss_sum;
  }
};

TEST(FullWeights, PreparedModelComputesTheBaseLossBitForBit) {
  for (const char* dtype : {"f16", "q8_0"}) {
    SCOPED_TRACE(dtype);
    Fixture f;
    Result<model::LlamaModel> m = model::LlamaModel::load(model::make_test_model(
        std::string("full-") + dtype + ".gguf", "d_model=64,n_layers=2,n_heads=2,n_kv_heads=1,d_ff=128", dtype, 7));
    ASSERT_TRUE(m.has_value());
    const double base = f.loss(*m);
    Result<FullWeights> w = FullWeights::create(*m, f.pool);
    ASSERT_TRUE(w.has_value()) << w.error().to_string();
    ASSERT_TRUE(w->prepare(*m).has_value());
    EXPECT_EQ(m->layers()[0].wq.w.dtype, DType::kF32);
    EXPECT_EQ(f.loss(*m), base);
    // The forward reads the copy: one changed value of a layer matrix changes the loss.
    std::vector<Param> p = w->params();
    ASSERT_GT(p.size(), 3u);
    p[3].value[0] += 0.5f;  // file order: token_embd, attn_norm, attn_q, attn_k (layer 0)
    EXPECT_NE(f.loss(*m), base);
  }
}

TEST(FullWeights, EveryTensorTrainedAndAdamWLowersTheLoss) {
  Fixture f;
  Result<model::LlamaModel> m =
      model::LlamaModel::load(model::make_test_model("full-tied.gguf", "d_model=64,n_layers=2,n_heads=2,n_kv_heads=1,d_ff=128,tied=1", "f32", 3));
  ASSERT_TRUE(m.has_value());
  Result<FullWeights> w = FullWeights::create(*m, f.pool);
  ASSERT_TRUE(w.has_value());
  ASSERT_TRUE(w->prepare(*m).has_value());
  const model::LlamaConfig& c = m->config();
  // Tied: the embedding table is the head; no second tensor, one gradient buffer.
  EXPECT_EQ(w->params().size(), static_cast<size_t>(1 + 9 * c.n_layers + 1));
  EXPECT_EQ(w->grads().output, w->grads().tok_embd);
  EXPECT_EQ(FullWeights::bytes_needed(*m), static_cast<uint64_t>(w->n_params()) * 16);
  EXPECT_EQ(m->output().data, m->tok_embd().data);
  // One step's gradient reaches every tensor.
  w->zero_grads();
  const double before = f.loss(*m, &w->grads());
  for (const Param& p : w->params()) {
    double n = 0;
    for (int64_t i = 0; i < p.n; ++i) n += static_cast<double>(p.grad[i]) * p.grad[i];
    EXPECT_GT(n, 0.0);
  }
  AdamWOptions o;
  o.lr = 1e-3;
  AdamW opt(o);
  for (const Param& p : w->params()) opt.add(p);
  for (int k = 0; k < 5; ++k) {
    w->zero_grads();
    f.loss(*m, &w->grads());
    opt.step(o.lr);
  }
  EXPECT_LT(f.loss(*m), before * 0.9);
}

TEST(FullWeights, RefusesAModelWithAdapters) {
  Fixture f;
  Result<model::LlamaModel> m = model::LlamaModel::load(
      model::make_test_model("full-lora.gguf", "d_model=64,n_layers=1,n_heads=2,n_kv_heads=1,d_ff=128", "f16", 5));
  ASSERT_TRUE(m.has_value());
  std::vector<float> a(static_cast<size_t>(2 * m->config().d_model), 0.0f), b(static_cast<size_t>(2 * m->layers()[0].wq.w.rows()), 0.0f);
  ASSERT_TRUE(m->attach_lora(0, model::LlamaTensor::kWq, model::LoraAdapter{a.data(), b.data(), 2, 1.0f}).has_value());
  Result<FullWeights> w = FullWeights::create(*m, f.pool);
  ASSERT_FALSE(w.has_value());
  EXPECT_NE(w.error().to_string().find("adapters"), std::string::npos);
}

}  // namespace
}  // namespace herd::train
