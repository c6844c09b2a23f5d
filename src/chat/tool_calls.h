// Parsing Llama 3.1 model output into text and tool calls, whole or while streaming.
//
// Design source: Meta's decode_assistant_message_from_content (chat_format.py) and
// ToolUtils (tool_utils.py), spec/llama31.md sections 5.3 and 5.5; one parser per call
// form (mistral.rs), each a pure function returning Result, whose error says why the
// text is not that form. The accepted forms:
//   <|python_tag|>brave_search.call(query="...")      built-in (also wolfram_alpha,
//                                                     photogen; any keyword args)
//   <|python_tag|>print(1)                            code_interpreter, {"code": ...}
//   <|python_tag|>{"type": "function", "name": ..., "parameters": {...}}
//   {"name": ..., "parameters": {...}}                also "arguments"; a JSON array of
//                                                     calls or several objects
//                                                     separated by ; , or whitespace
//   <function=NAME>{...}</function>                   anywhere in the text, repeatable;
//                                                     the closing tag is optional
//   brave_search.call(query="...")                    built-in without the tag, only
//                                                     when the whole reply is such calls
// and several calls of one form in one turn. Text before <|python_tag|> or outside
// <function> tags stays content. A custom-format call naming a built-in tool is mapped
// to it (Meta does the same). Anything malformed (bad JSON, an object without "name",
// an unterminated tag) is returned as content with `rejected` saying why: parsing never
// fails and never crashes (tool_calls_fuzz.cpp). Differences from Meta: Meta's
// built-in regex matches anywhere in the text; herd requires the whole body to be
// calls, so code that merely mentions x.call(query="...") stays code. Malformed JSON
// after <|python_tag|> stays text instead of becoming code to run.
//
// Thread safety: the free functions are pure; a StreamingToolParser belongs to one
// stream.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "chat/messages.h"

namespace herd::chat {

struct ParsedOutput {
  std::string content;               // text for the user, outside any tool call
  std::vector<ToolCall> tool_calls;  // ids "call_0", "call_1", ... in order
  bool python_tag = false;           // the output used <|python_tag|> (ipython mode)
  std::string rejected;              // why call-like text stayed content; empty if none
};

// The whole assistant output as decoded text (control tokens spelled out). A leading
// assistant header and one trailing <|eot_id|>, <|eom_id|> or <|end_of_text|> are
// stripped first.
ParsedOutput parse_assistant_output(std::string_view text);

// The per-form parsers. ids are "call_<index>".
// One or more NAME.call(k="v", ...) separated by whitespace, ';' or ','; the whole of
// body (surrounding whitespace aside) must be calls.
Result<std::vector<ToolCall>> parse_builtin_calls(std::string_view body);
// One JSON call object, a JSON array of them, or several separated by ; , whitespace.
Result<std::vector<ToolCall>> parse_json_calls(std::string_view body);
// Every <function=NAME>{json}</function> in text; *outside gets the text around them.
Result<std::vector<ToolCall>> parse_function_tag_calls(std::string_view text, std::string* outside);

// Incremental parsing for streamed output. push() the decoded text of each generated
// token (not the stop token) and show what it returns: text that can no longer become
// part of a tool call. Text that might (a reply starting with '{', '[', a built-in name
// or <|python_tag|>; anything from <function= or <|python_tag|> on) is held until
// finish(), which returns the rest of the content and the calls.
// Contract: everything push() returned, followed by finish().content, equals
// parse_assistant_output(all pushed text).content when that text has no header or end
// marker, and finish().tool_calls are equal.
class StreamingToolParser {
 public:
  std::string push(std::string_view piece);
  ParsedOutput finish();  // also resets the parser for the next message
  bool holding() const { return emitted_ < all_.size(); }
  // Held because it may be a call (not merely a possible marker prefix): everything
  // from held_text() on stays held until finish(), and held_text() only grows.
  bool held_mode() const { return mode_ == Mode::kHeld; }
  std::string_view held_text() const { return std::string_view(all_).substr(emitted_); }

 private:
  enum class Mode { kUndecided, kText, kHeld };
  std::string all_;     // everything pushed since the last finish()
  size_t emitted_ = 0;  // bytes of all_ already returned by push()
  Mode mode_ = Mode::kUndecided;
};

}  // namespace herd::chat
