// ScriptedEngine: an Engine for the tests of code that drives one (the
// server's routes, herd synth's LLM judge, the Llama Guard shield) without a
// model. Each request's reply is the text a test function picks from the
// decoded prompt and the request; its tokens are emitted on the engine's own
// thread, one token per running request every 2 ms, round-robin, so replies
// of different lengths finish out of submission order, as a batching engine's
// do. A request's watch_ids get log(0.9) for the token emitted when it is the
// watched id, log(0.01) otherwise. Requests end with kStop and <|eot_id|>
// after their reply, kLength at max_tokens, kCancelled when cancelled or when
// on_token returns false. submit() refuses beyond max_jobs requests (kOutOfRange,
// as a full queue); submit_all is the Engine default.
//
// Test-only: header-only, used by server_test and cli_test.
//
// Thread safety: submit/cancel/stats from any thread; callbacks run on the
// engine's thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "engine/engine.h"
#include "tokenizer/tokenizer.h"

namespace herd::engine {

class ScriptedEngine : public Engine {
 public:
  using ReplyFn = std::function<std::string(const std::string& prompt, const GenerationRequest& request)>;

  // tok must outlive the engine.
  ScriptedEngine(const tokenizer::Tokenizer& tok, ReplyFn reply)
      : tok_(tok), reply_(std::move(reply)), thread_([this] { loop(); }) {}
  ~ScriptedEngine() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      quit_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  Result<uint64_t> submit(GenerationRequest r, RequestCallbacks cb) override {
    std::lock_guard<std::mutex> l(mu_);
    if (static_cast<int>(jobs_.size()) >= max_jobs) return err(ErrorCode::kOutOfRange, "queue full");
    Job j;
    j.id = ++next_id_;
    j.ids = tok_.encode(reply_(tok_.decode(r.prompt), r), false, true);
    last_ = r;
    ++submitted_;
    j.req = std::move(r);
    j.cb = std::move(cb);
    jobs_.push_back(std::move(j));
    cv_.notify_all();
    return jobs_.back().id;
  }
  void cancel(uint64_t id) override {
    std::lock_guard<std::mutex> l(mu_);
    for (Job& j : jobs_)
      if (j.id == id) j.cancelled = true;
    ++cancels;
  }
  EngineStats stats() const override {
    std::lock_guard<std::mutex> l(mu_);
    EngineStats s;
    s.running = static_cast<int64_t>(jobs_.size());
    return s;
  }

  int max_jobs = 64;
  std::atomic<int> cancels{0};
  // The last request submitted, and how many were.
  GenerationRequest last_request() const {
    std::lock_guard<std::mutex> l(mu_);
    return last_;
  }
  int64_t submitted() const {
    std::lock_guard<std::mutex> l(mu_);
    return submitted_;
  }
  // The most requests that were running at once.
  int64_t most_running() const {
    std::lock_guard<std::mutex> l(mu_);
    return most_running_;
  }

 private:
  struct Job {
    uint64_t id = 0;
    GenerationRequest req;
    RequestCallbacks cb;
    std::vector<int32_t> ids;
    size_t pos = 0;
    bool cancelled = false;
  };
  void loop() {
    std::unique_lock<std::mutex> l(mu_);
    while (!quit_) {
      if (jobs_.empty()) {
        cv_.wait(l);
        continue;
      }
      most_running_ = std::max(most_running_, static_cast<int64_t>(jobs_.size()));
      for (auto it = jobs_.begin(); it != jobs_.end();) {
        Job& j = *it;
        FinishReason reason = FinishReason::kStop;
        bool done = j.cancelled;
        if (done) reason = FinishReason::kCancelled;
        else if (static_cast<int32_t>(j.pos) >= j.req.max_tokens) done = true, reason = FinishReason::kLength;
        else if (j.pos >= j.ids.size()) done = true;
        if (!done) {
          TokenEvent ev;
          ev.id = j.ids[j.pos++];
          ev.logprob = -0.5f;
          for (int k = 0; k < j.req.top_logprobs; ++k) ev.top.push_back({ev.id + k, -0.5f - k});
          for (int32_t w : j.req.watch_ids) ev.watched.push_back(std::log(w == ev.id ? 0.9f : 0.01f));
          if (!j.cb.on_token(ev)) j.cancelled = true;
          ++it;
          continue;
        }
        Usage u;
        u.prompt_tokens = static_cast<int64_t>(j.req.prompt.size());
        u.completion_tokens = static_cast<int64_t>(j.pos);
        j.cb.on_done(reason, reason == FinishReason::kStop ? tok_.special_id("<|eot_id|>") : -1, u, nullptr);
        it = jobs_.erase(it);
      }
      l.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      l.lock();
    }
  }
  const tokenizer::Tokenizer& tok_;
  ReplyFn reply_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  uint64_t next_id_ = 0;
  int64_t submitted_ = 0, most_running_ = 0;
  GenerationRequest last_;
  bool quit_ = false;
  std::thread thread_;
};

}  // namespace herd::engine
