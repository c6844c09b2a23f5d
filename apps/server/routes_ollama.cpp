// Ollama's API beside OpenAI's (docs/api.md of Ollama): POST /api/chat and
// /api/generate stream NDJSON (one JSON object per line, the last with "done": true
// and the timings) or answer one object with "stream": false; GET /api/tags,
// POST /api/show, GET /api/ps and GET /api/version describe the one served model.
// Requests go through the same ChatRequest, prompt renderer, grammar engine and
// engine as the OpenAI routes (ollama_schema.h, plan_chat); errors take Ollama's
// shape, {"error": "..."}.
#include <chrono>
#include <algorithm>
#include <memory>

#include "base/version.h"
#include "chat_reply.h"
#include "generation.h"
#include "ollama_schema.h"
#include "routes.h"
#include "serve_run.h"

namespace herd::server {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// The Ollama API level herd follows (structured outputs and tool calls, Ollama 0.5);
// clients that gate features on /api/version compare against it.
constexpr const char* kOllamaApiVersion = "0.5.0";
// /api/ps's expires_at: the model stays loaded while the server runs.
constexpr const char* kNeverExpires = "9999-12-31T23:59:59Z";

std::string rfc3339_unix(int64_t secs) { return rfc3339(std::chrono::system_clock::time_point(std::chrono::seconds(secs))); }

int64_t ns_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count();
}

// Ollama names models "name:tag"; a name without a tag is ":latest".
std::string ollama_name(const std::string& id) { return id.find(':') == std::string::npos ? id + ":latest" : id; }

std::string parameter_size(int64_t n) {
  char buf[32];
  if (n >= 1000000000) std::snprintf(buf, sizeof buf, "%.1fB", static_cast<double>(n) / 1e9);
  else if (n >= 1000000) std::snprintf(buf, sizeof buf, "%.1fM", static_cast<double>(n) / 1e6);
  else std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n));
  return buf;
}

Json details(const ModelCard& card) {
  return {{"parent_model", ""},  {"format", card.format},
          {"family", "llama"},   {"families", Json::array({"llama"})},
          {"parameter_size", parameter_size(card.parameter_count)},
          {"quantization_level", card.quantization}};
}

// One /api/chat or /api/generate response being produced (shared with the stream).
class OllamaRun {
 public:
  OllamaRun(ServerContext& ctx, const OllamaRequest& r, bool tools_active, std::vector<int32_t> prompt,
            std::unique_ptr<GenerationSet> set, Clock::time_point t0)
      : ctx_(ctx), generate_(r.generate), stream_(r.stream), raw_(r.raw), set_(std::move(set)),
        reply_(*ctx.tok, r.chat.s.stop, tools_active, /*max_calls=*/8), prompt_(std::move(prompt)), t0_(t0) {
    ctx_.metrics.in_flight_add(1);
    // The output shield (--guard) judges the reply with its conversation (not
    // raw prompts: there is no conversation); a stream is held until then.
    shield_ = ctx.opts.guard && ctx.opts.guard_output && !r.raw;
    if (shield_) messages_ = r.chat.messages;
  }
  ~OllamaRun() {
    if (!finished_) set_->cancel_all();
    ctx_.metrics.in_flight_add(-1);
  }
  bool finished() const { return finished_; }
  bool stream() const { return stream_; }
  int64_t prompt_tokens() const { return prompt_eval_count_; }
  int64_t generated_tokens() const { return eval_count_; }
  // Spaces while waiting: JSON.parse and Go's decoder skip leading whitespace, and a
  // blank line would be an invalid NDJSON record.
  StreamFraming framing() const { return {stream_ ? "application/x-ndjson" : "application/json", " "}; }
  GenerationSet& set() { return *set_; }
  std::string log_extra() const { return guard_.is_null() ? std::string() : guard_log_note(guard_); }

