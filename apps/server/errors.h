// API errors, written in the shape of the API the client speaks:
//   OpenAI's  {"error": {"message": "...", "type": "invalid_request_error", "param": "messages[0].role", "code": null}}
//   Ollama's  {"error": "messages[0].role: expected string, got number"}   (routes under /api/)
// A route returns an ApiError instead of throwing; the field path (param) names
// exactly what to fix, and is also the lead of the message.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace herd::server {

struct ApiError {
  int status = 400;
  std::string type = "invalid_request_error";  // invalid_request_error | authentication_error | ...
  std::string message;
  std::string param;  // field path ("messages[1].content"), empty if none
  std::string code;   // e.g. "context_length_exceeded", "model_not_found"; empty: null
};

ApiError bad_request(std::string param, std::string message, std::string code = "");
ApiError not_supported(std::string param, std::string what);
// A 500 "server_error" (generation failed after the request was accepted).
ApiError server_error(std::string message);

// An Error from the chat layer ("messages[1].content: expected string, got number")
// as a 400 whose param is the path before ": ".
ApiError from_field_error(const Error& e);

// The JSON body text, OpenAI's shape.
std::string error_json(const ApiError& e);
// The JSON body text, Ollama's shape ({"error": message}).
std::string ollama_error_json(const ApiError& e);
// True for Ollama's routes (/api/...), whose errors take Ollama's shape.
bool is_ollama_path(std::string_view path);
// The body for a request to `path`: Ollama's shape under /api/, else OpenAI's.
std::string error_json_for(std::string_view path, const ApiError& e);

}  // namespace herd::server
