// POST /v1/completions: raw text (or token id) prompts, no chat template.
#include <memory>

#include "generation.h"
#include "routes.h"
#include "serve_run.h"
#include "sse.h"

namespace herd::server {
namespace {

using Json = nlohmann::json;

struct CompletionChoice {
  CompletionChoice(const tokenizer::Tokenizer& tok, const std::vector<std::string>& stops) : text(tok, stops) {}
  ChoiceText text;
  std::string out;
  Json tokens = Json::array(), token_logprobs = Json::array(), top = Json::array(), offsets = Json::array();
  std::string finish;
  bool done = false;
};

class CompletionRun {
 public:
  CompletionRun(ServerContext& ctx, const CompletionRequest& r, std::unique_ptr<GenerationSet> set)
      : ctx_(ctx), stream_(r.s.stream), include_usage_(r.s.include_usage), top_logprobs_(r.s.top_logprobs),
        set_(std::move(set)), id_(new_id("cmpl-")), created_(unix_time()) {
    for (int i = 0; i < set_->size(); ++i) choices_.emplace_back(*ctx.tok, r.s.stop);
    ctx_.metrics.in_flight_add(1);
  }
  ~CompletionRun() {
    if (!finished_) set_->cancel_all();
    ctx_.metrics.in_flight_add(-1);
  }
  bool finished() const { return finished_; }
  std::string log_extra() const { return ""; }  // no shield on completions
  bool stream() const { return stream_; }
  int64_t prompt_tokens() const { return prompt_tokens_; }
  int64_t generated_tokens() const { return completion_tokens_; }
  StreamFraming framing() const { return openai_framing(stream_); }
  GenerationSet& set() { return *set_; }

  void on_event(const GenEvent& ev, std::string* out) {
    CompletionChoice& c = choices_[static_cast<size_t>(ev.index)];
    if (c.done) return;
    if (ev.kind == GenEvent::kToken) {
      ++completion_tokens_;
      Json lp;
      if (top_logprobs_ >= 0) {
        const std::string piece = ctx_.tok->decode(std::span<const int32_t>(&ev.token.id, 1));
        Json top = Json::object();
        for (const auto& [id, l] : ev.token.top)
          top[ctx_.tok->decode(std::span<const int32_t>(&id, 1))] = l;
        lp = {{"tokens", {piece}}, {"token_logprobs", {ev.token.logprob}}, {"top_logprobs", {top}},
              {"text_offset", {c.out.size()}}};
        c.tokens.push_back(piece);
        c.token_logprobs.push_back(ev.token.logprob);
        c.top.push_back(top);
        c.offsets.push_back(c.out.size());
      }
      const std::string shown = c.text.push(ev.token.id);
      if (c.text.stopped()) set_->cancel(ev.index);
      c.out += shown;
      if (stream_ && (!shown.empty() || top_logprobs_ >= 0)) *out += sse_data(chunk(ev.index, shown, Json(), lp));
      return;
    }
    c.done = true;
    ++done_count_;
    if (prompt_tokens_ == 0) prompt_tokens_ = ev.usage.prompt_tokens;
    if (ev.reason == engine::FinishReason::kError) error_ = ev.error.empty() ? "generation failed" : ev.error;
    const std::string rest = c.text.finish();
    c.out += rest;
    c.finish = openai_finish_reason(ev.reason, c.text.stopped(), false);
    if (stream_) {
      if (!error_.empty()) {
        *out += "data: " + error_json(server_error(error_)) + "\n\n";
      }
      *out += sse_data(chunk(ev.index, rest, Json(c.finish), Json()));
    }
    if (done_count_ == static_cast<int>(choices_.size())) {
      finished_ = true;
      if (stream_) {
        if (include_usage_)
          *out += sse_data({{"id", id_}, {"object", "text_completion"}, {"created", created_},
                            {"model", ctx_.opts.model_id}, {"choices", Json::array()}, {"usage", usage()}});
        *out += sse_done();
      }
    }
  }

  std::string body() const {
    if (!error_.empty()) {
      return error_json(server_error(error_));
    }
    Json choices = Json::array();
    for (size_t i = 0; i < choices_.size(); ++i) {
      const CompletionChoice& c = choices_[i];
      Json lp;
      if (top_logprobs_ >= 0)
        lp = {{"tokens", c.tokens}, {"token_logprobs", c.token_logprobs}, {"top_logprobs", c.top},
              {"text_offset", c.offsets}};
      choices.push_back({{"index", i}, {"text", c.out}, {"logprobs", lp}, {"finish_reason", c.finish}});
    }
    return Json{{"id", id_}, {"object", "text_completion"}, {"created", created_}, {"model", ctx_.opts.model_id},
                {"choices", choices}, {"usage", usage()}}
        .dump(-1, ' ', false, Json::error_handler_t::replace);
  }

 private:
  Json chunk(int index, const std::string& text, Json finish, Json lp) const {
    Json ch = {{"index", index}, {"text", text}, {"logprobs", std::move(lp)}, {"finish_reason", std::move(finish)}};
    return {{"id", id_}, {"object", "text_completion"}, {"created", created_}, {"model", ctx_.opts.model_id},
            {"choices", Json::array({ch})}};
  }
  Json usage() const {
    return {{"prompt_tokens", prompt_tokens_}, {"completion_tokens", completion_tokens_},
            {"total_tokens", prompt_tokens_ + completion_tokens_}};
  }

  ServerContext& ctx_;
  bool stream_, include_usage_;
  int32_t top_logprobs_;
  std::unique_ptr<GenerationSet> set_;
  std::string id_;
  int64_t created_;
  std::vector<CompletionChoice> choices_;
  int done_count_ = 0;
  bool finished_ = false;
  int64_t prompt_tokens_ = 0, completion_tokens_ = 0;
  std::string error_;
};

void handle_completion(const http::Request& req, http::Response& res, ServerContext& ctx) {
  Json body;
  if (auto e = read_body(req, body)) return send_error(res, *e);
  Parsed<CompletionRequest> parsed = parse_completion_request(body, ctx.limits());
  if (auto* e = std::get_if<ApiError>(&parsed)) return send_error(res, *e);
  CompletionRequest& r = std::get<CompletionRequest>(parsed);
  if (auto e = check_model(ctx, r.s.model)) return send_error(res, *e);
  std::vector<int32_t> ids =
      r.prompt_is_ids ? r.prompt_ids : ctx.tok->encode(r.prompt, /*add_bos=*/true, /*parse_special=*/true);
  int64_t max_tokens = 0;
  // OpenAI's legacy default is 16 tokens.
  if (auto e = check_context(ctx, static_cast<int64_t>(ids.size()),
                             r.s.max_tokens ? r.s.max_tokens : std::optional<int64_t>(16), &max_tokens, "prompt"))
    return send_error(res, *e);
  engine::GenerationRequest base = generation_request(ctx, r.s, std::move(ids), max_tokens);
  auto started = GenerationSet::start(*ctx.engine, ctx.metrics, choice_requests(ctx, base, r.s, nullptr));
  if (auto* e = std::get_if<ApiError>(&started)) return send_error(res, *e);
  serve_run(res, std::make_shared<CompletionRun>(ctx, r, std::move(std::get<0>(started))), ctx.ending);
}

}  // namespace

void add_completion_routes(http::Router& http, ServerContext& ctx) {
  http.post("/v1/completions",
            [&ctx](const http::Request& req, http::Response& res) { handle_completion(req, res, ctx); });
  http.post("/completions",
            [&ctx](const http::Request& req, http::Response& res) { handle_completion(req, res, ctx); });
}

}  // namespace herd::server
