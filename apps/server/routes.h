// Internal to apps/server: what each route file needs, and its registration.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "http.h"
#include <nlohmann/json.hpp>

#include "chat/stop.h"
#include "engine/engine.h"
#include "errors.h"
#include "grammar/json_constraint.h"
#include "metrics.h"
#include "openai_schema.h"
#include "server.h"
#include "tokenizer/tokenizer.h"

namespace herd::server {

struct ServerContext {
  engine::Engine* engine = nullptr;
  const tokenizer::Tokenizer* tok = nullptr;
  ServerOptions opts;
  Metrics metrics;
  chat::StopTokens stop_tokens;
  int32_t vocab_size = 0;
  // The tokenizer's vocabulary index for grammar constraints, built on first use.
  std::shared_ptr<const grammar::VocabIndex> vocab_index() {
    std::lock_guard<std::mutex> lock(grammar_mu);
    if (!vocab_index_) vocab_index_ = grammar::VocabIndex::build(*tok);
    return vocab_index_;
  }
  std::mutex grammar_mu;
  std::shared_ptr<const grammar::VocabIndex> vocab_index_;
  SchemaLimits limits() const { return SchemaLimits{opts.max_n, vocab_size}; }
};

void send_error(http::Response& res, const ApiError& e);
void send_json(http::Response& res, const nlohmann::json& j, int status = 200);
// The parsed body or a 400 already sent (returns false).
bool read_body(const http::Request& req, http::Response& res, nlohmann::json& out);
// 404 unless `model` is empty or names the served model.
bool check_model(const ServerContext& ctx, const std::string& model, http::Response& res);
// 400 naming both numbers unless prompt + max_tokens fit the context; fills max_tokens.
bool check_context(const ServerContext& ctx, int64_t prompt_tokens, std::optional<int64_t> requested,
                   int64_t* max_tokens, http::Response& res);
std::string new_id(const char* prefix);
int64_t unix_time();
// One logprobs entry in the chat shape {token, logprob, bytes, top_logprobs}.
nlohmann::json chat_logprob(const tokenizer::Tokenizer& tok, const engine::TokenEvent& t);

void add_chat_routes(http::Router& http, ServerContext& ctx);
void add_completion_routes(http::Router& http, ServerContext& ctx);
void add_misc_routes(http::Router& http, ServerContext& ctx);
void add_web_page(http::Router& http);

}  // namespace herd::server
