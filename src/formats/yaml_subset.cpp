// The YAML subset reader (yaml_subset.h).
#include "formats/yaml_subset.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "tokenizer/utf8.h"

namespace herd::formats {
namespace {

using Json = nlohmann::ordered_json;

struct Ctx {
  const std::string& where;
  int line = 0;
  Error error(const std::string& what) const {
    return Error(ErrorCode::kInvalidArgument, where + ":" + std::to_string(line) + ": " + what);
  }
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// The line without its comment: a # at the start or after a blank, outside quotes.
std::string_view strip_comment(std::string_view s) {
  bool single = false, dbl = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (dbl) {
      if (c == '\\') ++i;
      else if (c == '"') dbl = false;
    } else if (single) {
      if (c == '\'' && i + 1 < s.size() && s[i + 1] == '\'') ++i;  // '' is a quote inside
      else if (c == '\'') single = false;
    } else if (c == '"' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == ':' || s[i - 1] == '-')) {
      dbl = true;
    } else if (c == '\'' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == ':' || s[i - 1] == '-')) {
      single = true;
    } else if (c == '#' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t')) {
      return s.substr(0, i);
    }
  }
  return s;
}

// A quoted scalar at the start of s; *used gets its length with the quotes.
Result<std::string> quoted(std::string_view s, size_t* used, const Ctx& c) {
  const char q = s[0];
  std::string out;
  for (size_t i = 1; i < s.size(); ++i) {
    const char ch = s[i];
    if (q == '\'') {
      if (ch != '\'') {
        out += ch;
      } else if (i + 1 < s.size() && s[i + 1] == '\'') {
        out += '\'';
        ++i;
      } else {
        *used = i + 1;
        return out;
      }
      continue;
    }
    if (ch == '"') {
      *used = i + 1;
      return out;
    }
    if (ch != '\\') {
      out += ch;
      continue;
    }
    if (++i >= s.size()) break;
    switch (s[i]) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '/': out += '/'; break;
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case '0': out += '\0'; break;
      case 'u': {
        if (i + 4 >= s.size()) return c.error("a \\u escape needs four hex digits");
        uint32_t cp = 0;
        for (int k = 1; k <= 4; ++k) {
          const char h = s[i + static_cast<size_t>(k)];
          const int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
          if (d < 0) return c.error("a \\u escape needs four hex digits");
          cp = cp * 16 + static_cast<uint32_t>(d);
        }
        if (cp >= 0xd800 && cp < 0xe000) return c.error("a \\u escape names a surrogate; write the character itself");
        tokenizer::append_utf8(out, cp);
        i += 4;
        break;
      }
      default:
        return c.error(std::string("unknown escape \\") + s[i] + " in a double-quoted string");
    }
  }
  return c.error(std::string("a ") + (q == '"' ? "double" : "single") + "-quoted string does not end on its line");
}

bool is_int(std::string_view v) {
  size_t i = v[0] == '-' || v[0] == '+' ? 1 : 0;
  if (i == v.size()) return false;
  for (; i < v.size(); ++i)
    if (v[i] < '0' || v[i] > '9') return false;
  return true;
}

bool is_float(std::string_view v) {
  size_t i = v[0] == '-' || v[0] == '+' ? 1 : 0;
  size_t digits = 0;
  while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i, ++digits;
  if (i < v.size() && v[i] == '.') {
    ++i;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < v.size() && (v[i] == 'e' || v[i] == 'E')) {
    ++i;
    if (i < v.size() && (v[i] == '-' || v[i] == '+')) ++i;
    size_t e = 0;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i, ++e;
    if (e == 0) return false;
  }
  return i == v.size();
}

