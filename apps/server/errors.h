// API errors in OpenAI's JSON shape:
//   {"error": {"message": "...", "type": "invalid_request_error", "param": "messages[0].role", "code": null}}
// A route returns an ApiError instead of throwing; the field path (param) names
// exactly what to fix.
#pragma once

#include <string>

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

// The JSON body text.
std::string error_json(const ApiError& e);

}  // namespace herd::server
