#include "grammar/json_grammar.h"

#include <algorithm>
#include <set>

namespace herd::grammar {
namespace {

using Json = nlohmann::json;

// Fixed nodes present in every grammar.
constexpr int kAnyNode = 0;       // any JSON value
constexpr int kAnyArrayNode = 1;  // array of any values (max_any_items)
constexpr int kAnyObjectNode = 2; // object with any members (max_any_items)

enum FrameKind : uint8_t { kValue, kObj, kArr, kStr, kNum, kLit, kTag };
enum ObjPhase : uint8_t { kOOpen, kOKey, kOColon, kOAfter, kOComma };
enum ArrPhase : uint8_t { kAOpen, kAAfter, kAComma };
enum StrPhase : uint8_t { kSClean, kSEscape, kSUnicode, kSUtf8 };
enum NumPhase : uint8_t { kNSign, kNZero, kNInt, kNDot, kNFrac, kNE, kNESign, kNExp };

bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
bool is_hex(uint8_t c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool num_can_end(uint8_t phase) {
  return phase == kNZero || phase == kNInt || phase == kNFrac || phase == kNExp;
}

Frame make_frame(FrameKind k, int node) {
  Frame f{};
  f.kind = k;
  f.node = node;
  return f;
}

// Narrows the sorted candidate range of f (sharing the first f.count bytes) to those
// continuing with c and not excluded; false when none does.
bool narrow(const std::vector<std::string>& L, Frame& f, uint8_t c, uint64_t excluded) {
  const size_t pos = static_cast<size_t>(f.count);
  int nlo = -1, nhi = -1;
  bool viable = false;
  for (int i = f.lo; i < f.hi; ++i) {
    const std::string& s = L[static_cast<size_t>(i)];
    if (s.size() > pos && static_cast<uint8_t>(s[pos]) == c) {
      if (nlo < 0) nlo = i;
      nhi = i + 1;
      if (i >= 64 || !((excluded >> i) & 1)) viable = true;
    }
  }
  if (!viable) return false;
  f.lo = nlo;
  f.hi = nhi;
  ++f.count;
  return true;
}

bool lit_complete(const std::vector<std::string>& L, const Frame& f) {
  return L[static_cast<size_t>(f.lo)].size() == static_cast<size_t>(f.count);
}

}  // namespace

// ---------------------------------------------------------------------------------
// Schema compilation

struct SchemaCompiler {
  Grammar& g;
  const Options& opts;

  int add(Node n) {
    g.nodes_.push_back(std::move(n));
    return static_cast<int>(g.nodes_.size()) - 1;
  }

  static Error unsupported(const std::string& path, const std::string& what) {
    return Error(ErrorCode::kUnsupported, "schema" + path + ": " + what + " is not supported by herd's JSON grammar");
  }
  static Error invalid(const std::string& path, const std::string& what) {
    return Error(ErrorCode::kInvalidArgument, "schema" + path + ": " + what);
  }

  Result<int> literals(std::vector<std::string> texts) {
    std::sort(texts.begin(), texts.end());
    texts.erase(std::unique(texts.begin(), texts.end()), texts.end());
    Node n;
    n.kind = Node::kLiterals;
    n.lits = std::move(texts);
    return add(std::move(n));
  }

