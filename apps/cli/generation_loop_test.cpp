// The single-sequence token loop (generation_loop.h) on a tiny random model
// with greedy sampling: the token budget, a stop token (and --ignore-eos),
// the cache running out in run's and chat's modes, a stop string ending the
// loop after its token, and an interrupt.
#include "generation_loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "kernels/kernel_table.h"
#include "model/test_models.h"

namespace herd::cli {
namespace {

struct Fixture {
  model::LlamaModel m = *model::LlamaModel::load(model::make_test_model("loop-tiny.gguf", "tiny", "q8_0", 5));
  kernels::KernelTable table = *kernels::select_kernels("auto");
  ThreadPool pool{1};
  std::vector<int32_t> prompt = {128000, 9906, 1917};

  // A context holding the prompt, n_ctx = prompt + room; the loop's history and logits.
  struct Run {
    model::LlamaContext ctx;
    std::vector<int32_t> history;
    std::vector<float> logits;
    sampling::Sampler sampler;
  };
  std::unique_ptr<Run> start(int64_t room) {
    sampling::SamplingParams sp;
    sp.temperature = 0.0f;
    auto r = std::unique_ptr<Run>(new Run{model::LlamaContext(m, static_cast<int64_t>(prompt.size()) + room, 8,
                                                              kernels::ExecContext{&pool, &table}),
                                          prompt, {}, sampling::Sampler(sp)});
    EXPECT_TRUE(r->ctx.eval(prompt, false, &r->logits).has_value());
    return r;
  }
};

Fixture& fx() {
  static Fixture f;
  return f;
}

const chat::StopTokens kNoStops;  // no stop ids at all

TEST(GenerationLoop, BudgetRunAndChatModes) {
  for (bool keep : {false, true}) {
    auto r = fx().start(32);
    LoopOptions o;
    o.max_tokens = 5;
    o.keep_in_cache = keep;
    std::vector<int32_t> shown;
    Result<LoopEnd> e = generation_loop(r->ctx, r->sampler, r->history, r->logits, kNoStops, o, [&](int32_t id) {
      shown.push_back(id);
      return true;
    });
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->reason, chat::StopReason::kLength);
    EXPECT_EQ(e->generated, 5);
    EXPECT_EQ(e->evaluated, keep ? 5 : 4);  // run does not evaluate its last token
    EXPECT_EQ(r->ctx.n_past(), 3 + e->evaluated);
    EXPECT_EQ(r->history.size(), 3u + 5u);
    EXPECT_EQ(std::vector<int32_t>(r->history.begin() + 3, r->history.end()), shown);
  }
}

TEST(GenerationLoop, StopTokenEndsUnlessIgnored) {
  auto first = fx().start(32);
  LoopOptions o;
  o.max_tokens = 1;
  int32_t greedy = -1;
  ASSERT_TRUE(generation_loop(first->ctx, first->sampler, first->history, first->logits, kNoStops, o, [&](int32_t id) {
                greedy = id;
                return true;
              }).has_value());
  const chat::StopTokens stops = chat::StopTokens::for_model(nullptr, {greedy});  // the greedy token is an end id
  auto r = fx().start(32);
  o.max_tokens = 4;
  int calls = 0;
  Result<LoopEnd> e = generation_loop(r->ctx, r->sampler, r->history, r->logits, stops, o, [&](int32_t) {
    ++calls;
    return true;
  });
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->reason, chat::StopReason::kEndOfText);
  EXPECT_EQ(e->stop_id, greedy);
  EXPECT_EQ(e->generated, 0);
  EXPECT_EQ(calls, 0);
  auto r2 = fx().start(32);
  o.ignore_eos = true;
  e = generation_loop(r2->ctx, r2->sampler, r2->history, r2->logits, stops, o, [](int32_t) { return true; });
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->generated, 4);
  EXPECT_EQ(r2->history[3], greedy);
}

// Room for 3 tokens after the prompt: run shows a 4th it cannot evaluate;
// chat keeps one index for its closing token and stops after 2.
TEST(GenerationLoop, ContextFull) {
  for (bool keep : {false, true}) {
    auto r = fx().start(3);
    LoopOptions o;
    o.max_tokens = 10;
    o.keep_in_cache = keep;
    o.reserve = keep ? 1 : 0;
    Result<LoopEnd> e = generation_loop(r->ctx, r->sampler, r->history, r->logits, kNoStops, o, [](int32_t) { return true; });
    ASSERT_TRUE(e.has_value());
    EXPECT_TRUE(e->context_full);
    EXPECT_EQ(e->generated, keep ? 2 : 4);
    EXPECT_EQ(e->evaluated, keep ? 2 : 3);
    EXPECT_LE(r->ctx.n_past() + o.reserve, r->ctx.n_ctx());
  }
}

TEST(GenerationLoop, StopStringAndInterrupt) {
  for (bool keep : {false, true}) {
    auto r = fx().start(32);
    LoopOptions o;
    o.max_tokens = 10;
    o.keep_in_cache = keep;
    int calls = 0;
    Result<LoopEnd> e = generation_loop(r->ctx, r->sampler, r->history, r->logits, kNoStops, o,
                                        [&](int32_t) { return ++calls < 3; });
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->reason, chat::StopReason::kStopString);
    EXPECT_EQ(e->generated, 3);
    EXPECT_EQ(e->evaluated, keep ? 3 : 2);  // chat keeps the token that completed the stop string
  }
  auto r = fx().start(32);
  std::atomic<bool> stop{true};
  LoopOptions o;
  o.max_tokens = 10;
  o.interrupt = &stop;
  Result<LoopEnd> e = generation_loop(r->ctx, r->sampler, r->history, r->logits, kNoStops, o, [](int32_t) { return true; });
  ASSERT_TRUE(e.has_value());
  EXPECT_TRUE(e->interrupted);
  EXPECT_EQ(e->generated, 0);
}

}  // namespace
}  // namespace herd::cli
