// The Llama Guard routes and shields (herd serve --guard; guard_shield.h) and
// the Prompt Guard shield (--prompt-guard; prompt_shield.h):
//   POST /v1/moderations (and /moderations): OpenAI's moderation API on the guard.
//   input_shield(): a chat request, checked before inference: Prompt Guard on
//     its last user turn (jailbreak) and trailing tool results (injection),
//     then Llama Guard on its last user turn.
//   output_shield(): a non-streamed reply, checked before it is released.
#include <chrono>
#include <string>
#include <vector>

#include "guard_shield.h"
#include "prompt_shield.h"
#include "routes.h"
#include "sse.h"

namespace herd::server {

namespace {

using Json = nlohmann::json;

// OpenAI's moderation categories and the Llama Guard 3 codes each stands for
// (the inverse of Llama Stack's OPENAI_TO_LLAMA_CATEGORIES_MAP). S5 Defamation,
// S7 Privacy, S8 Intellectual Property, S13 Elections and S14 Code Interpreter
// Abuse have no OpenAI category: they show in "llama_guard_categories" only.
struct OpenAiCategory {
  const char* name;
  std::vector<std::string> codes;
};
const std::vector<OpenAiCategory>& openai_categories() {
  static const std::vector<OpenAiCategory> k = {
      {"harassment", {"S4"}},
      {"harassment/threatening", {"S1", "S4"}},
      {"hate", {"S10"}},
      {"hate/threatening", {"S10", "S1"}},
      {"illicit", {"S2"}},
      {"illicit/violent", {"S1", "S9"}},
      {"self-harm", {"S11"}},
      {"self-harm/intent", {"S11"}},
      {"self-harm/instructions", {"S11", "S6"}},
      {"sexual", {"S3", "S12"}},
      {"sexual/minors", {"S4"}},
      {"violence", {"S1"}},
      {"violence/graphic", {"S1"}},
  };
  return k;
}

Json categories_json(const GuardShield& g, const GuardResult& r) {
  Json list = Json::array();
  for (const std::string& c : r.counted) {
    std::string name = c;
    for (const chat::GuardCategory& k : g.categories())
      if (k.code == c) name = k.name.substr(0, k.name.size() - (k.name.ends_with('.') ? 1 : 0));
    list.push_back({{"code", c}, {"name", name}});
  }
  return list;
}

// One result of /v1/moderations. A category is true when the guard flagged one
// of its codes; its score is P(unsafe) then, else 0 (Llama Guard gives one
// score per text, not one per category).
Json moderation_result(const GuardShield& g, const GuardResult& r) {
  Json cats = Json::object(), scores = Json::object(), types = Json::object();
  for (const OpenAiCategory& c : openai_categories()) {
    bool hit = false;
    for (const std::string& code : c.codes)
      hit = hit || std::find(r.counted.begin(), r.counted.end(), code) != r.counted.end();
    hit = hit && r.flagged;
    cats[c.name] = hit;
    scores[c.name] = hit ? r.unsafe_score : 0.0;
    types[c.name] = Json::array({"text"});
  }
  return {{"flagged", r.flagged},
          {"categories", cats},
          {"category_scores", scores},
          {"category_applied_input_types", types},
          {"unsafe_score", r.unsafe_score},
          {"llama_guard_categories", r.flagged ? categories_json(g, r) : Json::array()}};
}

// The OpenAI result of a text no Llama Guard judged: every category false.
Json empty_moderation_result() {
  Json cats = Json::object(), scores = Json::object(), types = Json::object();
  for (const OpenAiCategory& c : openai_categories()) {
    cats[c.name] = false;
    scores[c.name] = 0.0;
    types[c.name] = Json::array({"text"});
  }
  return {{"flagged", false}, {"categories", cats}, {"category_scores", scores}, {"category_applied_input_types", types}};
}

void handle_moderations(const http::Request& req, http::Response& res, ServerContext& ctx) {
  const GuardShield* g = ctx.opts.guard;
  const PromptShield* pg = ctx.opts.prompt_guard;
  if (!g && !pg) {
    ApiError e = bad_request("", "this server has no guard model: start herd serve with --guard LLAMA_GUARD "
                                 "or --prompt-guard PROMPT_GUARD");
    e.status = 404;
    return send_error(res, e);
  }
  Json body;
  if (auto e = read_body(req, body)) return send_error(res, *e);
  if (!body.is_object() || !body.contains("input")) return send_error(res, bad_request("input", "input is required"));
  std::vector<std::string> inputs;
  const Json& in = body["input"];
  constexpr size_t kMaxInputs = 32;
  if (in.is_string()) {
    inputs.push_back(in.get<std::string>());
  } else if (in.is_array() && !in.empty() && in.size() <= kMaxInputs) {
    for (size_t i = 0; i < in.size(); ++i) {
      if (!in[i].is_string())
        return send_error(res, bad_request("input[" + std::to_string(i) + "]", "expected a string (text inputs only)"));
      inputs.push_back(in[i].get<std::string>());
    }
  } else {
    return send_error(res, bad_request("input", "expected a string or an array of 1 to 32 strings"));
  }
  if (body.contains("model") && !body["model"].is_string())
    return send_error(res, bad_request("model", "expected a string"));
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].empty()) return send_error(res, bad_request("input[" + std::to_string(i) + "]", "empty text"));
  // Prompt Guard: every input in one batch, each scored as a user's own text
  // (jailbreak) and as third-party text (injection); flagged on the jailbreak
  // score, as a direct input is.
  std::vector<PromptShieldScores> pg_scores;
  if (pg) {
    // Each input at most kModerationMaxTokens (16 windows of the 86M's).
    constexpr int64_t kModerationMaxTokens = 8192;
    Result<std::vector<PromptShieldScores>> sc = pg->score(inputs, kModerationMaxTokens);
    if (!sc) {
      ctx.metrics.prompt_guard_check("moderation", "error");
      if (sc.error().code() == ErrorCode::kOutOfRange)
        return send_error(res, bad_request("input", "prompt guard: " + sc.error().message()));
      return send_error(res, server_error("prompt guard: " + sc.error().to_string()));
    }
    pg_scores = std::move(*sc);
  }
  Json results = Json::array();
  for (size_t i = 0; i < inputs.size(); ++i) {
    Json result = empty_moderation_result();
    if (g) {
      chat::Message m;
      m.role = "user";
      m.content = inputs[i];
      Result<GuardResult> r = g->check({m});
      if (r && !r->error.empty()) r = Error(ErrorCode::kInternal, "no verdict: " + r->error);
      if (!r) {
        ctx.metrics.guard_check("moderation", "error");
        return send_error(res, server_error("guard: " + r.error().to_string()));
      }
      ctx.metrics.guard_check("moderation", r->flagged ? "flagged" : "pass");
      result = moderation_result(*g, *r);
    }
    if (pg) {
      const PromptShieldScores& s = pg_scores[i];
      const bool flagged = s.jailbreak > pg->threshold();
      ctx.metrics.prompt_guard_check("moderation", flagged ? "flagged" : "pass");
      result["prompt_guard"] = {{"flagged", flagged},
                                {"jailbreak_score", s.jailbreak},
                                {"injection_score", s.injection},
                                {"threshold", pg->threshold()}};
      result["flagged"] = result["flagged"].get<bool>() || flagged;
    }
    results.push_back(std::move(result));
  }
  send_json(res, {{"id", new_id("modr-")}, {"model", g ? g->options().model_id : pg->model_id()}, {"results", results}});
}

}  // namespace

