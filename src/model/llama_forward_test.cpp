// The one forward pass (model/llama_forward.h) seen from its two callers and
// from training's checkpointing:
// - a sequence's logits through the engine's paged cache, batched with
//   another sequence, equal those of a contiguous LlamaContext bitwise (the
//   same arithmetic per token whatever the cache layout or batch);
// - Activations::keep_layer_inputs keeps exactly the residual stream entering
//   each layer (compared with the taps), and one layer recomputed from its
//   kept input reproduces the next kept input bitwise: what per-layer
//   activation checkpointing in a backward pass relies on.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/isa_coverage.h"
#include "kernels/kernel_table.h"
#include "kv/block_pool.h"
#include "kv/kv_cache.h"
#include "model/llama_batch.h"
#include "model/llama_context.h"
#include "model/llama_forward.h"
#include "model/test_models.h"

namespace herd::model {
namespace {

const LlamaModel& tiny_q8() {
  static LlamaModel m = [] {
    Result<LlamaModel> r = LlamaModel::load(make_test_model("forward-tiny-q8.gguf", "tiny", "q8_0", 11));
    EXPECT_TRUE(r.has_value()) << r.error().to_string();
    return std::move(*r);
  }();
  return m;
}

bool bitwise_equal(const float* a, const float* b, int64_t n) { return std::memcmp(a, b, static_cast<size_t>(n) * 4) == 0; }

// Block size 16 as the engine uses (kernels/kernel_table.h: the ISA attention
// kernels take blocks of a multiple of 8 or 16 rows; with other sizes the
// paged path falls back to the generic kernel, whose exp differs in the last
// bits).
TEST(LlamaForward, PagedBatchEqualsContiguousContextBitwise) {
  const LlamaModel& m = tiny_q8();
  const int64_t V = m.config().vocab_size;
  ThreadPool pool(2);
  std::vector<int32_t> a = {128000, 9906, 1917, 11, 1268, 527, 499, 30, 358, 1097, 7060, 13, 578, 4062, 14198, 39935};
  for (int i = 0; i < 24; ++i) a.push_back(1000 + 37 * i);  // 40 tokens: three blocks
  const std::vector<int32_t> b = {128000, 791, 6460, 374, 6437, 13};
  for (const std::string& isa : kernels::all_isas()) {
    if (!kernels::isa_runs_here(isa)) continue;
    const Result<kernels::KernelTable> table = kernels::select_kernels(isa);
    ASSERT_TRUE(table.has_value()) << isa;
    const kernels::ExecContext exec{&pool, &*table};
    for (DType kv : {DType::kF32, DType::kF16, DType::kQ8_0}) {
      SCOPED_TRACE(isa + " kv " + dtype_name(kv));
      std::vector<float> want_a, want_b;
      {
        LlamaContext ctx(m, 64, 64, exec, kv, kv);
        ASSERT_TRUE(ctx.eval(a, false, &want_a).has_value());
        ctx.reset();
        ASSERT_TRUE(ctx.eval(b, false, &want_b).has_value());
      }
      const int64_t bs = 16;
      kv::BlockPool blocks(m.config().n_layers, 8, bs, m.config().n_kv_heads * m.config().head_dim, kv, kv);
      std::vector<int32_t> ta, tb;
      tb.push_back(blocks.allocate());
      for (int i = 0; i < 3; ++i) ta.push_back(blocks.allocate());
      std::swap(ta[0], ta[2]);  // a's blocks out of order in the pool
      LlamaBatch batch(m, blocks, 64, 64, exec);
      // a's first 29 tokens alone (no logits), then its last 11 with all of b.
      std::vector<float> got;
      const BatchChunk first{a.data(), 29, 0, ta.data(), false};
      ASSERT_TRUE(batch.eval({&first, 1}, &got).has_value());
      EXPECT_EQ(got.size(), 0u);
      const BatchChunk step[2] = {{b.data(), static_cast<int64_t>(b.size()), 0, tb.data(), true},
                                  {a.data() + 29, 11, 29, ta.data(), true}};
      ASSERT_TRUE(batch.eval(step, &got).has_value());
      ASSERT_EQ(got.size(), static_cast<size_t>(2 * V));
      EXPECT_TRUE(bitwise_equal(got.data(), want_b.data(), V));
      EXPECT_TRUE(bitwise_equal(got.data() + V, want_a.data(), V));
    }
  }
}

// The memory plan (herd inspect) is what a context's buffers take.
TEST(LlamaForward, PlannedActivationBytesAreAllocated) {
  const LlamaModel& m = tiny_q8();
  const Result<kernels::KernelTable> table = kernels::select_kernels();
  ASSERT_TRUE(table.has_value());
  for (int64_t T : {1, 64, 300})
    for (int workers : {1, 2}) {
      Activations a(m, *table, T, 512, workers);
      EXPECT_EQ(a.bytes(), Activations::planned_bytes(m, *table, T, 512, workers)) << T << " " << workers;
    }
}

class Keep : public TapSink {
 public:
  void tap(const std::string& name, const float* data, int64_t rows, int64_t cols) override {
    taps[name].assign(data, data + rows * cols);
  }
  std::map<std::string, std::vector<float>> taps;
};

TEST(LlamaForward, KeptLayerInputsRecomputeTheNextLayer) {
  const LlamaModel& m = tiny_q8();
  const LlamaConfig& c = m.config();
  ThreadPool pool(2);
  const Result<kernels::KernelTable> best = kernels::select_kernels();
  ASSERT_TRUE(best.has_value());
  const kernels::KernelTable& table = *best;
  const std::vector<int32_t> toks = {128000, 9906, 1917, 11, 1268, 527, 499, 30, 358};
  const auto T = static_cast<int64_t>(toks.size());
  const int64_t D = c.d_model;
  auto describe = [&](Activations& acts) {
    acts.out_rows.clear();
    for (int64_t t = 0; t < T; ++t) {
      acts.pos[static_cast<size_t>(t)] = acts.idx[static_cast<size_t>(t)] = t;
      acts.tables[static_cast<size_t>(t)] = nullptr;
      acts.out_rows.push_back(t);
    }
  };
  const DType kv_type = DType::kF32;
  const int64_t kv_dim = c.n_kv_heads * c.head_dim;
  kv::KvCache cache(c.n_layers, 16, kv_dim, kv_type, kv_type);
  Activations acts(m, table, 16, 16, pool.size());
  EXPECT_FALSE(acts.keeping_layer_inputs());
  acts.keep_layer_inputs(true);
  ASSERT_TRUE(acts.keeping_layer_inputs());
  const kernels::ExecContext exec = acts.bind(kernels::ExecContext{&pool, &table});
  describe(acts);
  Keep keep;
  std::vector<float> logits;
  ASSERT_TRUE(llama_forward(exec, m, cache.view(), toks, acts, &logits, &keep).has_value());
  EXPECT_TRUE(bitwise_equal(acts.layer_input(0), keep.taps.at("tok_embd").data(), T * D));
  for (int64_t il = 0; il < c.n_layers; ++il)
    EXPECT_TRUE(bitwise_equal(acts.layer_input(il + 1), keep.taps.at("blk." + std::to_string(il) + ".out").data(), T * D))
        << "layer " << il;

  // Recompute each layer alone from its kept input, with a fresh cache.
  for (int64_t il = 0; il < c.n_layers; ++il) {
    kv::KvCache fresh(c.n_layers, 16, kv_dim, kv_type, kv_type);
    Activations re(m, table, 16, 16, pool.size());
    const kernels::ExecContext rexec = re.bind(kernels::ExecContext{&pool, &table});
    describe(re);
    std::memcpy(re.x.data(), acts.layer_input(il), static_cast<size_t>(T * D) * 4);
    llama_layer(rexec, c, m.layers()[static_cast<size_t>(il)], il, fresh.view(), il, re, T, nullptr);
    EXPECT_TRUE(bitwise_equal(re.x.data(), acts.layer_input(il + 1), T * D)) << "layer " << il;
    // Negative control: the wrong layer's weights do not reproduce it.
    std::memcpy(re.x.data(), acts.layer_input(il), static_cast<size_t>(T * D) * 4);
    const auto other = static_cast<size_t>((il + 1) % c.n_layers);
    llama_layer(rexec, c, m.layers()[other], il, fresh.view(), il, re, T, nullptr);
    EXPECT_FALSE(bitwise_equal(re.x.data(), acts.layer_input(il + 1), T * D)) << "layer " << il;
  }
}

// A model split into layer ranges (MPI pipeline ranks), each rank's output
// handed to the next in a.x, gives the whole model's logits bitwise; tied and
// untied heads; kept layer inputs number the held layers. Bad ranges are
// refused, and a context will not run a partial model.
TEST(LlamaForward, LayerRangesChainToTheWholeModel) {
  ThreadPool pool(2);
  const Result<kernels::KernelTable> table = kernels::select_kernels();
  ASSERT_TRUE(table.has_value());
  const std::vector<int32_t> toks = {128000, 9906, 1917, 11, 1268, 527};
  const auto T = static_cast<int64_t>(toks.size());
  for (const char* shape : {"d_model=256,n_layers=3,n_heads=4,n_kv_heads=2,d_ff=512",
                            "d_model=256,n_layers=3,n_heads=4,n_kv_heads=2,d_ff=512,tied=1"}) {
    SCOPED_TRACE(shape);
    const bool tied = std::string(shape).find("tied") != std::string::npos;
    const std::string path = make_test_model(tied ? "ranks-tied.gguf" : "ranks.gguf", shape, "q8_0");
    auto run = [&](const LlamaModel& m, Activations& a, std::vector<float>* logits) {
      const kernels::ExecContext exec = a.bind(kernels::ExecContext{&pool, &*table});
      kv::KvCache cache(static_cast<int64_t>(m.layers().size()), 16, m.config().n_kv_heads * m.config().head_dim,
                        DType::kF16, DType::kF16);
      a.out_rows.clear();
      for (int64_t t = 0; t < T; ++t) {
        a.pos[static_cast<size_t>(t)] = a.idx[static_cast<size_t>(t)] = t;
        a.tables[static_cast<size_t>(t)] = nullptr;
        a.out_rows.push_back(t);
      }
      return llama_forward(exec, m, cache.view(), toks, a, logits, nullptr);
    };
    Result<LlamaModel> whole = LlamaModel::load(path);
    ASSERT_TRUE(whole.has_value());
    Activations aw(*whole, *table, 8, 16, pool.size());
    std::vector<float> want;
    ASSERT_TRUE(run(*whole, aw, &want).has_value());
    for (int64_t cut : {1, 2}) {
      Result<LlamaModel> r0 = LlamaModel::load(path, {0, cut});
      Result<LlamaModel> r1 = LlamaModel::load(path, {cut, -1});
      ASSERT_TRUE(r0.has_value()) << r0.error().to_string();
      ASSERT_TRUE(r1.has_value()) << r1.error().to_string();
      EXPECT_TRUE(r0->holds_embedding() && !r0->holds_head());
      EXPECT_TRUE(!r1->holds_embedding() && r1->holds_head());
      EXPECT_EQ(static_cast<int64_t>(r1->layers().size()), 3 - cut);
      // Each rank holds its share; a tied table is held by both ends.
      const uint64_t tied_table = whole->config().tied_embeddings ? static_cast<uint64_t>(whole->tok_embd().nbytes()) : 0;
      EXPECT_EQ(r0->weight_bytes() + r1->weight_bytes(), whole->weight_bytes() + tied_table);
      Activations a0(*r0, *table, 8, 16, pool.size()), a1(*r1, *table, 8, 16, pool.size());
      a1.keep_layer_inputs(true);
      std::vector<float> none, got;
      ASSERT_TRUE(run(*r0, a0, &none).has_value());
      EXPECT_TRUE(none.empty());
      std::copy(a0.x.begin(), a0.x.begin() + T * whole->config().d_model, a1.x.begin());  // the hand-over
      ASSERT_TRUE(run(*r1, a1, &got).has_value());
      ASSERT_EQ(got.size(), want.size());
      EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0) << "cut " << cut;
      EXPECT_EQ(std::memcmp(a1.layer_input(0), a0.x.data(), static_cast<size_t>(T * whole->config().d_model) * 4), 0);
      // Negative control: skipping the hand-over (rank 1 starts from zeros) differs.
      std::fill(a1.x.begin(), a1.x.end(), 0.0f);
      ASSERT_TRUE(run(*r1, a1, &got).has_value());
      EXPECT_NE(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);
      LlamaContext ctx(*r1, 16, 8, kernels::ExecContext{&pool, &*table});
      EXPECT_FALSE(ctx.eval(toks, false, &got).has_value());
    }
    for (LayerRange bad : {LayerRange{2, 2}, LayerRange{0, 4}, LayerRange{-1, 2}, LayerRange{3, -1}})
      EXPECT_FALSE(LlamaModel::load(path, bad).has_value()) << bad.first << " " << bad.last;
  }
}

}  // namespace
}  // namespace herd::model
