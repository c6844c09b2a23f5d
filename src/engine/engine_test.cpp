// Tests of the engine contract (engine/engine.h) on a tiny random-weight model
// written by make_model into a temp dir.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "base/rng.h"
#include "base/thread_pool.h"
#include "engine/engine.h"
#include "kernels/kernel_table.h"
#include "model/feed_forward.h"
#include "model/llama_context.h"
#include "model/llama_model.h"
#include "model/make_model.h"
#include "model/test_models.h"

namespace herd::engine {
namespace {

const model::LlamaModel& tiny_model() {
  static model::LlamaModel* m = [] {
    const std::string path = model::make_test_model("engine-tiny.gguf", "tiny", "q4_0", 7);
    auto r = model::LlamaModel::load(path);
    HERD_CHECK(r.has_value(), "load: %s", r.error().to_string().c_str());
    return new model::LlamaModel(std::move(*r));
  }();
  return *m;
}

struct Collected {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<TokenEvent> events;
  bool done = false;
  FinishReason reason = FinishReason::kError;
  int32_t stop_id = -2;
  Usage usage;
  std::string error;
  int done_calls = 0;
  bool token_after_done = false;

  RequestCallbacks callbacks(std::function<bool(const TokenEvent&)> extra = nullptr) {
    RequestCallbacks cb;
    cb.on_token = [this, extra](const TokenEvent& e) {
      {
        std::lock_guard<std::mutex> lk(mu);
        if (done) token_after_done = true;
        events.push_back(e);
      }
      cv.notify_all();
      return extra ? extra(e) : true;
    };
    cb.on_done = [this](FinishReason r, int32_t stop, const Usage& u, const Error* e) {
      std::lock_guard<std::mutex> lk(mu);
      done = true;
      ++done_calls;
      reason = r;
      stop_id = stop;
      usage = u;
      if (e) error = e->to_string();
      cv.notify_all();
    };
    return cb;
  }
  void wait() {
    std::unique_lock<std::mutex> lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(120), [&] { return done; })) << "request never finished";
  }
  void wait_tokens(size_t n) {
    std::unique_lock<std::mutex> lk(mu);
    cv.wait_for(lk, std::chrono::seconds(60), [&] { return events.size() >= n || done; });
  }
  std::vector<int32_t> ids() {
    std::vector<int32_t> v;
    for (auto& e : events) v.push_back(e.id);
    return v;
  }
};

EngineOptions small_options() {
  EngineOptions o;
  o.threads = 1;
  o.n_ctx = 1024;
  o.max_seq_len = 512;
  o.max_running = 4;
  o.max_queued = 16;
  o.prefill_chunk = 32;
  return o;
}

std::vector<int32_t> prompt_of(int n, int salt) {
  std::vector<int32_t> p = {128000};
  for (int i = 1; i < n; ++i) p.push_back(1000 + (i * 37 + salt * 101) % 5000);
  return p;
}

GenerationRequest request(std::vector<int32_t> prompt, int max_tokens, float temp, uint64_t seed) {
  GenerationRequest r;
  r.prompt = std::move(prompt);
  r.max_tokens = max_tokens;
  r.sampling.temperature = temp;
  r.sampling.seed = seed;
  r.top_logprobs = 3;
  return r;
}

// The host's best kernel table (the tiny model is not repacked: every table
// reads the file layout).
const kernels::KernelTable& best_table() {
  static const kernels::KernelTable t = *kernels::select_kernels("auto");
  return t;
}

std::unique_ptr<Engine> make(const EngineOptions& o = small_options()) {
  auto e = make_engine(tiny_model(), best_table(), o);
  HERD_CHECK(e.has_value(), "make_engine: %s", e.error().to_string().c_str());
  return std::move(*e);
}