  Result<int> compile(const Json& s, const std::string& path, int depth) {
    if (depth > 64) return unsupported(path, "nesting deeper than 64");
    if (s.is_boolean()) {
      if (s.get<bool>()) return kAnyNode;
      return invalid(path, "false allows no value");
    }
    if (!s.is_object()) return invalid(path, "expected an object");
    static const char* kRefused[] = {"$ref", "allOf", "not", "if", "pattern", "patternProperties", "minLength",
                                     "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
                                     "uniqueItems", "prefixItems", "minProperties", "maxProperties",
                                     "dependentRequired", "dependentSchemas", "contains", "propertyNames"};
    for (const char* k : kRefused)
      if (s.contains(k)) return unsupported(path, std::string("\"") + k + "\"");
    if (auto it = s.find("const"); it != s.end()) return literals({it->dump()});
    if (auto it = s.find("enum"); it != s.end()) {
      if (!it->is_array() || it->empty()) return invalid(path + ".enum", "expected a non-empty array");
      std::vector<std::string> texts;
      for (const Json& v : *it) texts.push_back(v.dump());
      return literals(std::move(texts));
    }
    for (const char* key : {"anyOf", "oneOf"}) {
      if (auto it = s.find(key); it != s.end()) {
        if (!it->is_array() || it->empty()) return invalid(path + "." + key, "expected a non-empty array");
        Node n;
        n.kind = Node::kAnyOf;
        for (size_t i = 0; i < it->size(); ++i) {
          Result<int> a = compile((*it)[i], path + "." + key + "[" + std::to_string(i) + "]", depth + 1);
          if (!a) return a.error();
          n.alts.push_back(*a);
        }
        return add(std::move(n));
      }
    }
    std::string type;
    if (auto it = s.find("type"); it != s.end()) {
      if (it->is_array()) {
        Node n;
        n.kind = Node::kAnyOf;
        for (const Json& t : *it) {
          Json one = s;
          one["type"] = t;
          Result<int> a = compile(one, path, depth + 1);
          if (!a) return a.error();
          n.alts.push_back(*a);
        }
        if (n.alts.empty()) return invalid(path + ".type", "empty type list");
        return add(std::move(n));
      }
      if (!it->is_string()) return invalid(path + ".type", "expected a string or an array");
      type = it->get<std::string>();
    } else if (s.contains("properties")) {
      type = "object";
    } else if (s.contains("items")) {
      type = "array";
    } else {
      return kAnyNode;
    }
    Node n;
    if (type == "object") {
      n.kind = Node::kObject;
      auto props = s.find("properties");
      auto addl = s.find("additionalProperties");
      if (props != s.end() && !props->is_object()) return invalid(path + ".properties", "expected an object");
      // Listed properties (even none) close the object: only they are produced.
      const bool has_props = props != s.end();
      if (!has_props) {
        if (addl != s.end() && addl->is_object() && !addl->empty())
          return unsupported(path, "additionalProperties with a schema and no properties");
        n.free_keys = !(addl != s.end() && addl->is_boolean() && !addl->get<bool>());
        if (auto r = s.find("required"); r != s.end() && r->is_array() && !r->empty() && !n.free_keys)
          return invalid(path + ".required", "names properties that additionalProperties false forbids");
        if (auto r = s.find("required"); r != s.end() && r->is_array() && !r->empty())
          return unsupported(path, "required without properties");
        if (n.free_keys) return kAnyObjectNode;
        return add(std::move(n));
      }
      if (props->size() > 64) return unsupported(path, "more than 64 properties");
      std::vector<std::pair<std::string, std::string>> keys;  // encoded, name
      for (auto& [k, v] : props->items()) keys.emplace_back(Json(k).dump(), k);
      std::sort(keys.begin(), keys.end());
      for (auto& [enc, name] : keys) {
        Result<int> c = compile((*props)[name], path + ".properties." + name, depth + 1);
        if (!c) return c.error();
        n.keys.push_back(enc);
        n.key_nodes.push_back(*c);
      }
      if (auto r = s.find("required"); r != s.end()) {
        if (!r->is_array()) return invalid(path + ".required", "expected an array");
        for (const Json& name : *r) {
          if (!name.is_string()) return invalid(path + ".required", "expected strings");
          const std::string enc = name.dump();
          auto it = std::find(n.keys.begin(), n.keys.end(), enc);
          if (it == n.keys.end()) return unsupported(path + ".required", "a required name not in properties");
          n.required |= uint64_t{1} << (it - n.keys.begin());
        }
      }
    } else if (type == "array") {
      n.kind = Node::kArray;
      n.items = kAnyNode;
      if (auto it = s.find("items"); it != s.end()) {
        if (it->is_array()) return unsupported(path + ".items", "tuple items");
        Result<int> c = compile(*it, path + ".items", depth + 1);
        if (!c) return c.error();
        n.items = *c;
      }
      if (auto it = s.find("minItems"); it != s.end()) {
        if (!it->is_number_unsigned() && !it->is_number_integer()) return invalid(path + ".minItems", "expected an integer");
        n.min_items = static_cast<int>(std::clamp<int64_t>(it->get<int64_t>(), 0, 1 << 20));
      }
      if (auto it = s.find("maxItems"); it != s.end()) {
        if (!it->is_number_unsigned() && !it->is_number_integer()) return invalid(path + ".maxItems", "expected an integer");
        n.max_items = static_cast<int>(std::clamp<int64_t>(it->get<int64_t>(), 0, 1 << 20));
        if (n.max_items < n.min_items) return invalid(path, "maxItems < minItems");
      }
    } else if (type == "string") {
      n.kind = Node::kString;
      n.max_len = opts.max_string_bytes;
      if (auto it = s.find("maxLength"); it != s.end() && it->is_number_integer())
        n.max_len = static_cast<int>(std::clamp<int64_t>(it->get<int64_t>(), 0, opts.max_string_bytes));
    } else if (type == "number") {
      n.kind = Node::kNumber;
    } else if (type == "integer") {
      n.kind = Node::kInteger;
    } else if (type == "boolean") {
      return literals({"false", "true"});
    } else if (type == "null") {
      return literals({"null"});
    } else {
      return invalid(path + ".type", "unknown type \"" + type + "\"");
    }
    return add(std::move(n));
  }
};

namespace {
std::shared_ptr<Grammar> base_grammar(const Options&) { return std::make_shared<Grammar>(); }
}  // namespace

static void add_fixed_nodes(std::vector<Node>& nodes, const Options& opts) {
  Node any;
  any.kind = Node::kAny;
  Node arr;
  arr.kind = Node::kArray;
  arr.items = kAnyNode;
  arr.max_items = opts.max_any_items;
  Node obj;
  obj.kind = Node::kObject;
  obj.free_keys = true;
  nodes.push_back(any);
  nodes.push_back(arr);
  nodes.push_back(obj);
}

Result<std::shared_ptr<const Grammar>> Grammar::from_schema(const nlohmann::json& schema, Options opts) {
  auto g = base_grammar(opts);
  g->opts_ = opts;
  add_fixed_nodes(g->nodes_, opts);
  SchemaCompiler c{*g, g->opts_};
  Result<int> root = c.compile(schema, "", 0);
  if (!root) return root.error();
  g->root_ = *root;
  return std::shared_ptr<const Grammar>(g);
}

std::shared_ptr<const Grammar> Grammar::any_json(bool object_only, Options opts) {
  auto g = base_grammar(opts);
  g->opts_ = opts;
  add_fixed_nodes(g->nodes_, opts);
  g->root_ = object_only ? kAnyObjectNode : kAnyNode;
  return g;
}

Result<std::shared_ptr<const Grammar>> Grammar::tool_call(const std::vector<Tool>& tools, Options opts) {
  if (tools.empty()) return Error(ErrorCode::kInvalidArgument, "no tools to call");
  auto g = base_grammar(opts);
  g->opts_ = opts;
  add_fixed_nodes(g->nodes_, opts);
  SchemaCompiler c{*g, g->opts_};
  std::vector<std::pair<std::string, int>> entries;
  for (const Tool& t : tools) {
    Result<int> p = c.compile(t.parameters, " of tool " + t.name, 0);
    if (!p) return p.error();
    entries.emplace_back("{\"name\": " + Json(t.name).dump() + ", \"parameters\": ", *p);
  }
  std::sort(entries.begin(), entries.end());
  for (size_t i = 1; i < entries.size(); ++i)
    if (entries[i].first == entries[i - 1].first)
      return Error(ErrorCode::kInvalidArgument, "duplicate tool name");
  Node n;
  n.kind = Node::kTagged;
  for (auto& [text, node] : entries) {
    n.lits.push_back(text);
    n.conts.push_back(node);
  }
  n.suffix = "}";
  g->nodes_.push_back(std::move(n));
  g->root_ = static_cast<int>(g->nodes_.size()) - 1;
  return std::shared_ptr<const Grammar>(g);
}

// ---------------------------------------------------------------------------------
// The automaton

Matcher::Matcher(std::shared_ptr<const Grammar> g) : g_(g.get()), hold_(std::move(g)) {
  Frame f = make_frame(kValue, g_->root());
  f.aux = 1;  // top level: no leading whitespace
  stack_.reserve(32);
  stack_.push_back(f);
}

bool Matcher::feed(uint8_t c) {
  if (failed_) return false;
  if (!step(c)) failed_ = true;
  return !failed_;
}

bool Matcher::feed(std::string_view s) {
  for (char ch : s)
    if (!feed(static_cast<uint8_t>(ch))) return false;
  return true;
}

bool Matcher::accepts_end() const {
  if (failed_) return false;
  if (stack_.empty()) return true;
  if (stack_.size() != 1) return false;
  const Frame& f = stack_.back();
  if (f.kind == kNum) return num_can_end(f.phase);
  if (f.kind == kLit) return lit_complete(g_->nodes()[static_cast<size_t>(f.node)].lits, f);
  return false;
}

bool Matcher::in_plain_string(int* room) const {
  if (failed_ || stack_.empty()) return false;
  const Frame& f = stack_.back();
  if (f.kind != kStr || f.phase != kSClean) return false;
  *room = f.aux2 - f.count;
  return true;
}

// Whether a value of node may start with c (in the current depth).
static bool can_start(const Grammar& g, int node, uint8_t c, size_t depth) {
  const Node& n = g.nodes()[static_cast<size_t>(node)];
  switch (n.kind) {
    case Node::kAny:
      if (c == '{' || c == '[') return depth < static_cast<size_t>(g.options().max_depth);
      return c == '"' || c == '-' || is_digit(c) || c == 't' || c == 'f' || c == 'n';
    case Node::kObject: return c == '{';
    case Node::kArray: return c == '[';
    case Node::kString: return c == '"';
    case Node::kNumber:
    case Node::kInteger: return c == '-' || is_digit(c);
    case Node::kLiterals:
    case Node::kTagged:
      for (const std::string& s : n.lits)
        if (!s.empty() && static_cast<uint8_t>(s[0]) == c) return true;
      return false;
    case Node::kAnyOf:
      for (int a : n.alts)
        if (can_start(g, a, c, depth)) return true;
      return false;
  }
  return false;
}

// Replaces the top kValue frame by the frame for node starting with c, consuming c.
bool Matcher::start_kind(int node, uint8_t c) {
  const Grammar& g = *g_;
  const Node& n = g.nodes()[static_cast<size_t>(node)];
  switch (n.kind) {
    case Node::kAnyOf:
      for (int a : n.alts)
        if (can_start(g, a, c, stack_.size())) return start_kind(a, c);
      return false;
    case Node::kAny:
      if (!can_start(g, node, c, stack_.size())) return false;
      if (c == '{') return start_kind(kAnyObjectNode, c);
      if (c == '[') return start_kind(kAnyArrayNode, c);
      if (c == '"') {
        Frame f = make_frame(kStr, -1);
        f.aux2 = g.options().max_string_bytes;
        stack_.back() = f;
        return true;
      }
      if (c == '-' || is_digit(c)) {
        Frame f = make_frame(kNum, -1);
        f.phase = kNSign;
        stack_.back() = f;
        return step(c);
      }
      {
        // true/false/null: a literal frame over a shared list.
        Frame f = make_frame(kLit, -2);  // -2: the built-in word list
        f.lo = 0;
        f.hi = 3;
        stack_.back() = f;
        return step(c);
      }
    case Node::kObject: {
      if (c != '{') return false;
      Frame f = make_frame(kObj, node);
      f.phase = kOOpen;
      stack_.back() = f;
      return true;
    }
    case Node::kArray: {
      if (c != '[') return false;
      Frame f = make_frame(kArr, node);
      f.phase = kAOpen;
      stack_.back() = f;
      return true;
    }
    case Node::kString: {
      if (c != '"') return false;
      Frame f = make_frame(kStr, node);
      f.aux2 = n.max_len;
      stack_.back() = f;
      return true;
    }
    case Node::kNumber:
    case Node::kInteger: {
      Frame f = make_frame(kNum, node);
      f.phase = kNSign;
      f.aux = n.kind == Node::kInteger ? 1 : 0;
      stack_.back() = f;
      return step(c);
    }
    case Node::kLiterals:
    case Node::kTagged: {
      Frame f = make_frame(n.kind == Node::kLiterals ? kLit : kTag, node);
      f.lo = 0;
      f.hi = static_cast<int32_t>(n.lits.size());
      stack_.back() = f;
      return step(c);
    }
  }
  return false;
}

static const std::vector<std::string>& word_list() {
  static const std::vector<std::string> kWords = {"false", "null", "true"};
  return kWords;
}

bool Matcher::step(uint8_t c) {
  const Grammar& g = *g_;
  const Options& o = g.options();
  auto ws = [&](Frame& f) {
    if ((c == ' ' || c == '\n') && f.ws < o.max_ws) {
      ++f.ws;
      return true;
    }
    return false;
  };
  for (;;) {
    if (stack_.empty()) return false;
    Frame& f = stack_.back();
    switch (f.kind) {
      case kValue: {
        if (!f.aux && ws(f)) return true;
        if (!can_start(g, f.node, c, stack_.size())) return false;
        return start_kind(f.node, c);
      }
      case kObj: {
        const Node& n = g.nodes()[static_cast<size_t>(f.node)];
        const int nkeys = static_cast<int>(n.keys.size());
        const uint64_t all = nkeys >= 64 ? ~uint64_t{0} : ((uint64_t{1} << nkeys) - 1);
        const bool more_keys = n.free_keys ? f.count < o.max_any_items : (f.used & all) != all;
        const bool can_close = n.free_keys || (f.used & n.required) == n.required;
        switch (f.phase) {
          case kOOpen:
          case kOComma:
          case kOAfter:
            if (ws(f)) return true;
            if (f.phase == kOAfter) {
              if (c == ',' && more_keys) {
                f.phase = kOComma;
                f.ws = 0;
                return true;
              }
            } else if (c == '"' && more_keys) {
              f.ws = 0;
              if (n.free_keys) {
                ++f.count;
                f.phase = kOColon;
                Frame s = make_frame(kStr, -1);
                s.aux2 = o.max_string_bytes;
                stack_.push_back(s);
                return true;
              }
              f.phase = kOKey;
              f.lo = 0;
              f.hi = nkeys;
              f.count = 0;
              return narrow(n.keys, f, c, f.used);
            }
            if (c == '}' && f.phase != kOComma && can_close) {
              stack_.pop_back();
              return true;
            }
            return false;
          case kOKey:
            if (!narrow(n.keys, f, c, f.used)) return false;
            if (lit_complete(n.keys, f)) {
              f.aux2 = f.lo;
              f.used |= uint64_t{1} << f.lo;
              f.phase = kOColon;
              f.ws = 0;
            }
            return true;
          case kOColon:
            if (ws(f)) return true;
            if (c != ':') return false;
            {
              const int vnode = n.free_keys ? kAnyNode : n.key_nodes[static_cast<size_t>(f.aux2)];
              f.phase = kOAfter;
              f.ws = 0;
              stack_.push_back(make_frame(kValue, vnode));
            }
            return true;
        }
        return false;
      }
      case kArr: {
        const Node& n = g.nodes()[static_cast<size_t>(f.node)];
        const bool more = n.max_items < 0 || f.count < n.max_items;
        if (ws(f)) return true;
        if (f.phase == kAAfter) {
          if (c == ',' && more) {
            f.phase = kAComma;
            f.ws = 0;
            return true;
          }
        } else if (more && can_start(g, n.items, c, stack_.size() + 1)) {
          ++f.count;
          f.phase = kAAfter;
          f.ws = 0;
          Frame v = make_frame(kValue, n.items);
          stack_.push_back(v);
          continue;  // the value consumes c
        }
        if (c == ']' && f.phase != kAComma && f.count >= n.min_items) {
          stack_.pop_back();
          return true;
        }
        return false;
      }
      case kStr: {
        switch (f.phase) {
          case kSClean:
            if (c == '"') {
              stack_.pop_back();
              return true;
            }
            if (c < 0x20 || f.count >= f.aux2) return false;
            ++f.count;
            if (c == '\\') {
              f.phase = kSEscape;
              return true;
            }
            if (c < 0x80) return true;
            if (c >= 0xC2 && c <= 0xDF) {
              f.aux = 1; f.lo = 0x80; f.hi = 0xBF;
            } else if (c == 0xE0) {
              f.aux = 2; f.lo = 0xA0; f.hi = 0xBF;
            } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
              f.aux = 2; f.lo = 0x80; f.hi = 0xBF;
            } else if (c == 0xED) {
              f.aux = 2; f.lo = 0x80; f.hi = 0x9F;
            } else if (c == 0xF0) {
              f.aux = 3; f.lo = 0x90; f.hi = 0xBF;
            } else if (c >= 0xF1 && c <= 0xF3) {
              f.aux = 3; f.lo = 0x80; f.hi = 0xBF;
            } else if (c == 0xF4) {
              f.aux = 3; f.lo = 0x80; f.hi = 0x8F;
            } else {
              return false;
            }
            f.phase = kSUtf8;
            return true;
          case kSUtf8:
            if (c < f.lo || c > f.hi) return false;
            ++f.count;
            f.lo = 0x80;
            f.hi = 0xBF;
            if (--f.aux == 0) f.phase = kSClean;
            return true;
          case kSEscape:
            ++f.count;
            if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't') {
              f.phase = kSClean;
              return true;
            }
            if (c == 'u') {
              f.phase = kSUnicode;
              f.aux = 0;
              f.lo = 0;
              return true;
            }
            return false;
          case kSUnicode:
            if (!is_hex(c)) return false;
            if (f.aux == 0 && (c == 'd' || c == 'D')) f.lo = 1;
            if (f.aux == 1 && f.lo == 1 && !(c >= '0' && c <= '7')) return false;  // no surrogates
            ++f.count;
            if (++f.aux == 4) f.phase = kSClean;
            return true;
        }
        return false;
      }
      case kNum: {
        const bool integer = f.aux == 1;
        int next = -1;
        switch (f.phase) {
          case kNSign:
            if (c == '-' && f.count == 0) next = kNSign;
            else if (c == '0') next = kNZero;
            else if (is_digit(c)) next = kNInt;
            break;
          case kNZero:
          case kNInt:
            if (f.phase == kNInt && is_digit(c)) next = kNInt;
            else if (!integer && c == '.') next = kNDot;
            else if (!integer && (c == 'e' || c == 'E')) next = kNE;
            break;
          case kNDot:
          case kNFrac:
            if (is_digit(c)) next = kNFrac;
            else if (f.phase == kNFrac && (c == 'e' || c == 'E')) next = kNE;
            break;
          case kNE:
            if (c == '+' || c == '-') next = kNESign;
            else if (is_digit(c)) next = kNExp;
            break;
          case kNESign:
          case kNExp:
            if (is_digit(c)) next = kNExp;
            break;
        }
        if (next == kNSign && f.count != 0) next = -1;
        // Integer part at most 15 digits (exact in a double and in JavaScript), exponent
        // at most 2 digits (no overflow in any parser).
        if (next == kNInt && f.lo >= 15) next = -1;
        if (next == kNExp && f.hi >= 2) next = -1;
        if (next >= 0) {
          if (next == kNInt || next == kNZero) ++f.lo;
          if (next == kNExp) ++f.hi;
          const int after = f.count + 1;
          const bool ok = num_can_end(static_cast<uint8_t>(next)) ? after <= o.max_number_chars
                                                                    : after < o.max_number_chars;
          if (ok) {
            f.phase = static_cast<uint8_t>(next);
            f.count = after;
            return true;
          }
        }
        if (!num_can_end(f.phase)) return false;
        stack_.pop_back();
        if (stack_.empty()) return false;
        continue;
      }
      case kLit: {
        const std::vector<std::string>& L =
            f.node == -2 ? word_list() : g.nodes()[static_cast<size_t>(f.node)].lits;
        Frame save = f;
        if (narrow(L, f, c, 0)) {
          if (f.hi - f.lo == 1 && lit_complete(L, f)) stack_.pop_back();
          return true;
        }
        f = save;
        if (!lit_complete(L, f)) return false;
        stack_.pop_back();
        if (stack_.empty()) return false;
        continue;
      }
      case kTag: {
        const Node& n = g.nodes()[static_cast<size_t>(f.node)];
        if (f.phase == 0) {
          if (!narrow(n.lits, f, c, 0)) return false;
          if (lit_complete(n.lits, f)) {
            const int cont = n.conts[static_cast<size_t>(f.lo)];
            f.phase = 1;
            f.count = 0;
            Frame v = make_frame(kValue, cont);
            v.aux = 1;  // no whitespace: the prefix ends with one
            stack_.push_back(v);
          }
          return true;
        }
        if (static_cast<size_t>(f.count) < n.suffix.size() && static_cast<uint8_t>(n.suffix[static_cast<size_t>(f.count)]) == c) {
          if (static_cast<size_t>(++f.count) == n.suffix.size()) stack_.pop_back();
          return true;
        }
        return false;
      }
    }
    return false;
  }
}

bool matches(const std::shared_ptr<const Grammar>& g, std::string_view text) {
  Matcher m(g);
  return m.feed(text) && m.accepts_end();
}

}  // namespace herd::grammar
