// Internal to apps/server: field checks for request bodies that record the first
// error with its JSON path (prefix + key), shared by the OpenAI and Ollama parsers.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "errors.h"
#include "openai_schema.h"

namespace herd::server {

// The first error of a parse; each helper returns false after setting it.
struct Checker {
  std::optional<ApiError> error;
  std::string prefix;  // put before every key in a path ("options.")

  bool fail(const std::string& path, const std::string& what) {
    if (!error) error = bad_request(path, what);
    return false;
  }
  bool expected(const std::string& path, const char* want, const nlohmann::json& got) {
    return fail(path, std::string("expected ") + want + ", got " + json_type_name(got));
  }

  // Optional number in [lo, hi]; absent or null keeps *out.
  bool number(const nlohmann::json& obj, const char* key, float lo, float hi, float* out) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return true;
    if (!it->is_number()) return expected(prefix + key, "number", *it);
    const double v = it->get<double>();
    if (!(v >= lo && v <= hi)) return fail(prefix + key, "must be in [" + fmt(lo) + ", " + fmt(hi) + "], got " + fmt(v));
    *out = static_cast<float>(v);
    return true;
  }
  bool number(const nlohmann::json& obj, const char* key, float lo, float hi, std::optional<float>* out) {
    float v = 0.0f;
    const bool given = obj.contains(key) && !obj.at(key).is_null();
    if (!number(obj, key, lo, hi, &v)) return false;
    if (given) *out = v;
    return true;
  }
  bool integer(const nlohmann::json& obj, const char* key, int64_t lo, int64_t hi, std::optional<int64_t>* out) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return true;
    if (!it->is_number_integer()) return expected(prefix + key, "integer", *it);
    const int64_t v = it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)
                          ? INT64_MAX
                          : it->get<int64_t>();
    if (v < lo || v > hi) return fail(prefix + key, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + it->dump());
    *out = v;
    return true;
  }
  bool boolean(const nlohmann::json& obj, const char* key, const std::string& path, bool* out) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return true;
    if (!it->is_boolean()) return expected(prefix + path, "boolean", *it);
    *out = it->get<bool>();
    return true;
  }
  static std::string fmt(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", v);
    return b;
  }
};

// top_k, min_p, repeat_penalty, repeat_last_n (llama-server's names, which Ollama's
// options share) from `obj` into `s`; a top_p of 0 becomes "keep only the top token".
bool parse_sampler_extras(const nlohmann::json& obj, Checker& c, SamplingFields& s);

}  // namespace herd::server