void wait_idle(Engine& e) {
  for (int i = 0; i < 2000; ++i) {
    EngineStats s = e.stats();
    if (s.running == 0 && s.queued == 0 && s.kv_tokens_used == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// Holds the engine thread inside an on_token callback until opened. Declare it
// (and the Collected objects) before the engine and an OpenOnExit after it: a
// failed ASSERT then opens the gate before the engine's destructor joins its
// thread, and the gate outlives that thread.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool is_open = false;
  std::function<bool(const TokenEvent&)> hold() {
    return [this](const TokenEvent&) {
      std::unique_lock<std::mutex> lk(mu);
      cv.wait(lk, [&] { return is_open; });
      return true;
    };
  }
  void open() {
    {
      std::lock_guard<std::mutex> lk(mu);
      is_open = true;
    }
    cv.notify_all();
  }
};
struct OpenOnExit {
  Gate& g;
  ~OpenOnExit() { g.open(); }
};

// The engine takes any CausalLm (model/runner.h) and asks it for its batched
// forward pass; a model holding only some layers cannot give one.
TEST(Engine, RefusesAModelHoldingALayerRange) {
  const std::string path = model::make_test_model("engine-ranged.gguf", "tiny", "q8_0");
  Result<model::LlamaModel> half = model::LlamaModel::load(path, {0, 1});
  ASSERT_TRUE(half.has_value()) << half.error().to_string();
  Result<std::unique_ptr<Engine>> e = make_engine(*half, best_table(), small_options());
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().message().find("whole model"), std::string::npos) << e.error().to_string();
  EXPECT_EQ(tiny_model().lm_shape().kv_layers, 2);
  EXPECT_EQ(half->lm_shape().kv_layers, 1);
}

TEST(Engine, MaxTokensAndUsage) {
  auto e = make();
  Collected c;
  auto id = e->submit(request(prompt_of(20, 1), 6, 0.0f, 1), c.callbacks());
  ASSERT_TRUE(id.has_value()) << id.error().to_string();
  c.wait();
  EXPECT_EQ(c.reason, FinishReason::kLength);
  EXPECT_EQ(c.stop_id, -1);
  EXPECT_EQ(c.events.size(), 6u);
  EXPECT_EQ(c.usage.prompt_tokens, 20);
  EXPECT_EQ(c.usage.completion_tokens, 6);
  EXPECT_GT(c.usage.time_to_first_token_s, 0.0);
  EXPECT_EQ(c.done_calls, 1);
  EXPECT_FALSE(c.token_after_done);
  for (auto& ev : c.events) {
    ASSERT_EQ(ev.top.size(), 3u);
    EXPECT_EQ(ev.top[0].first, ev.id);  // greedy: the chosen token is the top one
    EXPECT_EQ(ev.top[0].second, ev.logprob);
    EXPECT_LE(ev.logprob, 0.0f);
    EXPECT_GE(ev.top[0].second, ev.top[1].second);
  }
  wait_idle(*e);
  EngineStats s = e->stats();
  EXPECT_EQ(s.requests_done, 1);
  EXPECT_EQ(s.generated_tokens, 6);
  EXPECT_EQ(s.kv_tokens_used, 0);
}

// The same request alone and among 3 concurrent others: bit-identical tokens
// and logprobs.
TEST(Engine, BatchedEqualsAlone) {
  auto e = make();
  auto target = [] { return request(prompt_of(45, 9), 24, 0.9f, 1234); };
  Collected alone;
  ASSERT_TRUE(e->submit(target(), alone.callbacks()).has_value());
  alone.wait();
  ASSERT_EQ(alone.events.size(), 24u);

  Collected others[3], again;
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(e->submit(request(prompt_of(30 + 17 * i, i), 30 - 3 * i, 0.8f, 50 + i), others[i].callbacks())
                    .has_value());
  ASSERT_TRUE(e->submit(target(), again.callbacks()).has_value());
  for (auto& o : others) o.wait();
  again.wait();
  ASSERT_EQ(again.events.size(), alone.events.size());
  for (size_t i = 0; i < alone.events.size(); ++i) {
    EXPECT_EQ(again.events[i].id, alone.events[i].id) << i;
    EXPECT_EQ(std::memcmp(&again.events[i].logprob, &alone.events[i].logprob, sizeof(float)), 0) << i;
    ASSERT_EQ(again.events[i].top.size(), alone.events[i].top.size());
    for (size_t k = 0; k < alone.events[i].top.size(); ++k) {
      EXPECT_EQ(again.events[i].top[k].first, alone.events[i].top[k].first);
      EXPECT_EQ(std::memcmp(&again.events[i].top[k].second, &alone.events[i].top[k].second, sizeof(float)), 0);
    }
  }
  wait_idle(*e);
  EXPECT_EQ(e->stats().kv_tokens_used, 0);
}

// The engine's paged cache (LlamaBatch: block tables, prefill in chunks of
// 32) gives the greedy tokens of a contiguous LlamaContext cache of the same
// type (one prefill of the whole prompt): both store rows with kv_store and
// read them with attention_rows, for f16 and for q8_0 blocks.
TEST(Engine, PagedCacheEqualsContiguousForEachKvType) {
  for (const char* type : {"f16", "q8_0"}) {
    EngineOptions o = small_options();
    o.cache_type_k = o.cache_type_v = type;
    auto e = make(o);
    const std::vector<int32_t> prompt = prompt_of(45, 3);
    Collected c;
    ASSERT_TRUE(e->submit(request(prompt, 12, 0.0f, 1), c.callbacks()).has_value());
    c.wait();
    ASSERT_EQ(c.events.size(), 12u) << type;

    Result<kernels::KernelTable> table = kernels::select_kernels("auto");
    ASSERT_TRUE(table.has_value());
    ThreadPool pool(1);
    const DType t = *parse_dtype(type);
    model::LlamaContext ctx(tiny_model(), 128, 64, kernels::ExecContext{&pool, &*table}, t, t);
    std::vector<float> logits;
    std::vector<int32_t> next = prompt;
    for (size_t i = 0; i < c.events.size(); ++i) {
      ASSERT_TRUE(ctx.eval(next, false, &logits).has_value());
      const auto best = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      EXPECT_EQ(c.events[i].id, best) << type << " token " << i;
      next = {best};
    }
  }
}

// The feed-forward sublayer runs in chunks of kFfnChunkTokens
// (model/feed_forward.h): a prefill of 300 tokens (chunks of 128, 128, 44)
// gives bitwise the logits of every position that prefills of 100 tokens
// (one chunk each) give.
TEST(Engine, FeedForwardChunksDoNotChangeLogits) {
  Result<kernels::KernelTable> table = kernels::select_kernels("auto");
  ASSERT_TRUE(table.has_value());
  ThreadPool pool(2);
  const std::vector<int32_t> prompt = prompt_of(300, 5);
  ASSERT_GT(static_cast<int64_t>(prompt.size()), 2 * model::kFfnChunkTokens);
  model::LlamaContext whole(tiny_model(), 320, 300, kernels::ExecContext{&pool, &*table}, DType::kF16, DType::kF16);
  std::vector<float> a;
  ASSERT_TRUE(whole.eval(prompt, true, &a).has_value());
  model::LlamaContext pieces(tiny_model(), 320, 100, kernels::ExecContext{&pool, &*table}, DType::kF16, DType::kF16);
  std::vector<float> b, part;
  for (size_t i = 0; i < prompt.size(); i += 100) {
    const std::span<const int32_t> p(prompt.data() + i, std::min<size_t>(100, prompt.size() - i));
    ASSERT_TRUE(pieces.eval(p, true, &part).has_value());
    b.insert(b.end(), part.begin(), part.end());
  }
  ASSERT_EQ(a.size(), b.size());
  size_t differ = 0;
  for (size_t i = 0; i < a.size(); ++i) differ += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
  EXPECT_EQ(differ, 0u) << "of " << a.size() << " logits";
}

// The draws of a step run on the pool, one sequence per task: a batch sampled by
// 3 workers (uneven split) gives every request the same tokens and logprobs as
// one worker does.
TEST(Engine, ParallelSamplingEqualsOneThread) {
  auto run = [](int threads) {
    EngineOptions o = small_options();
    o.threads = threads;
    o.max_running = 5;
    auto e = make(o);
    std::vector<std::unique_ptr<Collected>> c;
    for (int i = 0; i < 5; ++i) {
      c.push_back(std::make_unique<Collected>());
      GenerationRequest r = request(prompt_of(12 + 3 * i, 40 + i), 12, i == 0 ? 0.0f : 0.7f + 0.1f * i, 90 + i);
      r.sampling.top_p = i % 2 ? 0.9f : 1.0f;
      r.top_logprobs = i % 3;
      EXPECT_TRUE(e->submit(r, c.back()->callbacks()).has_value());
    }
    std::vector<std::vector<std::pair<int32_t, float>>> out;
    for (auto& x : c) {
      x->wait();
      out.emplace_back();
      for (const TokenEvent& ev : x->events) out.back().emplace_back(ev.id, ev.logprob);
    }
    return out;
  };
  const auto one = run(1), three = run(3);
  ASSERT_EQ(one.size(), three.size());
  for (size_t i = 0; i < one.size(); ++i) {
    ASSERT_EQ(one[i].size(), three[i].size()) << "request " << i;
    for (size_t k = 0; k < one[i].size(); ++k) {
      EXPECT_EQ(one[i][k].first, three[i][k].first) << "request " << i << " token " << k;
      EXPECT_EQ(std::memcmp(&one[i][k].second, &three[i][k].second, sizeof(float)), 0) << "request " << i;
    }
  }
}

TEST(Engine, CancelFreesKv) {
  auto e = make();
  Collected c;
  auto id = e->submit(request(prompt_of(40, 3), 400, 0.7f, 3), c.callbacks());
  ASSERT_TRUE(id.has_value());
  c.wait_tokens(2);
  EXPECT_GT(e->stats().kv_tokens_used, 0);
  e->cancel(*id);
  c.wait();
  EXPECT_EQ(c.reason, FinishReason::kCancelled);
  EXPECT_LT(c.events.size(), 400u);
  wait_idle(*e);
  EngineStats s = e->stats();
  EXPECT_EQ(s.kv_tokens_used, 0);
  EXPECT_EQ(s.running, 0);
  EXPECT_EQ(s.queued, 0);

  // on_token returning false cancels too.
  Collected d;
  int n = 0;
  ASSERT_TRUE(e->submit(request(prompt_of(10, 4), 100, 0.7f, 4), d.callbacks([&](const TokenEvent&) {
                         return ++n < 3;
                       })).has_value());
  d.wait();
  EXPECT_EQ(d.reason, FinishReason::kCancelled);
  EXPECT_EQ(d.events.size(), 3u);
  wait_idle(*e);
  EXPECT_EQ(e->stats().kv_tokens_used, 0);
}

TEST(Engine, QueueFull) {
  EngineOptions o = small_options();
  o.max_running = 1;
  o.max_queued = 2;
  Gate gate;
  Collected first, q[3];
  auto e = make(o);
  OpenOnExit opener{gate};
  // The first request blocks the engine thread in its first on_token.
  ASSERT_TRUE(e->submit(request(prompt_of(8, 1), 3, 0.0f, 1), first.callbacks(gate.hold())).has_value());
  first.wait_tokens(1);
  ASSERT_TRUE(e->submit(request(prompt_of(8, 2), 2, 0.0f, 1), q[0].callbacks()).has_value());
  ASSERT_TRUE(e->submit(request(prompt_of(8, 3), 2, 0.0f, 1), q[1].callbacks()).has_value());
  auto r = e->submit(request(prompt_of(8, 4), 2, 0.0f, 1), q[2].callbacks());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kOutOfRange);
  gate.open();
  first.wait();
  q[0].wait();
  q[1].wait();
  EXPECT_EQ(q[0].reason, FinishReason::kLength);
}

