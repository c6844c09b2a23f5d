// POST /v1/chat/completions: validate -> render the Llama 3.1 prompt -> submit n
// engine requests -> stream SSE chunks (or one JSON body) from the event queue.
#include <chrono>
#include <map>
#include <memory>

#include "chat/llama3_format.h"
#include "chat_reply.h"
#include "generation.h"
#include "routes.h"
#include "serve_run.h"
#include "sse.h"

namespace herd::server {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;

// Calls one reply may hold when parallel tool calls are allowed (the grammar needs a
// bound so that generation under tool_choice "required" ends).
constexpr int kMaxParallelCalls = 8;

// A grammar error's message without its "schema<path>: " lead (the param names the
// place): "keyword \"multipleOf\" is not supported by herd's JSON grammar".
std::string schema_message(const Error& e, const std::string& path) {
  const std::string lead = "schema" + path + ": ";
  const std::string& m = e.message();
  return m.compare(0, lead.size(), lead) == 0 ? m.substr(lead.size()) : m;
}

// One choice's progress.
struct ChatChoice {
  ChatChoice(const tokenizer::Tokenizer& tok, const std::vector<std::string>& stops, bool tools, int max_calls)
      : reply(tok, stops, tools, max_calls) {}
  ChatReply reply;
  std::map<int, std::string> call_ids;  // call index -> its OpenAI id
  Json logprobs = Json::array();
  std::string finish;
  bool done = false;
  std::string held;  // stream + output shield: this choice's SSE text until judged
};

// The response being produced for one request (shared with the content provider).
class ChatRun {
 public:
  ChatRun(ServerContext& ctx, const ChatRequest& r, bool tools_active, std::unique_ptr<GenerationSet> set)
      : ctx_(ctx), stream_(r.s.stream), include_usage_(r.s.include_usage),
        logprobs_(r.s.top_logprobs >= 0), set_(std::move(set)), id_(new_id("chatcmpl-")), created_(unix_time()) {
    const int max_calls = r.parallel_tool_calls ? kMaxParallelCalls : 1;
    for (int i = 0; i < set_->size(); ++i) choices_.emplace_back(*ctx.tok, r.s.stop, tools_active, max_calls);
    ctx_.metrics.in_flight_add(1);
    // The output shield (--guard) judges each reply with its conversation; a
    // stream then holds a choice's events until its reply is judged.
    if (ctx.opts.guard && ctx.opts.guard_output) messages_ = r.messages;
    hold_ = stream_ && ctx.opts.guard && ctx.opts.guard_output;
  }
  ~ChatRun() {
    if (!finished_) set_->cancel_all();
    ctx_.metrics.in_flight_add(-1);
  }

  bool finished() const { return finished_; }
  GenerationSet& set() { return *set_; }
  std::string log_extra() const { return log_extra_; }

