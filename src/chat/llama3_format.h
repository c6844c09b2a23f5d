// The Llama 3.1 Instruct prompt format: a conversation -> prompt text and token ids.
//
// Design source: Meta's llama-models (models/llama3/api/chat_format.py for framing,
// prompt_templates/system_prompts.py and api/interface.py for the system prompt and
// custom-tool conventions, tool_utils.py for call encoding) and
// models/llama3_1/prompt_format.md, whose examples are the goldens in
// tests/golden/chat/. spec/llama31.md section 5 summarizes them; docs/chat.md lists
// every choice where Meta and the Hugging Face template differ (herd follows Meta).
//
// Two steps, both pure:
//   1. apply_conventions(): Meta's recommended system message ("Environment: ipython",
//      "Tools: ...", "Cutting Knowledge Date", "Today Date", then the user's system
//      text) and the custom tool definitions (JSON or <function> style) as a separate
//      user message after it (Meta's default) or merged into the first user message or
//      the system message. SystemPreamble::kNone skips the system lines and renders the
//      given system message verbatim (Meta's ChatFormat alone).
//   2. format_messages(): BOS once; per message <|start_header_id|>ROLE<|end_header_id|>
//      "\n\n" CONTENT then <|eot_id|>, or <|eom_id|> after an assistant tool call that
//      expects an ipython result; role "tool" is written "ipython"; optionally the
//      assistant header that asks the model to answer.
// The result is a Prompt: a list of segments, each a control token or plain text.
// Prompt::text() is what a user reads; Prompt::ids() inserts control tokens by id and
// encodes every text segment with special-token parsing OFF, so user or tool text that
// spells "<|eot_id|>" stays text. Text segments are encoded separately, split where
// Meta's encoder splits them (role, "\n\n", content, each tool call), so ids equal
// Meta's.
//
// Prefix stability: each message renders on its own, so the ids of messages[0..n) are
// a prefix of the ids of messages[0..n+k) under the same tools and options (without
// the generation prompt). `herd chat` relies on this to prefill only the new turn.
//
// Thread safety: pure functions and values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "chat/messages.h"
#include "tokenizer/tokenizer.h"

namespace herd::chat {

enum class SystemPreamble {
  kMeta,  // Meta's recommended system message (date lines, tool lines), the default
  kNone,  // the conversation's own system message, verbatim
};

// How custom tools are described to the model and how their calls are rendered.
enum class ToolFormat {
  kJson,         // Meta's JsonCustomToolGenerator; calls as <|python_tag|>{"type": "function", ...}
  kFunctionTag,  // Meta's FunctionTagCustomToolGenerator; calls as <function=NAME>{...}</function>
};

// Where the custom tool definitions go.
enum class ToolDefsPlacement {
  kUserMessage,       // a separate user message right after the system message (Meta)
  kFirstUserMessage,  // prepended to the first user message, "\n\n" between (HF style)
  kSystemMessage,     // in the system message, after the date lines
};

struct FormatOptions {
  SystemPreamble preamble = SystemPreamble::kMeta;
  // "Today Date:" value, e.g. "26 July 2024"; empty means today's local date.
  std::string today;
  ToolFormat tool_format = ToolFormat::kJson;
  ToolDefsPlacement tool_defs = ToolDefsPlacement::kUserMessage;
  bool add_generation_prompt = true;  // end with the assistant header
};

// One piece of a prompt: a control token (text is its spelling, "<|eot_id|>") or text.
struct Segment {
  bool special = false;
  std::string text;
};

class Prompt {
 public:
  const std::vector<Segment>& segments() const { return segments_; }

  // The prompt as text, control tokens spelled out.
  std::string text() const;

  // The token ids. kNotFound if the tokenizer lacks one of the control tokens (it is not
  // a Llama 3.1 vocabulary).
  Result<std::vector<int32_t>> ids(const tokenizer::Tokenizer& tok) const;

  void add_special(const char* token) { segments_.push_back({true, token}); }
  void add_text(std::string text);

 private:
  std::vector<Segment> segments_;
};

// "DD Month YYYY" as Meta's strftime("%d %B %Y") writes it: "05 March 2024".
// month is 1..12.
std::string meta_date(int year, int month, int day);
// meta_date() of the local date now.
std::string today_meta_date();

// Step 1 (see the header paragraph). Validates the conversation: at most one system
// message and only first; tool results only with role tool/ipython; at least one
// message. Errors are kInvalidArgument naming the message index.
Result<std::vector<Message>> apply_conventions(const std::vector<Message>& messages, const ToolSet& tools,
                                               const FormatOptions& options);

// Step 2: frames already-augmented messages. add_bos is false when appending a turn to
// a conversation whose ids are already in the KV cache.
Result<Prompt> format_messages(const std::vector<Message>& messages, const FormatOptions& options,
                               bool add_bos = true);

// Steps 1 and 2.
Result<Prompt> render_prompt(const std::vector<Message>& messages, const ToolSet& tools,
                             const FormatOptions& options);

// The text of one tool call as the assistant writes it (no <|python_tag|>):
// brave_search.call(query="..."), raw code for code_interpreter, Meta's JSON
// {"type": "function", "name": ..., "parameters": ...} or <function=NAME>{...}</function>.
// kInvalidArgument when arguments is not a JSON object or a built-in lacks its argument.
Result<std::string> render_tool_call(const ToolCall& call, ToolFormat format);

// The custom-tool instruction block for the given format (Meta's wording).
std::string render_tool_definitions(const std::vector<ToolDef>& tools, ToolFormat format);

}  // namespace herd::chat
