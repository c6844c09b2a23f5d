// Rendering conversations in the Llama 3.1 prompt format (see llama3_format.h).
#include "chat/llama3_format.h"

#include <ctime>

#include <nlohmann/json.hpp>

#include "base/json_depth.h"
#include "chat/python_json.h"

namespace herd::chat {
namespace {

using Json = nlohmann::ordered_json;

constexpr const char* kBos = "<|begin_of_text|>";
constexpr const char* kStartHeader = "<|start_header_id|>";
constexpr const char* kEndHeader = "<|end_header_id|>";
constexpr const char* kEot = "<|eot_id|>";
constexpr const char* kEom = "<|eom_id|>";
constexpr const char* kPythonTag = "<|python_tag|>";

// Schema text from a parsed ToolDef/ToolCall: these were validated by messages.cpp, so
// a parse failure here is a programmer error; fall back to an empty object.
Json parse_object(const std::string& text) {
  if (!json_depth_within(text)) return Json::object();
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j : Json::object();
}

std::string string_or(const Json& obj, const char* key, const std::string& fallback) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : fallback;
}

// The properties of a tool's JSON Schema, in the order written.
Json schema_properties(const Json& params) {
  auto it = params.find("properties");
  return it != params.end() && it->is_object() ? *it : Json::object();
}

bool is_required(const Json& params, const std::string& name) {
  auto it = params.find("required");
  if (it == params.end() || !it->is_array()) return false;
  for (const Json& r : *it)
    if (r.is_string() && r.get_ref<const std::string&>() == name) return true;
  return false;
}

// Meta's JsonCustomToolGenerator template, reproduced literally: the "properties" of
// each tool are a list of one-key objects whose "type" is always "object" (sic), and
// names and descriptions are spliced into the JSON (herd escapes them, so a quote in a
// description cannot break the block; for ordinary text the bytes are Meta's).
std::string json_tool_block(const std::vector<ToolDef>& tools) {
  std::string s =
      "Answer the user's question by making use of the following functions if needed.\n"
      "If none of the function can be used, please say so.\n"
      "Here is a list of functions in JSON format:\n";
  for (const ToolDef& t : tools) {
    const Json params = parse_object(t.parameters);
    const Json props = schema_properties(params);
    Json required = Json::array();
    s += "{\n    \"type\": \"function\",\n    \"function\": {\n        \"name\": \"" + json_escape(t.name) +
         "\",\n        \"description\": \"" + json_escape(t.description) +
         "\",\n        \"parameters\": {\n            \"type\": \"object\",\n            \"properties\": [";
    size_t i = 0;
    for (auto it = props.begin(); it != props.end(); ++it, ++i) {
      const std::string desc = it->is_object() ? string_or(*it, "description", "") : "";
      s += "\n                {\n                    \"" + json_escape(it.key()) +
           "\": {\n                        \"type\": \"object\",\n                        \"description\": \"" +
           json_escape(desc) + "\"\n                    }\n                }";
      if (i + 1 < props.size()) s += ",";
      if (is_required(params, it.key())) required.push_back(it.key());
    }
    PyJsonStyle tojson;
    tojson.sort_keys = true;
    tojson.html_safe = true;
    s += "\n            ],\n            \"required\": " + py_json_dumps(required, tojson) + "\n        }\n    }\n}\n";
  }
  s += "\nReturn function calls in JSON format.";
  return s;
}

// Meta's FunctionTagCustomToolGenerator template. Parameters are Meta's
// ToolParamDefinition fields {description, param_type, required} (default dropped, as
// the template does), written with Jinja |tojson (sorted keys); param_type is the JSON
// Schema "type" string as given.
std::string function_tag_tool_block(const std::vector<ToolDef>& tools) {
  std::string s = "You have access to the following functions:\n\n";
  PyJsonStyle tojson;
  tojson.sort_keys = true;
  tojson.html_safe = true;
  for (const ToolDef& t : tools) {
    const Json params = parse_object(t.parameters);
    const Json props = schema_properties(params);
    Json meta_params = Json::object();
    for (auto it = props.begin(); it != props.end(); ++it) {
      Json p = Json::object();
      p["description"] = it->is_object() ? string_or(*it, "description", "") : "";
      Json type = it->is_object() && it->contains("type") ? it->at("type") : Json("string");
      p["param_type"] = type.is_string() ? type : Json(py_json_dumps(type));
      p["required"] = is_required(params, it.key());
      meta_params[it.key()] = std::move(p);
    }
    s += "Use the function '" + t.name + "' to '" + t.description + "':\n";
    s += "{\"name\": \"" + json_escape(t.name) + "\", \"description\": \"" + json_escape(t.description) +
         "\", \"parameters\": " + py_json_dumps(meta_params, tojson) + "}\n\n";
  }
  s +=
      "Think very carefully before calling functions.\n"
      "If you choose to call a function ONLY reply in the following format with no prefix or suffix:\n\n"
      "<function=example_function_name>{\"example_name\": \"example_value\"}</function>\n\n"
      "Reminder:\n"
      "- If looking for real time information use relevant functions before falling back to brave_search\n"
      "- Function calls MUST follow the specified format, start with <function= and end with </function>\n"
      "- Required parameters MUST be specified\n"
      "- Only call one function at a time\n"
      "- Put the entire function call reply on one line";
  return s;
}

// Meta's recommended_system_message (llama3/api/interface.py): tool lines, date lines,
// the user's instruction after a blank line, and a final newline.
std::string meta_system_text(const ToolSet& tools, const std::string& today, const std::string& tool_defs,
                             const std::string& user_system) {
  std::string s;
  if (!tools.empty()) {
    s += "Environment: ipython\n";
    std::string names;
    for (const std::string& b : tools.builtin) {
      if (b == "code_interpreter") continue;  // Environment: ipython alone enables it
      names += (names.empty() ? "" : ", ") + b;
    }
    // Meta's template ends the Tools line without a newline and the caller adds one, so
    // with no Tools line a blank line follows "Environment: ipython" (as in Meta's doc).
    if (!names.empty()) s += "Tools: " + names;
    s += "\n";
  }
  s += "Cutting Knowledge Date: December 2023\nToday Date: " + today;
  if (!tool_defs.empty()) s += "\n\n" + tool_defs;
  if (!user_system.empty()) s += "\n\n" + user_system;
  s += "\n";
  return s;
}

bool renders_with_python_tag(const ToolCall& call, ToolFormat format) {
  return call.builtin || format == ToolFormat::kJson;
}

}  // namespace

