// Parsing and writing OpenAI-shaped messages and tools (see messages.h).
#include "chat/messages.h"

#include <set>

#include <nlohmann/json.hpp>

#include "base/json_depth.h"

namespace herd::chat {
namespace {

using Json = nlohmann::ordered_json;

const char* type_name(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::object: return "object";
    case Json::value_t::array: return "array";
    case Json::value_t::string: return "string";
    case Json::value_t::boolean: return "boolean";
    case Json::value_t::discarded: return "invalid";
    default: return "number";
  }
}

Error field_error(const std::string& path, const std::string& what) {
  return Error(ErrorCode::kInvalidArgument, path + ": " + what);
}

Error expected(const std::string& path, const char* want, const Json& got) {
  return field_error(path, std::string("expected ") + want + ", got " + type_name(got));
}

// Parses text as JSON, turning nlohmann's exception into an Error (herd code does not
// throw; the library does, so it is caught at this boundary).
Result<Json> parse_json(std::string_view text, const char* what) {
  if (!json_depth_within(text))
    return err(ErrorCode::kInvalidArgument, "%s: JSON nests deeper than %d levels", what, kMaxJsonDepth);
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    return err(ErrorCode::kInvalidArgument, "%s: not valid JSON: %s", what, e.what());
  }
}

// Optional string field: absent or null -> "", string -> value, else an error.
Result<std::string> optional_string(const Json& obj, const char* key, const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::string();
  if (!it->is_string()) return expected(path + "." + key, "string", *it);
  return it->get<std::string>();
}

// A JSON object given as an object or as a string holding one -> compact text.
Result<std::string> json_object_text(const Json& v, const std::string& path) {
  if (v.is_object()) return v.dump();
  if (!v.is_string()) return expected(path, "JSON object or a string holding one", v);
  const std::string& s = v.get_ref<const std::string&>();
  if (!json_depth_within(s)) return field_error(path, "JSON nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  Json parsed;
  try {
    parsed = Json::parse(s);
  } catch (const nlohmann::json::parse_error& e) {
    return field_error(path, std::string("not valid JSON: ") + e.what());
  }
  if (!parsed.is_object()) return expected(path, "a JSON object", parsed);
  return parsed.dump();
}

Result<std::string> parse_content(const Json& msg, const std::string& path, bool allow_missing) {
  auto it = msg.find("content");
  const std::string p = path + ".content";
  if (it == msg.end() || it->is_null()) {
    if (allow_missing) return std::string();
    return field_error(p, "missing (required unless an assistant message has tool_calls)");
  }
  if (it->is_string()) return it->get<std::string>();
  if (!it->is_array()) return expected(p, "string or array of text parts", *it);
  std::string out;
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& part = (*it)[i];
    const std::string pp = p + "[" + std::to_string(i) + "]";
    if (part.is_string()) {
      out += part.get<std::string>();
      continue;
    }
    if (!part.is_object()) return expected(pp, "object", part);
    HERD_ASSIGN_OR_RETURN(std::string type, optional_string(part, "type", pp));
    if (type != "text") {
      return field_error(pp + ".type", "only \"text\" parts are supported, got \"" + type + "\"");
    }
    auto t = part.find("text");
    if (t == part.end() || !t->is_string()) {
      return expected(pp + ".text", "string", t == part.end() ? Json() : *t);
    }
    out += t->get<std::string>();
  }
  return out;
}

Result<ToolCall> parse_tool_call(const Json& tc, const std::string& path, size_t index) {
  if (!tc.is_object()) return expected(path, "object", tc);
  ToolCall call;
  HERD_ASSIGN_OR_RETURN(call.id, optional_string(tc, "id", path));
  if (call.id.empty()) call.id = "call_" + std::to_string(index);
  HERD_ASSIGN_OR_RETURN(std::string type, optional_string(tc, "type", path));
  if (!type.empty() && type != "function") {
    return field_error(path + ".type", "expected \"function\", got \"" + type + "\"");
  }
  // OpenAI nests name/arguments under "function"; accept them at the top level too.
  const Json* fn = &tc;
  std::string fpath = path;
  if (auto it = tc.find("function"); it != tc.end()) {
    if (!it->is_object()) return expected(path + ".function", "object", *it);
    fn = &*it;
    fpath = path + ".function";
  }
  auto name = fn->find("name");
  if (name == fn->end() || !name->is_string() || name->get_ref<const std::string&>().empty()) {
    return expected(fpath + ".name", "non-empty string", name == fn->end() ? Json() : *name);
  }
  call.name = name->get<std::string>();
  auto args = fn->find("arguments");
  if (args == fn->end() || args->is_null()) {
    call.arguments = "{}";
  } else {
    HERD_ASSIGN_OR_RETURN(call.arguments, json_object_text(*args, fpath + ".arguments"));
  }
  call.builtin = is_builtin_tool(call.name);
  return call;
}

