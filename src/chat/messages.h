// OpenAI-shaped chat messages and tool definitions, and their JSON form.
//
// A conversation is a vector<Message> in the shape OpenAI's chat API uses (role,
// content, tool_calls, tool_call_id, name), because that is what files, HTTP requests
// and `herd chat` /save files carry. Llama 3.1 specifics (the ipython role, built-in
// tools, <|python_tag|>) are the renderer's business (llama3_format.h); here the only
// Llama knowledge is which tool names are Meta's built-ins.
//
// parse_messages_json / parse_tools_json validate untrusted JSON once, at the edge, and
// report the first problem with its field path ("messages[2].content: expected string
// or array of text parts, got number"). Everything they return satisfies the invariants
// below, so the renderer only asserts.
//
// Invariants of a parsed Message: role is one of system, user, assistant, tool, ipython
// ("tool" is OpenAI's name for Llama's ipython role and is kept as given so a /save file
// round-trips); tool_calls only on assistant messages; every ToolCall::arguments is the
// compact text of a JSON object, key order as written.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace herd::chat {

// Meta's BuiltinTool names (spec/llama31.md section 5.3). brave_search, wolfram_alpha
// and photogen are called as NAME.call(query="..."); code_interpreter is raw Python.
bool is_builtin_tool(std::string_view name);

struct ToolCall {
  std::string id;                // OpenAI call id ("call_0"); not seen by the model
  std::string name;              // function or built-in tool name
  std::string arguments = "{}";  // compact JSON object text, key order preserved
  bool builtin = false;          // name is one of Meta's built-in tools
};

struct Message {
  std::string role;  // system | user | assistant | tool | ipython
  std::string content;
  std::vector<ToolCall> tool_calls;  // assistant only
  std::string tool_call_id;          // tool/ipython results: the call answered (optional)
  std::string name;                  // optional participant / tool name
};

// A custom (user-defined) function, from an OpenAI tools entry
// {"type": "function", "function": {"name", "description", "parameters"}}.
struct ToolDef {
  std::string name;
  std::string description;
  std::string parameters = "{}";  // JSON Schema object text, key order preserved
  bool strict = false;            // OpenAI's function.strict: unsupported schema keywords are errors
};

// The tools a conversation may use: Meta built-ins by name (in the order given, which
// is the order of the "Tools:" line) and custom function definitions.
struct ToolSet {
  std::vector<std::string> builtin;
  std::vector<ToolDef> custom;
  bool empty() const { return builtin.empty() && custom.empty(); }
};

// Parses a JSON array of messages, or an object with a "messages" array (an OpenAI
// request body; its other keys are ignored). Content may be a string, null (assistant
// messages with tool_calls only) or an array of {"type": "text", "text": ...} parts,
// which are concatenated. A tool call is {"id"?, "type"?: "function", "function":
// {"name", "arguments"}} where arguments is a JSON object or a string holding one.
// Errors are kInvalidArgument naming the field path.
Result<std::vector<Message>> parse_messages_json(std::string_view json_text);

// Parses a JSON array of tools, or an object with a "tools" array. Each entry is a
// built-in tool name as a string ("brave_search"), {"type": "builtin", "name": ...}, or
// an OpenAI function tool. Unknown built-in names and duplicate names are errors.
Result<ToolSet> parse_tools_json(std::string_view json_text);

// The messages as an OpenAI-shaped JSON array (pretty-printed with indent 2), which
// parse_messages_json reads back to equal messages. Empty optional fields are omitted.
std::string messages_to_json(const std::vector<Message>& messages);

// The tools as a JSON array parse_tools_json reads back (built-ins as strings).
std::string tools_to_json(const ToolSet& tools);

}  // namespace herd::chat
