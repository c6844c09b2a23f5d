// When generation stops: the Llama 3.1 end tokens and user stop strings.
//
// A chat turn ends on <|eot_id|> (turn complete), <|eom_id|> (the message is a tool
// call; the executor answers with an ipython message and generation continues) or
// <|end_of_text|> (base-model style end), spec/llama31.md section 5.1. StopTokens maps a
// generated id to which of these fired. User stop strings are matched on the decoded
// text by StopStringMatcher, which holds back any tail that may still become a stop
// string, so no part of a stop string is ever shown.
//
// The intended pipeline per generated id:
//   StopTokens::classify -> (not a stop) StreamDecoder::push -> StopStringMatcher::push
//   -> StreamingToolParser::push -> display
//
// Thread safety: StopTokens is a value; a StopStringMatcher belongs to one stream.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace herd::chat {

enum class StopReason {
  kNone,          // not stopped
  kEndOfTurn,     // <|eot_id|>
  kEndOfMessage,  // <|eom_id|>: a tool call awaits its result
  kEndOfText,     // <|end_of_text|>
  kStopString,    // a user stop string matched
  kLength,        // the token budget or context ran out (set by the caller)
};

// "eot", "eom", "end_of_text", "stop_string", "length", "none".
const char* stop_reason_name(StopReason reason);

// The one stop logic of every generation (run, chat, serve): a generated id
// ends it when it is one of the three Llama 3.1 end tokens the vocabulary has
// or one of the model's own end ids (GGUF tokenizer.ggml.eos_token_id, HF
// generation_config eos_token_id); classify says which.
struct StopTokens {
  int32_t eot = -1;          // <|eot_id|>, -1 if the vocab lacks it
  int32_t eom = -1;          // <|eom_id|>
  int32_t end_of_text = -1;  // <|end_of_text|>
  std::vector<int32_t> model_eos;  // the model's end ids not among the three

  // tok may be null (no usable tokenizer: only the model's ids).
  static StopTokens for_model(const tokenizer::Tokenizer* tok, const std::vector<int32_t>& model_eos_ids);
  static StopTokens from_tokenizer(const tokenizer::Tokenizer& tok) { return for_model(&tok, {}); }
  // A model end id that is none of the three counts as kEndOfText.
  StopReason classify(int32_t id) const;
  bool is_stop(int32_t id) const { return classify(id) != StopReason::kNone; }
  // Every stop id (for an engine request's stop_ids).
  std::vector<int32_t> ids() const;
};

class StopStringMatcher {
 public:
  explicit StopStringMatcher(std::vector<std::string> stop_strings);  // empty strings are ignored

  struct Step {
    std::string text;      // safe to show now
    bool stopped = false;  // a stop string completed; text is what preceded it
    size_t which = 0;      // index into the stop strings when stopped
  };
  // After a stop, further pushes return nothing until reset().
  Step push(std::string_view piece);
  // The held-back tail, at the end of generation (no stop string completed).
  std::string flush();
  void reset();

 private:
  std::vector<std::string> stops_;
  std::vector<size_t> index_;  // stops_[k] is the caller's stop string index_[k]
  std::string held_;
  bool stopped_ = false;
};

}  // namespace herd::chat
