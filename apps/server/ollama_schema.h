// Ollama's request bodies (/api/chat, /api/generate) validated into the same
// ChatRequest the OpenAI routes use, so both APIs share one prompt renderer, one
// grammar engine and one tool-call parser. Field names and defaults follow Ollama's
// docs/api.md: "stream" defaults to true; "options" carries the sampling
// (temperature, top_p, top_k, min_p, seed, num_predict, stop, repeat_penalty,
// repeat_last_n, presence_penalty, frequency_penalty); "format" is "json" or a JSON
// schema; "tools" are OpenAI-shaped. Errors are ApiErrors whose param is the field
// path ("options.temperature", "messages[1].images").
//
// Options that tune how Ollama loads a model (num_ctx, num_gpu, num_thread, use_mmap,
// ...) are accepted and ignored: herd's server fixes them at start. Sampling options
// herd does not implement (mirostat, typical_p, tfs_z) are accepted at their neutral
// value and refused otherwise, rather than silently ignored. Images and the "suffix",
// "template" and "think" fields are refused: the Llama 3.1 text models have no use
// for them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "openai_schema.h"

namespace herd::server {

struct OllamaRequest {
  ChatRequest chat;              // messages (for generate: system + prompt), tools, format, sampling
  bool stream = true;
  bool generate = false;         // /api/generate (else /api/chat)
  bool raw = false;              // generate: the prompt is sent as written, no chat template
  std::string prompt;            // generate
  std::vector<int32_t> context;  // generate: ids returned by an earlier response, continued
  bool load_only = false;        // no messages / empty prompt: Ollama's "load the model" call
  bool unload = false;           // ... with keep_alive 0 (answered "unload"; the model stays)
};

// "stop" unless the token budget (num_predict or the context) ended the reply.
const char* ollama_done_reason(bool length);

Parsed<OllamaRequest> parse_ollama_chat(const nlohmann::json& body, const SchemaLimits& limits);
Parsed<OllamaRequest> parse_ollama_generate(const nlohmann::json& body, const SchemaLimits& limits);

}  // namespace herd::server