Result<Message> parse_message(const Json& m, const std::string& path) {
  if (!m.is_object()) return expected(path, "object", m);
  Message msg;
  auto role = m.find("role");
  if (role == m.end() || !role->is_string()) {
    return expected(path + ".role", "string", role == m.end() ? Json() : *role);
  }
  msg.role = role->get<std::string>();
  static const std::set<std::string> kRoles = {"system", "user", "assistant", "tool", "ipython"};
  if (!kRoles.count(msg.role)) {
    return field_error(path + ".role",
                       "expected one of system, user, assistant, tool, ipython; got \"" + msg.role + "\"");
  }
  if (auto tcs = m.find("tool_calls"); tcs != m.end() && !tcs->is_null()) {
    if (msg.role != "assistant") return field_error(path + ".tool_calls", "only assistant messages make tool calls");
    if (!tcs->is_array()) return expected(path + ".tool_calls", "array", *tcs);
    for (size_t i = 0; i < tcs->size(); ++i) {
      HERD_ASSIGN_OR_RETURN(ToolCall call,
                            parse_tool_call((*tcs)[i], path + ".tool_calls[" + std::to_string(i) + "]", i));
      msg.tool_calls.push_back(std::move(call));
    }
  }
  HERD_ASSIGN_OR_RETURN(msg.content, parse_content(m, path, !msg.tool_calls.empty()));
  HERD_ASSIGN_OR_RETURN(msg.tool_call_id, optional_string(m, "tool_call_id", path));
  HERD_ASSIGN_OR_RETURN(msg.name, optional_string(m, "name", path));
  return msg;
}

Result<ToolDef> parse_function_tool(const Json& t, const std::string& path) {
  auto fn = t.find("function");
  if (fn == t.end() || !fn->is_object()) {
    return expected(path + ".function", "object", fn == t.end() ? Json() : *fn);
  }
  const std::string fp = path + ".function";
  ToolDef def;
  auto name = fn->find("name");
  if (name == fn->end() || !name->is_string() || name->get_ref<const std::string&>().empty()) {
    return expected(fp + ".name", "non-empty string", name == fn->end() ? Json() : *name);
  }
  def.name = name->get<std::string>();
  HERD_ASSIGN_OR_RETURN(def.description, optional_string(*fn, "description", fp));
  if (auto p = fn->find("parameters"); p != fn->end() && !p->is_null()) {
    if (!p->is_object()) return expected(fp + ".parameters", "object (a JSON Schema)", *p);
    if (auto props = p->find("properties"); props != p->end() && !props->is_object()) {
      return expected(fp + ".parameters.properties", "object", *props);
    }
    if (auto req = p->find("required"); req != p->end()) {
      if (!req->is_array()) return expected(fp + ".parameters.required", "array of strings", *req);
      for (size_t i = 0; i < req->size(); ++i) {
        if (!(*req)[i].is_string()) {
          return expected(fp + ".parameters.required[" + std::to_string(i) + "]", "string", (*req)[i]);
        }
      }
    }
    def.parameters = p->dump();
  }
  if (auto st = fn->find("strict"); st != fn->end() && !st->is_null()) {
    if (!st->is_boolean()) return expected(fp + ".strict", "boolean", *st);
    def.strict = st->get<bool>();
  }
  return def;
}

}  // namespace

bool is_builtin_tool(std::string_view name) {
  return name == "brave_search" || name == "wolfram_alpha" || name == "code_interpreter" ||
         name == "photogen";
}

