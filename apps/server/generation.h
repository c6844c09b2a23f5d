// The bridge between engine callbacks (engine thread) and an HTTP handler
// thread: a GenerationSet submits n requests (one per choice) and queues their
// events; the handler pulls them with next() and turns token ids into text with
// ChoiceText (UTF-8 reassembly, stop strings held back while partial).
//
// Lifetime: the engine callbacks hold the set's queue by shared_ptr, so a set
// may be destroyed while requests run; its destructor cancels the unfinished
// ones (a client that disconnects is cancelled at once).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "chat/stop.h"
#include "engine/engine.h"
#include "errors.h"
#include "metrics.h"
#include "tokenizer/tokenizer.h"

namespace herd::server {

struct GenEvent {
  enum Kind { kToken, kDone } kind = kToken;
  int index = 0;  // choice
  engine::TokenEvent token;
  engine::FinishReason reason = engine::FinishReason::kStop;
  int32_t stop_id = -1;
  engine::Usage usage;
  std::string error;  // kDone with FinishReason::kError
};

class GenerationSet {
 public:
  // Submits requests[i] as choice i. On a refusal (queue full: 429; invalid: 400)
  // the already submitted ones are cancelled and the error returned.
  static std::variant<std::unique_ptr<GenerationSet>, ApiError> start(engine::Engine& engine, Metrics& metrics,
                                                                      std::vector<engine::GenerationRequest> requests);
  ~GenerationSet();

  // Waits up to `timeout` for the next event; false on timeout.
  bool next(GenEvent& ev, std::chrono::milliseconds timeout);
  void cancel(int index);
  void cancel_all();
  int size() const { return static_cast<int>(ids_.size()); }
  bool all_done() const;

 private:
  struct Queue {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<GenEvent> events;  // guarded by mu
    int done = 0;                 // guarded by mu: kDone events pushed
  };
  GenerationSet() = default;
  engine::Engine* engine_ = nullptr;
  std::shared_ptr<Queue> q_;
  std::vector<uint64_t> ids_;
  int done_seen_ = 0;  // handler thread only
};

// Token ids -> visible text for one choice.
class ChoiceText {
 public:
  ChoiceText(const tokenizer::Tokenizer& tok, std::vector<std::string> stops) : dec_(tok), stops_(std::move(stops)) {}
  // The text safe to show after this token ("" while held back).
  std::string push(int32_t id);
  // Whatever was held back (call once the request ended without a stop string).
  std::string finish();
  bool stopped() const { return stopped_; }

 private:
  tokenizer::StreamDecoder dec_;
  chat::StopStringMatcher stops_;
  bool stopped_ = false;
};

// "stop" | "length" | "tool_calls" | "error" for the OpenAI response: "length"
// when max_tokens or the context cut the generation (even mid tool call, whose
// arguments are then partial), else "tool_calls" when calls were parsed, else
// "stop" (a stop string, a stop token, a completed constraint).
const char* openai_finish_reason(engine::FinishReason r, bool stopped_by_string, bool tool_calls);

// A random 64-bit seed (when the request has none).
uint64_t random_seed();

}  // namespace herd::server
