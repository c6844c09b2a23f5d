// Python json.dumps-compatible serialization (see python_json.h).
#include "chat/python_json.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <vector>

namespace herd::chat {
namespace {

void append_u16(std::string& out, uint32_t u) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "\\u%04x", u);
  out += buf;
}

// Decodes one UTF-8 sequence at s[i]; returns the code point and advances i. Invalid
// bytes come back as U+FFFD one byte at a time (nlohmann has already rejected invalid
// UTF-8 in parsed input, so this only matters for strings built in code).
uint32_t next_code_point(std::string_view s, size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  int len = b0 < 0x80 ? 1 : (b0 >> 5) == 6 ? 2 : (b0 >> 4) == 14 ? 3 : (b0 >> 3) == 30 ? 4 : 0;
  if (len == 0 || i + len > s.size()) {
    ++i;
    return 0xFFFD;
  }
  uint32_t cp = len == 1 ? b0 : len == 2 ? (b0 & 0x1F) : len == 3 ? (b0 & 0x0F) : (b0 & 0x07);
  for (int k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b >> 6) != 2) {
      ++i;
      return 0xFFFD;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  i += len;
  return cp;
}

void append_escaped(std::string& out, std::string_view s, const PyJsonStyle& style) {
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    const auto uc = static_cast<unsigned char>(c);
    if (uc >= 0x80) {
      if (!style.ensure_ascii) {
        out += c;
        ++i;
        continue;
      }
      uint32_t cp = next_code_point(s, i);
      if (cp >= 0x10000) {
        cp -= 0x10000;
        append_u16(out, 0xD800 + (cp >> 10));
        append_u16(out, 0xDC00 + (cp & 0x3FF));
      } else {
        append_u16(out, cp);
      }
      continue;
    }
    ++i;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (uc < 0x20) {
          append_u16(out, uc);
        } else if (style.html_safe && (c == '<' || c == '>' || c == '&' || c == '\'')) {
          append_u16(out, uc);
        } else {
          out += c;
        }
    }
  }
}

void dump(std::string& out, const nlohmann::ordered_json& v, const PyJsonStyle& style) {
  switch (v.type()) {
    case nlohmann::ordered_json::value_t::object: {
      std::vector<const std::string*> keys;
      for (auto it = v.begin(); it != v.end(); ++it) keys.push_back(&it.key());
      if (style.sort_keys) {
        std::sort(keys.begin(), keys.end(), [](const std::string* a, const std::string* b) { return *a < *b; });
      }
      out += '{';
      for (size_t k = 0; k < keys.size(); ++k) {
        if (k) out += ", ";
        out += '"';
        append_escaped(out, *keys[k], style);
        out += "\": ";
        dump(out, v.at(*keys[k]), style);
      }
      out += '}';
      break;
    }
    case nlohmann::ordered_json::value_t::array: {
      out += '[';
      for (size_t k = 0; k < v.size(); ++k) {
        if (k) out += ", ";
        dump(out, v[k], style);
      }
      out += ']';
      break;
    }
    case nlohmann::ordered_json::value_t::string:
      out += '"';
      append_escaped(out, v.get_ref<const std::string&>(), style);
      out += '"';
      break;
    case nlohmann::ordered_json::value_t::boolean: out += v.get<bool>() ? "true" : "false"; break;
    case nlohmann::ordered_json::value_t::null: out += "null"; break;
    default: out += v.dump(); break;  // numbers
  }
}

}  // namespace

std::string py_json_dumps(const nlohmann::ordered_json& value, const PyJsonStyle& style) {
  std::string out;
  dump(out, value, style);
  return out;
}

std::string json_escape(std::string_view s) {
  std::string out;
  PyJsonStyle style;
  style.ensure_ascii = false;
  append_escaped(out, s, style);
  return out;
}

}  // namespace herd::chat