  // Handles one event; in stream mode appends the SSE text to *out.
  void on_event(const GenEvent& ev, std::string* out) {
    ChatChoice& c = choices_[static_cast<size_t>(ev.index)];
    std::string* sink = hold_ ? &c.held : out;  // where this choice's chunks go
    if (ev.kind == GenEvent::kToken) {
      if (c.done) return;
      ++completion_tokens_;
      Json lp;
      if (logprobs_) {
        lp = chat_logprob(*ctx_.tok, ev.token);
        c.logprobs.push_back(lp);
      }
      chat::StreamStep st = c.reply.push(ev.token.id);
      if (c.reply.stopped()) set_->cancel(ev.index);
      Json calls = call_deltas(c, st.deltas);
      if (stream_ && (!st.content.empty() || logprobs_ || !calls.empty())) {
        Json delta = Json::object();
        if (!st.content.empty() || calls.empty()) delta["content"] = st.content;
        if (!calls.empty()) delta["tool_calls"] = std::move(calls);
        Json lpj = logprobs_ ? Json{{"content", Json::array({lp})}} : Json();
        *sink += sse_data(chunk(ev.index, delta, Json(), lpj));
      }
      return;
    }
    // kDone
    if (c.done) return;
    c.done = true;
    ++done_count_;
    if (prompt_tokens_ == 0) prompt_tokens_ = ev.usage.prompt_tokens;
    cached_tokens_ = std::max<int64_t>(cached_tokens_, ev.usage.cached_prompt_tokens);
    if (ev.reason == engine::FinishReason::kError) {
      error_ = ev.error.empty() ? "generation failed" : ev.error;
      if (stream_) {
        *out += "data: " + error_json(server_error(error_)) + "\n\n";
      }
    }
    chat::StreamStep st = c.reply.finish();
    Json calls = call_deltas(c, st.deltas);
    std::vector<chat::ToolCall>& tool_calls = c.reply.calls();
    for (size_t k = 0; k < tool_calls.size(); ++k) tool_calls[k].id = c.call_ids[static_cast<int>(k)];
    c.finish = openai_finish_reason(ev.reason, c.reply.stopped(), !tool_calls.empty());
    if (stream_) {
      if (!st.content.empty()) *sink += sse_data(chunk(ev.index, Json{{"content", st.content}}, Json(), Json()));
      if (!calls.empty()) *sink += sse_data(chunk(ev.index, Json{{"tool_calls", calls}}, Json(), Json()));
      *sink += sse_data(chunk(ev.index, Json::object(), Json(c.finish), Json()));
      if (hold_) release_held(ev.index, c, out);
    }
    if (done_count_ == static_cast<int>(choices_.size())) {
      finished_ = true;
      if (stream_) {
        if (include_usage_) {
          Json u = {{"id", id_}, {"object", "chat.completion.chunk"}, {"created", created_},
                    {"model", ctx_.opts.model_id}, {"choices", Json::array()}, {"usage", usage()}};
          *out += sse_data(u);
        }
        *out += sse_done();
      }
    }
  }

  // Stream + output shield: a finished choice's held events go out if the
  // guard passes its reply; a flagged reply goes out as the refusal with
  // finish_reason content_filter and the "guard" field; a failed check as an
  // error event (fail closed).
  void release_held(int index, ChatChoice& c, std::string* out) {
    std::string held = std::move(c.held);
    c.held.clear();
    if (!error_.empty() || c.reply.content().empty()) {  // a failed generation, or tool calls only
      *out += held;
      return;
    }
    Result<std::optional<Json>> g = output_shield(ctx_, messages_, c.reply.content());
    if (!g) {
      *out += "data: " + error_json(server_error("guard: " + g.error().to_string())) + "\n\n";
      return;
    }
    if (!*g) {
      *out += held;
      return;
    }
    c.finish = "content_filter";
    log_extra_ += guard_log_note(**g);
    *out += sse_data(chunk(index, Json{{"role", "assistant"}, {"content", kGuardRefusal}}, Json(), Json()));
    Json last = chunk(index, Json::object(), Json(c.finish), Json());
    last["guard"] = std::move(**g);
    *out += sse_data(last);
  }

