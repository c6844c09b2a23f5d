// See ollama_schema.h.
#include "ollama_schema.h"

#include <limits>

#include "json_checker.h"

namespace herd::server {
namespace {

using Json = nlohmann::json;

// Ollama allows more stop strings than OpenAI's 4; a bound keeps the matcher's work small.
constexpr size_t kMaxOllamaStops = 16;

bool refused_option(Checker& c, const Json& opts, const char* key, double neutral, const char* what) {
  auto it = opts.find(key);
  if (it == opts.end() || it->is_null()) return true;
  if (!it->is_number()) return c.expected(c.prefix + key, "number", *it);
  if (it->get<double>() != neutral)
    return c.fail(c.prefix + key, std::string(what) + " is not supported by herd (only the neutral value " +
                                      Checker::fmt(neutral) + ")");
  return true;
}

bool parse_options(const Json& body, Checker& c, SamplingFields& s) {
  auto it = body.find("options");
  if (it == body.end() || it->is_null()) return true;
  if (!it->is_object()) return c.expected("options", "object", *it);
  const Json& o = *it;
  c.prefix = "options.";
  if (!c.number(o, "temperature", 0.0f, 2.0f, &s.temperature)) return false;
  if (!c.number(o, "top_p", 0.0f, 1.0f, &s.top_p)) return false;
  if (!c.number(o, "presence_penalty", -2.0f, 2.0f, &s.presence_penalty)) return false;
  if (!c.number(o, "frequency_penalty", -2.0f, 2.0f, &s.frequency_penalty)) return false;
  if (!parse_sampler_extras(o, c, s)) return false;
  if (auto seed = o.find("seed"); seed != o.end() && !seed->is_null()) {
    if (!seed->is_number_integer()) return c.expected("options.seed", "integer", *seed);
    // Ollama's -1 (or any negative seed): a random one.
    if (seed->is_number_unsigned() || seed->get<int64_t>() >= 0)
      s.seed = seed->is_number_unsigned() ? seed->get<uint64_t>() : static_cast<uint64_t>(seed->get<int64_t>());
  }
  std::optional<int64_t> n;
  if (!c.integer(o, "num_predict", -2, std::numeric_limits<int32_t>::max(), &n)) return false;
  if (n && *n == 0) return c.fail("options.num_predict", "must be -1 (to the end of the turn), -2 (fill the context) or >= 1");
  if (n && *n > 0) s.max_tokens = n;  // -1 and -2: no cap but the context
  if (auto st = o.find("stop"); st != o.end() && !st->is_null()) {
    if (!st->is_array()) return c.expected("options.stop", "array of strings", *st);
    if (st->size() > kMaxOllamaStops)
      return c.fail("options.stop", "at most " + std::to_string(kMaxOllamaStops) + " stop sequences, got " +
                                        std::to_string(st->size()));
    for (size_t i = 0; i < st->size(); ++i) {
      const std::string path = "options.stop[" + std::to_string(i) + "]";
      if (!(*st)[i].is_string()) return c.expected(path, "string", (*st)[i]);
      if ((*st)[i].get_ref<const std::string&>().empty()) return c.fail(path, "must not be empty");
      s.stop.push_back((*st)[i].get<std::string>());
    }
  }
  if (!refused_option(c, o, "mirostat", 0, "mirostat sampling")) return false;
  if (!refused_option(c, o, "typical_p", 1, "typical sampling")) return false;
  if (!refused_option(c, o, "tfs_z", 1, "tail-free sampling")) return false;
  c.prefix.clear();
  return true;
}

// "format": "json", a JSON schema object, or ""/null for free text.
std::optional<ApiError> parse_format(const Json& body, ChatRequest& r) {
  auto it = body.find("format");
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) {
    const std::string f = it->get<std::string>();
    if (f == "json") r.response_format = "json_object";
    else if (!f.empty()) return bad_request("format", "expected \"json\" or a JSON schema object, got \"" + f + "\"");
    return std::nullopt;
  }
  if (!it->is_object()) return bad_request("format", std::string("expected \"json\" or a JSON schema object, got ") +
                                                         json_type_name(*it));
  r.response_format = "json_schema";
  r.response_schema = *it;
  r.schema_param = "format";
  return std::nullopt;
}

// model, stream, keep_alive, think, options, format: the fields both routes share.
std::optional<ApiError> parse_common(const Json& body, OllamaRequest& r) {
  Checker c;
  if (auto it = body.find("model"); it != body.end() && !it->is_null()) {
    if (!it->is_string()) return bad_request("model", std::string("expected string, got ") + json_type_name(*it));
    r.chat.s.model = it->get<std::string>();
  }
  if (!c.boolean(body, "stream", "stream", &r.stream)) return *c.error;
  r.chat.s.stream = r.stream;
  if (auto it = body.find("think"); it != body.end() && !it->is_null()) {
    if (!it->is_boolean()) return bad_request("think", std::string("expected boolean, got ") + json_type_name(*it));
    if (it->get<bool>()) return bad_request("think", "this model does not support thinking");
  }
  if (auto it = body.find("keep_alive"); it != body.end() && !it->is_null()) {
    if (!it->is_string() && !it->is_number())
      return bad_request("keep_alive", std::string("expected a duration (\"5m\") or seconds, got ") + json_type_name(*it));
    r.unload = (it->is_number() && it->get<double>() == 0) || (it->is_string() && (*it == "0" || *it == "0s"));
  }
  if (!parse_options(body, c, r.chat.s)) return *c.error;
  if (auto e = parse_format(body, r.chat)) return e;
  return std::nullopt;
}

std::optional<ApiError> refuse_images(const Json& obj, const std::string& path) {
  auto it = obj.find("images");
  if (it == obj.end() || it->is_null() || (it->is_array() && it->empty())) return std::nullopt;
  return bad_request(path, "this model reads text only; images are not supported");
}

}  // namespace