// A free running slot is not queue space to count against: with 2 slots, one
// busy (its engine thread held) and max_queued 2, three more requests are
// taken (one for the free slot, two waiting) and the fourth is refused. (The
// e2e test's five concurrent requests at --parallel 2 --max-queue 4 met a 429
// when they all arrived before the engine thread woke.)
TEST(Engine, FreeSlotsAreNotQueueSpace) {
  EngineOptions o = small_options();
  o.max_running = 2;
  o.max_queued = 2;
  Gate gate;
  Collected first, q[4];
  auto e = make(o);
  OpenOnExit opener{gate};
  ASSERT_TRUE(e->submit(request(prompt_of(8, 1), 3, 0.0f, 1), first.callbacks(gate.hold())).has_value());
  first.wait_tokens(1);  // the engine thread is held with one sequence running
  ASSERT_EQ(e->stats().running, 1);
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(e->submit(request(prompt_of(8, 2 + i), 2, 0.0f, 1), q[i].callbacks()).has_value()) << i;
  auto r = e->submit(request(prompt_of(8, 9), 2, 0.0f, 1), q[3].callbacks());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kOutOfRange);
  gate.open();
  first.wait();
  for (int i = 0; i < 3; ++i) {
    q[i].wait();
    EXPECT_EQ(q[i].reason, FinishReason::kLength) << i;
  }
  wait_idle(*e);
}

