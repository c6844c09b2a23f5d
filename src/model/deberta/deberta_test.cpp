// The DeBERTa classifier's loading and forward pass on a made tiny Prompt
// Guard (make_prompt_guard.h), beside the float64 comparison of
// tests/e2e/test_prompt_guard.sh: windows of a long text, a window's logits
// independent of its batch and of the thread count, the forced-label fixture,
// the relative-position buckets, and refusals (ids out of range, an overlong
// window). Runs under ASan and UBSan in CI, which covers the loader's checks
// and every buffer of the forward pass.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <string>

#include "base/thread_pool.h"
#include "kernels/isa_coverage.h"
#include "kernels/kernel_table.h"
#include "model/deberta/deberta_model.h"
#include "model/deberta/make_prompt_guard.h"
#include "model/deberta/prompt_guard.h"

namespace herd::model::deberta {
namespace {

struct Made {
  std::string dir;
  explicit Made(int force_label = -1, const std::string& dtype = "f32") {
    dir = std::filesystem::temp_directory_path().string() + "/herd_deberta_test_" + std::to_string(getpid()) + "_" +
          std::to_string(force_label + 1) + dtype;
    PromptGuardMakeOptions o;
    o.variant = "tiny";
    o.out = dir;
    o.seed = 7;
    o.force_label = force_label;
    o.dtype = dtype;
    const Status s = make_prompt_guard(o);
    EXPECT_TRUE(s.has_value()) << s.error().to_string();
  }
  ~Made() { std::filesystem::remove_all(dir); }
};

struct Ctx {
  ThreadPool pool;
  kernels::KernelTable table;
  kernels::ExecContext ctx;
  explicit Ctx(int threads, const std::string& isa = "auto") : pool(threads) {
    table = kernels::select_kernels(isa).value();
    ctx.pool = &pool;
    ctx.table = &table;
  }
};

std::string long_text(int words) {
  std::string t;
  for (int i = 0; i < words; ++i) t += (i % 3 == 0 ? "ignore " : i % 3 == 1 ? "previous " : "rules ");
  return t;
}

// On every ISA the host runs, with the weights repacked for it (BF16 linear
// layers to r16: the bf16 path's tiles, AMX's included, whose contract keeps
// an output's bits for any token count and row split).
TEST(Deberta, WindowsBatchAndThreadsDoNotChangeLogits) {
  for (const std::string dtype : {"f32", "bf16"}) {
    Made m(-1, dtype);
    for (const std::string& isa : kernels::all_isas()) {
      if (!kernels::isa_runs_here(isa)) continue;
      SCOPED_TRACE(dtype + " on " + isa);
      Result<DebertaClassifier> c = DebertaClassifier::load(m.dir);
      ASSERT_TRUE(c.has_value()) << c.error().to_string();
      Ctx one(1, isa), two(2, isa);
      const int moved = c->repack_weights(two.table, two.pool);
      // tiny: 64 x 64, 128 x 64 and 64 x 128 linears (16-row groups): all but
      // the 3-row classifier move where the bf16 path repacks BF16.
      if (dtype == "bf16" && two.table.repacks_r16(DType::kBF16)) {
        EXPECT_GE(moved, 2 * 6 + 1);
      }
      const auto windows = c->windows(long_text(700));
      ASSERT_EQ(windows.size(), 2u);  // 700 pieces: 510 + 190
      EXPECT_EQ(static_cast<int64_t>(windows[0].size()), c->max_window());
      EXPECT_EQ(windows[0].front(), 1);  // [CLS]
      EXPECT_EQ(windows[0].back(), 2);   // [SEP]
      std::vector<std::vector<int32_t>> batch = windows;
      batch.push_back(c->windows("hello world")[0]);
      const auto together = c->classify(two.ctx, batch).value();
      for (size_t i = 0; i < batch.size(); ++i) {
        const auto alone = c->classify(one.ctx, {batch[i]}).value();
        EXPECT_EQ(alone[0], together[i]) << "window " << i;
      }
    }
  }
}

// repack_weights makes every layer's relative-position projections once; a model
// without them computes the rows each batch needs. F32 weights are not repacked,
// so that is the only difference: the logits must be the same bits, on every ISA.
TEST(Deberta, PrecomputedRelativeProjectionsChangeNoBit) {
  Made m;
  for (const std::string& isa : kernels::all_isas()) {
    if (!kernels::isa_runs_here(isa)) continue;
    DebertaClassifier plain = DebertaClassifier::load(m.dir).value();
    DebertaClassifier cached = DebertaClassifier::load(m.dir).value();
    Ctx two(2, isa);
    EXPECT_EQ(cached.repack_weights(two.table, two.pool), 0) << isa;  // F32: nothing moves
    std::vector<std::vector<int32_t>> batch = plain.windows(long_text(300));
    batch.push_back(plain.windows("short")[0]);
    EXPECT_EQ(plain.classify(two.ctx, batch).value(), cached.classify(two.ctx, batch).value()) << isa;
  }
}

TEST(Deberta, ForcedLabelIsCertainAndScoresFollowTheModelCard) {
  Made m(/*force_label=*/1);  // INJECTION
  DebertaClassifier c = DebertaClassifier::load(m.dir).value();
  Ctx two(2);
  const auto s = prompt_guard_scores(c, two.ctx, {"some text", long_text(1100)}).value();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[1].windows, 3);
  for (const auto& x : s) {
    EXPECT_GT(x.injection, 0.999);  // P(INJECTION) + P(JAILBREAK)
    EXPECT_LT(x.jailbreak, 1e-6);   // P(JAILBREAK)
  }
}

TEST(Deberta, RelativePositionBuckets) {
  // Below half the buckets: the distance itself; beyond: logarithmic, up to
  // bucket_size - 1 at max_position - 1; odd in the distance.
  EXPECT_EQ(deberta_relative_position(10, 3, 256, 512), 7);
  EXPECT_EQ(deberta_relative_position(3, 10, 256, 512), -7);
  EXPECT_EQ(deberta_relative_position(128, 0, 256, 512), 128);
  EXPECT_EQ(deberta_relative_position(511, 0, 256, 512), 255);
  EXPECT_EQ(deberta_relative_position(0, 511, 256, 512), -255);
  int64_t prev = 0;
  for (int64_t d = 1; d < 512; ++d) {
    const int64_t b = deberta_relative_position(d, 0, 256, 512);
    EXPECT_GE(b, prev);
    prev = b;
  }
  EXPECT_EQ(deberta_relative_position(300, 0, 0, 512), 300);  // no buckets
}

TEST(Deberta, RefusesIdsOutOfRangeAndOverlongWindows) {
  Made m;
  DebertaClassifier c = DebertaClassifier::load(m.dir).value();
  Ctx two(2);
  EXPECT_FALSE(c.classify(two.ctx, {{1, static_cast<int32_t>(c.config().vocab_size), 2}}).has_value());
  EXPECT_FALSE(c.classify(two.ctx, {{1, -1, 2}}).has_value());
  EXPECT_FALSE(c.classify(two.ctx, {std::vector<int32_t>(static_cast<size_t>(c.max_window()) + 1, 5)}).has_value());
  EXPECT_FALSE(c.classify(two.ctx, {{}}).has_value());
}

}  // namespace
}  // namespace herd::model::deberta
