// ChatSession: the state of one `herd chat` conversation and its KV cache.
//
// The session keeps the conversation (OpenAI-shaped messages, system text apart) and a
// LlamaContext whose cache holds exactly the rendered conversation so far: the Meta
// rendering is prefix-stable (llama3_format.h), so a new user turn is rendered alone
// with format_messages(..., add_bos=false) and only its tokens are prefilled. The
// assistant's generated ids stay in the cache as generated (never re-rendered), closed
// by the <|eot_id|> / <|eom_id|> the model produced (<|eot_id|> after an interruption
// or the length limit). Anything that changes the rendered prefix (/system, /tools,
// /load) marks the cache stale; the next turn re-renders and prefills everything.
//
// Tool calls are parsed while streaming (StreamingToolParser) and shown as calls. Only
// with allow_tools, and only for the built-in code_interpreter, is anything executed
// (sandbox.h); its output returns as an ipython message and generation continues.
//
// With --guard's output shield a reply is held back until Llama Guard has judged it.
//
// Output: the reply streams to stdout; notes ("[tool call] ...", "[context full ...]")
// go to stdout too, as they are part of the conversation view; with verbose, per-turn
// statistics ("[prefill N tokens ...]") go to stderr.
//
// Thread safety: one thread; `interrupt` may be set from a signal handler.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "chat/llama3_format.h"
#include "chat/messages.h"
#include "chat/stop.h"
#include "model/llama_context.h"
#include "guard_shield.h"
#include "prompt_shield.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace herd::cli {

struct ChatOptions {
  sampling::SamplingParams sampling;
  int64_t n_predict = 1024;  // tokens per reply (each generation round)
  bool allow_tools = false;  // run code_interpreter calls in the sandbox
  int tool_cpu_seconds = 10; // the sandbox's CPU limit; wall clock 3x
  bool verbose = false;      // statistics on stderr
  bool ignore_eos = false;   // keep generating past end tokens (for tests)
  std::vector<std::string> stop_strings;  // end a reply when its text contains one (not shown)
  chat::FormatOptions format;
  bool color = false;        // notes in color (print_note)
  // --prompt-guard: each user turn is scored for a jailbreak before the model
  // sees it (flagged: a note, and the turn is dropped), each tool result for
  // an injection before it is fed back (flagged: withheld, the model reads a
  // note instead); a failed check drops the turn (fails closed).
  const server::PromptShield* prompt_guard = nullptr;
  // --guard: Llama Guard 3 (apps/server/guard_shield.h). guard_input: each
  // user turn is judged with the conversation before the model sees it
  // (flagged: a note, the turn dropped). guard_output: each reply is held back
  // until judged (shown whole when safe; flagged: the canned refusal is shown
  // and kept in the conversation instead). A check that fails drops the turn
  // or withholds the reply (fails closed).
  const server::GuardShield* guard = nullptr;
  bool guard_input = true;
  bool guard_output = true;
};

// Prints a note (text that is not the model's: "[interrupted]", "[tool call] ...") and a
// newline to stdout, in yellow when color is on.
void print_note(bool color, const std::string& text);

class ChatSession {
 public:
  ChatSession(model::LlamaContext& ctx, const tokenizer::Tokenizer& tok, ChatOptions opts,
              std::atomic<bool>* interrupt);

  // The whole conversation, system message first when set.
  std::vector<chat::Message> messages() const;
  const chat::ToolSet& tools() const { return tools_; }

  void set_system(std::string text);  // empty clears it
  void set_tools(chat::ToolSet tools);
  void reset();  // forgets the conversation; keeps the system text and tools
  // Replaces the conversation and prefills it; a trailing assistant tool call is then
  // handled as if just generated. Errors leave an empty conversation.
  Status load(std::vector<chat::Message> messages);
  // One user turn: prefill it, stream the reply, run the tool loop.
  Status user_turn(const std::string& text);

  int64_t n_past() const;
  int64_t n_ctx() const;
  // Tokens prefilled by the last prefill (for tests and --verbose).
  int64_t last_prefill() const { return last_prefill_; }

 private:
  struct GenEnd {
    chat::StopReason reason = chat::StopReason::kNone;
    bool interrupted = false;   // Ctrl-C
    bool context_full = false;  // no room for another token
  };
  Status prefill(const std::vector<int32_t>& ids);
  // Renders `turn` and prefills it, appending it to the conversation: the turn alone
  // when the cache is valid, else the whole conversation from an empty cache. When it
  // cannot fit, prints the context-full note and returns kOutOfRange.
  Status prefill_turn(const std::vector<chat::Message>& turn, bool generation_prompt);
  // One assistant message: streams it, appends it to msgs_, closes it in the cache.
  Result<GenEnd> generate_one();
  // Generation rounds plus the tool loop, after a prefill that ends in the assistant header.
  Status respond();
  // Runs (allow_tools, code_interpreter only) or declines each call of `assistant`;
  // returns the ipython results to feed back.
  std::vector<chat::Message> run_tool_calls(const chat::Message& assistant);
  // --guard's output shield on a finished reply: "" to show it, else the note
  // saying why it is withheld.
  std::string output_guard_verdict(const chat::Message& reply);
  static std::string guard_note(const char* what, const server::GuardResult& r);
  // --prompt-guard on tool results: flagged ones replaced by a note (in place).
  void shield_tool_results(std::vector<chat::Message>& results);
  void context_full_message(int64_t need) const;

  model::LlamaContext& ctx_;
  const tokenizer::Tokenizer& tok_;
  ChatOptions opts_;
  std::atomic<bool>* interrupt_;
  sampling::Sampler sampler_;
  chat::StopTokens stops_;
  std::string system_;
  chat::ToolSet tools_;
  std::vector<chat::Message> msgs_;  // without the system message
  std::vector<int32_t> cache_ids_;   // what the KV cache holds
  bool cache_valid_ = false;         // cache_ids_ == rendering of messages()
  std::vector<float> logits_;        // last position's logits after a prefill/eval
  int64_t last_prefill_ = 0;
};

}  // namespace herd::cli
