// Internal to apps/server: what each route file needs, and its registration.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <variant>
#include <vector>
#include <mutex>
#include <string>

#include "http.h"
#include <nlohmann/json.hpp>

#include "chat/stop.h"
#include "engine/engine.h"
#include "errors.h"
#include "grammar/json_constraint.h"
#include "guard_shield.h"  // kGuardRefusal
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
  SchemaLimits limits() const { return SchemaLimits{opts.max_n, vocab_size, static_cast<int32_t>(opts.loras.size())}; }
  // The --lora adapters' scales for requests without a "lora" list: as loaded
  // until POST /lora-adapters sets them (then `lora_set` is true).
  std::mutex lora_mu;
  std::vector<float> lora_scales;
  bool lora_set = false;
  // Shutdown (Server::shutdown): draining refuses new requests (503); ending cancels
  // the generations still running so their streams end with a last event.
  std::atomic<bool> draining{false};
  std::atomic<bool> ending{false};
};

// An error in OpenAI's shape; the second form picks the shape by the request's path
// (Ollama's under /api/).
void send_error(http::Response& res, const ApiError& e);
void send_error(const http::Request& req, http::Response& res, const ApiError& e);
void send_json(http::Response& res, const nlohmann::json& j, int status = 200);
// The parsed body, or the 400 to send.
std::optional<ApiError> read_body(const http::Request& req, nlohmann::json& out);
// A 404 when the server is strict about names (--strict-model-names) and `model` is
// neither empty, the served name nor an alias; any name otherwise, as llama-server.
std::optional<ApiError> check_model(const ServerContext& ctx, const std::string& model);
// The adapter set a request's "model" names (ServerOptions::lora_modules): "NAME" or
// "model_id+NAME" (an alias in place of model_id too; Ollama's ":latest" ignored) is set
// i + 1 for lora_modules[i]; anything else 0, the model as loaded. -1 for "X+NAME" with an
// unknown NAME (check_model reports it).
int32_t adapter_for_model(const ServerContext& ctx, const std::string& model);
// A 400 naming both numbers unless prompt + max_tokens fit the context; fills
// max_tokens (all that is left when not requested). `param` names the prompt's field.
std::optional<ApiError> check_context(const ServerContext& ctx, int64_t prompt_tokens,
                                      std::optional<int64_t> requested, int64_t* max_tokens,
                                      const char* param = "messages");
// One engine request from the validated fields (the server's default temperature and
// top_p where the request has none), and its n copies with consecutive seeds, each
// with its own constraint state when a grammar is given.
engine::GenerationRequest generation_request(ServerContext& ctx, const SamplingFields& s,
                                             std::vector<int32_t> prompt, int64_t max_tokens);
std::vector<engine::GenerationRequest> choice_requests(ServerContext& ctx, const engine::GenerationRequest& base,
                                                       const SamplingFields& s,
                                                       std::shared_ptr<const grammar::Grammar> grammar);

// A chat request made ready for the engine: the rendered prompt's ids, the token
// budget, the grammar every choice follows (tool_choice required/named,
// response_format json), and whether replies are parsed for tool calls.
struct ChatPlan {
  std::vector<int32_t> ids;
  int64_t max_tokens = 0;
  std::shared_ptr<const grammar::Grammar> grammar;
  bool tools_active = false;
};
// `body` is the request as sent (a schema error's path names its tools[i]);
// `prefix_ids` (Ollama's "context") go before the rendered prompt, whose BOS is then
// dropped.
std::variant<ChatPlan, ApiError> plan_chat(ServerContext& ctx, const ChatRequest& r, const nlohmann::json& body,
                                           std::span<const int32_t> prefix_ids = {});

std::string new_id(const char* prefix);
// `t` in RFC 3339, UTC, with `digits` (3 or 9) fractional digits: the log lines'
// time (3) and Ollama's created_at (9).
std::string rfc3339(std::chrono::system_clock::time_point t, int digits = 9);
int64_t unix_time();
// One logprobs entry in the chat shape {token, logprob, bytes, top_logprobs}.
nlohmann::json chat_logprob(const tokenizer::Tokenizer& tok, const engine::TokenEvent& t);

// The input shield (--guard; routes_guard.cpp): judges the conversation's last
// user turn before inference. true: the request is answered (blocked, in
// OpenAI's shape with finish_reason "content_filter", streamed as SSE when
// `stream`, or Ollama's with done_reason "content_filter"; or a 500 when the
// guard fails: the shield fails closed); false: go on. Prompt Guard
// (--prompt-guard) runs first, then Llama Guard (--guard).
enum class ShieldShape { kOpenAi, kOllamaChat, kOllamaGenerate };
// The words a blocked request or withheld reply adds to its log line, from
// its "guard" field: " guard=llama-guard:S1,S10 p=0.998" or
// " guard=prompt-guard:jailbreak score=0.997".
std::string guard_log_note(const nlohmann::json& guard);
bool input_shield(ServerContext& ctx, const std::vector<chat::Message>& messages, bool stream, http::Response& res,
                  ShieldShape shape = ShieldShape::kOpenAi);
// The output shield (non-streamed replies): `reply` judged as the assistant's
// answer to `messages`. A value: the "guard" field of a flagged reply, which
// the caller replaces with kGuardRefusal and finish_reason "content_filter";
// nullopt: release it. An error: the guard failed (refuse the reply).
Result<std::optional<nlohmann::json>> output_shield(ServerContext& ctx, const std::vector<chat::Message>& messages,
                                                    const std::string& reply);

void add_chat_routes(http::Router& http, ServerContext& ctx);
void add_guard_routes(http::Router& http, ServerContext& ctx);
void add_completion_routes(http::Router& http, ServerContext& ctx);
void add_misc_routes(http::Router& http, ServerContext& ctx);
void add_ollama_routes(http::Router& http, ServerContext& ctx);
void add_web_page(http::Router& http);

}  // namespace herd::server
