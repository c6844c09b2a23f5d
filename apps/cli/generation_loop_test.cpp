// The single-sequence token loop (generation_loop.h) on a tiny random model
// with greedy sampling: the token budget, a stop token (and --ignore-eos),
// the cache running out in run's and chat's modes, a stop string ending the
// loop after its token, an interrupt; and that the loop draws the same tokens
// as herd serve's engine for the same request (one per-token step).
#include "generation_loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "engine/engine.h"

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

// Sampled (temperature, top-p, a repetition penalty) with a seed, the loop in
// both modes and the engine (paged cache, its own thread) draw the same
// tokens, and stop on the same stop id: the token decisions are one code.
TEST(GenerationLoop, DrawsWhatTheEngineDraws) {
  sampling::SamplingParams sp;
  sp.temperature = 1.3f;
  sp.top_p = 0.95f;
  sp.repetition_penalty = 1.2f;
  sp.seed = 11;
  constexpr int kTokens = 24;
  std::vector<int32_t> engine_ids;
  {
    engine::EngineOptions eo;
    eo.threads = 1;
    eo.n_ctx = 256;
    eo.max_seq_len = 128;
    auto e = engine::make_engine(fx().m, fx().table, eo);
    ASSERT_TRUE(e.has_value()) << e.error().to_string();
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    engine::GenerationRequest req;
    req.prompt = fx().prompt;
    req.sampling = sp;
    req.max_tokens = kTokens;
    engine::RequestCallbacks cb;
    cb.on_token = [&](const engine::TokenEvent& ev) {
      engine_ids.push_back(ev.id);
      return true;
    };
    cb.on_done = [&](engine::FinishReason, int32_t, const engine::Usage&, const Error*) {
      std::lock_guard<std::mutex> lk(mu);
      done = true;
      cv.notify_all();
    };
    ASSERT_TRUE((*e)->submit(std::move(req), std::move(cb)).has_value());
    std::unique_lock<std::mutex> lk(mu);
    cv.wait(lk, [&] { return done; });
  }
  ASSERT_EQ(engine_ids.size(), static_cast<size_t>(kTokens));
  for (bool keep : {false, true}) {
    auto r = fx().start(64);
    r->sampler = sampling::Sampler(sp);
    LoopOptions o;
    o.max_tokens = kTokens;
    o.keep_in_cache = keep;
    std::vector<int32_t> ids;
    ASSERT_TRUE(generation_loop(r->ctx, r->sampler, r->history, r->logits, kNoStops, o, [&](int32_t id) {
                  ids.push_back(id);
                  return true;
                }).has_value());
    EXPECT_EQ(ids, engine_ids) << (keep ? "chat mode" : "run mode");
  }
  // A stop id among the drawn tokens ends the loop where the engine's would end.
  const int32_t stop = engine_ids[kTokens / 2];
  const size_t at = static_cast<size_t>(std::find(engine_ids.begin(), engine_ids.end(), stop) - engine_ids.begin());
  auto r = fx().start(64);
  r->sampler = sampling::Sampler(sp);
  LoopOptions o;
  o.max_tokens = kTokens;
  std::vector<int32_t> ids;
  Result<LoopEnd> e = generation_loop(r->ctx, r->sampler, r->history, r->logits,
                                      chat::StopTokens::for_model(nullptr, {stop}), o, [&](int32_t id) {
                                        ids.push_back(id);
                                        return true;
                                      });
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->stop_id, stop);
  EXPECT_EQ(ids, std::vector<int32_t>(engine_ids.begin(), engine_ids.begin() + static_cast<std::ptrdiff_t>(at)));
}

}  // namespace
}  // namespace herd::cli
