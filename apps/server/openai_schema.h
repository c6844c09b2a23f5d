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
  // llama-server's "lora": [{"id": I, "scale": S}, ...], the weights of the --lora
  // adapters for this request, one per adapter in id order (unlisted: 0); absent:
  // the server's current weights (GET/POST /lora-adapters).
  std::optional<std::vector<float>> lora;
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
  int32_t n_lora = 0;      // --lora adapters: a "lora" list's ids must be below it
};

// A "lora" list as llama-server takes it (a request's field, POST /lora-adapters'
// body): at most n_lora objects {"id": integer in [0, n_lora), "scale": number in
// [-100, 100]}, each id once. Returns n_lora weights (unlisted ids 0), or the 400
// naming `path` and the element at fault.
Parsed<std::vector<float>> parse_lora_list(const nlohmann::json& v, int32_t n_lora, const std::string& path);

// A request body: depth-bounded JSON, an object unless object_only is false.
Parsed<nlohmann::json> parse_body(const std::string& body, bool object_only = true);
Parsed<ChatRequest> parse_chat_request(const nlohmann::json& body, const SchemaLimits& limits);
Parsed<CompletionRequest> parse_completion_request(const nlohmann::json& body, const SchemaLimits& limits);

// A JSON type name for messages ("number", "string", ...).
const char* json_type_name(const nlohmann::json& v);

}  // namespace herd::server
