// Tool-call parsing (see tool_calls.h).
#include "chat/tool_calls.h"

#include <nlohmann/json.hpp>

#include "base/json_depth.h"

namespace herd::chat {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view kPythonTag = "<|python_tag|>";
constexpr std::string_view kFunctionOpen = "<function=";
constexpr std::string_view kFunctionClose = "</function>";
constexpr std::string_view kAssistantHeader = "<|start_header_id|>assistant<|end_header_id|>\n\n";
constexpr std::string_view kEndMarkers[] = {"<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"};
// Built-ins called as NAME.call(...): a reply starting with one of these is a call.
constexpr std::string_view kCallOpeners[] = {"brave_search.call(", "wolfram_alpha.call(", "photogen.call("};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_ident(char c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }
bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

size_t skip_separators(std::string_view s, size_t i) {
  while (i < s.size() && (is_space(s[i]) || s[i] == ';' || s[i] == ',')) ++i;
  return i;
}

// The end (one past) of the JSON object or array starting at s[i] ('{' or '['),
// tracking strings and escapes; npos if it never closes. Only brackets are matched;
// nlohmann validates the span afterwards.
size_t json_span_end(std::string_view s, size_t i) {
  int depth = 0;
  bool in_string = false;
  for (size_t k = i; k < s.size(); ++k) {
    const char c = s[k];
    if (in_string) {
      if (c == '\\') {
        ++k;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return k + 1;
    }
  }
  return std::string_view::npos;
}

Json parse_json_or_discard(std::string_view s) {
  // Model output: nesting past kMaxJsonDepth is not a call (nothing below recurses deeper).
  if (!json_depth_within(s)) return Json(Json::value_t::discarded);
  return Json::parse(s.begin(), s.end(), nullptr, /*allow_exceptions=*/false);
}

// Meta maps a custom-format call naming a built-in to the built-in with
// {"query": <first argument>} (chat_format.py); code_interpreter keeps its "code".
void normalize_builtin(ToolCall& call, Json& args) {
  call.builtin = is_builtin_tool(call.name);
  if (call.builtin && call.name != "code_interpreter" && !args.contains("query") && !args.empty()) {
    Json first = args.begin().value();
    args = Json::object();
    args["query"] = first;
  }
}

Result<ToolCall> call_from_json_object(const Json& obj, size_t index) {
  if (!obj.is_object()) return err(ErrorCode::kInvalidArgument, "call %zu: not a JSON object", index);
  const Json* fn = &obj;
  if (auto f = obj.find("function"); f != obj.end() && f->is_object()) fn = &*f;  // OpenAI nesting
  auto name = fn->find("name");
  if (name == fn->end() || !name->is_string() || name->get_ref<const std::string&>().empty()) {
    return err(ErrorCode::kInvalidArgument, "call %zu: no \"name\" string, so not a tool call", index);
  }
  Json args = Json::object();
  const char* keys[] = {"parameters", "arguments"};
  for (const char* key : keys) {
    auto a = fn->find(key);
    if (a == fn->end() || a->is_null()) continue;
    if (a->is_string()) {
      Json inner = parse_json_or_discard(a->get_ref<const std::string&>());
      if (!inner.is_object()) {
        return err(ErrorCode::kInvalidArgument, "call %zu: \"%s\" is a string that is not a JSON object", index, key);
      }
      args = std::move(inner);
    } else if (a->is_object()) {
      args = *a;
    } else {
      return err(ErrorCode::kInvalidArgument, "call %zu: \"%s\" is not an object", index, key);
    }
    break;
  }
  ToolCall call;
  call.id = "call_" + std::to_string(index);
  call.name = name->get<std::string>();
  normalize_builtin(call, args);
  call.arguments = args.dump();
  return call;
}

// A Python-ish literal in NAME.call(k=<literal>): "..." or '...' (backslash escapes),
// a number, True/False/None or true/false/null. Returns the end position or npos.
size_t parse_literal(std::string_view s, size_t i, Json* out) {
  if (i >= s.size()) return std::string_view::npos;
  const char q = s[i];
  if (q == '"' || q == '\'') {
    std::string v;
    for (size_t k = i + 1; k < s.size(); ++k) {
      if (s[k] == '\\' && k + 1 < s.size()) {
        const char e = s[++k];
        v += e == 'n' ? '\n' : e == 't' ? '\t' : e;
      } else if (s[k] == q) {
        *out = v;
        return k + 1;
      } else {
        v += s[k];
      }
    }
    return std::string_view::npos;
  }
  size_t k = i;
  while (k < s.size() && (is_ident(s[k]) || s[k] == '.' || s[k] == '-' || s[k] == '+')) ++k;
  const std::string_view word = s.substr(i, k - i);
  if (word.empty()) return std::string_view::npos;
  if (word == "True" || word == "true") {
    *out = true;
  } else if (word == "False" || word == "false") {
    *out = false;
  } else if (word == "None" || word == "null") {
    *out = nullptr;
  } else {
    Json num = parse_json_or_discard(word);
    if (!num.is_number()) return std::string_view::npos;
    *out = std::move(num);
  }
  return k;
}

// StreamingToolParser and parse_assistant_output share this; it does not strip the
// header or end markers.
ParsedOutput parse_impl(std::string_view text) {
  ParsedOutput out;
  if (const size_t tag = text.find(kPythonTag); tag != std::string_view::npos) {
    out.python_tag = true;
    const std::string_view before = text.substr(0, tag);
    const std::string_view body = text.substr(tag + kPythonTag.size());
    const std::string_view t = trim(body);
    out.content = std::string(before);
    if (t.empty()) return out;
    if (body.find(kFunctionOpen) != std::string_view::npos) {
      std::string outside;
      auto calls = parse_function_tag_calls(body, &outside);
      if (calls && trim(outside).empty()) {
        out.tool_calls = std::move(*calls);
        return out;
      }
    }
    if (t.front() == '{' || t.front() == '[') {
      auto calls = parse_json_calls(t);
      if (calls) {
        out.tool_calls = std::move(*calls);
      } else {
        out.content += std::string(body);
        out.rejected = calls.error().message();
      }
      return out;
    }
    if (auto calls = parse_builtin_calls(t)) {
      out.tool_calls = std::move(*calls);
      return out;
    }
    // Meta: after <|python_tag|>, anything else is code for the interpreter.
    ToolCall code;
    code.id = "call_0";
    code.name = "code_interpreter";
    code.builtin = true;
    Json args = Json::object();
    args["code"] = std::string(body);
    code.arguments = args.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out.tool_calls.push_back(std::move(code));
    return out;
  }
  if (text.find(kFunctionOpen) != std::string_view::npos) {
    std::string outside;
    auto calls = parse_function_tag_calls(text, &outside);
    if (calls) {
      out.content = std::move(outside);
      out.tool_calls = std::move(*calls);
    } else {
      out.content = std::string(text);
      out.rejected = calls.error().message();
    }
    return out;
  }
  const std::string_view t = trim(text);
  if (!t.empty() && (t.front() == '{' || t.front() == '[')) {
    auto calls = parse_json_calls(t);
    if (calls) {
      out.tool_calls = std::move(*calls);
    } else {
      out.content = std::string(text);
      out.rejected = calls.error().message();
    }
    return out;
  }
  for (std::string_view opener : kCallOpeners) {
    if (!starts_with(t, opener)) continue;
    auto calls = parse_builtin_calls(t);
    bool all_builtin = calls.has_value();
    if (calls)
      for (const ToolCall& c : *calls) all_builtin = all_builtin && c.builtin;
    if (all_builtin) {
      out.tool_calls = std::move(*calls);
    } else {
      out.content = std::string(text);
      out.rejected = calls ? "a call to a tool that is not built in" : calls.error().message();
    }
    return out;
  }
  out.content = std::string(text);
  return out;
}

// True if s is a proper, non-empty prefix of p.
bool is_proper_prefix(std::string_view s, std::string_view p) {
  return !s.empty() && s.size() < p.size() && starts_with(p, s);
}

}  // namespace

Result<std::vector<ToolCall>> parse_builtin_calls(std::string_view body) {
  const std::string_view s = trim(body);
  std::vector<ToolCall> calls;
  size_t i = 0;
  while (i < s.size()) {
    size_t k = i;
    if (!is_ident_start(s[k])) return err(ErrorCode::kInvalidArgument, "built-in call: expected a tool name at %zu", i);
    while (k < s.size() && is_ident(s[k])) ++k;
    ToolCall call;
    call.name = std::string(s.substr(i, k - i));
    if (!starts_with(s.substr(k), ".call(")) {
      return err(ErrorCode::kInvalidArgument, "built-in call: expected %s.call( at %zu", call.name.c_str(), i);
    }
    k += 6;
    Json args = Json::object();
    for (;;) {
      while (k < s.size() && is_space(s[k])) ++k;
      if (k < s.size() && s[k] == ')') {
        ++k;
        break;
      }
      const size_t key_start = k;
      while (k < s.size() && is_ident(s[k])) ++k;
      if (k == key_start || k >= s.size() || s[k] != '=') {
        return err(ErrorCode::kInvalidArgument, "built-in call %s: expected key=value at %zu", call.name.c_str(), k);
      }
      const std::string key(s.substr(key_start, k - key_start));
      Json value;
      k = parse_literal(s, k + 1, &value);
      if (k == std::string_view::npos) {
        return err(ErrorCode::kInvalidArgument, "built-in call %s: bad or unterminated value for %s",
                   call.name.c_str(), key.c_str());
      }
      args[key] = std::move(value);
      while (k < s.size() && is_space(s[k])) ++k;
      if (k < s.size() && s[k] == ',') ++k;
    }
    call.id = "call_" + std::to_string(calls.size());
    call.builtin = is_builtin_tool(call.name);
    call.arguments = args.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    calls.push_back(std::move(call));
    i = skip_separators(s, k);
  }
  if (calls.empty()) return err(ErrorCode::kInvalidArgument, "built-in call: empty");
  return calls;
}

Result<std::vector<ToolCall>> parse_json_calls(std::string_view body) {
  const std::string_view s = trim(body);
  std::vector<ToolCall> calls;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] != '{' && s[i] != '[') {
      return err(ErrorCode::kInvalidArgument, "JSON call: unexpected text at %zu after the calls", i);
    }
    const size_t end = json_span_end(s, i);
    if (end == std::string_view::npos) {
      return err(ErrorCode::kInvalidArgument, "JSON call: unterminated JSON starting at %zu", i);
    }
    Json v = parse_json_or_discard(s.substr(i, end - i));
    if (v.is_discarded()) return err(ErrorCode::kInvalidArgument, "JSON call: invalid JSON at %zu", i);
    if (v.is_array()) {
      if (v.empty()) return err(ErrorCode::kInvalidArgument, "JSON call: empty array");
      for (const Json& e : v) {
        HERD_ASSIGN_OR_RETURN(ToolCall c, call_from_json_object(e, calls.size()));
        calls.push_back(std::move(c));
      }
    } else {
      HERD_ASSIGN_OR_RETURN(ToolCall c, call_from_json_object(v, calls.size()));
      calls.push_back(std::move(c));
    }
    i = skip_separators(s, end);
  }
  if (calls.empty()) return err(ErrorCode::kInvalidArgument, "JSON call: empty");
  return calls;
}