// The n choices of one API request are queued together: each takes a slot, and
// a group that does not fit is refused whole (nothing of it runs).
TEST(Engine, GroupTakesOneQueueSlotPerRequest) {
  EngineOptions o = small_options();
  o.max_running = 1;
  o.max_queued = 4;
  Gate gate;
  Collected first;
  std::vector<std::unique_ptr<Collected>> a, b, c;
  auto e = make(o);
  OpenOnExit opener{gate};
  ASSERT_TRUE(e->submit(request(prompt_of(8, 1), 3, 0.0f, 1), first.callbacks(gate.hold())).has_value());
  first.wait_tokens(1);  // the engine thread is held: the queue cannot drain
  auto group = [&](int n, std::vector<std::unique_ptr<Collected>>* out) {
    std::vector<GenerationRequest> rs;
    std::vector<RequestCallbacks> cbs;
    for (int i = 0; i < n; ++i) {
      out->push_back(std::make_unique<Collected>());
      rs.push_back(request(prompt_of(8, 10 + i), 2, 0.0f, static_cast<uint64_t>(i)));
      cbs.push_back(out->back()->callbacks());
    }
    return e->submit_all(std::move(rs), std::move(cbs));
  };
  auto ra = group(3, &a);  // 3 of 4 slots
  ASSERT_TRUE(ra.has_value()) << ra.error().to_string();
  EXPECT_EQ(ra->size(), 3u);
  EXPECT_EQ(e->stats().queued, 3);
  auto rb = group(2, &b);  // 3 + 2 > 4: refused whole, although one slot is free
  ASSERT_FALSE(rb.has_value());
  EXPECT_EQ(rb.error().code(), ErrorCode::kOutOfRange);
  EXPECT_EQ(e->stats().queued, 3);
  auto rc = group(5, &c);  // larger than the whole queue: can never fit
  ASSERT_FALSE(rc.has_value());
  EXPECT_EQ(rc.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(rc.error().message().find("n: 5"), std::string::npos) << rc.error().message();
  gate.open();
  first.wait();
  for (auto& x : a) {
    x->wait();
    EXPECT_EQ(x->reason, FinishReason::kLength);
  }
  for (auto& x : b) EXPECT_EQ(x->done_calls, 0) << "a refused group must not run";
  wait_idle(*e);
  EXPECT_EQ(e->stats().requests_done, 4);
}

TEST(Engine, ValidationErrors) {
  auto e = make();
  Collected c;
  auto r = e->submit(request(prompt_of(600, 1), 4, 0.0f, 1), c.callbacks());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().to_string().find("600"), std::string::npos) << r.error().to_string();
  EXPECT_NE(r.error().to_string().find("512"), std::string::npos) << r.error().to_string();

  GenerationRequest bad = request(prompt_of(5, 1), 4, 0.0f, 1);
  bad.prompt[2] = 200000;
  EXPECT_FALSE(e->submit(bad, c.callbacks()).has_value());
  bad = request({}, 4, 0.0f, 1);
  EXPECT_FALSE(e->submit(bad, c.callbacks()).has_value());
  bad = request(prompt_of(5, 1), 4, 0.0f, 1);
  bad.top_logprobs = 21;
  EXPECT_FALSE(e->submit(bad, c.callbacks()).has_value());
  bad = request(prompt_of(5, 1), 4, 0.0f, 1);
  bad.sampling.top_p = 0;
  EXPECT_FALSE(e->submit(bad, c.callbacks()).has_value());
  bad = request(prompt_of(5, 1), 0, 0.0f, 1);
  EXPECT_FALSE(e->submit(bad, c.callbacks()).has_value());
}

