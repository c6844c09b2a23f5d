// ToolCallStream: model output -> visible text plus OpenAI-style streamed tool_calls
// deltas, while the text is generated.
//
// OpenAI streams a call as: a first delta with index, id, type, function.name and the
// first arguments fragment (often ""), then deltas carrying further fragments of
// function.arguments, for each call index in turn. This class produces that shape for
// Llama 3.1 JSON calls ({"name": ..., "parameters"|"arguments": {...}}, optionally after
// <|python_tag|>, with or without "type": "function", OpenAI's {"function": {...}}
// nesting, several joined by ; , or whitespace, or a JSON array of them): a call is
// announced as soon as its name string is complete, and each token's bytes of its
// arguments object are passed on as they arrive (insignificant whitespace outside
// strings dropped, so arguments are compact). Other call forms (<function=...>, built-in
// NAME.call(...), code after <|python_tag|>) and output that turns out not to be a JSON
// call are handled as before by StreamingToolParser: calls whole at the end.
//
// Contracts:
// - content: the concatenation of every returned content never contains tool-call
//   syntax that became a call (StreamingToolParser's rule: text that may become a call
//   is held back).
// - deltas: for each index, the first delta has first = true and the name; the
//   concatenated arguments of an index's deltas equal Final::calls[index].arguments.
// - Once announced, a call stays a call (as with OpenAI, generation cut short leaves
//   its arguments incomplete); text after a call that is no call becomes content.
// - max_calls: calls after the first max_calls are dropped, with the text after them
//   (OpenAI's parallel_tool_calls: false keeps one).
// - arguments of a call announced from a stream: the arguments text as generated,
//   compacted (so the non-streamed and the streamed forms agree byte for byte); a call
//   naming a built-in tool gets Meta's {"query": ...} mapping (tool_calls.h), sent in
//   one fragment when the call is complete.
//
// Thread safety: one stream per generated message.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "chat/messages.h"
#include "chat/tool_calls.h"

namespace herd::chat {

struct ToolCallDelta {
  int index = 0;
  bool first = false;     // the call's first delta: carries name
  std::string name;
  std::string arguments;  // a fragment
};

struct StreamStep {
  std::string content;
  std::vector<ToolCallDelta> deltas;
};

class ToolCallStream {
 public:
  explicit ToolCallStream(int max_calls = 1 << 20) : max_calls_(max_calls) {}

  // Decoded text of the next generated token(s).
  StreamStep push(std::string_view piece);

  struct Final {
    StreamStep rest;              // what to send after the last push()
    std::vector<ToolCall> calls;  // every call, arguments complete (ids "call_<i>")
    std::string rejected;         // as ParsedOutput::rejected
  };
  // The end of the message.
  Final finish();

 private:
  enum class Phase : uint8_t {
    kLead,       // before anything: whitespace, <|python_tag|>, '[' or '{'
    kTag,        // matching <|python_tag|>
    kBetween,    // between calls: whitespace, separators, '{' or ']' in an array
    kObjKey,     // in a call object: expecting a key or '}'
    kKey,        // reading a key string
    kColon,      // after a key
    kValue,      // after ':': a value starts
    kObjNext,    // after a value: ',' or '}'
    kName,       // reading the name string
    kArgs,       // copying the arguments object
    kArgsString, // reading arguments given as a JSON string
    kSkip,       // skipping another key's value
    kAfterArray, // after ']': whitespace only
    kDropped,    // after max_calls calls: everything is dropped
    kFailed,     // not (or no longer) a JSON call
  };
  struct Call {
    std::string name;
    std::string args;        // compacted object text, or the decoded string
    bool args_string = false;
    bool announced = false;
    bool complete = false;
    size_t sent = 0;         // bytes of args already in deltas
  };
  // A JSON string being decoded (keys, the name, string arguments).
  struct Str {
    std::string out;
    bool esc = false;
    int hex_left = 0;
    uint32_t cp = 0, high = 0;
  };
  void scan(char c);
  bool str_step(Str& s, char c);  // false: the string ended (c was the quote)
  bool skip_step(char c);         // false: the value ended before c (c not consumed)
  void fail();
  void end_call();
  void emit(StreamStep& out);
  void finish_args_string(Call& call);

  StreamingToolParser text_;
  size_t fed_ = 0;  // bytes of the held text already scanned
  int max_calls_;
  Phase phase_ = Phase::kLead;
  size_t tag_pos_ = 0;
  bool in_array_ = false;
  int obj_level_ = 0;        // 1: the call object, 2: inside its "function" object
  std::string key_;
  Str str_;
  // kArgs / kSkip
  int depth_ = 0;
  bool in_str_ = false, str_esc_ = false, scalar_ = false;
  std::vector<Call> calls_;
  bool open_ = false;        // a call object is being read (calls_.back() if any)
  size_t call_start_ = 0;    // where in held_ the open call's '{' is
  std::string held_;         // the held text scanned so far
  size_t fail_at_ = 0;       // kFailed: where in held_ the failure was
};

}  // namespace herd::chat
