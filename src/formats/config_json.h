// Typed, validating readers of the keys of a JSON config object (config.json,
// generation_config.json, Meta's params.json): each missing key, wrong type or
// out-of-range value becomes an error naming the file, the key, what was
// expected and what was found. A missing key and a null value both read as
// absent. parse_config_object() bounds nesting before nlohmann builds a DOM and
// catches its exceptions. Shared by hf_config.cpp and meta_params.cpp; inline
// because it is small and header-only users need no extra library.
#pragma once

#include <cmath>
#include <exception>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/json_depth.h"
#include "base/result.h"

namespace herd::formats::config_json {

using Json = nlohmann::json;

// Config files are a few KB; this only bounds a hostile one.
constexpr size_t kMaxConfigBytes = size_t{16} << 20;

inline const char* type_name(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::object: return "an object";
    case Json::value_t::array: return "an array";
    case Json::value_t::string: return "a string";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "an integer";
    case Json::value_t::number_float: return "a floating-point number";
    default: return "an unexpected value";
  }
}

// "a string \"4096\"" — the type and a short rendering of a found value.
inline std::string found(const Json& j) {
  std::string s = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return std::string(type_name(j)) + " " + s;
}

// Reads keys of one JSON object; `file` and `prefix` ("rope_scaling.") go in
// messages. A missing key and a null value both read as absent.
class Fields {
 public:
  Fields(const Json& obj, const char* file, std::string prefix = "")
      : obj_(obj), file_(file), prefix_(std::move(prefix)) {}

  const Json* get(const char* key) const {
    auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  Error wrong_type(const char* key, const char* expected, const Json& j) const {
    return err(ErrorCode::kInvalidArgument, "%s: key '%s%s' is %s, expected %s", file_,
               prefix_.c_str(), key, found(j).c_str(), expected);
  }
  Error missing(const char* key, const char* expected) const {
    return err(ErrorCode::kInvalidArgument, "%s: missing required key '%s%s' (%s)", file_,
               prefix_.c_str(), key, expected);
  }
  Error bad_value(const char* key, const std::string& what) const {
    return err(ErrorCode::kInvalidArgument, "%s: key '%s%s' %s", file_, prefix_.c_str(), key,
               what.c_str());
  }

  Result<std::optional<int64_t>> opt_int(const char* key) const {
    const Json* j = get(key);
    if (!j) return std::optional<int64_t>();
    if (j->is_number_integer() && j->is_number_unsigned()) {
      uint64_t v = j->get<uint64_t>();
      if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return bad_value(key, "is larger than 2^63-1");
      return std::optional<int64_t>(static_cast<int64_t>(v));
    }
    if (j->is_number_integer()) return std::optional<int64_t>(j->get<int64_t>());
    return wrong_type(key, "an integer", *j);
  }
  Result<std::optional<double>> opt_double(const char* key) const {
    const Json* j = get(key);
    if (!j) return std::optional<double>();
    if (!j->is_number()) return wrong_type(key, "a number", *j);
    double v = j->get<double>();
    if (!std::isfinite(v)) return bad_value(key, "is not finite");
    return std::optional<double>(v);
  }
  Result<std::optional<bool>> opt_bool(const char* key) const {
    const Json* j = get(key);
    if (!j) return std::optional<bool>();
    if (!j->is_boolean()) return wrong_type(key, "true or false", *j);
    return std::optional<bool>(j->get<bool>());
  }
  Result<std::optional<std::string>> opt_string(const char* key) const {
    const Json* j = get(key);
    if (!j) return std::optional<std::string>();
    if (!j->is_string()) return wrong_type(key, "a string", *j);
    return std::optional<std::string>(j->get<std::string>());
  }

  // A positive integer no larger than `cap`.
  Result<int64_t> dim(const char* key, int64_t cap) const {
    HERD_ASSIGN_OR_RETURN(std::optional<int64_t> v, opt_int(key));
    if (!v) return missing(key, "a positive integer");
    return check_dim(key, *v, cap);
  }
  Result<int64_t> check_dim(const char* key, int64_t v, int64_t cap) const {
    if (v <= 0) return bad_value(key, str_printf("is %lld, expected a positive integer",
                                                 static_cast<long long>(v)));
    if (v > cap) {
      return Error(ErrorCode::kOutOfRange,
                   str_printf("%s: key '%s%s' is %lld, above herd's limit of %lld", file_,
                              prefix_.c_str(), key, static_cast<long long>(v),
                              static_cast<long long>(cap)));
    }
    return v;
  }

  // Token ids: an integer, an array of integers, or absent/null (empty).
  Result<std::vector<int64_t>> token_ids(const char* key) const {
    std::vector<int64_t> out;
    const Json* j = get(key);
    if (!j) return out;
    if (j->is_number_integer()) {
      HERD_ASSIGN_OR_RETURN(std::optional<int64_t> v, opt_int(key));
      out.push_back(*v);
    } else if (j->is_array()) {
      for (const Json& e : *j) {
        if (!e.is_number_integer()) return wrong_type(key, "an integer or an array of integers", *j);
        if (e.is_number_unsigned() &&
            e.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
          return bad_value(key, "holds an id larger than 2^63-1");
        out.push_back(e.get<int64_t>());
      }
    } else {
      return wrong_type(key, "an integer or an array of integers", *j);
    }
    for (int64_t id : out)
      if (id < 0) return bad_value(key, str_printf("holds negative token id %lld",
                                                   static_cast<long long>(id)));
    return out;
  }

 private:
  const Json& obj_;
  const char* file_;
  std::string prefix_;
};

// Caps far above any Llama (405B: hidden 16384, ffn 53248, 126 layers) that
// keep products such as vocab * hidden * 4 bytes inside int64.
constexpr int64_t kMaxWidth = int64_t{1} << 20;
constexpr int64_t kMaxLayers = 4096;
constexpr int64_t kMaxVocab = int64_t{1} << 24;
constexpr int64_t kMaxPositions = int64_t{1} << 26;

inline Result<Json> parse_object(std::string_view text, const char* file) {
  if (!json_depth_within(text))
    return err(ErrorCode::kInvalidArgument, "%s: JSON nests deeper than %d levels", file, kMaxJsonDepth);
  try {
    Json j = Json::parse(text.begin(), text.end());
    if (!j.is_object()) {
      return err(ErrorCode::kInvalidArgument, "%s: expected a JSON object, found %s", file,
                 type_name(j));
    }
    return j;
  } catch (const nlohmann::json::exception& e) {
    return err(ErrorCode::kInvalidArgument, "%s: not valid JSON: %s", file, e.what());
  } catch (const std::exception& e) {
    return err(ErrorCode::kInternal, "%s: %s", file, e.what());
  }
}

}  // namespace herd::formats::config_json