Result<std::vector<ToolCall>> parse_function_tag_calls(std::string_view text, std::string* outside) {
  std::vector<ToolCall> calls;
  std::string rest;
  size_t i = 0;
  for (;;) {
    const size_t open = text.find(kFunctionOpen, i);
    if (open == std::string_view::npos) {
      rest += text.substr(i);
      break;
    }
    rest += text.substr(i, open - i);
    const size_t name_start = open + kFunctionOpen.size();
    const size_t gt = text.find('>', name_start);
    if (gt == std::string_view::npos) return err(ErrorCode::kInvalidArgument, "<function=: no closing '>'");
    const std::string_view name = text.substr(name_start, gt - name_start);
    if (name.empty() || name.find_first_of("{}<\n") != std::string_view::npos) {
      return err(ErrorCode::kInvalidArgument, "<function=: bad function name \"%.*s\"", static_cast<int>(name.size()),
                 name.data());
    }
    size_t k = gt + 1;
    while (k < text.size() && is_space(text[k])) ++k;
    if (k >= text.size() || text[k] != '{') {
      return err(ErrorCode::kInvalidArgument, "<function=%.*s>: arguments must be a JSON object",
                 static_cast<int>(name.size()), name.data());
    }
    const size_t end = json_span_end(text, k);
    if (end == std::string_view::npos) {
      return err(ErrorCode::kInvalidArgument, "<function=%.*s>: unterminated JSON", static_cast<int>(name.size()),
                 name.data());
    }
    const std::string_view raw = text.substr(k, end - k);
    Json args = parse_json_or_discard(raw);
    if (args.is_discarded()) {
      // Meta retries with single quotes replaced by double quotes (tool_utils.py).
      std::string swapped(raw);
      for (char& c : swapped)
        if (c == '\'') c = '"';
      args = parse_json_or_discard(swapped);
    }
    if (!args.is_object()) {
      return err(ErrorCode::kInvalidArgument, "<function=%.*s>: invalid JSON arguments",
                 static_cast<int>(name.size()), name.data());
    }
    ToolCall call;
    call.id = "call_" + std::to_string(calls.size());
    call.name = std::string(name);
    normalize_builtin(call, args);
    call.arguments = args.dump();
    calls.push_back(std::move(call));
    i = end;
    size_t c = i;
    while (c < text.size() && is_space(text[c])) ++c;
    if (starts_with(text.substr(c), kFunctionClose)) i = c + kFunctionClose.size();
  }
  if (calls.empty()) return err(ErrorCode::kInvalidArgument, "no <function=...> call");
  if (outside) *outside = std::move(rest);
  return calls;
}

