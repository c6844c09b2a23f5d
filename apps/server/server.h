// `herd serve`'s HTTP server: OpenAI-compatible routes over an engine::Engine.
//
//   POST /v1/chat/completions   POST /v1/completions   GET /v1/models
//   POST /tokenize   POST /detokenize   GET /health   GET /metrics   GET / (web chat)
//   Ollama's: POST /api/chat   POST /api/generate   GET /api/tags   POST /api/show
//             GET /api/ps   GET /api/version   (routes_ollama.cpp)
//
// The server owns no model: the caller loads the model, tokenizer and engine and
// keeps them alive until listen() returns. The transport and its limits are in
// http_server.h. Thread safety: stop() may be called from any thread (e.g. a
// signal-watching one); the rest from one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "engine/engine.h"
#include "http_server.h"
#include "tokenizer/tokenizer.h"

namespace herd::server {

class GuardShield;   // guard_shield.h
class PromptShield;  // prompt_shield.h

// The served model as Ollama's listing routes describe it (cmd_serve fills it from
// the loaded model; the HTTP layer never sees model headers).
struct ModelCard {
  std::string format = "gguf";        // "gguf" | "safetensors"
  int64_t size_bytes = 0;             // the model's files on disk
  int64_t modified_unix = 0;          // their newest modification time
  int64_t parameter_count = 0;
  std::string quantization;           // the file type: "Q4_0", "F16", "Q4_K_M", ...
  std::string chat_template;          // the template the model carries, if any (Jinja)
  std::string digest;                 // 64 hex digits naming this file (path, size and mtime)
  int64_t memory_bytes = 0;           // weights + KV cache resident while serving
  nlohmann::json model_info = nlohmann::json::object();  // GGUF-style keys (general.*, llama.*)
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                      // 0: any free port (see bound_port())
  std::string api_key;                  // empty: no key required
  std::string cors_origin;              // empty: no CORS headers; "*" or an origin
  std::vector<std::string> allowed_hosts;  // extra Host names (see auth.h)
  std::string model_id = "herd";        // the name /v1/models lists and requests may use
  std::vector<std::string> model_aliases;  // also accepted in "model"
  bool strict_model_names = false;      // true: another "model" is a 404; false: any name is this model
  // Adapters requests choose by name: lora_modules[i] is the engine's adapter set
  // i + 1 (engine::GenerationRequest::adapter), named "NAME" or "model_id+NAME".
  std::vector<std::string> lora_modules;
  // The --lora adapters (applied to every request), in id order: what GET
  // /lora-adapters lists, the ids of a request's "lora" list and of POST
  // /lora-adapters (llama-server's), with the scales they were loaded with.
  struct LoraAdapterInfo {
    std::string path;
    float scale = 1.0f;
  };
  std::vector<LoraAdapterInfo> loras;
  float default_temperature = 0.6f;     // where a request has none (Meta's generation_config.json)
  float default_top_p = 0.9f;
  ModelCard card;                       // what Ollama's /api/tags, /api/show and /api/ps say
  int64_t max_seq_len = 4096;           // prompt + completion tokens of one request
  std::vector<int32_t> model_eos_ids;   // the model's own end ids (chat::StopTokens::for_model)
  int max_n = 16;                       // "n" at most
  size_t max_body_bytes = 4u << 20;     // larger request bodies get 413
  int max_connections = 1024;           // open connections in all (one thread each)
  int max_connections_per_client = 64;  // per non-loopback client address
  int request_read_seconds = 30;        // a request must arrive whole within this
  bool log_requests = true;             // one line per request on stderr
  std::string today;                    // "Today Date:" of the system lines ("26 Jul 2024"); empty: today
  // --guard: the Llama Guard shield (owned by the caller, outliving the server):
  // user turns are checked before inference, non-streamed replies before they
  // are released (guard_input / guard_output), and POST /v1/moderations answers.
  const GuardShield* guard = nullptr;
  bool guard_input = true;   // check user turns before inference
  bool guard_output = true;  // check non-streamed replies before they are released
  // --prompt-guard: the Prompt Guard shield (owned by the caller, outliving the
  // server): the last user turn and trailing tool results of every chat request
  // are scored before inference (prompt_shield.h).
  const PromptShield* prompt_guard = nullptr;
};

class Server {
 public:
  Server(engine::Engine& engine, const tokenizer::Tokenizer& tok, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serves on a socket opened earlier (cmd_serve opens it before loading the model,
  // so a taken port is reported at once); bind() then only returns its port.
  void adopt(http::ListenSocket socket);
  // Opens host:port unless adopt() gave a socket. Returns the port (useful with port 0).
  Result<int> bind();
  // Serves until stop(); call after bind().
  Status listen();
  // A graceful stop (SIGTERM): stops accepting connections and answers new requests on
  // open ones with 503; lets running generations finish for up to `grace_s` seconds,
  // then cancels the rest, whose streams end with their final event (finish_reason,
  // usage and [DONE]; Ollama's done record); then stop(). Blocks; any thread.
  void shutdown(double grace_s);
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace herd::server