  void on_event(const GenEvent& ev, std::string* out) {
    if (finished_) return;
    if (ev.kind == GenEvent::kToken) {
      if (eval_count_++ == 0) t_first_ = Clock::now();
      generated_.push_back(ev.token.id);
      chat::StreamStep st = reply_.push(ev.token.id);
      if (reply_.stopped()) set_->cancel_all();
      if (stream_ && !st.content.empty()) *(shield_ ? &held_ : out) += line(piece(st.content, Json()), false);
      return;
    }
    finished_ = true;
    t_done_ = Clock::now();
    if (eval_count_ == 0) t_first_ = t_done_;
    prompt_eval_count_ = ev.usage.prompt_tokens;
    if (ev.reason == engine::FinishReason::kError) {
      error_ = ev.error.empty() ? "generation failed" : ev.error;
      if (stream_) *out += Json{{"error", error_}}.dump() + "\n";
      return;
    }
    if (ev.stop_id >= 0) generated_.push_back(ev.stop_id);  // a continued context resumes after it
    length_ = (ev.reason == engine::FinishReason::kLength || ev.reason == engine::FinishReason::kContextFull) &&
              !reply_.stopped();
    chat::StreamStep st = reply_.finish();
    if (shield_ && !reply_.content().empty()) {
      Result<std::optional<Json>> g = output_shield(ctx_, messages_, reply_.content());
      if (!g) {  // fail closed
        error_ = "guard: " + g.error().to_string();
        if (stream_) *out += Json{{"error", error_}}.dump() + "\n";
        return;
      }
      if (*g) {
        guard_ = std::move(**g);
        generated_.clear();  // the returned context must not carry the withheld reply
      }
    }
    if (stream_) {
      if (!guard_.is_null()) {
        *out += line(piece(kGuardRefusal, Json()), false);
        *out += line(final_fields(piece("", Json())), true);
        return;
      }
      *out += held_;
      if (!st.content.empty() || !reply_.calls().empty()) *out += line(piece(st.content, calls_json()), false);
      *out += line(final_fields(piece("", Json())), true);
    }
  }

  std::string body() {
    if (!error_.empty()) return Json{{"error", error_}}.dump();
    const Json j = guard_.is_null() ? final_fields(piece(reply_.content(), calls_json()))
                                    : final_fields(piece(kGuardRefusal, Json()));
    return j.dump(-1, ' ', false, Json::error_handler_t::replace);
  }

 private:
  // The message (chat) or response (generate) part of a record.
  Json piece(const std::string& text, Json calls) const {
    Json j = {{"model", ollama_name(ctx_.opts.model_id)}, {"created_at", rfc3339(std::chrono::system_clock::now())}};
    if (generate_) {
      j["response"] = text;
    } else {
      Json msg = {{"role", "assistant"}, {"content", text}};
      if (!calls.is_null() && !calls.empty()) msg["tool_calls"] = std::move(calls);
      j["message"] = std::move(msg);
    }
    return j;
  }
  // Ollama's tool calls: arguments as an object, no ids.
  Json calls_json() {
    Json out = Json::array();
    for (const chat::ToolCall& c : reply_.calls()) {
      Json args = Json::parse(c.arguments, nullptr, false);
      if (args.is_discarded()) args = Json::object();
      out.push_back({{"function", {{"name", c.name}, {"arguments", std::move(args)}}}});
    }
    return out;
  }
  Json final_fields(Json j) const {
    j["done"] = true;
    j["done_reason"] = guard_.is_null() ? ollama_done_reason(length_) : "content_filter";
    if (!guard_.is_null()) j["guard"] = guard_;
    if (generate_ && !raw_) {
      std::vector<int32_t> context = prompt_;
      context.insert(context.end(), generated_.begin(), generated_.end());
      j["context"] = context;
    }
    j["total_duration"] = ns_between(t0_, t_done_);
    j["load_duration"] = 0;  // the model was loaded at start-up
    j["prompt_eval_count"] = prompt_eval_count_;
    j["prompt_eval_duration"] = ns_between(t0_, t_first_);
    j["eval_count"] = eval_count_;
    j["eval_duration"] = ns_between(t_first_, t_done_);
    return j;
  }
  std::string line(const Json& j, bool done) const {
    Json rec = j;
    if (!done) rec["done"] = false;
    return rec.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
  }