  // The non-streaming body.
  std::string body() {
    if (!error_.empty()) {
      return error_json(server_error(error_));
    }
    // The output shield (--guard): each reply judged with its conversation
    // before it is released; a flagged one is replaced by the refusal.
    std::vector<Json> guards(choices_.size());
    if (ctx_.opts.guard && ctx_.opts.guard_output) {
      for (size_t i = 0; i < choices_.size(); ++i) {
        if (choices_[i].reply.content().empty()) continue;  // tool calls only
        Result<std::optional<Json>> g = output_shield(ctx_, messages_, choices_[i].reply.content());
        if (!g) return error_json(server_error("guard: " + g.error().to_string()));  // fail closed
        if (*g) guards[i] = std::move(**g);
      }
    }
    Json choices = Json::array();
    for (size_t i = 0; i < choices_.size(); ++i) {
      ChatChoice& c = choices_[i];
      if (!guards[i].is_null()) {
        log_extra_ += guard_log_note(guards[i]);
        Json ch = {{"index", i},
                   {"message", {{"role", "assistant"}, {"content", kGuardRefusal}}},
                   {"finish_reason", "content_filter"},
                   {"logprobs", nullptr},
                   {"guard", guards[i]}};
        choices.push_back(ch);
        continue;
      }
      Json msg = {{"role", "assistant"}, {"content", c.reply.content()}};
      if (!c.reply.calls().empty()) {
        Json tcs = Json::array();
        for (const chat::ToolCall& call : c.reply.calls())
          tcs.push_back({{"id", call.id}, {"type", "function"},
                         {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
        msg["tool_calls"] = tcs;
        if (c.reply.content().empty()) msg["content"] = nullptr;
      }
      Json ch = {{"index", i}, {"message", msg}, {"finish_reason", c.finish}};
      ch["logprobs"] = logprobs_ ? Json{{"content", c.logprobs}} : Json();
      choices.push_back(ch);
    }
    Json j = {{"id", id_}, {"object", "chat.completion"}, {"created", created_}, {"model", ctx_.opts.model_id},
              {"system_fingerprint", "herd"}, {"choices", choices}, {"usage", usage()}};
    return j.dump(-1, ' ', false, Json::error_handler_t::replace);
  }

  bool stream() const { return stream_; }
  int64_t prompt_tokens() const { return prompt_tokens_; }
  int64_t generated_tokens() const { return completion_tokens_; }
  StreamFraming framing() const { return openai_framing(stream_); }

 private:
  // OpenAI's streamed tool_calls entries for these deltas; a call's first delta gets
  // its id (kept for the final message), type and name.
  static Json call_deltas(ChatChoice& c, const std::vector<chat::ToolCallDelta>& deltas) {
    Json out = Json::array();
    for (const chat::ToolCallDelta& d : deltas) {
      if (d.first) {
        c.call_ids[d.index] = new_id("call_");
        out.push_back({{"index", d.index},
                       {"id", c.call_ids[d.index]},
                       {"type", "function"},
                       {"function", {{"name", d.name}, {"arguments", d.arguments}}}});
      } else {
        out.push_back({{"index", d.index}, {"function", {{"arguments", d.arguments}}}});
      }
    }
    return out;
  }
  Json chunk(int index, Json delta, Json finish, Json logprobs) {
    if (!role_sent_[index]) {
      delta["role"] = "assistant";
      role_sent_[index] = true;
    }
    Json ch = {{"index", index}, {"delta", std::move(delta)}, {"logprobs", std::move(logprobs)},
               {"finish_reason", std::move(finish)}};
    return Json{{"id", id_}, {"object", "chat.completion.chunk"}, {"created", created_},
                {"model", ctx_.opts.model_id}, {"system_fingerprint", "herd"}, {"choices", Json::array({ch})}};
  }
  Json usage() const {
    return {{"prompt_tokens", prompt_tokens_},
            {"completion_tokens", completion_tokens_},
            {"total_tokens", prompt_tokens_ + completion_tokens_},
            {"prompt_tokens_details", {{"cached_tokens", cached_tokens_}}}};
  }

  ServerContext& ctx_;
  bool stream_, include_usage_, logprobs_;
  std::unique_ptr<GenerationSet> set_;
  std::string id_;
  int64_t created_;
  std::vector<ChatChoice> choices_;
  std::map<int, bool> role_sent_;
  bool hold_ = false;  // stream + output shield (release_held)
  std::string log_extra_;  // withheld replies, for the log line
  std::vector<chat::Message> messages_;  // the request's, when the output shield needs them
  int done_count_ = 0;
  bool finished_ = false;
  int64_t prompt_tokens_ = 0, completion_tokens_ = 0, cached_tokens_ = 0;
  std::string error_;
};

void handle_chat(const http::Request& req, http::Response& res, ServerContext& ctx) {
  Json body;
  if (auto e = read_body(req, body)) return send_error(res, *e);
  Parsed<ChatRequest> parsed = parse_chat_request(body, ctx.limits());
  if (auto* e = std::get_if<ApiError>(&parsed)) return send_error(res, *e);
  ChatRequest& r = std::get<ChatRequest>(parsed);
  if (auto e = check_model(ctx, r.s.model)) return send_error(res, *e);
  if (input_shield(ctx, r.messages, r.s.stream, res)) return;
  std::variant<ChatPlan, ApiError> planned = plan_chat(ctx, r, body);
  if (auto* e = std::get_if<ApiError>(&planned)) return send_error(res, *e);
  ChatPlan& plan = std::get<ChatPlan>(planned);
  engine::GenerationRequest base = generation_request(ctx, r.s, std::move(plan.ids), plan.max_tokens);
  auto started = GenerationSet::start(*ctx.engine, ctx.metrics, choice_requests(ctx, base, r.s, plan.grammar));
  if (auto* e = std::get_if<ApiError>(&started)) return send_error(res, *e);
  auto run = std::make_shared<ChatRun>(ctx, r, plan.tools_active, std::move(std::get<0>(started)));
  serve_run(res, run, ctx.ending);
}

}  // namespace

std::variant<ChatPlan, ApiError> plan_chat(ServerContext& ctx, const ChatRequest& r, const Json& body,
                                           std::span<const int32_t> prefix_ids) {
  // Structured output: a grammar every choice's tokens must follow. Unsupported schema
  // keywords are a 400 naming the keyword's path when strict is set (response_format
  // json_schema.strict, a function's strict), and are ignored otherwise.
  std::shared_ptr<const grammar::Grammar> grammar;
  if (r.tool_choice == ToolChoice::kRequired || r.tool_choice == ToolChoice::kNamed) {
    std::vector<grammar::Grammar::Tool> tools;
    for (const chat::ToolDef& d : r.tools.custom) {
      if (r.tool_choice == ToolChoice::kNamed && d.name != r.tool_choice_name) continue;
      nlohmann::json params = nlohmann::json::parse(d.parameters, nullptr, false);
      if (params.is_discarded()) params = nlohmann::json::object();
      tools.push_back({d.name, std::move(params), d.strict});
    }
    if (tools.empty())
      return not_supported("tool_choice", "tool_choice \"required\" with only built-in tools");
    // "required": one call, or several when parallel_tool_calls allows; a named
    // function: exactly one call to it.
    const int calls = r.tool_choice == ToolChoice::kRequired && r.parallel_tool_calls ? kMaxParallelCalls : 1;
    std::string bad_tool, path;
    auto g = grammar::Grammar::tool_call(tools, {}, calls, &bad_tool, &path);
    if (!g.has_value()) {
      std::string param = "tools";
      const Json list = body.contains("tools") ? body.at("tools") : Json::array();
      for (size_t i = 0; i < list.size(); ++i)
        if (list[i].is_object() && list[i].contains("function") && list[i]["function"].is_object() &&
            list[i]["function"].value("name", Json()) == Json(bad_tool))
          param = "tools[" + std::to_string(i) + "].function.parameters" + path;
      return bad_request(param, schema_message(g.error(), path));
    }
    grammar = *g;
  } else if (r.response_format == "json_object") {
    grammar = grammar::Grammar::any_json(/*object_only=*/true);
  } else if (r.response_format == "json_schema") {
    grammar::Options go;
    go.strict = r.response_strict;
    std::string path;
    auto g = grammar::Grammar::from_schema(r.response_schema, go, &path);
    if (!g.has_value())
      return bad_request(r.schema_param + path, schema_message(g.error(), path));
    grammar = *g;
  }
  const bool tools_active = r.tool_choice != ToolChoice::kNone && !r.tools.empty();
  chat::FormatOptions fo;
  fo.today = ctx.opts.today;
  Result<chat::Prompt> prompt = chat::render_prompt(r.messages, tools_active ? r.tools : chat::ToolSet{}, fo);
  if (!prompt.has_value()) return from_field_error(prompt.error());
  Result<std::vector<int32_t>> ids = prompt->ids(*ctx.tok);
  if (!ids.has_value()) return from_field_error(ids.error());
  ChatPlan plan;
  if (!prefix_ids.empty() && !ids->empty() && (*ids)[0] == ctx.tok->vocab().bos_id) ids->erase(ids->begin());
  plan.ids.assign(prefix_ids.begin(), prefix_ids.end());
  plan.ids.insert(plan.ids.end(), ids->begin(), ids->end());
  if (auto e = check_context(ctx, static_cast<int64_t>(plan.ids.size()), r.s.max_tokens, &plan.max_tokens)) return *e;
  plan.grammar = std::move(grammar);
  plan.tools_active = tools_active;
  return plan;
}

void add_chat_routes(http::Router& http, ServerContext& ctx) {
  http.post("/v1/chat/completions",
            [&ctx](const http::Request& req, http::Response& res) { handle_chat(req, res, ctx); });
  http.post("/chat/completions",
            [&ctx](const http::Request& req, http::Response& res) { handle_chat(req, res, ctx); });
}

}  // namespace herd::server
