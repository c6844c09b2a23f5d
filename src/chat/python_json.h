// JSON text exactly as Python's json.dumps and Jinja's |tojson write it.
//
// Meta's prompt templates and ToolUtils.encode_tool_call serialize with Python's
// json.dumps (separators ", " and ": ", ensure_ascii, insertion order) and Jinja's
// |tojson (the same plus sort_keys and HTML-safe escaping of < > & '). Rendering Meta's
// prompt byte for byte needs the same text, which nlohmann's dump() does not produce
// (it writes "," and ":"). Numbers are written by nlohmann (shortest round trip), which
// agrees with Python's repr for integers and ordinary floats.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace herd::chat {

struct PyJsonStyle {
  bool sort_keys = false;   // Jinja |tojson sorts; json.dumps does not
  bool ensure_ascii = true; // non-ASCII as \uXXXX (surrogate pairs above U+FFFF)
  bool html_safe = false;   // Jinja |tojson: < > & ' as \u003c \u003e \u0026 \u0027
};

// json.dumps(value) (style defaults) or value|tojson (sort_keys + html_safe).
std::string py_json_dumps(const nlohmann::ordered_json& value, const PyJsonStyle& style = {});

// The body of a JSON string literal for s (no surrounding quotes), escaped as
// json.dumps(s, ensure_ascii=False) would.
std::string json_escape(std::string_view s);

}  // namespace herd::chat
