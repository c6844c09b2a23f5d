// libFuzzer target: a request body as `herd serve` receives it, through parse_body
// (the JSON depth check and parse), the OpenAI chat and completion validators and
// Ollama's chat and generate validators (one body through all four: the same bytes
// reach whichever route a client picks), and, where a chat request carries a
// response_format / format schema, the grammar compiler with
// the server's limits. Properties checked: no crash or sanitizer report, no run past
// libFuzzer's -timeout (the compile limits bound the work), and an accepted body nests
// at most kMaxJsonDepth levels.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <variant>

#include "base/json_depth.h"
#include "grammar/json_grammar.h"
#include "ollama_schema.h"
#include "openai_schema.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace herd::server;
  const std::string body(reinterpret_cast<const char*>(data), size);
  Parsed<nlohmann::json> j = parse_body(body);
  if (!std::holds_alternative<nlohmann::json>(j)) return 0;
  if (!herd::json_depth_within(body)) std::abort();  // parse_body let a deep body through
  const nlohmann::json& b = std::get<nlohmann::json>(j);
  const SchemaLimits limits{16, 128256, 4};
  Parsed<ChatRequest> chat = parse_chat_request(b, limits);
  if (const ChatRequest* r = std::get_if<ChatRequest>(&chat); r != nullptr && r->s.lora) {
    // An accepted "lora" list gives one bounded weight per adapter.
    if (r->s.lora->size() != 4) std::abort();
    for (float w : *r->s.lora)
      if (!(w >= -100.0f && w <= 100.0f)) std::abort();
  }
  if (const ChatRequest* r = std::get_if<ChatRequest>(&chat); r != nullptr && !r->response_schema.is_null()) {
    std::string path;
    (void)herd::grammar::Grammar::from_schema(r->response_schema, {}, &path);
  }
  (void)parse_completion_request(b, limits);
  for (auto parse : {parse_ollama_chat, parse_ollama_generate}) {
    Parsed<OllamaRequest> o = parse(b, limits);
    if (const OllamaRequest* r = std::get_if<OllamaRequest>(&o); r != nullptr && !r->chat.response_schema.is_null()) {
      std::string path;
      (void)herd::grammar::Grammar::from_schema(r->chat.response_schema, {}, &path);
    }
  }
  return 0;
}