void Prompt::add_text(std::string text) {
  if (!text.empty()) segments_.push_back({false, std::move(text)});
}

std::string Prompt::text() const {
  std::string out;
  for (const Segment& s : segments_) out += s.text;
  return out;
}

Result<std::vector<int32_t>> Prompt::ids(const tokenizer::Tokenizer& tok) const {
  std::vector<int32_t> out;
  for (const Segment& s : segments_) {
    if (s.special) {
      const int32_t id = tok.special_id(s.text);
      if (id < 0) {
        return err(ErrorCode::kNotFound,
                   "the tokenizer has no control token %s (not a Llama 3.1 vocabulary?); "
                   "hint: the Llama 3.1 chat format needs ids 128000-128010",
                   s.text.c_str());
      }
      out.push_back(id);
    } else {
      tok.encode_ordinary(s.text, out);
    }
  }
  return out;
}

std::string meta_date(int year, int month, int day) {
  static const char* kMonths[] = {"January", "February", "March",     "April",   "May",      "June",
                                  "July",    "August",   "September", "October", "November", "December"};
  HERD_CHECK(month >= 1 && month <= 12, "month %d", month);
  return str_printf("%02d %s %d", day, kMonths[month - 1], year);
}

std::string today_meta_date() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  return meta_date(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

std::string render_tool_definitions(const std::vector<ToolDef>& tools, ToolFormat format) {
  return format == ToolFormat::kJson ? json_tool_block(tools) : function_tag_tool_block(tools);
}

Result<std::string> render_tool_call(const ToolCall& call, ToolFormat format) {
  if (!json_depth_within(call.arguments))
    return err(ErrorCode::kInvalidArgument, "tool call %s: arguments nest deeper than %d levels", call.name.c_str(),
               kMaxJsonDepth);
  Json args = Json::parse(call.arguments, nullptr, /*allow_exceptions=*/false);
  if (!args.is_object()) {
    return err(ErrorCode::kInvalidArgument, "tool call %s: arguments are not a JSON object: %s", call.name.c_str(),
               call.arguments.c_str());
  }
  if (call.name == "code_interpreter") {
    auto code = args.find("code");
    if (code == args.end() || !code->is_string()) {
      return err(ErrorCode::kInvalidArgument, "tool call code_interpreter: arguments need a \"code\" string");
    }
    return code->get<std::string>();
  }
  if (is_builtin_tool(call.name)) {
    // Meta writes NAME.call(query="..."); other keyword arguments, if any, follow in
    // order as the HF template writes them.
    if (args.empty()) {
      return err(ErrorCode::kInvalidArgument, "tool call %s: arguments need a \"query\"", call.name.c_str());
    }
    std::string s = call.name + ".call(";
    bool first = true;
    for (auto it = args.begin(); it != args.end(); ++it) {
      s += (first ? "" : ", ") + it.key() + "=";
      s += it->is_string() ? "\"" + it->get<std::string>() + "\"" : py_json_dumps(*it);
      first = false;
    }
    return s + ")";
  }
  if (format == ToolFormat::kFunctionTag) {
    return "<function=" + call.name + ">" + py_json_dumps(args) + "</function>";
  }
  Json obj = Json::object();
  obj["type"] = "function";
  obj["name"] = call.name;
  obj["parameters"] = std::move(args);
  return py_json_dumps(obj);
}

Result<std::vector<Message>> apply_conventions(const std::vector<Message>& messages, const ToolSet& tools,
                                               const FormatOptions& options) {
  for (size_t i = 0; i < messages.size(); ++i) {
    const Message& m = messages[i];
    if (m.role == "system" && i != 0) {
      return err(ErrorCode::kInvalidArgument,
                 "messages[%zu]: a system message must be the first message (found at index %zu)", i, i);
    }
    if (!m.tool_calls.empty() && m.role != "assistant") {
      return err(ErrorCode::kInvalidArgument, "messages[%zu]: only assistant messages make tool calls", i);
    }
  }
  const bool has_system = !messages.empty() && messages[0].role == "system";
  const std::string user_system = has_system ? messages[0].content : "";
  const std::string defs = tools.custom.empty() ? "" : render_tool_definitions(tools.custom, options.tool_format);

  std::vector<Message> out;
  const bool defs_in_system = !defs.empty() && options.tool_defs == ToolDefsPlacement::kSystemMessage;
  if (options.preamble == SystemPreamble::kMeta) {
    const std::string today = options.today.empty() ? today_meta_date() : options.today;
    out.push_back({"system", meta_system_text(tools, today, defs_in_system ? defs : "", user_system), {}, "", ""});
  } else if (has_system || defs_in_system) {
    std::string text = user_system;
    if (defs_in_system) text = text.empty() ? defs : text + "\n\n" + defs;
    out.push_back({"system", std::move(text), {}, "", ""});
  }
  if (!defs.empty() && options.tool_defs == ToolDefsPlacement::kUserMessage) {
    out.push_back({"user", defs, {}, "", ""});
  }
  bool merged = defs.empty() || options.tool_defs != ToolDefsPlacement::kFirstUserMessage;
  for (size_t i = has_system ? 1 : 0; i < messages.size(); ++i) {
    Message m = messages[i];
    if (!merged && m.role == "user") {
      m.content = defs + "\n\n" + m.content;
      merged = true;
    }
    out.push_back(std::move(m));
  }
  if (!merged) out.push_back({"user", defs, {}, "", ""});  // no user message to merge into
  return out;
}

Result<Prompt> format_messages(const std::vector<Message>& messages, const FormatOptions& options, bool add_bos) {
  Prompt p;
  if (add_bos) p.add_special(kBos);
  for (size_t i = 0; i < messages.size(); ++i) {
    const Message& m = messages[i];
    const std::string role = m.role == "tool" ? "ipython" : m.role;
    p.add_special(kStartHeader);
    p.add_text(role);
    p.add_special(kEndHeader);
    p.add_text("\n\n");
    p.add_text(m.content);
    bool tagged = false;
    for (size_t c = 0; c < m.tool_calls.size(); ++c) {
      auto text = render_tool_call(m.tool_calls[c], options.tool_format);
      if (!text) return std::move(text.error()).with_context(str_printf("messages[%zu].tool_calls[%zu]", i, c));
      if (!tagged && renders_with_python_tag(m.tool_calls[c], options.tool_format)) {
        p.add_special(kPythonTag);
        tagged = true;
      } else if (c > 0 && tagged) {
        p.add_text("; ");  // several calls in one message (3.1 documents one per message)
      }
      p.add_text(std::move(*text));
    }
    // <|eom_id|> marks a message the executor must answer with a tool result; Meta's
    // examples end python-tagged calls so and <function> calls with <|eot_id|>.
    p.add_special(tagged ? kEom : kEot);
  }
  if (options.add_generation_prompt) {
    p.add_special(kStartHeader);
    p.add_text("assistant");
    p.add_special(kEndHeader);
    p.add_text("\n\n");
  }
  return p;
}

Result<Prompt> render_prompt(const std::vector<Message>& messages, const ToolSet& tools,
                             const FormatOptions& options) {
  HERD_ASSIGN_OR_RETURN(std::vector<Message> full, apply_conventions(messages, tools, options));
  return format_messages(full, options, /*add_bos=*/true);
}

}  // namespace herd::chat