  ServerContext& ctx_;
  bool generate_, stream_, raw_;
  std::unique_ptr<GenerationSet> set_;
  ChatReply reply_;
  std::vector<int32_t> prompt_, generated_;
  Clock::time_point t0_, t_first_, t_done_;
  int64_t eval_count_ = 0, prompt_eval_count_ = 0;
  bool finished_ = false, length_ = false;
  std::string error_;
  bool shield_ = false;                 // the output shield judges this reply
  std::vector<chat::Message> messages_; // its conversation
  std::string held_;                    // stream: the reply's records until judged
  Json guard_;                          // a flagged reply's "guard" field
};

// The reply to a request without a prompt or messages: Ollama's "load" (or "unload").
void send_load(ServerContext& ctx, const OllamaRequest& r, http::Response& res) {
  Json j = {{"model", ollama_name(ctx.opts.model_id)}, {"created_at", rfc3339(std::chrono::system_clock::now())}};
  if (r.generate) j["response"] = "";
  else j["message"] = {{"role", "assistant"}, {"content", ""}};
  j["done"] = true;
  j["done_reason"] = r.unload ? "unload" : "load";
  send_json(res, j);
}

void handle(const http::Request& req, http::Response& res, ServerContext& ctx, bool generate) {
  const Clock::time_point t0 = Clock::now();
  Json body;
  if (auto e = read_body(req, body)) return send_error(req, res, *e);
  Parsed<OllamaRequest> parsed = generate ? parse_ollama_generate(body, ctx.limits()) : parse_ollama_chat(body, ctx.limits());
  if (auto* e = std::get_if<ApiError>(&parsed)) return send_error(req, res, *e);
  OllamaRequest& r = std::get<OllamaRequest>(parsed);
  if (r.chat.s.model.empty()) return send_error(req, res, bad_request("model", "required"));
  if (auto e = check_model(ctx, r.chat.s.model)) {
    e->message = "model '" + r.chat.s.model + "' not found";
    return send_error(req, res, *e);
  }
  if (r.load_only) return send_load(ctx, r, res);
  if (!r.raw && input_shield(ctx, r.chat.messages, r.chat.s.stream, res,
                             generate ? ShieldShape::kOllamaGenerate : ShieldShape::kOllamaChat))
    return;
  // Ollama ends a reply that reaches the context's end ("length") rather than refusing a
  // num_predict larger than what is left: plan without it, then cap.
  const std::optional<int64_t> num_predict = r.chat.s.max_tokens;
  r.chat.s.max_tokens.reset();
  ChatPlan plan;
  if (r.raw) {
    // The prompt as written (special tokens parsed), after any earlier context.
    plan.ids = r.context;
    std::vector<int32_t> ids = ctx.tok->encode(r.prompt, /*add_bos=*/r.context.empty(), /*parse_special=*/true);
    plan.ids.insert(plan.ids.end(), ids.begin(), ids.end());
    if (auto e = check_context(ctx, static_cast<int64_t>(plan.ids.size()), r.chat.s.max_tokens, &plan.max_tokens,
                               "prompt"))
      return send_error(req, res, *e);
    if (r.chat.response_format != "text") {
      std::variant<ChatPlan, ApiError> g = plan_chat(ctx, r.chat, body);
      if (auto* e = std::get_if<ApiError>(&g)) return send_error(req, res, *e);
      plan.grammar = std::get<ChatPlan>(g).grammar;
    }
  } else {
    std::variant<ChatPlan, ApiError> planned = plan_chat(ctx, r.chat, body, r.context);
    if (auto* e = std::get_if<ApiError>(&planned)) return send_error(req, res, *e);
    plan = std::move(std::get<ChatPlan>(planned));
  }
  if (num_predict) plan.max_tokens = std::min(plan.max_tokens, *num_predict);
  std::vector<int32_t> prompt = plan.ids;
  engine::GenerationRequest base = generation_request(ctx, r.chat.s, std::move(plan.ids), plan.max_tokens);
  auto started = GenerationSet::start(*ctx.engine, ctx.metrics, choice_requests(ctx, base, r.chat.s, plan.grammar));
  if (auto* e = std::get_if<ApiError>(&started)) return send_error(req, res, *e);
  serve_run(res, std::make_shared<OllamaRun>(ctx, r, plan.tools_active, std::move(prompt),
                                             std::move(std::get<0>(started)), t0), ctx.ending);
}