// A value: quoted or plain (typed by the core schema); v is trimmed.
Result<Json> scalar(std::string_view v, const Ctx& c) {
  if (v.empty() || v == "~" || v == "null" || v == "Null" || v == "NULL") return Json(nullptr);
  if (v[0] == '"' || v[0] == '\'') {
    size_t used = 0;
    HERD_ASSIGN_OR_RETURN(std::string s, quoted(v, &used, c));
    if (!trim(v.substr(used)).empty()) return c.error("text after a quoted string");
    return Json(s);
  }
  switch (v[0]) {
    case '[': case '{': return c.error("flow collections ([...], {...}) are not read; write the block form");
    case '&': return c.error("anchors (&) are not read; write the value out");
    case '*': return c.error("aliases (*) are not read; write the value out");
    case '!': return c.error("tags (!) are not read");
    case '|': case '>': return c.error("block scalars (| and >) are not read; quote the text on one line");
    case '%': return c.error("directives (%) are not read");
    case '@': case '`': return c.error("a plain value may not start with @ or `; quote it");
    default: break;
  }
  if (v == "true" || v == "True" || v == "TRUE") return Json(true);
  if (v == "false" || v == "False" || v == "FALSE") return Json(false);
  if (is_int(v)) {
    errno = 0;
    const std::string s(v);
    const long long n = std::strtoll(s.c_str(), nullptr, 10);
    if (errno == ERANGE) return c.error("integer " + s + " is out of range");
    return Json(static_cast<int64_t>(n));
  }
  if (is_float(v)) {
    const double d = std::strtod(std::string(v).c_str(), nullptr);
    if (!std::isfinite(d)) return c.error("number " + std::string(v) + " is out of range");
    return Json(d);
  }
  const std::string_view bare = v[0] == '-' || v[0] == '+' ? v.substr(1) : v;
  if (bare == ".inf" || bare == ".Inf" || bare == ".INF" || v == ".nan" || v == ".NaN" || v == ".NAN")
    return c.error("infinite and NaN numbers are not read (JSON holds neither)");
  return Json(std::string(v));
}

bool is_seq_item(std::string_view body) { return body == "-" || (body.size() >= 2 && body[0] == '-' && body[1] == ' '); }

// "key: value" / "key:": the key and the value's text (trimmed); false when body is not one.
Result<bool> split_key(std::string_view body, std::string* key, std::string_view* value, const Ctx& c) {
  size_t colon;
  if (body[0] == '"' || body[0] == '\'') {
    size_t used = 0;
    HERD_ASSIGN_OR_RETURN(*key, quoted(body, &used, c));
    size_t i = used;
    while (i < body.size() && body[i] == ' ') ++i;
    if (i >= body.size() || body[i] != ':' || (i + 1 < body.size() && body[i + 1] != ' ')) return false;
    colon = i;
  } else {
    if (body[0] == '?') return c.error("complex keys (?) are not read");
    colon = std::string_view::npos;
    for (size_t i = 0; i < body.size(); ++i)
      if (body[i] == ':' && (i + 1 == body.size() || body[i + 1] == ' ')) {
        colon = i;
        break;
      }
    if (colon == std::string_view::npos) return false;
    *key = std::string(trim(body.substr(0, colon)));
    if (key->empty()) return c.error("an empty key");
  }
  *value = trim(body.substr(colon + 1));
  return true;
}

struct Frame {
  Json* node;
  int indent;
  bool seq;
};

}  // namespace

