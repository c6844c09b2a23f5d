// Shared route helpers, and GET /v1/models, POST /tokenize, POST /detokenize,
// GET /health, GET /metrics.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <random>

#include "generation.h"
#include "routes.h"

namespace herd::server {

using Json = nlohmann::json;

void send_error(http::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(error_json(e), "application/json");
}

void send_error(const http::Request& req, http::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(error_json_for(req.path, e), "application/json");
}

void send_json(http::Response& res, const Json& j, int status) {
  res.status = status;
  res.set_content(j.dump(-1, ' ', false, Json::error_handler_t::replace), "application/json");
}

std::optional<ApiError> read_body(const http::Request& req, Json& out) {
  Parsed<Json> p = parse_body(req.body);
  if (auto* e = std::get_if<ApiError>(&p)) return *e;
  out = std::move(std::get<Json>(p));
  return std::nullopt;
}

namespace {

// Ollama's clients add ":latest" to a name without a tag.
std::string without_latest(const std::string& model) {
  return model.size() > 7 && model.compare(model.size() - 7, 7, ":latest") == 0 ? model.substr(0, model.size() - 7)
                                                                                 : model;
}

}  // namespace

int32_t adapter_for_model(const ServerContext& ctx, const std::string& model) {
  const std::string name = without_latest(model);
  const size_t plus = name.rfind('+');
  const std::string module = plus == std::string::npos ? name : name.substr(plus + 1);
  for (size_t i = 0; i < ctx.opts.lora_modules.size(); ++i)
    if (module == ctx.opts.lora_modules[i]) return static_cast<int32_t>(i + 1);
  return plus == std::string::npos ? 0 : -1;
}

std::optional<ApiError> check_model(const ServerContext& ctx, const std::string& model) {
  const std::string name = without_latest(model);
  if (adapter_for_model(ctx, model) < 0) {
    ApiError e;
    e.status = 404;
    e.param = "model";
    e.code = "model_not_found";
    e.message = "The model '" + model + "' names no adapter this server loaded (--lora-module NAME=PATH)";
    return e;
  }
  if (adapter_for_model(ctx, model) > 0) return std::nullopt;
  if (!ctx.opts.strict_model_names || model.empty() || name == ctx.opts.model_id || model == ctx.opts.model_id)
    return std::nullopt;
  for (const std::string& a : ctx.opts.model_aliases)
    if (model == a || name == a) return std::nullopt;
  ApiError e;
  e.status = 404;
  e.param = "model";
  e.code = "model_not_found";
  e.message = "The model '" + model + "' does not exist; this server serves '" + ctx.opts.model_id + "'";
  return e;
}

std::optional<ApiError> check_context(const ServerContext& ctx, int64_t prompt_tokens, std::optional<int64_t> requested,
                                      int64_t* max_tokens, const char* param) {
  const int64_t limit = ctx.opts.max_seq_len;
  if (prompt_tokens >= limit || (requested && prompt_tokens + *requested > limit)) {
    ApiError e;
    e.code = "context_length_exceeded";
    e.param = requested ? "max_tokens" : param;
    e.message = "This model's maximum context length is " + std::to_string(limit) + " tokens. However, you requested " +
                std::to_string(prompt_tokens + (requested ? *requested : 1)) + " tokens (" + std::to_string(prompt_tokens) +
                " in the prompt, " + std::to_string(requested ? *requested : 1) +
                " for the completion). Please reduce the prompt or max_tokens.";
    return e;
  }
  *max_tokens = requested ? *requested : limit - prompt_tokens;
  return std::nullopt;
}

engine::GenerationRequest generation_request(ServerContext& ctx, const SamplingFields& s,
                                             std::vector<int32_t> prompt, int64_t max_tokens) {
  engine::GenerationRequest r;
  r.prompt = std::move(prompt);
  r.max_tokens = static_cast<int32_t>(max_tokens);
  r.sampling.temperature = s.temperature.value_or(ctx.opts.default_temperature);
  r.sampling.top_p = s.top_p.value_or(ctx.opts.default_top_p);
  r.sampling.top_k = s.top_k;
  r.sampling.min_p = s.min_p;
  r.sampling.repetition_penalty = s.repeat_penalty;
  r.sampling.penalty_last_n = s.repeat_last_n;
  r.sampling.presence_penalty = s.presence_penalty;
  r.sampling.frequency_penalty = s.frequency_penalty;
  r.logit_bias = s.logit_bias;
  r.top_logprobs = s.top_logprobs;
  r.stop_ids = ctx.stop_tokens.ids();
  r.adapter = std::max<int32_t>(0, adapter_for_model(ctx, s.model));
  if (s.lora) {
    r.lora_weights = *s.lora;
  } else {
    std::lock_guard<std::mutex> lock(ctx.lora_mu);
    if (ctx.lora_set) r.lora_weights = ctx.lora_scales;
  }
  return r;
}

std::vector<engine::GenerationRequest> choice_requests(ServerContext& ctx, const engine::GenerationRequest& base,
                                                       const SamplingFields& s,
                                                       std::shared_ptr<const grammar::Grammar> grammar) {
  const uint64_t seed = s.seed ? *s.seed : random_seed();
  std::vector<engine::GenerationRequest> reqs;
  for (int i = 0; i < s.n; ++i) {
    reqs.push_back(base);
    reqs.back().sampling.seed = seed + static_cast<uint64_t>(i);
    if (grammar) reqs.back().constraint = std::make_shared<grammar::JsonSchemaConstraint>(grammar, ctx.vocab_index());
  }
  return reqs;
}

std::string new_id(const char* prefix) {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  uint64_t v;
  {
    std::lock_guard<std::mutex> l(mu);
    v = rng();
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return std::string(prefix) + buf;
}

std::string rfc3339(std::chrono::system_clock::time_point t, int digits) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ns / 1000000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  const long long frac = digits == 3 ? ns % 1000000000 / 1000000 : ns % 1000000000;
  std::snprintf(buf + n, sizeof buf - n, digits == 3 ? ".%03lldZ" : ".%09lldZ", frac);
  return buf;
}

int64_t unix_time() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Json chat_logprob(const tokenizer::Tokenizer& tok, const engine::TokenEvent& t) {
  auto entry = [&](int32_t id, float lp) {
    const std::string s = tok.decode(std::span<const int32_t>(&id, 1));
    Json bytes = Json::array();
    for (unsigned char c : s) bytes.push_back(static_cast<int>(c));
    return Json{{"token", s}, {"logprob", lp}, {"bytes", bytes}};
  };
  Json e = entry(t.id, t.logprob);
  Json top = Json::array();
  for (const auto& [id, lp] : t.top) top.push_back(entry(id, lp));
  e["top_logprobs"] = top;
  return e;
}

void add_misc_routes(http::Router& http, ServerContext& ctx) {
  http.get("/health", [&ctx](const http::Request&, http::Response& res) {
    const engine::EngineStats s = ctx.engine->stats();
    send_json(res, {{"status", "ok"}, {"queued", s.queued}, {"running", s.running}});
  });
  http.get("/metrics", [&ctx](const http::Request&, http::Response& res) {
    res.set_content(ctx.metrics.render(ctx.engine->stats()), "text/plain; version=0.0.4");
  });
  auto models = [&ctx](const http::Request&, http::Response& res) {
    Json data = Json::array({{{"id", ctx.opts.model_id},
                              {"object", "model"},
                              {"created", 0},
                              {"owned_by", "herd"},
                              {"max_model_len", ctx.opts.max_seq_len}}});
    // The adapters, as vLLM lists its LoRA modules: their own ids, the base as parent.
    for (const std::string& name : ctx.opts.lora_modules)
      data.push_back({{"id", name}, {"object", "model"}, {"created", 0}, {"owned_by", "herd"},
                      {"parent", ctx.opts.model_id}, {"max_model_len", ctx.opts.max_seq_len}});
    send_json(res, {{"object", "list"}, {"data", data}});
  };
  // llama-server's adapter routes: the --lora adapters with their current
  // scales; a POST sets the scales of requests without a "lora" list (unlisted
  // adapters 0), for requests made after it.
  http.get("/lora-adapters", [&ctx](const http::Request&, http::Response& res) {
    Json list = Json::array();
    std::lock_guard<std::mutex> lock(ctx.lora_mu);
    for (size_t i = 0; i < ctx.opts.loras.size(); ++i)
      list.push_back({{"id", i}, {"path", ctx.opts.loras[i].path}, {"scale", ctx.lora_scales[i]}});
    send_json(res, list);
  });
  http.post("/lora-adapters", [&ctx](const http::Request& req, http::Response& res) {
    Parsed<Json> parsed = parse_body(req.body, /*object_only=*/false);  // llama-server's body is an array
    if (auto* e = std::get_if<ApiError>(&parsed)) return send_error(res, *e);
    Parsed<std::vector<float>> w = parse_lora_list(std::get<Json>(parsed), static_cast<int32_t>(ctx.opts.loras.size()), "body");
    if (auto* e = std::get_if<ApiError>(&w)) return send_error(res, *e);
    {
      std::lock_guard<std::mutex> lock(ctx.lora_mu);
      ctx.lora_scales = std::get<std::vector<float>>(w);
      ctx.lora_set = true;
    }
    send_json(res, {{"success", true}});
  });
  http.get("/v1/models", models);
  http.get("/models", models);
  http.post("/tokenize", [&ctx](const http::Request& req, http::Response& res) {
    Json body;
    if (auto e = read_body(req, body)) return send_error(res, *e);
    auto it = body.find("content");
    if (it == body.end() || !it->is_string())
      return send_error(res, bad_request("content", std::string("expected string, got ") +
                                                        (it == body.end() ? "nothing" : json_type_name(*it))));
    bool add_special = false, with_pieces = false;
    for (auto [key, dst] : {std::pair{"add_special", &add_special}, std::pair{"with_pieces", &with_pieces}}) {
      auto f = body.find(key);
      if (f == body.end() || f->is_null()) continue;
      if (!f->is_boolean()) return send_error(res, bad_request(key, std::string("expected boolean, got ") + json_type_name(*f)));
      *dst = f->get<bool>();
    }
    const std::vector<int32_t> ids = ctx.tok->encode(it->get<std::string>(), add_special, /*parse_special=*/true);
    Json tokens = Json::array();
    for (int32_t id : ids) {
      if (with_pieces) tokens.push_back({{"id", id}, {"piece", ctx.tok->decode(std::span<const int32_t>(&id, 1))}});
      else tokens.push_back(id);
    }
    send_json(res, {{"tokens", tokens}});
  });
  http.post("/detokenize", [&ctx](const http::Request& req, http::Response& res) {
    Json body;
    if (auto e = read_body(req, body)) return send_error(res, *e);
    auto it = body.find("tokens");
    if (it == body.end() || !it->is_array())
      return send_error(res, bad_request("tokens", std::string("expected array of token ids, got ") +
                                                       (it == body.end() ? "nothing" : json_type_name(*it))));
    std::vector<int32_t> ids;
    for (size_t i = 0; i < it->size(); ++i) {
      const Json& v = (*it)[i];
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= ctx.vocab_size)
        return send_error(res, bad_request("tokens[" + std::to_string(i) + "]",
                                           "expected a token id in [0, " + std::to_string(ctx.vocab_size) + ")"));
      ids.push_back(v.get<int32_t>());
    }
    send_json(res, {{"content", ctx.tok->decode(ids)}});
  });
}

}  // namespace herd::server
