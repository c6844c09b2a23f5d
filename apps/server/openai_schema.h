// OpenAI request bodies validated into herd types. Every type or range error
// is an ApiError (400) whose param is the JSON field path, e.g.
// "stream_options.include_usage" or "messages[2].tool_calls[0].function.name".
// Unknown fields are ignored (as OpenAI's SDKs send extras such as "user").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat/messages.h"
#include "errors.h"

namespace herd::server {

// Fields shared by /v1/chat/completions and /v1/completions.
struct SamplingFields {
  std::string model;                    // empty: not given
  std::optional<int64_t> max_tokens;    // max_tokens or max_completion_tokens
  std::optional<float> temperature;     // absent: the server's default (ServerOptions)
  std::optional<float> top_p;           // absent: the server's default
  // llama-server's extensions (and Ollama's options): 0 / 0 / 1 / 64 are "off".
  int32_t top_k = 0;
  float min_p = 0.0f;
  float repeat_penalty = 1.0f;
  int32_t repeat_last_n = 64;
  std::optional<uint64_t> seed;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  std::vector<std::pair<int32_t, float>> logit_bias;
  std::vector<std::string> stop;        // at most 4 (OpenAI's limit), none empty
  int n = 1;
  bool stream = false;
  bool include_usage = false;           // stream_options.include_usage
  int32_t top_logprobs = -1;            // -1: no logprobs
};

enum class ToolChoice { kAuto, kNone, kRequired, kNamed };

struct ChatRequest {
  SamplingFields s;
  std::vector<chat::Message> messages;
  chat::ToolSet tools;
  ToolChoice tool_choice = ToolChoice::kAuto;
  std::string tool_choice_name;  // kNamed: the function
  bool parallel_tool_calls = true;  // false: at most one call per reply
  // response_format: "text", "json_object" or "json_schema" (then response_schema).
  std::string response_format = "text";
  nlohmann::json response_schema;
  bool response_strict = false;  // json_schema.strict: unsupported keywords are a 400 (else ignored)
  std::string schema_param = "response_format.json_schema.schema";  // where the schema was (for errors)
};

struct CompletionRequest {
  SamplingFields s;
  std::string prompt;             // text prompt, or
  std::vector<int32_t> prompt_ids;  // token ids (when given as an array of integers)
  bool prompt_is_ids = false;
};

template <typename T>
using Parsed = std::variant<T, ApiError>;

// Limits the validation enforces (beyond types).
struct SchemaLimits {
  int max_n = 16;
  int32_t vocab_size = 0;  // logit_bias keys and prompt ids must be below it
};

Parsed<nlohmann::json> parse_body(const std::string& body);
Parsed<ChatRequest> parse_chat_request(const nlohmann::json& body, const SchemaLimits& limits);
Parsed<CompletionRequest> parse_completion_request(const nlohmann::json& body, const SchemaLimits& limits);

// A JSON type name for messages ("number", "string", ...).
const char* json_type_name(const nlohmann::json& v);

}  // namespace herd::server
