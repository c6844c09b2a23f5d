// See tool_call_stream.h.
#include "chat/tool_call_stream.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "base/json_depth.h"

namespace herd::chat {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view kPythonTag = "<|python_tag|>";

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

bool ToolCallStream::str_step(Str& s, char c) {
  if (s.hex_left > 0) {
    const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 0;
    s.cp = s.cp * 16 + static_cast<uint32_t>(d);
    if (--s.hex_left == 0) {
      if (s.cp >= 0xD800 && s.cp <= 0xDBFF) {
        s.high = s.cp;
      } else if (s.cp >= 0xDC00 && s.cp <= 0xDFFF && s.high) {
        append_utf8(s.out, 0x10000 + ((s.high - 0xD800) << 10) + (s.cp - 0xDC00));
        s.high = 0;
      } else {
        append_utf8(s.out, s.cp);
      }
    }
    return true;
  }
  if (s.esc) {
    s.esc = false;
    switch (c) {
      case 'n': s.out += '\n'; break;
      case 't': s.out += '\t'; break;
      case 'r': s.out += '\r'; break;
      case 'b': s.out += '\b'; break;
      case 'f': s.out += '\f'; break;
      case 'u': s.hex_left = 4; s.cp = 0; break;
      default: s.out += c;
    }
    return true;
  }
  if (c == '\\') {
    s.esc = true;
    return true;
  }
  if (c == '"') return false;
  s.out += c;
  return true;
}

// Skipping a value of another key: containers by depth, strings by quote, scalars until
// a delimiter (returned unconsumed: false).
bool ToolCallStream::skip_step(char c) {
  if (in_str_) {
    if (str_esc_) str_esc_ = false;
    else if (c == '\\') str_esc_ = true;
    else if (c == '"') {
      in_str_ = false;
      if (depth_ == 0) phase_ = Phase::kObjNext;
    }
    return true;
  }
  if (scalar_) {
    if (c == ',' || c == '}' || c == ']' || is_ws(c)) return false;
    return true;
  }
  if (c == '"') in_str_ = true;
  else if (c == '{' || c == '[') ++depth_;
  else if ((c == '}' || c == ']') && --depth_ == 0) phase_ = Phase::kObjNext;
  return true;
}

void ToolCallStream::fail() {
  fail_at_ = held_.size() - 1;
  if (open_ && !calls_.empty() && !calls_.back().announced) {
    calls_.pop_back();
    fail_at_ = call_start_;  // the whole object is text, not a call
  }
  open_ = false;
  phase_ = Phase::kFailed;
}

void ToolCallStream::finish_args_string(Call& call) {
  if (!json_depth_within(call.args)) return;  // left as the string the model wrote
  Json inner = Json::parse(call.args, nullptr, /*allow_exceptions=*/false);
  if (inner.is_object()) call.args = inner.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void ToolCallStream::end_call() {
  Call& call = calls_.back();
  if (call.name.empty()) {  // an object, but not a call
    fail();
    return;
  }
  open_ = false;
  call.complete = true;
  if (call.args_string) finish_args_string(call);
  if (call.args.empty()) call.args = "{}";
  if (!json_depth_within(call.args)) {  // model output nesting past the limit: not a call
    fail();
    return;
  }
  if (is_builtin_tool(call.name)) {
    // Meta's mapping of a custom-format call naming a built-in (tool_calls.h).
    Json args = Json::parse(call.args, nullptr, false);
    if (args.is_object() && call.name != "code_interpreter" && !args.contains("query") && !args.empty()) {
      Json q = Json::object();
      q["query"] = args.begin().value();
      args = q;
    }
    if (args.is_object()) call.args = args.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  phase_ = static_cast<int>(calls_.size()) >= max_calls_ ? Phase::kDropped : Phase::kBetween;
}

void ToolCallStream::scan(char c) {
  switch (phase_) {
    case Phase::kLead:
      if (is_ws(c)) return;
      if (c == '<' && tag_pos_ == 0) {
        tag_pos_ = 1;
        phase_ = Phase::kTag;
        return;
      }
      if (c == '[') {
        in_array_ = true;
        phase_ = Phase::kBetween;
        return;
      }
      if (c == '{') break;  // a call starts: below
      return fail();
    case Phase::kTag:
      if (c != kPythonTag[tag_pos_]) return fail();
      if (++tag_pos_ == kPythonTag.size()) phase_ = Phase::kLead;
      return;
    case Phase::kBetween:
      if (is_ws(c) || c == ',' || (!in_array_ && c == ';')) return;
      if (c == ']' && in_array_) {
        phase_ = Phase::kAfterArray;
        return;
      }
      if (c == '{') break;
      return fail();
    case Phase::kObjKey:
      if (is_ws(c)) return;
      if (c == '"') {
        str_ = Str{};
        phase_ = Phase::kKey;
        return;
      }
      if (c == '}') {
        if (obj_level_ == 2) {
          obj_level_ = 1;
          phase_ = Phase::kObjNext;
          return;
        }
        return end_call();
      }
      return fail();
    case Phase::kKey:
      if (!str_step(str_, c)) {
        key_ = str_.out;
        phase_ = Phase::kColon;
      }
      return;
    case Phase::kColon:
      if (is_ws(c)) return;
      if (c != ':') return fail();
      phase_ = Phase::kValue;
      return;
    case Phase::kValue: {
      if (is_ws(c)) return;
      Call& call = calls_.back();
      if (key_ == "name") {
        if (c != '"') return fail();
        str_ = Str{};
        phase_ = Phase::kName;
        return;
      }
      if (key_ == "parameters" || key_ == "arguments") {
        if (c == '{') {
          call.args = "{";
          call.args_string = false;
          depth_ = 1;
          in_str_ = str_esc_ = false;
          phase_ = Phase::kArgs;
          return;
        }
        if (c == '"') {
          str_ = Str{};
          phase_ = Phase::kArgsString;
          return;
        }
        if (c != 'n') return fail();  // null: no arguments; anything else is no call
      }
      if (key_ == "function" && c == '{' && obj_level_ == 1) {
        obj_level_ = 2;
        phase_ = Phase::kObjKey;
        return;
      }
      depth_ = 0;
      in_str_ = str_esc_ = false;
      scalar_ = c != '{' && c != '[' && c != '"';
      phase_ = Phase::kSkip;
      skip_step(c);
      return;
    }
    case Phase::kName:
      if (!str_step(str_, c)) {
        if (!calls_.back().announced) calls_.back().name = str_.out;
        phase_ = Phase::kObjNext;
      }
      return;
    case Phase::kArgs: {
      Call& call = calls_.back();
      if (in_str_) {
        call.args += c;
        if (str_esc_) str_esc_ = false;
        else if (c == '\\') str_esc_ = true;
        else if (c == '"') in_str_ = false;
        return;
      }
      if (is_ws(c)) return;
      call.args += c;
      if (c == '"') in_str_ = true;
      else if (c == '{' || c == '[') ++depth_;
      else if ((c == '}' || c == ']') && --depth_ == 0) phase_ = Phase::kObjNext;
      return;
    }
    case Phase::kArgsString:
      if (!str_step(str_, c)) {
        calls_.back().args = str_.out;
        calls_.back().args_string = true;
        phase_ = Phase::kObjNext;
      }
      return;
    case Phase::kSkip:
      if (skip_step(c)) return;
      phase_ = Phase::kObjNext;
      return scan(c);
    case Phase::kObjNext:
      if (is_ws(c)) return;
      if (c == ',') {
        phase_ = Phase::kObjKey;
        return;
      }
      if (c == '}') {
        if (obj_level_ == 2) {
          obj_level_ = 1;
          return;
        }
        return end_call();
      }
      return fail();
    case Phase::kAfterArray:
      if (!is_ws(c)) fail();
      return;
    case Phase::kDropped:
    case Phase::kFailed:
      return;
  }
  // c == '{': a call object starts.
  if (static_cast<int>(calls_.size()) >= max_calls_) {
    phase_ = Phase::kDropped;
    return;
  }
  calls_.emplace_back();
  call_start_ = held_.size() - 1;
  open_ = true;
  obj_level_ = 1;
  phase_ = Phase::kObjKey;
}

void ToolCallStream::emit(StreamStep& out) {
  for (size_t i = 0; i < calls_.size(); ++i) {
    Call& call = calls_[i];
    if (call.name.empty()) continue;
    // Built-in names and string arguments are rewritten at the end: sent whole then.
    const bool whole = is_builtin_tool(call.name) || call.args_string;
    const size_t ready = whole ? (call.complete ? call.args.size() : 0) : call.args.size();
    if (!call.announced) {
      call.announced = true;
      ToolCallDelta d;
      d.index = static_cast<int>(i);
      d.first = true;
      d.name = call.name;
      d.arguments = call.args.substr(0, ready);
      call.sent = ready;
      out.deltas.push_back(std::move(d));
      continue;
    }
    if (ready > call.sent) {
      ToolCallDelta d;
      d.index = static_cast<int>(i);
      d.arguments = call.args.substr(call.sent, ready - call.sent);
      call.sent = ready;
      out.deltas.push_back(std::move(d));
    }
  }
}

StreamStep ToolCallStream::push(std::string_view piece) {
  StreamStep out;
  out.content = text_.push(piece);
  if (text_.held_mode()) {
    const std::string_view held = text_.held_text();
    while (fed_ < held.size()) {
      held_ += held[fed_++];
      scan(held_.back());
    }
  }
  emit(out);
  return out;
}

ToolCallStream::Final ToolCallStream::finish() {
  if (text_.held_mode()) {
    const std::string_view held = text_.held_text();
    while (fed_ < held.size()) {
      held_ += held[fed_++];
      scan(held_.back());
    }
  }
  ParsedOutput parsed = text_.finish();
  Final f;
  const bool any = std::any_of(calls_.begin(), calls_.end(), [](const Call& c) { return !c.name.empty(); });
  if (!any) {
    // Not a streamed JSON call: the whole-text parse decides (calls sent whole now).
    f.rest.content = std::move(parsed.content);
    f.rejected = std::move(parsed.rejected);
    for (size_t k = 0; k < parsed.tool_calls.size() && static_cast<int>(k) < max_calls_; ++k) {
      ToolCallDelta d;
      d.index = static_cast<int>(k);
      d.first = true;
      d.name = parsed.tool_calls[k].name;
      d.arguments = parsed.tool_calls[k].arguments;
      f.rest.deltas.push_back(std::move(d));
      f.calls.push_back(std::move(parsed.tool_calls[k]));
    }
  } else {
    // A call cut short keeps the arguments generated so far (as OpenAI's do).
    for (Call& call : calls_) {
      if (call.complete || call.name.empty()) continue;
      if (call.args_string) finish_args_string(call);
      call.complete = true;
    }
    emit(f.rest);
    for (size_t i = 0; i < calls_.size(); ++i) {
      const Call& call = calls_[i];
      if (call.name.empty()) continue;
      ToolCall tc;
      tc.id = "call_" + std::to_string(f.calls.size());
      tc.name = call.name;
      tc.arguments = call.args.substr(0, call.sent);
      tc.builtin = is_builtin_tool(call.name);
      f.calls.push_back(std::move(tc));
    }
    if (phase_ == Phase::kFailed) f.rest.content = held_.substr(fail_at_);
  }
  *this = ToolCallStream(max_calls_);
  return f;
}

}  // namespace herd::chat
