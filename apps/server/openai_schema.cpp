// See openai_schema.h.
#include "openai_schema.h"

#include <cmath>
#include <limits>

#include "base/json_depth.h"
#include "json_checker.h"

namespace herd::server {
namespace {

using Json = nlohmann::json;

}  // namespace

bool parse_sampler_extras(const Json& obj, Checker& c, SamplingFields& s) {
  std::optional<int64_t> v;
  if (!c.integer(obj, "top_k", 0, 1 << 20, &v)) return false;
  if (v) s.top_k = static_cast<int32_t>(*v);
  if (!c.number(obj, "min_p", 0.0f, 1.0f, &s.min_p)) return false;
  if (!c.number(obj, "repeat_penalty", 0.0f, 10.0f, &s.repeat_penalty)) return false;
  if (!(s.repeat_penalty > 0.0f)) return c.fail(c.prefix + "repeat_penalty", "must be > 0");
  v.reset();
  if (!c.integer(obj, "repeat_last_n", -1, 1 << 20, &v)) return false;
  if (v) s.repeat_last_n = static_cast<int32_t>(*v);
  if (s.top_p && *s.top_p <= 0.0f) s.top_p = 1e-6f;  // OpenAI and Ollama accept 0: keep only the top token
  return true;
}

namespace {

bool parse_sampling(const Json& body, const SchemaLimits& limits, bool chat, Checker& c, SamplingFields& s) {
  if (auto it = body.find("model"); it != body.end() && !it->is_null()) {
    if (!it->is_string()) return c.expected("model", "string", *it);
    s.model = it->get<std::string>();
  }
  std::optional<int64_t> v;
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    v.reset();
    if (!c.integer(body, key, 1, std::numeric_limits<int32_t>::max(), &v)) return false;
    if (v) s.max_tokens = v;
  }
  if (!c.number(body, "temperature", 0.0f, 2.0f, &s.temperature)) return false;
  if (!c.number(body, "top_p", 0.0f, 1.0f, &s.top_p)) return false;
  if (!parse_sampler_extras(body, c, s)) return false;
  if (!c.number(body, "presence_penalty", -2.0f, 2.0f, &s.presence_penalty)) return false;
  if (!c.number(body, "frequency_penalty", -2.0f, 2.0f, &s.frequency_penalty)) return false;
  v.reset();
  if (auto it = body.find("seed"); it != body.end() && !it->is_null()) {
    if (!it->is_number_integer()) return c.expected("seed", "integer", *it);
    s.seed = it->is_number_unsigned() ? it->get<uint64_t>() : static_cast<uint64_t>(it->get<int64_t>());
  }
  v.reset();
  if (!c.integer(body, "n", 1, limits.max_n, &v)) return false;
  if (v) s.n = static_cast<int>(*v);
  if (!c.boolean(body, "stream", "stream", &s.stream)) return false;
  if (auto it = body.find("stream_options"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return c.expected("stream_options", "object", *it);
    if (!c.boolean(*it, "include_usage", "stream_options.include_usage", &s.include_usage)) return false;
  }
  if (auto it = body.find("stop"); it != body.end() && !it->is_null()) {
    if (it->is_string()) {
      s.stop.push_back(it->get<std::string>());
    } else if (it->is_array()) {
      if (it->size() > 4) return c.fail("stop", "at most 4 stop sequences, got " + std::to_string(it->size()));
      for (size_t i = 0; i < it->size(); ++i) {
        if (!(*it)[i].is_string()) return c.expected("stop[" + std::to_string(i) + "]", "string", (*it)[i]);
        s.stop.push_back((*it)[i].get<std::string>());
      }
    } else {
      return c.expected("stop", "string or array of strings", *it);
    }
    for (size_t i = 0; i < s.stop.size(); ++i)
      if (s.stop[i].empty()) return c.fail(it->is_string() ? "stop" : "stop[" + std::to_string(i) + "]", "must not be empty");
  }
  if (auto it = body.find("logit_bias"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return c.expected("logit_bias", "object mapping token ids to numbers", *it);
    for (const auto& [key, val] : it->items()) {
      const std::string path = "logit_bias." + key;
      char* end = nullptr;
      const long id = std::strtol(key.c_str(), &end, 10);
      if (key.empty() || *end != '\0' || id < 0 || (limits.vocab_size > 0 && id >= limits.vocab_size))
        return c.fail(path, "key must be a token id in [0, " + std::to_string(limits.vocab_size) + ")");
      if (!val.is_number()) return c.expected(path, "number", val);
      const double b = val.get<double>();
      if (!(b >= -100 && b <= 100)) return c.fail(path, "bias must be in [-100, 100]");
      s.logit_bias.emplace_back(static_cast<int32_t>(id), static_cast<float>(b));
    }
  }
  if (auto it = body.find("lora"); it != body.end() && !it->is_null()) {
    Parsed<std::vector<float>> w = parse_lora_list(*it, limits.n_lora, "lora");
    if (auto* e = std::get_if<ApiError>(&w)) {
      if (!c.error) c.error = *e;
      return false;
    }
    s.lora = std::move(std::get<std::vector<float>>(w));
  }
  if (chat) {
    bool logprobs = false;
    if (!c.boolean(body, "logprobs", "logprobs", &logprobs)) return false;
    v.reset();
    if (!c.integer(body, "top_logprobs", 0, 20, &v)) return false;
    if (v && !logprobs) return c.fail("top_logprobs", "requires \"logprobs\": true");
    if (logprobs) s.top_logprobs = v ? static_cast<int32_t>(*v) : 0;
  } else {
    v.reset();
    if (!c.integer(body, "logprobs", 0, 5, &v)) return false;
    if (v) s.top_logprobs = static_cast<int32_t>(*v);
  }
  return true;
}

}  // namespace

Parsed<std::vector<float>> parse_lora_list(const Json& v, int32_t n_lora, const std::string& path) {
  if (!v.is_array()) return bad_request(path, std::string("expected array of {\"id\", \"scale\"}, got ") + json_type_name(v));
  if (!v.empty() && n_lora == 0) return bad_request(path, "this server loaded no LoRA adapter (--lora PATH)");
  if (v.size() > static_cast<size_t>(n_lora))
    return bad_request(path, "at most " + std::to_string(n_lora) + " entries (one per --lora adapter), got " +
                                 std::to_string(v.size()));
  std::vector<float> w(static_cast<size_t>(n_lora), 0.0f);
  std::vector<bool> seen(static_cast<size_t>(n_lora), false);
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string at = path + "[" + std::to_string(i) + "]";
    const Json& e = v[i];
    if (!e.is_object()) return bad_request(at, std::string("expected object, got ") + json_type_name(e));
    auto id = e.find("id");
    if (id == e.end() || !id->is_number_integer() || id->get<int64_t>() < 0 || id->get<int64_t>() >= n_lora)
      return bad_request(at + ".id", "expected an adapter id in [0, " + std::to_string(n_lora) + ")");
    auto scale = e.find("scale");
    if (scale == e.end() || !scale->is_number()) return bad_request(at + ".scale", "expected a number");
    const double s = scale->get<double>();
    if (!(s >= -100 && s <= 100)) return bad_request(at + ".scale", "must be in [-100, 100]");
    const auto k = static_cast<size_t>(id->get<int64_t>());
    if (seen[k]) return bad_request(at + ".id", "adapter " + std::to_string(k) + " is listed twice");
    seen[k] = true;
    w[k] = static_cast<float>(s);
  }
  return w;
}

const char* json_type_name(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return "boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "integer";
    case Json::value_t::number_float: return "number";
    case Json::value_t::string: return "string";
    case Json::value_t::array: return "array";
    case Json::value_t::object: return "object";
    default: return "value";
  }
}

