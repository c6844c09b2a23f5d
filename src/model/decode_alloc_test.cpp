// Decode allocates nothing (issue 6: "nothing allocated in the decode loop";
// docs/kernels.md). This binary replaces the global operator new with one
// that counts its calls on every thread, then runs decode steps of a
// LlamaContext after a warm-up and expects the count not to move: a
// std::function that outgrows its small buffer, a vector resized per step or a
// per-step string in the kernels, the thread pool or the forward pass would
// each show up here. Every supported ISA, f16 and q8_0 KV caches, the file
// layout and the repacked (r8) weights.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <new>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/isa_coverage.h"
#include "kernels/kernel_table.h"
#include "model/llama_context.h"
#include "model/llama_model.h"
#include "model/test_models.h"

namespace {
std::atomic<int64_t> g_news{0};
}  // namespace

// The replacements pair malloc with free; GCC cannot see that the pointers
// reaching these deletes come from the new above and warns.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t n) {
  g_news.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n != 0 ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace herd::model {
namespace {

std::string make_tiny(const char* dtype) {
  return make_test_model(std::string("alloc-tiny-") + dtype + ".gguf", "tiny", dtype, 3);
}

// News counted over `steps` single-token evals after a prefill and two
// warm-up decodes.
int64_t news_during_decode(const LlamaModel& m, const kernels::KernelTable& table, ThreadPool& pool, DType kv,
                           int steps) {
  LlamaContext ctx(m, 64, 8, kernels::ExecContext{&pool, &table}, kv, kv);
  std::vector<float> logits;
  logits.reserve(static_cast<size_t>(m.config().vocab_size));
  const std::vector<int32_t> prompt = {128000, 9906, 1917, 11};
  EXPECT_TRUE(ctx.eval(prompt, false, &logits).has_value());
  int32_t next = 13;
  for (int i = 0; i < 2; ++i) EXPECT_TRUE(ctx.eval(std::span<const int32_t>(&next, 1), false, &logits).has_value());
  const int64_t before = g_news.load();
  for (int i = 0; i < steps; ++i) {
    next = static_cast<int32_t>(100 + 7 * i);
    EXPECT_TRUE(ctx.eval(std::span<const int32_t>(&next, 1), false, &logits).has_value());
  }
  return g_news.load() - before;
}

TEST(DecodeAlloc, CounterSeesAnAllocation) {  // the hook is live in this binary
  const int64_t before = g_news.load();
  auto* v = new std::vector<int>(100);
  delete v;
  EXPECT_GE(g_news.load() - before, 2);
}

TEST(DecodeAlloc, DecodeStepsAllocateNothing) {
  for (const char* dtype : {"q4_0", "f16"}) {
    const std::string path = make_tiny(dtype);
    for (const std::string& isa : kernels::all_isas()) {
      if (!kernels::isa_runs_here(isa)) continue;
      Result<kernels::KernelTable> table = kernels::select_kernels(isa);
      ASSERT_TRUE(table.has_value()) << isa;
      for (bool repack : {false, true}) {
        Result<LlamaModel> m = LlamaModel::load(path);
        ASSERT_TRUE(m.has_value()) << m.error().to_string();
        ThreadPool pool(2);
        if (repack) m->repack_weights(*table, pool);
        for (DType kv : {DType::kF16, DType::kQ8_0})
          EXPECT_EQ(news_during_decode(*m, *table, pool, kv, 6), 0)
              << dtype << " isa " << isa << (repack ? " repacked" : " file layout") << " kv " << dtype_name(kv);
      }
    }
  }
}

// FP8 (Meta's layer selection, HF only): the bf16 path's row scales where the
// ISA has it, the f32 tile elsewhere; weight-only and dynamic activations.
TEST(DecodeAlloc, Fp8DecodeStepsAllocateNothing) {
  MakeModelOptions o;
  // Four layers: Meta's selection leaves the first and last feed-forward in BF16.
  Result<ModelShape> shape = parse_model_shape("d_model=256,n_layers=4,n_heads=4,n_kv_heads=2,d_ff=512");
  ASSERT_TRUE(shape.has_value());
  o.shape = *shape;
  o.dtype = "fp8";
  o.format = "hf";
  o.seed = 3;
  o.out = test_model_dir() + "/alloc-tiny-fp8";
  {
    ThreadPool one(1);
    ASSERT_TRUE(make_model(o, one, nullptr).has_value());
  }
  for (const std::string& isa : kernels::all_isas()) {
    if (!kernels::isa_runs_here(isa)) continue;
    Result<kernels::KernelTable> table = kernels::select_kernels(isa);
    ASSERT_TRUE(table.has_value()) << isa;
    for (bool dynamic : {false, true}) {
      Result<LlamaModel> m = LlamaModel::load(o.out);
      ASSERT_TRUE(m.has_value()) << m.error().to_string();
      ThreadPool pool(2);
      m->repack_weights(*table, pool);
      if (dynamic) {
        ASSERT_GT(m->use_fp8_dynamic_activations(), 0);
      }
      EXPECT_EQ(news_during_decode(*m, *table, pool, DType::kF16, 6), 0)
          << "fp8 isa " << isa << (dynamic ? " dynamic activations" : " weight-only");
    }
  }
}

}  // namespace
}  // namespace herd::model