ParsedOutput parse_assistant_output(std::string_view text) {
  if (starts_with(text, kAssistantHeader)) text.remove_prefix(kAssistantHeader.size());
  for (std::string_view end : kEndMarkers) {
    if (text.size() >= end.size() && text.substr(text.size() - end.size()) == end) {
      text.remove_suffix(end.size());
      break;
    }
  }
  return parse_impl(text);
}

std::string StreamingToolParser::push(std::string_view piece) {
  all_ += piece;
  if (mode_ == Mode::kUndecided) {
    size_t p = 0;
    while (p < all_.size() && is_space(all_[p])) ++p;
    const std::string_view rest = std::string_view(all_).substr(p);
    if (rest.empty()) return {};
    if (rest.front() == '{' || rest.front() == '[') {
      mode_ = Mode::kHeld;
      return {};
    }
    bool undecided = false;
    const std::string_view markers[] = {kPythonTag,     kFunctionOpen,  kCallOpeners[0],
                                        kCallOpeners[1], kCallOpeners[2]};
    for (std::string_view m : markers) {
      if (starts_with(rest, m)) {
        mode_ = Mode::kHeld;
        return {};
      }
      undecided = undecided || is_proper_prefix(rest, m);
    }
    if (undecided) return {};
    mode_ = Mode::kText;
  }
  if (mode_ == Mode::kHeld) return {};
  // Text mode: emit up to the first marker (then hold the rest), or up to a suffix that
  // may still grow into a marker.
  const std::string_view all(all_);
  size_t stop = std::string_view::npos;
  for (std::string_view m : {kPythonTag, kFunctionOpen}) {
    const size_t at = all.find(m, emitted_);
    if (at < stop) stop = at;
  }
  if (stop != std::string_view::npos) {
    mode_ = Mode::kHeld;
  } else {
    stop = all.size();
    for (size_t k = emitted_; k < all.size(); ++k) {
      const std::string_view tail = all.substr(k);
      if (is_proper_prefix(tail, kPythonTag) || is_proper_prefix(tail, kFunctionOpen)) {
        stop = k;
        break;
      }
    }
  }
  std::string out(all.substr(emitted_, stop - emitted_));
  emitted_ = stop;
  return out;
}

ParsedOutput StreamingToolParser::finish() {
  ParsedOutput parsed = parse_impl(all_);
  // The emitted text is always a prefix of the parsed content (see the header); if that
  // ever failed, keep the user's view consistent rather than duplicating text.
  if (parsed.content.compare(0, emitted_, all_, 0, emitted_) == 0) {
    parsed.content.erase(0, emitted_);
  } else {
    parsed.content = all_.substr(emitted_);
    parsed.tool_calls.clear();
    parsed.rejected = "internal: streamed text diverged from the parse";
  }
  all_.clear();
  emitted_ = 0;
  mode_ = Mode::kUndecided;
  return parsed;
}

}  // namespace herd::chat