Result<std::vector<Message>> parse_messages_json(std::string_view json_text) {
  HERD_ASSIGN_OR_RETURN(Json doc, parse_json(json_text, "messages"));
  const Json* arr = &doc;
  std::string base = "messages";
  if (doc.is_object()) {
    auto it = doc.find("messages");
    if (it == doc.end()) return field_error("messages", "expected an array, or an object with a \"messages\" array");
    arr = &*it;
  }
  if (!arr->is_array()) return expected(base, "array", *arr);
  std::vector<Message> out;
  out.reserve(arr->size());
  for (size_t i = 0; i < arr->size(); ++i) {
    HERD_ASSIGN_OR_RETURN(Message m, parse_message((*arr)[i], base + "[" + std::to_string(i) + "]"));
    out.push_back(std::move(m));
  }
  return out;
}

Result<ToolSet> parse_tools_json(std::string_view json_text) {
  HERD_ASSIGN_OR_RETURN(Json doc, parse_json(json_text, "tools"));
  const Json* arr = &doc;
  if (doc.is_object()) {
    auto it = doc.find("tools");
    if (it == doc.end()) return field_error("tools", "expected an array, or an object with a \"tools\" array");
    arr = &*it;
  }
  if (!arr->is_array()) return expected("tools", "array", *arr);
  ToolSet set;
  std::set<std::string> seen;
  for (size_t i = 0; i < arr->size(); ++i) {
    const Json& t = (*arr)[i];
    const std::string path = "tools[" + std::to_string(i) + "]";
    std::string builtin;
    if (t.is_string()) {
      builtin = t.get<std::string>();
    } else if (t.is_object()) {
      HERD_ASSIGN_OR_RETURN(std::string type, optional_string(t, "type", path));
      if (type == "builtin") {
        HERD_ASSIGN_OR_RETURN(builtin, optional_string(t, "name", path));
        if (builtin.empty()) return field_error(path + ".name", "missing built-in tool name");
      } else if (type == "function") {
        HERD_ASSIGN_OR_RETURN(ToolDef def, parse_function_tool(t, path));
        if (!seen.insert(def.name).second) return field_error(path, "duplicate tool name \"" + def.name + "\"");
        set.custom.push_back(std::move(def));
        continue;
      } else {
        return field_error(path + ".type", "expected \"function\" or \"builtin\", got \"" + type + "\"");
      }
    } else {
      return expected(path, "object or built-in tool name", t);
    }
    if (!is_builtin_tool(builtin)) {
      return field_error(path, "unknown built-in tool \"" + builtin +
                                   "\" (built-ins: brave_search, wolfram_alpha, code_interpreter, photogen;"
                                   " define other tools as {\"type\": \"function\", ...})");
    }
    if (!seen.insert(builtin).second) return field_error(path, "duplicate tool name \"" + builtin + "\"");
    set.builtin.push_back(builtin);
  }
  return set;
}

std::string messages_to_json(const std::vector<Message>& messages) {
  Json arr = Json::array();
  for (const Message& m : messages) {
    Json j = Json::object();
    j["role"] = m.role;
    if (!m.tool_calls.empty() && m.content.empty()) {
      j["content"] = nullptr;
    } else {
      j["content"] = m.content;
    }
    if (!m.tool_calls.empty()) {
      Json calls = Json::array();
      for (const ToolCall& c : m.tool_calls) {
        Json fn = Json::object();
        fn["name"] = c.name;
        fn["arguments"] = c.arguments;
        Json call = Json::object();
        call["id"] = c.id;
        call["type"] = "function";
        call["function"] = std::move(fn);
        calls.push_back(std::move(call));
      }
      j["tool_calls"] = std::move(calls);
    }
    if (!m.tool_call_id.empty()) j["tool_call_id"] = m.tool_call_id;
    if (!m.name.empty()) j["name"] = m.name;
    arr.push_back(std::move(j));
  }
  return arr.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string tools_to_json(const ToolSet& tools) {
  Json arr = Json::array();
  for (const std::string& b : tools.builtin) arr.push_back(b);
  for (const ToolDef& d : tools.custom) {
    Json fn = Json::object();
    fn["name"] = d.name;
    if (!d.description.empty()) fn["description"] = d.description;
    fn["parameters"] = Json::parse(d.parameters, nullptr, /*allow_exceptions=*/false);
    if (d.strict) fn["strict"] = true;
    Json t = Json::object();
    t["type"] = "function";
    t["function"] = std::move(fn);
    arr.push_back(std::move(t));
  }
  return arr.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace herd::chat