Result<Json> parse_yaml_subset(std::string_view text, const std::string& where) {
  Ctx c{where};
  // UTF-8 text only (the values reach JSON files and command lines).
  for (size_t i = 0; i < text.size();) {
    const tokenizer::Utf8Step u = tokenizer::utf8_step(text, i);
    if (u.status != tokenizer::Utf8Status::kValid) {
      c.line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(i), '\n'));
      return c.error("not UTF-8 text");
    }
    i += u.len;
  }
  Json root;
  bool have_root = false, root_scalar = false, ended = false;
  std::vector<Frame> st;
  Json* pending = nullptr;  // a "key:" or "-" whose value is the block that follows
  int pending_indent = -1;
  bool pending_in_map = false;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view raw = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++c.line;
    int indent = 0;
    while (static_cast<size_t>(indent) < raw.size() && raw[static_cast<size_t>(indent)] == ' ') ++indent;
    std::string_view body = trim(strip_comment(raw.substr(static_cast<size_t>(indent))));
    if (body.empty()) continue;
    if (raw.size() > static_cast<size_t>(indent) && raw[static_cast<size_t>(indent)] == '\t')
      return c.error("a tab in the indentation; indent with spaces");
    if (ended) return c.error("content after the document's end (...)");
    if (indent == 0 && (body == "---" || body.substr(0, 4) == "--- ")) {
      if (have_root) return c.error("a second document (---); one recipe per file");
      if (body != "---") return c.error("content after --- on its line");
      continue;
    }
    if (indent == 0 && body == "...") {
      ended = true;
      continue;
    }
    if (root_scalar) return c.error("more content after a plain value");
    const bool item = is_seq_item(body);
    // A pending "key:" or "-" takes a deeper block (or a sequence at the key's own indent).
    if (pending != nullptr) {
      if (indent > pending_indent || (pending_in_map && indent == pending_indent && item)) {
        *pending = item ? Json::array() : Json::object();
        st.push_back({pending, indent, item});
        if (static_cast<int>(st.size()) > kMaxYamlDepth)
          return c.error("nested deeper than " + std::to_string(kMaxYamlDepth) + " levels");
      }
      pending = nullptr;
    }
    if (!have_root) {
      have_root = true;
      std::string key;
      std::string_view value;
      HERD_ASSIGN_OR_RETURN(const bool is_map, item ? Result<bool>(false) : split_key(body, &key, &value, c));
      if (!item && !is_map) {
        HERD_ASSIGN_OR_RETURN(root, scalar(body, c));
        root_scalar = true;
        continue;
      }
      root = item ? Json::array() : Json::object();
      st.push_back({&root, indent, item});
    }
    while (!st.empty() && indent < st.back().indent) st.pop_back();
    // A sequence at its key's indent ends at the mapping's next key.
    if (!item && st.size() >= 2 && st.back().seq && st[st.size() - 2].indent == st.back().indent) st.pop_back();
    if (st.empty()) return c.error("less indented than the document's first line");
    if (indent != st.back().indent)
      return c.error("unexpected indentation (column " + std::to_string(indent + 1) + "; this block is at column " +
                     std::to_string(st.back().indent + 1) + ")");
    if (st.back().seq) {
      if (!item) return c.error("expected a \"- \" item of the sequence");
      size_t off = 1;
      while (off < body.size() && body[off] == ' ') ++off;
      std::string_view rest = body.substr(off);
      Json* arr = st.back().node;
      arr->push_back(nullptr);
      Json* elem = &arr->back();
      if (rest.empty()) {
        pending = elem;
        pending_indent = indent;
        pending_in_map = false;
        continue;
      }
      if (is_seq_item(rest)) return c.error("a sequence inside a sequence item: put the inner items on their own lines");
      std::string key;
      std::string_view value;
      HERD_ASSIGN_OR_RETURN(const bool is_map, split_key(rest, &key, &value, c));
      if (!is_map) {
        HERD_ASSIGN_OR_RETURN(*elem, scalar(rest, c));
        continue;
      }
      *elem = Json::object();
      indent += static_cast<int>(off);
      st.push_back({elem, indent, false});
      if (static_cast<int>(st.size()) > kMaxYamlDepth)
        return c.error("nested deeper than " + std::to_string(kMaxYamlDepth) + " levels");
      body = rest;
    } else if (item) {
      return c.error("a \"- \" item where the mapping expects \"key: value\"");
    }
    std::string key;
    std::string_view value;
    HERD_ASSIGN_OR_RETURN(const bool is_map, split_key(body, &key, &value, c));
    if (!is_map) return c.error("expected \"key: value\" (a value that continues on the next line: put it on one line or quote it)");
    Json& map = *st.back().node;
    if (map.contains(key)) return c.error("the key \"" + key + "\" appears twice");
    Json* slot = &map[key];
    if (value.empty()) {
      pending = slot;
      pending_indent = indent;
      pending_in_map = true;
      continue;
    }
    HERD_ASSIGN_OR_RETURN(*slot, scalar(value, c));
  }
  return root;
}

}  // namespace herd::formats