TEST(Engine, ContextFull) {
  EngineOptions o = small_options();
  o.max_seq_len = 40;
  auto e = make(o);
  Collected c;
  ASSERT_TRUE(e->submit(request(prompt_of(30, 1), 100, 0.7f, 1), c.callbacks()).has_value());
  c.wait();
  EXPECT_EQ(c.reason, FinishReason::kContextFull);
  EXPECT_EQ(c.events.size(), 10u);
}

TEST(Engine, StopIds) {
  auto e = make();
  Collected a;
  ASSERT_TRUE(e->submit(request(prompt_of(12, 5), 8, 0.0f, 1), a.callbacks()).has_value());
  a.wait();
  std::vector<int32_t> ids = a.ids();
  ASSERT_EQ(ids.size(), 8u);
  // Stop at the first occurrence of ids[3].
  size_t first = std::find(ids.begin(), ids.end(), ids[3]) - ids.begin();
  GenerationRequest r = request(prompt_of(12, 5), 8, 0.0f, 1);
  r.stop_ids = {ids[3]};
  Collected b;
  ASSERT_TRUE(e->submit(r, b.callbacks()).has_value());
  b.wait();
  EXPECT_EQ(b.reason, FinishReason::kStop);
  EXPECT_EQ(b.stop_id, ids[3]);
  EXPECT_EQ(b.ids(), std::vector<int32_t>(ids.begin(), ids.begin() + static_cast<long>(first)));
}

TEST(Engine, LogitBiasForcesToken) {
  auto e = make();
  GenerationRequest r = request(prompt_of(12, 6), 5, 0.9f, 2);
  r.logit_bias = {{4242, 1000.0f}};
  Collected c;
  ASSERT_TRUE(e->submit(r, c.callbacks()).has_value());
  c.wait();
  ASSERT_EQ(c.events.size(), 5u);
  for (auto& ev : c.events) {
    EXPECT_EQ(ev.id, 4242);
    EXPECT_NEAR(ev.logprob, 0.0f, 1e-6f);
  }
}

// Allows only {100, 200, 300}; complete after 4 tokens.
class SetConstraint : public sampling::TokenConstraint {
 public:
  void mask(std::span<float> logits) override {
    ++masks;
    for (size_t i = 0; i < logits.size(); ++i)
      if (i != 100 && i != 200 && i != 300) logits[i] = -INFINITY;
  }
  void accept(int32_t id) override { accepted.push_back(id); }
  bool complete() const override { return accepted.size() >= 4; }
  int masks = 0;
  std::vector<int32_t> accepted;
};

TEST(Engine, ConstraintMasksAndCompletes) {
  auto e = make();
  auto con = std::make_shared<SetConstraint>();
  GenerationRequest r = request(prompt_of(12, 7), 50, 1.0f, 3);
  r.top_logprobs = 5;
  r.constraint = con;
  Collected c;
  ASSERT_TRUE(e->submit(r, c.callbacks()).has_value());
  c.wait();
  EXPECT_EQ(c.reason, FinishReason::kStop);
  EXPECT_EQ(c.stop_id, -1);
  ASSERT_EQ(c.events.size(), 4u);
  EXPECT_EQ(con->masks, 4);
  EXPECT_EQ(con->accepted, c.ids());
  for (auto& ev : c.events) {
    EXPECT_TRUE(ev.id == 100 || ev.id == 200 || ev.id == 300);
    EXPECT_LE(ev.top.size(), 3u);  // masked tokens are not alternatives
  }
}

// watch_ids: every event carries the log-probabilities of the watched tokens,
// whatever is drawn: the chosen token's own when it is watched, and values that
// agree with the top-N list where a watched token appears in it.
TEST(Engine, WatchedTokensReportTheirLogprobs) {
  auto e = make();
  GenerationRequest r = request(prompt_of(9, 4), 6, 0.0f, 1);
  r.top_logprobs = 20;
  Collected first;
  ASSERT_TRUE(e->submit(r, first.callbacks()).has_value());
  first.wait();
  ASSERT_GE(first.events.size(), 2u);
  const int32_t top0 = first.events[0].top[0].first, top5 = first.events[0].top[5].first;
  r.watch_ids = {top5, 77, top0};
  Collected c;
  ASSERT_TRUE(e->submit(r, c.callbacks()).has_value());
  c.wait();
  ASSERT_EQ(c.ids(), first.ids());  // watching changes nothing drawn
  for (size_t k = 0; k < c.events.size(); ++k) {
    const TokenEvent& ev = c.events[k];
    ASSERT_EQ(ev.watched.size(), 3u);
    for (size_t w = 0; w < 3; ++w) {
      EXPECT_LE(ev.watched[w], 0.0f);
      for (const auto& [id, lp] : ev.top) {
        if (id == r.watch_ids[w]) {
          EXPECT_EQ(ev.watched[w], lp);
        }
      }
      if (ev.id == r.watch_ids[w]) {
        EXPECT_EQ(ev.watched[w], ev.logprob);
      }
    }
  }
  EXPECT_EQ(c.events[0].watched[2], c.events[0].top[0].second);
  EXPECT_EQ(c.events[0].watched[0], c.events[0].top[5].second);
  GenerationRequest bad = request(prompt_of(5, 1), 4, 0.0f, 1);
  bad.watch_ids = {128256};
  EXPECT_FALSE(e->submit(bad, c.callbacks()).has_value());
  bad.watch_ids.assign(17, 5);
  EXPECT_FALSE(e->submit(bad, c.callbacks()).has_value());
}

