// See errors.h.
#include "errors.h"

#include <nlohmann/json.hpp>

namespace herd::server {

ApiError bad_request(std::string param, std::string message, std::string code) {
  ApiError e;
  e.param = std::move(param);
  e.message = e.param.empty() ? std::move(message) : e.param + ": " + message;
  e.code = std::move(code);
  return e;
}

ApiError not_supported(std::string param, std::string what) {
  return bad_request(std::move(param), what + " is not supported yet by herd serve", "not_supported");
}

ApiError server_error(std::string message) {
  ApiError e;
  e.status = 500;
  e.type = "server_error";
  e.message = std::move(message);
  return e;
}

ApiError from_field_error(const Error& e) {
  ApiError out;
  out.message = e.message();
  const size_t colon = out.message.find(": ");
  if (colon != std::string::npos && out.message.find(' ') >= colon) out.param = out.message.substr(0, colon);
  return out;
}

std::string error_json(const ApiError& e) {
  nlohmann::json err = {{"message", e.message}, {"type", e.type}};
  err["param"] = e.param.empty() ? nlohmann::json() : nlohmann::json(e.param);
  err["code"] = e.code.empty() ? nlohmann::json() : nlohmann::json(e.code);
  return nlohmann::json{{"error", err}}.dump();
}

std::string ollama_error_json(const ApiError& e) { return nlohmann::json{{"error", e.message}}.dump(); }

bool is_ollama_path(std::string_view path) { return path.substr(0, 5) == "/api/"; }

std::string error_json_for(std::string_view path, const ApiError& e) {
  return is_ollama_path(path) ? ollama_error_json(e) : error_json(e);
}

}  // namespace herd::server