Json model_entry(const ServerContext& ctx) {
  const ModelCard& card = ctx.opts.card;
  const std::string name = ollama_name(ctx.opts.model_id);
  return {{"name", name},
          {"model", name},
          {"modified_at", rfc3339_unix(card.modified_unix)},
          {"size", card.size_bytes},
          {"digest", card.digest},
          {"details", details(card)}};
}

// The Modelfile Ollama would print for this model: where it came from and the
// parameters requests get when they set none.
std::string modelfile(const ServerContext& ctx, const std::string& parameters) {
  std::string out = "# Modelfile generated by herd\nFROM " + ctx.opts.model_id + "\n";
  size_t start = 0;
  while (start < parameters.size()) {
    const size_t end = parameters.find('\n', start);
    out += "PARAMETER " + parameters.substr(start, end - start) + "\n";
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

void handle_show(const http::Request& req, http::Response& res, ServerContext& ctx) {
  Json body;
  if (auto e = read_body(req, body)) return send_error(req, res, *e);
  std::string name;
  for (const char* key : {"model", "name"}) {
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) continue;
    if (!it->is_string()) return send_error(req, res, bad_request(key, std::string("expected string, got ") + json_type_name(*it)));
    name = it->get<std::string>();
    break;
  }
  if (name.empty()) return send_error(req, res, bad_request("model", "required"));
  if (auto e = check_model(ctx, name)) {
    e->message = "model '" + name + "' not found";
    return send_error(req, res, *e);
  }
  char sampling[96];
  std::snprintf(sampling, sizeof sampling, "temperature %g\ntop_p %g", static_cast<double>(ctx.opts.default_temperature),
                static_cast<double>(ctx.opts.default_top_p));
  std::string parameters;
  for (int32_t id : ctx.stop_tokens.ids())
    parameters += "stop \"" + ctx.tok->decode(std::span<const int32_t>(&id, 1)) + "\"\n";
  parameters += sampling;
  const ModelCard& card = ctx.opts.card;
  Json info = card.model_info;
  send_json(res, {{"modelfile", modelfile(ctx, parameters)},
                  {"parameters", parameters},
                  {"template", card.chat_template},
                  {"details", details(card)},
                  {"model_info", info},
                  {"capabilities", Json::array({"completion", "tools"})},
                  {"modified_at", rfc3339_unix(card.modified_unix)}});
}

}  // namespace

void add_ollama_routes(http::Router& http, ServerContext& ctx) {
  http.post("/api/chat", [&ctx](const http::Request& req, http::Response& res) { handle(req, res, ctx, false); });
  http.post("/api/generate", [&ctx](const http::Request& req, http::Response& res) { handle(req, res, ctx, true); });
  http.post("/api/show", [&ctx](const http::Request& req, http::Response& res) { handle_show(req, res, ctx); });
  http.get("/api/tags", [&ctx](const http::Request&, http::Response& res) {
    send_json(res, {{"models", Json::array({model_entry(ctx)})}});
  });
  http.get("/api/ps", [&ctx](const http::Request&, http::Response& res) {
    Json m = model_entry(ctx);
    m.erase("modified_at");
    m["size"] = ctx.opts.card.memory_bytes;
    m["size_vram"] = 0;
    m["expires_at"] = kNeverExpires;
    m["context_length"] = ctx.opts.max_seq_len;
    send_json(res, {{"models", Json::array({m})}});
  });
  http.get("/api/version", [](const http::Request&, http::Response& res) {
    send_json(res, {{"version", kOllamaApiVersion}, {"herd_version", kVersion}});
  });
}

}  // namespace herd::server