// Per-request adapters (herd serve): random rank-4 adapters on every matrix of
// every layer, attached as sets 1 and 2 of one model (values owned here).
struct TwoAdapters {
  std::vector<std::vector<float>> mem;
  // Attaches adapter `which` (1 or 2) as `set` (0: for every request), with
  // --lora's `id` and `weight` when id >= 0 (scale 2 x weight).
  void attach(model::LlamaModel& m, int which, int32_t set, int32_t id = -1, float weight = 1.0f) {
    for (size_t il = 0; il < m.layers().size(); ++il)
      model::for_each_layer_linear(m.layers()[il], [&](model::LlamaTensor t, const model::Linear& lin) {
        const int64_t r = 4, n = lin.w.rows(), k = lin.w.cols();
        Rng rng(static_cast<uint64_t>(which), il * 7 + static_cast<uint64_t>(t));
        std::vector<float> a(static_cast<size_t>(r * k)), b(static_cast<size_t>(n * r));
        for (float& v : a) v = static_cast<float>(rng.next_double() - 0.5) * 0.2f;
        for (float& v : b) v = static_cast<float>(rng.next_double() - 0.5) * 0.2f;
        mem.push_back(std::move(a));
        mem.push_back(std::move(b));
        const model::LoraAdapter ad{mem[mem.size() - 2].data(), mem.back().data(), r,   static_cast<float>(2.0 * weight),
                                    set,                        id,                2.0, weight};
        HERD_CHECK(m.attach_lora(static_cast<int64_t>(il), t, ad).has_value(), "attach");
      });
  }
};

model::LlamaModel load_tiny() {
  auto r = model::LlamaModel::load(model::make_test_model("engine-tiny.gguf", "tiny", "q4_0", 7));
  HERD_CHECK(r.has_value(), "load");
  return std::move(*r);
}

// Requests naming different adapter sets share each step (the base weights read
// once) and each gets, bit for bit, what it gets alone; a set-k request equals the
// same adapter attached to every request (run --lora); a prompt cached under one set
// is not reused under another.
TEST(Engine, MixedAdaptersBatchedEqualAlone) {
  model::LlamaModel m = load_tiny();
  TwoAdapters ad;
  ad.attach(m, 1, 1);
  ad.attach(m, 2, 2);
  auto made = make_engine(m, best_table(), small_options());
  ASSERT_TRUE(made.has_value());
  std::unique_ptr<Engine> e = std::move(*made);
  auto target = [](int32_t set) {
    GenerationRequest r = request(prompt_of(45, 9), 12, 0.9f, 77);
    r.adapter = set;
    return r;
  };
  Collected alone[3];
  for (int32_t k = 0; k < 3; ++k) {
    ASSERT_TRUE(e->submit(target(k), alone[k].callbacks()).has_value());
    alone[k].wait();
    ASSERT_EQ(alone[k].events.size(), 12u);
    // Another set's blocks of the same prompt are not reused.
    EXPECT_EQ(alone[k].usage.cached_prompt_tokens, 0) << k;
  }
  EXPECT_NE(alone[1].events[0].logprob, alone[0].events[0].logprob);
  EXPECT_NE(alone[2].events[0].logprob, alone[1].events[0].logprob);

  Collected together[3], other;
  ASSERT_TRUE(e->submit(request(prompt_of(60, 3), 20, 0.8f, 5), other.callbacks()).has_value());
  for (int32_t k : {2, 0, 1}) ASSERT_TRUE(e->submit(target(k), together[k].callbacks()).has_value());
  other.wait();
  for (int k = 0; k < 3; ++k) {
    together[k].wait();
    ASSERT_EQ(together[k].events.size(), alone[k].events.size());
    for (size_t i = 0; i < alone[k].events.size(); ++i) {
      EXPECT_EQ(together[k].events[i].id, alone[k].events[i].id) << k << " " << i;
      EXPECT_EQ(std::memcmp(&together[k].events[i].logprob, &alone[k].events[i].logprob, sizeof(float)), 0) << k << " " << i;
    }
  }

  model::LlamaModel g = load_tiny();
  TwoAdapters global;
  global.attach(g, 1, 0);
  auto eg = make_engine(g, best_table(), small_options());
  ASSERT_TRUE(eg.has_value());
  Collected everyone;
  ASSERT_TRUE((*eg)->submit(target(0), everyone.callbacks()).has_value());
  everyone.wait();
  ASSERT_EQ(everyone.events.size(), alone[1].events.size());
  for (size_t i = 0; i < everyone.events.size(); ++i)
    EXPECT_EQ(std::memcmp(&everyone.events[i].logprob, &alone[1].events[i].logprob, sizeof(float)), 0) << i;
  wait_idle(*e);
  EXPECT_EQ(e->stats().kv_tokens_used, 0);
}