std::string guard_log_note(const Json& guard) {
  char num[32];
  if (guard.value("shield", "") == "prompt-guard") {
    std::snprintf(num, sizeof num, "%.3f", guard.value("score", 0.0));
    return " guard=prompt-guard:" + guard.value("check", std::string()) + " score=" + num;
  }
  std::string codes;
  if (guard.contains("categories") && guard["categories"].is_array())
    for (const Json& c : guard["categories"]) codes += (codes.empty() ? "" : ",") + c.value("code", std::string());
  std::snprintf(num, sizeof num, "%.3f", guard.value("unsafe_score", 0.0));
  return " guard=llama-guard:" + codes + " p=" + num;
}

namespace {

// Answers a request the input shields blocked: the refusal in OpenAI's shape
// with finish_reason "content_filter" and herd's "guard" field, or Ollama's
// (one record, done_reason "content_filter"; one NDJSON line when streamed).
void send_blocked(ServerContext& ctx, http::Response& res, bool stream, ShieldShape shape, const Json& guard) {
  res.log_note = std::make_shared<std::string>("blocked" + guard_log_note(guard));
  if (shape != ShieldShape::kOpenAi) {
    Json rec = {{"model", ctx.opts.model_id}, {"created_at", rfc3339(std::chrono::system_clock::now())}};
    if (shape == ShieldShape::kOllamaChat) rec["message"] = {{"role", "assistant"}, {"content", kGuardRefusal}};
    else rec["response"] = kGuardRefusal;
    rec["done"] = true;
    rec["done_reason"] = "content_filter";
    rec["guard"] = guard;
    if (stream) res.set_content(rec.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n", "application/x-ndjson");
    else send_json(res, rec);
    return;
  }
  const std::string id = new_id("chatcmpl-");
  const int64_t created = unix_time();
  const std::string refusal = kGuardRefusal;
  if (stream) {
    auto chunk = [&](Json delta, Json finish) {
      Json ch = {{"index", 0}, {"delta", std::move(delta)}, {"logprobs", nullptr}, {"finish_reason", std::move(finish)}};
      return Json{{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", ctx.opts.model_id},
                  {"system_fingerprint", "herd"}, {"choices", Json::array({ch})}};
    };
    Json last = chunk(Json::object(), "content_filter");
    last["guard"] = guard;
    res.set_content(sse_data(chunk({{"role", "assistant"}, {"content", refusal}}, nullptr)) + sse_data(last) + sse_done(),
                    "text/event-stream");
    return;
  }
  Json choice = {{"index", 0},
                 {"message", {{"role", "assistant"}, {"content", refusal}}},
                 {"logprobs", nullptr},
                 {"finish_reason", "content_filter"}};
  send_json(res, {{"id", id}, {"object", "chat.completion"}, {"created", created}, {"model", ctx.opts.model_id},
                  {"system_fingerprint", "herd"}, {"choices", Json::array({choice})},
                  {"usage", {{"prompt_tokens", 0}, {"completion_tokens", 0}, {"total_tokens", 0}}},
                  {"guard", guard}});
}

// Prompt Guard over the request: the guard field of a block, null to pass,
// or an error (the caller fails closed).
Result<Json> prompt_guard_verdict(ServerContext& ctx, const std::vector<chat::Message>& messages) {
  const PromptShield* pg = ctx.opts.prompt_guard;
  const PromptShieldInputs in = prompt_shield_inputs(messages);
  std::vector<std::string> texts = in.user;
  texts.insert(texts.end(), in.third_party.begin(), in.third_party.end());
  if (texts.empty()) return Json();
  // No text the chat model could take is longer than its per-request limit:
  // scanning more would be work for a request plan_chat refuses anyway.
  Result<std::vector<PromptShieldScores>> scores = pg->score(texts, ctx.opts.max_seq_len);
  if (!scores) {
    if (!in.user.empty()) ctx.metrics.prompt_guard_check("jailbreak", "error");
    if (!in.third_party.empty()) ctx.metrics.prompt_guard_check("injection", "error");
    return scores.error();
  }
  Json block;
  for (size_t i = 0; i < texts.size(); ++i) {
    const bool user = i < in.user.size();
    const double score = user ? (*scores)[i].jailbreak : (*scores)[i].injection;
    const bool flagged = score > pg->threshold();
    ctx.metrics.prompt_guard_check(user ? "jailbreak" : "injection", flagged ? "flagged" : "pass");
    if (flagged && block.is_null())
      block = {{"flagged", true},
               {"shield", "prompt-guard"},
               {"model", pg->model_id()},
               {"check", user ? "jailbreak" : "injection"},
               {"message", user ? "user" : "tool"},
               {"score", score},
               {"threshold", pg->threshold()}};
  }
  return block;
}

}  // namespace

bool input_shield(ServerContext& ctx, const std::vector<chat::Message>& messages, bool stream, http::Response& res,
                  ShieldShape shape) {
  if (ctx.opts.prompt_guard) {
    Result<Json> block = prompt_guard_verdict(ctx, messages);
    if (!block) {
      if (block.error().code() == ErrorCode::kOutOfRange)
        send_error(res, bad_request("messages", "prompt guard: " + block.error().message(), "context_length_exceeded"));
      else
        send_error(res, server_error("prompt guard: " + block.error().to_string()));  // fail closed
      return true;
    }
    if (!block->is_null()) {
      send_blocked(ctx, res, stream, shape, *block);
      return true;
    }
  }
  const GuardShield* g = ctx.opts.guard_input ? ctx.opts.guard : nullptr;
  if (!g) return false;
  Result<std::vector<chat::Message>> convo = guard_conversation(messages);
  if (!convo) return false;  // nothing the user wrote (a tool result turn): nothing to judge
  Result<GuardResult> r = g->check(*convo);
  if (r && !r->error.empty()) r = Error(ErrorCode::kInternal, "no verdict: " + r->error);
  if (!r) {
    ctx.metrics.guard_check("input", "error");
    send_error(res, server_error("guard: " + r.error().to_string()));  // fail closed
    return true;
  }
  ctx.metrics.guard_check("input", r->flagged ? "flagged" : "pass");
  if (!r->flagged) return false;
  // Blocked: the chat model never sees the request.
  send_blocked(ctx, res, stream, shape,
               {{"flagged", true}, {"unsafe_score", r->unsafe_score}, {"categories", categories_json(*g, *r)}});
  return true;
}

Result<std::optional<Json>> output_shield(ServerContext& ctx, const std::vector<chat::Message>& messages,
                                          const std::string& reply) {
  const GuardShield* g = ctx.opts.guard_output ? ctx.opts.guard : nullptr;
  if (!g) return std::optional<Json>();
  Result<GuardResult> r = g->check(guard_reply_conversation(messages, reply));
  if (r && !r->error.empty()) r = Error(ErrorCode::kInternal, "no verdict: " + r->error);
  if (!r) {
    ctx.metrics.guard_check("output", "error");
    return r.error();
  }
  ctx.metrics.guard_check("output", r->flagged ? "flagged" : "pass");
  if (!r->flagged) return std::optional<Json>();
  return std::optional<Json>(Json{{"flagged", true}, {"unsafe_score", r->unsafe_score}, {"categories", categories_json(*g, *r)}});
}

void add_guard_routes(http::Router& http, ServerContext& ctx) {
  http.post("/v1/moderations", [&ctx](const http::Request& req, http::Response& res) { handle_moderations(req, res, ctx); });
  http.post("/moderations", [&ctx](const http::Request& req, http::Response& res) { handle_moderations(req, res, ctx); });
}

}  // namespace herd::server