const char* ollama_done_reason(bool length) { return length ? "length" : "stop"; }

Parsed<OllamaRequest> parse_ollama_chat(const Json& body, const SchemaLimits& limits) {
  OllamaRequest r;
  if (auto e = parse_common(body, r)) return *e;
  auto msgs = body.find("messages");
  if (msgs == body.end() || msgs->is_null() || (msgs->is_array() && msgs->empty())) {
    r.load_only = true;
    return r;
  }
  if (!msgs->is_array()) return bad_request("messages", std::string("expected array, got ") + json_type_name(*msgs));
  // Ollama names a tool result's function "tool_name"; herd's messages call it "name".
  Json converted = Json::array();
  for (size_t i = 0; i < msgs->size(); ++i) {
    const Json& m = (*msgs)[i];
    const std::string path = "messages[" + std::to_string(i) + "]";
    if (m.is_object()) {
      if (auto e = refuse_images(m, path + ".images")) return *e;
      Json c = m;
      if (auto tn = m.find("tool_name"); tn != m.end() && tn->is_string() && !m.contains("name")) c["name"] = *tn;
      c.erase("images");
      c.erase("thinking");
      converted.push_back(std::move(c));
    } else {
      converted.push_back(m);
    }
  }
  Result<std::vector<chat::Message>> m = chat::parse_messages_json(converted.dump());
  if (!m.has_value()) return from_field_error(m.error());
  r.chat.messages = std::move(*m);
  if (auto it = body.find("tools"); it != body.end() && !it->is_null()) {
    if (!it->is_array()) return bad_request("tools", std::string("expected array, got ") + json_type_name(*it));
    Result<chat::ToolSet> t = chat::parse_tools_json(it->dump());
    if (!t.has_value()) return from_field_error(t.error());
    r.chat.tools = std::move(*t);
  }
  return r;
}

Parsed<OllamaRequest> parse_ollama_generate(const Json& body, const SchemaLimits& limits) {
  OllamaRequest r;
  r.generate = true;
  if (auto e = parse_common(body, r)) return *e;
  if (auto e = refuse_images(body, "images")) return *e;
  for (const char* key : {"suffix", "template"}) {
    auto it = body.find(key);
    if (it != body.end() && !it->is_null() && !(it->is_string() && it->get_ref<const std::string&>().empty()))
      return bad_request(key, std::string(key) == "suffix"
                                  ? "fill-in-the-middle is not supported by the Llama 3.1 models"
                                  : "custom prompt templates are not supported; herd renders the Llama 3.1 chat "
                                    "format (or send \"raw\": true with a prompt you formatted)");
  }
  Checker c;
  if (!c.boolean(body, "raw", "raw", &r.raw)) return *c.error;
  std::string system;
  for (auto [key, dst] : {std::pair{"prompt", &r.prompt}, std::pair{"system", &system}}) {
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) continue;
    if (!it->is_string()) return bad_request(key, std::string("expected string, got ") + json_type_name(*it));
    *dst = it->get<std::string>();
  }
  if (auto it = body.find("context"); it != body.end() && !it->is_null()) {
    if (!it->is_array()) return bad_request("context", std::string("expected array of token ids, got ") + json_type_name(*it));
    for (size_t i = 0; i < it->size(); ++i) {
      const Json& v = (*it)[i];
      const std::string path = "context[" + std::to_string(i) + "]";
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || (limits.vocab_size > 0 && v.get<int64_t>() >= limits.vocab_size))
        return bad_request(path, "expected a token id in [0, " + std::to_string(limits.vocab_size) + ")");
      r.context.push_back(v.get<int32_t>());
    }
  }
  if (r.prompt.empty()) {
    r.load_only = true;
    return r;
  }
  if (r.raw && !system.empty()) return bad_request("system", "a raw prompt has no system message; put it in the prompt");
  if (!r.raw) {
    if (!system.empty()) r.chat.messages.push_back({"system", system, {}, "", ""});
    r.chat.messages.push_back({"user", r.prompt, {}, "", ""});
  }
  return r;
}

}  // namespace herd::server