Parsed<Json> parse_body(const std::string& body, bool object_only) {
  // Before parsing: copying or dumping a deeper value would recurse once per level.
  if (!json_depth_within(body))
    return bad_request("", "the request body nests arrays/objects deeper than " + std::to_string(kMaxJsonDepth) +
                               " levels");
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad_request("", "the request body is not valid JSON");
  if (object_only && !j.is_object()) return bad_request("", std::string("the request body must be a JSON object, got ") + json_type_name(j));
  return j;
}

Parsed<ChatRequest> parse_chat_request(const Json& body, const SchemaLimits& limits) {
  ChatRequest r;
  Checker c;
  if (!parse_sampling(body, limits, /*chat=*/true, c, r.s)) return *c.error;
  auto msgs = body.find("messages");
  if (msgs == body.end()) return bad_request("messages", "required");
  if (!msgs->is_array()) return bad_request("messages", std::string("expected array, got ") + json_type_name(*msgs));
  if (msgs->empty()) return bad_request("messages", "must hold at least one message");
  Result<std::vector<chat::Message>> m = chat::parse_messages_json(msgs->dump());
  if (!m.has_value()) return from_field_error(m.error());
  r.messages = std::move(*m);
  if (auto it = body.find("tools"); it != body.end() && !it->is_null()) {
    if (!it->is_array()) return bad_request("tools", std::string("expected array, got ") + json_type_name(*it));
    Result<chat::ToolSet> t = chat::parse_tools_json(it->dump());
    if (!t.has_value()) return from_field_error(t.error());
    r.tools = std::move(*t);
  }
  if (auto it = body.find("tool_choice"); it != body.end() && !it->is_null()) {
    if (it->is_string()) {
      const std::string v = it->get<std::string>();
      if (v == "auto") r.tool_choice = ToolChoice::kAuto;
      else if (v == "none") r.tool_choice = ToolChoice::kNone;
      else if (v == "required") r.tool_choice = ToolChoice::kRequired;
      else return bad_request("tool_choice", "expected \"auto\", \"none\", \"required\" or a function object, got \"" + v + "\"");
    } else if (it->is_object()) {
      r.tool_choice = ToolChoice::kNamed;
      auto fn = it->find("function");
      if (fn == it->end() || !fn->is_object()) return bad_request("tool_choice.function", "expected an object");
      auto name = fn->find("name");
      if (name == fn->end() || !name->is_string()) return bad_request("tool_choice.function.name", "expected a string");
      r.tool_choice_name = name->get<std::string>();
      bool known = false;
      for (const chat::ToolDef& d : r.tools.custom) known = known || d.name == r.tool_choice_name;
      if (!known) return bad_request("tool_choice.function.name", "no function named \"" + r.tool_choice_name + "\" in tools");
    } else {
      return bad_request("tool_choice", std::string("expected string or object, got ") + json_type_name(*it));
    }
    if ((r.tool_choice == ToolChoice::kRequired || r.tool_choice == ToolChoice::kNamed) && r.tools.empty())
      return bad_request("tool_choice", "requires \"tools\"");
  }
  if (auto it = body.find("parallel_tool_calls"); it != body.end() && !it->is_null()) {
    if (!it->is_boolean())
      return bad_request("parallel_tool_calls", std::string("expected boolean, got ") + json_type_name(*it));
    r.parallel_tool_calls = it->get<bool>();
  }
  if (auto it = body.find("response_format"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return bad_request("response_format", std::string("expected object, got ") + json_type_name(*it));
    auto t = it->find("type");
    if (t == it->end() || !t->is_string()) return bad_request("response_format.type", "expected a string");
    const std::string type = t->get<std::string>();
    if (type == "json_schema") {
      auto js = it->find("json_schema");
      if (js == it->end() || !js->is_object()) return bad_request("response_format.json_schema", "expected an object");
      auto sc = js->find("schema");
      if (sc == js->end()) r.response_schema = nlohmann::json::object();
      else if (!sc->is_object() && !sc->is_boolean())
        return bad_request("response_format.json_schema.schema", std::string("expected object, got ") + json_type_name(*sc));
      else r.response_schema = *sc;
      if (auto st = js->find("strict"); st != js->end() && !st->is_null()) {
        if (!st->is_boolean())
          return bad_request("response_format.json_schema.strict", std::string("expected boolean, got ") + json_type_name(*st));
        r.response_strict = st->get<bool>();
      }
    } else if (type != "text" && type != "json_object") {
      return bad_request("response_format.type", "expected \"text\", \"json_object\" or \"json_schema\", got \"" + type + "\"");
    }
    r.response_format = type;
  }
  return r;
}

Parsed<CompletionRequest> parse_completion_request(const Json& body, const SchemaLimits& limits) {
  CompletionRequest r;
  Checker c;
  if (!parse_sampling(body, limits, /*chat=*/false, c, r.s)) return *c.error;
  auto p = body.find("prompt");
  if (p == body.end()) return bad_request("prompt", "required");
  Json prompt = *p;
  if (prompt.is_array() && prompt.size() == 1 && (prompt[0].is_string() || prompt[0].is_array())) prompt = prompt[0];
  if (prompt.is_string()) {
    r.prompt = prompt.get<std::string>();
  } else if (prompt.is_array()) {
    r.prompt_is_ids = true;
    for (size_t i = 0; i < prompt.size(); ++i) {
      const Json& v = prompt[i];
      const std::string path = "prompt[" + std::to_string(i) + "]";
      if (!v.is_number_integer()) return bad_request(path, std::string("expected a token id (integer), got ") + json_type_name(v));
      const int64_t id = v.get<int64_t>();
      if (id < 0 || (limits.vocab_size > 0 && id >= limits.vocab_size))
        return bad_request(path, "token id " + std::to_string(id) + " is outside [0, " + std::to_string(limits.vocab_size) + ")");
      r.prompt_ids.push_back(static_cast<int32_t>(id));
    }
    if (r.prompt_ids.empty()) return bad_request("prompt", "must not be empty");
  } else {
    return bad_request("prompt", std::string("expected string or array of token ids, got ") + json_type_name(prompt));
  }
  bool echo = false;
  if (!c.boolean(body, "echo", "echo", &echo)) return *c.error;
  if (echo) return not_supported("echo", "echo");
  if (auto it = body.find("best_of"); it != body.end() && !it->is_null() && !(it->is_number_integer() && *it == 1))
    return not_supported("best_of", "best_of > 1");
  if (auto it = body.find("suffix"); it != body.end() && !it->is_null()) return not_supported("suffix", "suffix");
  return r;
}

}  // namespace herd::server