// llama-server's per-request "lora" weights of the --lora adapters: each request
// gets, bit for bit, what it gets alone, in any batch; weights equal to the loaded
// ones give the loaded model's tokens, weights 0 the base model's; a prompt
// cached under other weights is not reused; malformed weights are refused.
TEST(Engine, PerRequestLoraWeightsBatchedEqualAlone) {
  model::LlamaModel m = load_tiny();
  TwoAdapters ad;
  ad.attach(m, 1, 0, 0, 1.0f);
  ad.attach(m, 2, 0, 1, 0.5f);
  ASSERT_EQ(m.lora_weights(), (std::vector<float>{1.0f, 0.5f}));
  auto made = make_engine(m, best_table(), small_options());
  ASSERT_TRUE(made.has_value());
  std::unique_ptr<Engine> e = std::move(*made);
  const std::vector<std::vector<float>> weights = {{}, {1.0f, 0.5f}, {0.0f, 0.0f}, {0.25f, -1.0f}};
  auto target = [&](size_t k) {
    GenerationRequest r = request(prompt_of(45, 9), 12, 0.9f, 77);
    r.lora_weights = weights[k];
    return r;
  };
  auto same = [](const Collected& a, const Collected& b, const char* what) {
    ASSERT_EQ(a.events.size(), b.events.size()) << what;
    for (size_t i = 0; i < a.events.size(); ++i) {
      EXPECT_EQ(a.events[i].id, b.events[i].id) << what << " " << i;
      EXPECT_EQ(std::memcmp(&a.events[i].logprob, &b.events[i].logprob, sizeof(float)), 0) << what << " " << i;
    }
  };
  Collected alone[4];
  for (size_t k = 0; k < 4; ++k) {
    ASSERT_TRUE(e->submit(target(k), alone[k].callbacks()).has_value());
    alone[k].wait();
    ASSERT_EQ(alone[k].events.size(), 12u);
    if (k == 3) {
      EXPECT_EQ(alone[k].usage.cached_prompt_tokens, 0);  // other weights: no reuse
    }
  }
  same(alone[1], alone[0], "loaded weights given");
  EXPECT_NE(alone[3].events[0].logprob, alone[0].events[0].logprob);
  EXPECT_NE(alone[2].events[0].logprob, alone[0].events[0].logprob);

  Collected together[4], other;
  ASSERT_TRUE(e->submit(request(prompt_of(60, 3), 20, 0.8f, 5), other.callbacks()).has_value());
  for (size_t k : {3u, 0u, 2u, 1u}) ASSERT_TRUE(e->submit(target(k), together[k].callbacks()).has_value());
  other.wait();
  for (size_t k = 0; k < 4; ++k) {
    together[k].wait();
    same(together[k], alone[k], "batched");
  }

  model::LlamaModel base = load_tiny();
  auto eb = make_engine(base, best_table(), small_options());
  ASSERT_TRUE(eb.has_value());
  Collected plain;
  ASSERT_TRUE((*eb)->submit(request(prompt_of(45, 9), 12, 0.9f, 77), plain.callbacks()).has_value());
  plain.wait();
  same(alone[2], plain, "weights 0 = base model");

  Collected c;
  GenerationRequest bad = target(0);
  bad.lora_weights = {1.0f};
  EXPECT_FALSE(e->submit(bad, c.callbacks()).has_value());
  bad.lora_weights = {1.0f, std::nanf("")};
  EXPECT_FALSE(e->submit(bad, c.callbacks()).has_value());
  GenerationRequest none = target(0);
  none.lora_weights = {1.0f};
  EXPECT_FALSE((*eb)->submit(none, c.callbacks()).has_value());  // no --lora adapters there
  wait_idle(*e);
  EXPECT_EQ(e->stats().kv_tokens_used, 0);
}

TEST(Engine, PrefixCacheHits) {
  auto e = make();
  std::vector<int32_t> sys = prompt_of(70, 11);
  Collected a;
  ASSERT_TRUE(e->submit(request(sys, 4, 0.0f, 1), a.callbacks()).has_value());
  a.wait();
  EXPECT_EQ(a.usage.cached_prompt_tokens, 0);
  // Same system prompt, different continuation: its full blocks are reused.
  std::vector<int32_t> p2 = sys;
  for (int i = 0; i < 10; ++i) p2.push_back(2000 + i);
  Collected b;
  ASSERT_TRUE(e->submit(request(p2, 4, 0.0f, 1), b.callbacks()).has_value());
  b.wait();
  EXPECT_GE(b.usage.cached_prompt_tokens, 64);
  EXPECT_LT(b.usage.cached_prompt_tokens, static_cast<int64_t>(p2.size()));
  // A cached result equals an uncached one.
  auto fresh = make();
  Collected b2;
  ASSERT_TRUE(fresh->submit(request(p2, 4, 0.0f, 1), b2.callbacks()).has_value());
  b2.wait();
  EXPECT_EQ(b2.usage.cached_prompt_tokens, 0);
  EXPECT_EQ(b.ids(), b2.ids());
  for (size_t i = 0; i < b.events.size() && i < b2.events.size(); ++i)
    EXPECT_EQ(b.events[i].logprob, b2.events[i].logprob);
  wait_idle(*e);
  EXPECT_EQ(e->stats().kv_tokens_used, 0);
  EXPECT_GE(e->stats().cached_prompt_tokens, 64);
}

}  // namespace
}  // namespace herd::engine

