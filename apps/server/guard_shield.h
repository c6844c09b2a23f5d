// The Llama Guard 3 shield of `herd serve --guard`: classifies a conversation's
// last user turn (the input shield of /v1/chat/completions and /api/chat) or a
// text (/v1/moderations) on the guard model's own engine, so concurrent checks
// share its forward steps (continuous batching) as chat requests share the chat
// model's.
//
// One check: the released prompt of the guard's variant plus the header's
// "\n\n" (chat/llama_guard.h), greedy decoding until a stop token (48 tokens
// at most), P("unsafe") of the verdict's first token (engine watch_ids), and
// the strict verdict parse. flagged = P(unsafe) >= threshold and the model
// wrote "unsafe" with at least one code that is not excluded; a reply that is
// not a verdict is reported as such (the callers fail closed). `herd guard`
// runs the same check on an engine of its own.
//
// guard_conversation() turns an OpenAI chat into the guard's alternating
// user/assistant form: system messages and tool traffic are left out (the
// guard judges what the user wrote), consecutive turns of one role are joined
// with a blank line, leading assistant turns dropped, and the result ends at
// the last user turn.
//
// Thread safety: check() may be called from any number of threads.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "chat/llama_guard.h"
#include "chat/messages.h"
#include "engine/engine.h"
#include "tokenizer/tokenizer.h"

namespace herd::server {

// Llama Stack's canned answer for a blocked request or reply (herd serve's
// shields, herd chat's).
inline constexpr const char* kGuardRefusal = "I can't answer that. Can I help with something else?";

// Reply tokens a check generates at most ("unsafe\nS1,S2" is 7).
inline constexpr int32_t kGuardMaxReplyTokens = 48;

struct GuardOptions {
  chat::GuardVariant variant = chat::GuardVariant::k8B;
  std::vector<chat::GuardCategory> categories;  // empty: the variant's list
  std::vector<std::string> excluded;  // codes left out of the prompt
  double threshold = 0.5;             // on P(unsafe)
  std::string model_id = "llama-guard"; // what /v1/moderations reports
};

struct GuardResult {
  bool flagged = false;
  double unsafe_score = 0;          // P("unsafe") at the verdict's first token
  std::string reply;                // the guard's text
  int reply_tokens = 0;
  // Empty: the reply is a verdict (safe, codes). Else why it is none (the
  // caller fails closed: a request is refused, herd guard exits 1).
  std::string error;
  bool safe = true;
  std::vector<std::string> codes;   // violated categories as the model wrote them
  std::vector<std::string> counted; // of those, the ones not excluded
};

class GuardShield {
 public:
  // engine and tok (the guard model's) must outlive the shield.
  static Result<GuardShield> make(engine::Engine& engine, const tokenizer::Tokenizer& tok, GuardOptions options);

  // Blocks until the guard answers. Errors: the conversation (kInvalidArgument),
  // the engine's refusal (a full queue is kOutOfRange), a failed generation. A
  // reply that is no verdict is a result with `error` set.
  Result<GuardResult> check(const std::vector<chat::Message>& conversation) const;
  // Each conversation's check, in order, submitted together so the engine
  // batches them (the engine's tokens do not depend on what shares a step, so
  // each result is what check() gives alone). A refused group (more requests
  // than the engine's queue holds) is every result's error.
  std::vector<Result<GuardResult>> check_all(const std::vector<std::vector<chat::Message>>& conversations) const;

  const GuardOptions& options() const { return opts_; }
  const std::vector<chat::GuardCategory>& categories() const { return cats_; }

 private:
  Result<GuardResult> result_of(const std::vector<int32_t>& reply, double p_unsafe, bool stopped,
                                const std::string& error) const;
  GuardShield(engine::Engine& e, const tokenizer::Tokenizer& t, GuardOptions o)
      : engine_(&e), tok_(&t), opts_(std::move(o)) {}
  engine::Engine* engine_;
  const tokenizer::Tokenizer* tok_;
  GuardOptions opts_;
  std::vector<chat::GuardCategory> cats_;
  int32_t unsafe_id_ = -1;
  std::vector<int32_t> stop_ids_;
};

// See the header paragraph. kInvalidArgument when no user turn is left.
Result<std::vector<chat::Message>> guard_conversation(const std::vector<chat::Message>& messages);
// The conversation an output check judges: guard_conversation(messages) (an empty
// user turn when there is no user text, e.g. after a tool result) and the reply
// as the assistant's last turn.
std::vector<chat::Message> guard_reply_conversation(const std::vector<chat::Message>& messages, const std::string& reply);

}  // namespace herd::server
