// See generation.h.
#include "generation.h"

#include <random>

namespace herd::server {

std::variant<std::unique_ptr<GenerationSet>, ApiError> GenerationSet::start(
    engine::Engine& engine, Metrics& metrics, std::vector<engine::GenerationRequest> requests) {
  std::unique_ptr<GenerationSet> set(new GenerationSet());
  set->engine_ = &engine;
  set->q_ = std::make_shared<Queue>();
  std::vector<engine::RequestCallbacks> callbacks;
  for (size_t i = 0; i < requests.size(); ++i) {
    const int index = static_cast<int>(i);
    std::shared_ptr<Queue> q = set->q_;
    Metrics* m = &metrics;
    auto last = std::make_shared<std::chrono::steady_clock::time_point>();
    engine::RequestCallbacks cb;
    cb.on_token = [q, index, m, last](const engine::TokenEvent& t) {
      const auto now = std::chrono::steady_clock::now();
      if (*last != std::chrono::steady_clock::time_point()) m->inter_token(std::chrono::duration<double>(now - *last).count());
      *last = now;
      GenEvent ev;
      ev.index = index;
      ev.token = t;
      {
        std::lock_guard<std::mutex> l(q->mu);
        q->events.push_back(std::move(ev));
      }
      q->cv.notify_all();
      return true;
    };
    cb.on_done = [q, index, m](engine::FinishReason r, int32_t stop_id, const engine::Usage& u, const Error* e) {
      m->tokens(u.prompt_tokens, u.completion_tokens);
      if (u.completion_tokens > 0) m->ttft(u.time_to_first_token_s);
      GenEvent ev;
      ev.kind = GenEvent::kDone;
      ev.index = index;
      ev.reason = r;
      ev.stop_id = stop_id;
      ev.usage = u;
      if (e) ev.error = e->to_string();
      {
        std::lock_guard<std::mutex> l(q->mu);
        q->events.push_back(std::move(ev));
        ++q->done;
      }
      q->cv.notify_all();
    };
    callbacks.push_back(std::move(cb));
  }
  // All n choices are queued or none: each takes one slot of --max-queue.
  Result<std::vector<uint64_t>> ids = engine.submit_all(std::move(requests), std::move(callbacks));
  if (!ids.has_value()) {
    ApiError err = from_field_error(ids.error());
    if (ids.error().code() == ErrorCode::kOutOfRange) {
      err = ApiError{};
      err.status = 429;
      err.type = "rate_limit_error";
      err.code = "queue_full";
      err.message = "the server is busy (request queue full): " + ids.error().message() + "; retry later";
    }
    return err;
  }
  set->ids_ = std::move(*ids);
  return set;
}

GenerationSet::~GenerationSet() {
  if (!all_done()) cancel_all();
}

bool GenerationSet::all_done() const {
  std::lock_guard<std::mutex> l(q_->mu);
  return q_->done >= static_cast<int>(ids_.size());
}

bool GenerationSet::next(GenEvent& ev, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> l(q_->mu);
  if (!q_->cv.wait_for(l, timeout, [&] { return !q_->events.empty(); })) return false;
  ev = std::move(q_->events.front());
  q_->events.pop_front();
  if (ev.kind == GenEvent::kDone) ++done_seen_;
  return true;
}

void GenerationSet::cancel(int index) {
  if (index >= 0 && index < static_cast<int>(ids_.size())) engine_->cancel(ids_[static_cast<size_t>(index)]);
}

void GenerationSet::cancel_all() {
  for (uint64_t id : ids_) engine_->cancel(id);
}

std::string ChoiceText::push(int32_t id) {
  if (stopped_) return "";
  chat::StopStringMatcher::Step step = stops_.push(dec_.push(id));
  if (step.stopped) stopped_ = true;
  return step.text;
}

std::string ChoiceText::finish() {
  if (stopped_) return "";
  chat::StopStringMatcher::Step step = stops_.push(dec_.flush());
  if (step.stopped) {
    stopped_ = true;
    return step.text;
  }
  return step.text + stops_.flush();
}

const char* openai_finish_reason(engine::FinishReason r, bool stopped_by_string, bool tool_calls) {
  const bool cut = r == engine::FinishReason::kLength || r == engine::FinishReason::kContextFull;
  // Cut off by max_tokens or the context: "length" even when a tool call was
  // under way (its arguments are then partial JSON), as OpenAI answers; only a
  // generation that ended on its own reports "tool_calls".
  if (cut && !stopped_by_string) return "length";
  if (tool_calls) return "tool_calls";
  if (stopped_by_string) return "stop";
  return r == engine::FinishReason::kError ? "error" : "stop";
}

uint64_t random_seed() {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard<std::mutex> l(mu);
  return rng() >> 1;  // fits in a JSON integer as non-negative int64
}

}  // namespace herd::server