namespace herd::engine {
namespace {

// A pool too small for all four: sequences are preempted and recomputed, and
// still produce what they produce alone.
TEST(Engine, PreemptionKeepsResults) {
  EngineOptions o = small_options();
  o.n_ctx = 160;  // 10 blocks of 16; each request needs up to 5
  o.max_seq_len = 128;
  auto e = make(o);
  std::vector<std::vector<int32_t>> alone(4);
  for (int i = 0; i < 4; ++i) {
    Collected c;
    ASSERT_TRUE(e->submit(request(prompt_of(30 + 5 * i, 20 + i), 40, 0.8f, 70 + i), c.callbacks()).has_value());
    c.wait();
    alone[static_cast<size_t>(i)] = c.ids();
  }
  Collected c[4];
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(e->submit(request(prompt_of(30 + 5 * i, 20 + i), 40, 0.8f, 70 + i), c[i].callbacks()).has_value());
  for (int i = 0; i < 4; ++i) {
    c[i].wait();
    EXPECT_EQ(c[i].reason, FinishReason::kLength);
    EXPECT_EQ(c[i].ids(), alone[static_cast<size_t>(i)]) << i;
  }
  wait_idle(*e);
  EngineStats s = e->stats();
  EXPECT_EQ(s.kv_tokens_used, 0);
  EXPECT_EQ(s.kv_tokens_total, 160);
}

// Many concurrent requests with random cancels: all answered, KV back to idle.
TEST(Engine, LoadWithCancelsReturnsToIdle) {
  EngineOptions o = small_options();
  o.max_queued = 64;
  auto e = make(o);
  constexpr int N = 24;
  std::vector<std::unique_ptr<Collected>> c;
  std::vector<uint64_t> ids;
  for (int i = 0; i < N; ++i) {
    c.push_back(std::make_unique<Collected>());
    auto id = e->submit(request(prompt_of(10 + 7 * (i % 5), i), 5 + i % 7, 0.7f, static_cast<uint64_t>(i)),
                        c.back()->callbacks());
    ASSERT_TRUE(id.has_value()) << id.error().to_string();
    ids.push_back(*id);
    if (i % 3 == 1) e->cancel(ids[static_cast<size_t>(i - 1)]);
  }
  for (auto& x : c) {
    x->wait();
    EXPECT_EQ(x->done_calls, 1);
  }
  wait_idle(*e);
  EngineStats s = e->stats();
  EXPECT_EQ(s.kv_tokens_used, 0);
  EXPECT_EQ(s.running, 0);
  EXPECT_EQ(s.queued, 0);
  EXPECT_EQ(s.requests_done, N);
}

}  // namespace
}  // namespace herd::engine

namespace herd::engine {
namespace {

// Throughput figures (printed, not asserted) on the model named by
// HERD_ENGINE_BENCH_MODEL (e.g. a 3.2-1b-shaped q4_0 made with
// `herd make-model`); skipped when unset.
TEST(EngineBench, DecodeThroughput) {
  const char* path = std::getenv("HERD_ENGINE_BENCH_MODEL");
  if (!path) GTEST_SKIP() << "HERD_ENGINE_BENCH_MODEL not set";
  auto m = model::LlamaModel::load(path);
  ASSERT_TRUE(m.has_value()) << m.error().to_string();
  const char* th = std::getenv("HERD_ENGINE_BENCH_THREADS");
  for (int conc : {1, 4, 8}) {
    EngineOptions o;
    o.threads = th ? std::atoi(th) : 2;
    o.n_ctx = 4096;
    o.max_seq_len = 1024;
    o.max_running = conc;
    auto e = make_engine(*m, best_table(), o);
    ASSERT_TRUE(e.has_value());
    const int gen = 32;
    std::vector<std::unique_ptr<Collected>> c;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < conc; ++i) {
      c.push_back(std::make_unique<Collected>());
      GenerationRequest r = request(prompt_of(16, i), gen, 0.7f, static_cast<uint64_t>(i));
      r.top_logprobs = -1;
      ASSERT_TRUE((*e)->submit(r, c.back()->callbacks()).has_value());
    }
    double ttft = 0;
    for (auto& x : c) {
      x->wait();
      ttft += x->usage.time_to_first_token_s;
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("concurrency %d: %d tokens in %.2f s = %.1f tok/s aggregate, mean TTFT %.3f s, %lld steps\n", conc,
                conc * gen, s, conc * gen / s, ttft / conc, static_cast<long long>((*e)->stats().steps));
  }
}

}  // namespace
}  // namespace herd::engine
