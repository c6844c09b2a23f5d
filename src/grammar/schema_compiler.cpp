// See schema_compiler.h.
#include "grammar/schema_compiler.h"

#include <algorithm>
#include <set>

#include "grammar/schema_validate.h"

namespace herd::grammar {
namespace {

using Json = nlohmann::json;

bool is_annotation(const std::string& k) {
  static const std::set<std::string> kAnnotations = {
      "$schema", "$id", "$comment", "$anchor", "$vocabulary", "title", "description", "default", "examples",
      "deprecated", "readOnly", "writeOnly", "$defs", "definitions", "contentEncoding", "contentMediaType",
      "discriminator"};
  return kAnnotations.count(k) != 0 || k.rfind("x-", 0) == 0;
}

bool is_supported(const std::string& k) {
  static const std::set<std::string> kSupported = {
      "type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "properties", "required",
      "additionalProperties", "items", "prefixItems", "additionalItems", "minItems", "maxItems", "minLength",
      "maxLength", "pattern", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "nullable"};
  return kSupported.count(k) != 0;
}

bool has_assertions(const Json& s) {
  if (!s.is_object()) return true;
  for (auto& [k, v] : s.items())
    if (!is_annotation(k)) return true;
  return false;
}

bool is_count(const Json& v) { return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0); }

int count_of(const Json& v, int cap) {
  if (v.is_number_unsigned()) return static_cast<int>(std::min<uint64_t>(v.get<uint64_t>(), static_cast<uint64_t>(cap)));
  return static_cast<int>(std::clamp<int64_t>(v.get<int64_t>(), 0, cap));
}

std::set<std::string> types_of(const Json& t) {
  std::set<std::string> out;
  if (t.is_string()) out.insert(t.get<std::string>());
  if (t.is_array())
    for (const Json& x : t) out.insert(x.get<std::string>());
  return out;
}

// "#/$defs/a" -> ".$defs.a" (a path for messages and error params).
std::string pointer_path(const std::string& ref) {
  std::string out;
  for (size_t i = 1; i < ref.size(); ++i) out += ref[i] == '/' ? '.' : ref[i];
  return out;
}

}  // namespace

SchemaCompiler::SchemaCompiler(Grammar& g, const Json& root)
    : g_(g), root_(root), start_(std::chrono::steady_clock::now()) {}

void SchemaCompiler::add_fixed_nodes(Grammar& g) {
  Node any;
  any.kind = Node::kAny;
  Node arr;
  arr.kind = Node::kArray;
  arr.items = kAnyNode;
  arr.max_items = g.opts_.max_any_items;
  Node obj;
  obj.kind = Node::kObject;
  obj.extra = kAnyNode;
  g.nodes_.push_back(any);
  g.nodes_.push_back(arr);
  g.nodes_.push_back(obj);
}

int SchemaCompiler::add(Node n) {
  g_.nodes_.push_back(std::move(n));
  return static_cast<int>(g_.nodes_.size()) - 1;
}

Error SchemaCompiler::unsupported(const std::string& path, const std::string& what) {
  error_path_ = path;
  return Error(ErrorCode::kUnsupported, "schema" + path + ": " + what + " is not supported by herd's JSON grammar");
}

Error SchemaCompiler::invalid(const std::string& path, const std::string& what) {
  error_path_ = path;
  return Error(ErrorCode::kInvalidArgument, "schema" + path + ": " + what);
}

int SchemaCompiler::unsat(const std::string& path, const std::string& why) {
  if (unsat_why_.empty()) {
    unsat_path_ = path;
    unsat_why_ = why;
  }
  Node n;
  n.kind = Node::kAnyOf;  // no alternatives: no value
  return add(std::move(n));
}

int SchemaCompiler::literals(std::vector<std::string> texts) {
  std::sort(texts.begin(), texts.end());
  texts.erase(std::unique(texts.begin(), texts.end()), texts.end());
  Node n;
  n.kind = Node::kLiterals;
  n.lits = std::move(texts);
  return add(std::move(n));
}

Result<Json> SchemaCompiler::check_keywords(const Json& s, const std::string& path) {
  Json out = Json::object();
  const bool strict = g_.opts_.strict;
  for (auto& [k, v] : s.items()) {
    const std::string kp = path + "." + k;
    if (is_annotation(k)) continue;
    if (!is_supported(k)) {
      if (strict) return unsupported(kp, "keyword \"" + k + "\"");
      continue;
    }
    auto expect = [&](bool ok, const char* what) -> Status {
      if (ok) return Ok{};
      return invalid(kp, std::string("expected ") + what);
    };
    Status st = Ok{};
    if (k == "type") {
      bool ok = v.is_string() || (v.is_array() && !v.empty());
      if (v.is_array())
        for (const Json& t : v) ok = ok && t.is_string();
      st = expect(ok, "a type name or a non-empty array of them");
      if (st.has_value())
        for (const std::string& t : types_of(v))
          if (t != "object" && t != "array" && t != "string" && t != "number" && t != "integer" && t != "boolean" &&
              t != "null")
            return invalid(kp, "unknown type \"" + t + "\"");
    } else if (k == "enum" || k == "anyOf" || k == "oneOf" || k == "allOf" || k == "prefixItems") {
      st = expect(v.is_array() && (!v.empty() || k == "prefixItems"), "a non-empty array");
    } else if (k == "$ref" || k == "pattern" || k == "format") {
      st = expect(v.is_string(), "a string");
    } else if (k == "properties") {
      st = expect(v.is_object(), "an object");
    } else if (k == "required") {
      bool ok = v.is_array();
      if (ok)
        for (const Json& r : v) ok = ok && r.is_string();
      st = expect(ok, "an array of strings");
    } else if (k == "additionalProperties" || k == "additionalItems") {
      st = expect(v.is_boolean() || v.is_object(), "a boolean or a schema");
    } else if (k == "items") {
      st = expect(v.is_boolean() || v.is_object() || v.is_array(), "a schema or an array of schemas");
    } else if (k == "minItems" || k == "maxItems" || k == "minLength" || k == "maxLength") {
      st = expect(is_count(v), "a non-negative integer");
    } else if (k == "minimum" || k == "maximum") {
      st = expect(v.is_number(), "a number");
    } else if (k == "exclusiveMinimum" || k == "exclusiveMaximum") {
      st = expect(v.is_number() || v.is_boolean(), "a number");
    } else if (k == "nullable") {
      st = expect(v.is_boolean(), "a boolean");
    }
    if (!st.has_value()) return st.error();
    if (k == "format" && !format_pattern(v.get<std::string>())) {
      if (strict) return unsupported(kp, "format \"" + v.get<std::string>() + "\"");
      continue;
    }
    out[k] = v;
  }
  return out;
}

Result<int> SchemaCompiler::compile(const Json& s, const std::string& path) { return compile_at(s, path, 0); }

Result<int> SchemaCompiler::ref_node(const std::string& ref, const std::string& path, int depth) {
  if (auto it = refs_.find(ref); it != refs_.end()) return it->second;
  const Json* t = resolve_ref(root_, ref);
  if (!t) {
    if (ref.empty() || ref[0] != '#') return unsupported(path + ".$ref", "the remote or anchor $ref \"" + ref + "\"");
    return invalid(path + ".$ref", "\"" + ref + "\" names nothing in the schema");
  }
  Node alias;
  alias.kind = Node::kAnyOf;
  const int id = add(std::move(alias));
  refs_[ref] = id;
  HERD_ASSIGN_OR_RETURN(int target, compile_at(*t, pointer_path(ref), depth + 1));
  g_.nodes_[static_cast<size_t>(id)].alts = {target};
  return id;
}

Result<Json> SchemaCompiler::prepare_part(const Json& part, const std::string& path, int depth) {
  if (depth > 64) return unsupported(path, "a $ref/allOf chain deeper than 64 (a cycle?)");
  if (part.is_boolean()) return part;
  if (!part.is_object()) return invalid(path, "expected a schema object");
  HERD_ASSIGN_OR_RETURN(Json p, check_keywords(part, path));
  if (auto it = p.find("$ref"); it != p.end()) {
    const std::string ref = it->get<std::string>();
    const Json* t = resolve_ref(root_, ref);
    if (!t) return invalid(path + ".$ref", "\"" + ref + "\" names nothing in the schema");
    Json rest = p;
    rest.erase("$ref");
    HERD_ASSIGN_OR_RETURN(Json tp, prepare_part(*t, pointer_path(ref), depth + 1));
    if (!has_assertions(rest)) return tp;
    if (tp.is_boolean()) return tp.get<bool>() ? rest : tp;
    HERD_ASSIGN_OR_RETURN(p, merge(std::move(tp), rest, path));
  }
  if (p.is_object() && p.contains("allOf")) return merge_all(p, path, depth + 1);
  return p;
}

Result<Json> SchemaCompiler::merge_all(const Json& s, const std::string& path, int depth) {
  Json base = s;
  base.erase("allOf");
  const Json& parts = s["allOf"];
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string pp = path + ".allOf[" + std::to_string(i) + "]";
    HERD_ASSIGN_OR_RETURN(Json p, prepare_part(parts[i], pp, depth + 1));
    if (p.is_boolean()) {
      if (p.get<bool>()) continue;
      return p;
    }
    HERD_ASSIGN_OR_RETURN(base, merge(std::move(base), p, pp));
    if (base.is_boolean()) return base;
  }
  return base;
}

Result<Json> SchemaCompiler::merge(Json a, const Json& b, const std::string& path) {
  if (!a.is_object() || !b.is_object()) return invalid(path, "expected schema objects to merge");
  auto contradiction = [&](const std::string& why) {
    if (unsat_why_.empty()) {
      unsat_path_ = path;
      unsat_why_ = why;
    }
    return Json(false);
  };
  const Json a0 = a;
  for (auto& [k, vb] : b.items()) {
    if (!a.contains(k)) {
      a[k] = vb;
      continue;
    }
    Json& va = a[k];
    if (va == vb || is_annotation(k)) continue;
    if (k == "type") {
      std::set<std::string> out;
      for (const std::string& x : types_of(va))
        for (const std::string& y : types_of(vb)) {
          if (x == y) out.insert(x);
          else if ((x == "integer" && y == "number") || (x == "number" && y == "integer")) out.insert("integer");
        }
      if (out.empty()) return contradiction("allOf parts have no type in common");
      va = out.size() == 1 ? Json(*out.begin()) : Json(std::vector<std::string>(out.begin(), out.end()));
    } else if (k == "properties") {
      for (auto& [pk, ps] : vb.items()) {
        if (va.contains(pk)) va[pk] = Json{{"allOf", Json::array({va[pk], ps})}};
        else va[pk] = ps;
      }
    } else if (k == "required") {
      for (const Json& r : vb)
        if (std::find(va.begin(), va.end(), r) == va.end()) va.push_back(r);
    } else if (k == "additionalProperties" || k == "items" || k == "additionalItems") {
      if (va.is_array() || vb.is_array()) return unsupported(path + "." + k, "merging tuple \"items\"");
      if ((va.is_boolean() && !va.get<bool>()) || (vb.is_boolean() && !vb.get<bool>())) va = false;
      else if (va.is_boolean()) va = vb;
      else if (!vb.is_boolean()) va = Json{{"allOf", Json::array({va, vb})}};
    } else if (k == "minItems" || k == "minLength" || k == "minimum") {
      if (vb > va) va = vb;
    } else if (k == "maxItems" || k == "maxLength" || k == "maximum") {
      if (vb < va) va = vb;
    } else if (k == "exclusiveMinimum" || k == "exclusiveMaximum") {
      if (!va.is_number() || !vb.is_number()) return unsupported(path + "." + k, "merging draft-4 boolean " + k);
      if ((k == "exclusiveMinimum") == (vb > va)) va = vb;
    } else if (k == "enum") {
      Json keep = Json::array();
      for (const Json& x : va)
        if (std::find(vb.begin(), vb.end(), x) != vb.end()) keep.push_back(x);
      if (keep.empty()) return contradiction("allOf parts have no enum value in common");
      va = keep;
    } else if (k == "const") {
      return contradiction("allOf parts have different const values");
    } else if (k == "allOf") {
      for (const Json& x : vb) va.push_back(x);
    } else if (k == "anyOf" || k == "oneOf") {
      if (va.size() * vb.size() > 64) return unsupported(path + "." + k, "an allOf of " + k + "s with over 64 combinations");
      Json cross = Json::array();
      for (const Json& x : va)
        for (const Json& y : vb) cross.push_back(Json{{"allOf", Json::array({x, y})}});
      va = cross;
    } else if (k == "prefixItems") {
      Json out = va.size() >= vb.size() ? va : vb;
      for (size_t i = 0; i < std::min(va.size(), vb.size()); ++i) out[i] = Json{{"allOf", Json::array({va[i], vb[i]})}};
      va = out;
    } else if (k == "nullable") {
      va = va.get<bool>() && vb.get<bool>();
    } else {
      return unsupported(path + "." + k, "two different \"" + k + "\" values in allOf");
    }
  }
  // Properties one side lists are "additional" to the other side.
  for (int side = 0; side < 2; ++side) {
    const Json& x = side == 0 ? a0 : b;
    const Json& y = side == 0 ? b : a0;
    auto ap = x.find("additionalProperties");
    auto yp = y.find("properties");
    if (ap == x.end() || (ap->is_boolean() && ap->get<bool>()) || yp == y.end()) continue;
    const Json* xp = x.contains("properties") ? &x["properties"] : nullptr;
    for (auto& [pk, ps] : yp->items()) {
      if (xp && xp->contains(pk)) continue;
      if (ap->is_boolean()) {
        a["properties"].erase(pk);
        if (a.contains("required") && std::find(a["required"].begin(), a["required"].end(), Json(pk)) != a["required"].end())
          return contradiction("\"" + pk + "\" is required but another allOf part forbids additional properties");
      } else {
        a["properties"][pk] = Json{{"allOf", Json::array({a["properties"][pk], *ap})}};
      }
    }
  }
  return a;
}

Result<int> SchemaCompiler::compile_at(const Json& s, const std::string& path, int depth) {
  if (depth > 128) return unsupported(path, "schema nesting deeper than 128");
  // Work bounds (json_grammar.h Options): a request's schema must not be able to keep
  // an HTTP thread, or the memory of the grammar, growing without limit.
  const Options& o = g_.opts_;
  if (++steps_ > o.max_compile_steps)
    return unsupported(path, "a schema that expands to over " + std::to_string(o.max_compile_steps) +
                                 " subschemas to compile (allOf / $ref with siblings repeat their targets)");
  if (static_cast<int64_t>(g_.nodes_.size()) > o.max_nodes)
    return unsupported(path, "a schema that needs over " + std::to_string(o.max_nodes) + " grammar nodes");
  if ((steps_ & 63) == 0 && std::chrono::steady_clock::now() - start_ > std::chrono::milliseconds(o.max_compile_ms))
    return unsupported(path, "a schema that takes over " + std::to_string(o.max_compile_ms) + " ms to compile");
  if (s.is_boolean()) return s.get<bool>() ? kAnyNode : unsat(path, "the schema false allows no value");
  if (!s.is_object()) return invalid(path, "expected a schema object or a boolean");
  HERD_ASSIGN_OR_RETURN(Json n, check_keywords(s, path));
  if (auto it = n.find("$ref"); it != n.end()) {
    const std::string ref = it->get<std::string>();
    Json rest = n;
    rest.erase("$ref");
    if (!has_assertions(rest)) return ref_node(ref, path, depth);
    Json both = {{"allOf", Json::array({Json{{"$ref", ref}}, rest})}};
    HERD_ASSIGN_OR_RETURN(Json m, merge_all(both, path, depth));
    return compile_at(m, path, depth + 1);
  }
  if (n.contains("allOf")) {
    HERD_ASSIGN_OR_RETURN(Json m, merge_all(n, path, depth));
    return compile_at(m, path, depth + 1);
  }
  for (const char* key : {"anyOf", "oneOf"}) {
    auto it = n.find(key);
    if (it == n.end()) continue;
    Json rest = n;
    rest.erase(key);
    const bool distribute = has_assertions(rest);
    Node alt;
    alt.kind = Node::kAnyOf;
    for (size_t i = 0; i < it->size(); ++i) {
      const std::string ap = path + "." + key + "[" + std::to_string(i) + "]";
      const Json& branch = (*it)[i];
      int a;
      if (distribute) {
        HERD_ASSIGN_OR_RETURN(Json part, prepare_part(branch, ap, depth + 1));
        Json m = part;
        if (part.is_boolean()) {
          m = part.get<bool>() ? rest : part;
        } else {
          HERD_ASSIGN_OR_RETURN(m, merge(rest, part, ap));
        }
        HERD_ASSIGN_OR_RETURN(a, compile_at(m, ap, depth + 1));
      } else {
        HERD_ASSIGN_OR_RETURN(a, compile_at(branch, ap, depth + 1));
      }
      alt.alts.push_back(a);
    }
    return add(std::move(alt));
  }
  if (n.contains("const") || n.contains("enum")) {
    std::vector<Json> cands;
    if (auto c = n.find("const"); c != n.end()) {
      cands.push_back(*c);
    } else {
      if (static_cast<int64_t>(n["enum"].size()) > g_.opts_.max_enum)
        return unsupported(path + ".enum", "an enum of " + std::to_string(n["enum"].size()) + " values (over " +
                                               std::to_string(g_.opts_.max_enum) + ")");
      for (const Json& v : n["enum"]) cands.push_back(v);
    }
    // Each candidate is checked against the other keywords; not against the enum it
    // came from (that would make the check quadratic in the enum's size).
    Json rest = n;
    rest.erase("const");
    if (!n.contains("const")) rest.erase("enum");
    std::vector<std::string> texts;
    for (const Json& v : cands)
      if (validate(v, rest, root_)) texts.push_back(v.dump());
    if (texts.empty()) return unsat(path, "no enum/const value satisfies the rest of its schema");
    return literals(std::move(texts));
  }
  if (auto it = n.find("nullable"); it != n.end()) {
    const bool nullable = it->get<bool>();
    Json rest = n;
    rest.erase("nullable");
    if (!nullable) return compile_at(rest, path, depth + 1);
    Node alt;
    alt.kind = Node::kAnyOf;
    HERD_ASSIGN_OR_RETURN(int a, compile_at(rest, path, depth + 1));
    alt.alts = {a, literals({"null"})};
    return add(std::move(alt));
  }
  std::set<std::string> types;
  if (auto it = n.find("type"); it != n.end()) {
    types = types_of(*it);
  } else {
    for (const char* k : {"properties", "required", "additionalProperties"})
      if (n.contains(k)) types.insert("object");
    for (const char* k : {"items", "prefixItems", "additionalItems", "minItems", "maxItems"})
      if (n.contains(k)) types.insert("array");
    for (const char* k : {"minLength", "maxLength", "pattern", "format"})
      if (n.contains(k)) types.insert("string");
    for (const char* k : {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})
      if (n.contains(k)) types.insert("number");
    if (types.empty()) return kAnyNode;
  }
  if (types.size() == 1) return compile_typed(n, *types.begin(), path, depth);
  Node alt;
  alt.kind = Node::kAnyOf;
  for (const std::string& t : types) {
    HERD_ASSIGN_OR_RETURN(int a, compile_typed(n, t, path, depth));
    alt.alts.push_back(a);
  }
  return add(std::move(alt));
}

Result<int> SchemaCompiler::compile_typed(const Json& s, const std::string& type, const std::string& path, int depth) {
  const Options& o = g_.opts_;
  Node n;
  if (type == "object") {
    n.kind = Node::kObject;
    const Json* props = s.contains("properties") ? &s["properties"] : nullptr;
    const Json* addl = s.contains("additionalProperties") ? &s["additionalProperties"] : nullptr;
    const bool addl_false = addl && addl->is_boolean() && !addl->get<bool>();
    std::vector<std::pair<std::string, std::string>> keys;  // encoded, name
    if (props)
      for (auto& [k, v] : props->items()) keys.emplace_back(Json(k).dump(), k);
    std::set<std::string> required;
    if (auto r = s.find("required"); r != s.end())
      for (const Json& name : *r) {
        const std::string nm = name.get<std::string>();
        required.insert(nm);
        if (props && props->contains(nm)) continue;
        if (addl_false) return unsat(path + ".required", "\"" + nm + "\" is required but additionalProperties is false");
        if (std::find_if(keys.begin(), keys.end(), [&](auto& e) { return e.second == nm; }) == keys.end())
          keys.emplace_back(Json(nm).dump(), nm);
      }
    if (keys.size() > 64) return unsupported(path + ".properties", "more than 64 properties");
    std::sort(keys.begin(), keys.end());
    for (size_t i = 0; i < keys.size(); ++i) {
      const std::string& name = keys[i].second;
      int c;
      if (props && props->contains(name)) {
        HERD_ASSIGN_OR_RETURN(c, compile_at((*props)[name], path + ".properties." + name, depth + 1));
      } else if (addl && addl->is_object()) {
        HERD_ASSIGN_OR_RETURN(c, compile_at(*addl, path + ".additionalProperties", depth + 1));
      } else {
        c = kAnyNode;
      }
      n.keys.push_back(keys[i].first);
      n.key_nodes.push_back(c);
      if (required.count(name)) n.required |= uint64_t{1} << i;
    }
    if (!addl) {
      n.extra = props ? -1 : kAnyNode;
    } else if (addl->is_boolean()) {
      n.extra = addl->get<bool>() ? kAnyNode : -1;
    } else {
      HERD_ASSIGN_OR_RETURN(n.extra, compile_at(*addl, path + ".additionalProperties", depth + 1));
    }
  } else if (type == "array") {
    n.kind = Node::kArray;
    n.items = kAnyNode;
    const Json* tuple = nullptr;
    std::string tuple_key;
    if (auto it = s.find("prefixItems"); it != s.end()) {
      tuple = &*it;
      tuple_key = "prefixItems";
    } else if (auto it2 = s.find("items"); it2 != s.end() && it2->is_array()) {
      tuple = &*it2;
      tuple_key = "items";
    }
    if (tuple)
      for (size_t i = 0; i < tuple->size(); ++i) {
        HERD_ASSIGN_OR_RETURN(int c, compile_at((*tuple)[i], path + "." + tuple_key + "[" + std::to_string(i) + "]", depth + 1));
        n.prefix.push_back(c);
      }
    const Json* rest = nullptr;
    std::string rest_key;
    if (auto it = s.find("items"); it != s.end() && !it->is_array()) {
      rest = &*it;
      rest_key = "items";
    } else if (auto it2 = s.find("additionalItems"); it2 != s.end() && tuple_key == "items") {
      rest = &*it2;
      rest_key = "additionalItems";
    }
    if (rest) {
      if (rest->is_boolean()) {
        n.items = rest->get<bool>() ? kAnyNode : -1;
      } else {
        HERD_ASSIGN_OR_RETURN(n.items, compile_at(*rest, path + "." + rest_key, depth + 1));
      }
    }
    if (auto it = s.find("minItems"); it != s.end()) n.min_items = count_of(*it, 1 << 20);
    if (auto it = s.find("maxItems"); it != s.end()) n.max_items = count_of(*it, 1 << 20);
    if (n.max_items >= 0 && n.max_items < n.min_items) return unsat(path, "maxItems < minItems");
    if (n.items < 0 && n.min_items > static_cast<int>(n.prefix.size()))
      return unsat(path, "minItems exceeds the items allowed");
  } else if (type == "string") {
    n.kind = Node::kString;
    if (auto it = s.find("minLength"); it != s.end()) n.min_len = count_of(*it, 1 << 20);
    if (n.min_len > Dfa::kMaxChars) return unsupported(path + ".minLength", "minLength over 4096");
    n.max_len = std::min(std::max(o.max_string_chars, n.min_len), Dfa::kMaxChars);
    if (auto it = s.find("maxLength"); it != s.end()) n.max_len = count_of(*it, Dfa::kMaxChars);
    if (n.min_len > n.max_len) return unsat(path, "minLength > maxLength");
    std::string pattern, where;
    if (auto it = s.find("pattern"); it != s.end()) {
      pattern = it->get<std::string>();
      where = path + ".pattern";
    }
    if (auto it = s.find("format"); it != s.end()) {
      if (!pattern.empty()) {
        if (o.strict) return unsupported(path + ".format", "\"format\" together with \"pattern\"");
      } else {
        pattern = format_pattern(it->get<std::string>());
        where = path + ".format";
      }
    }
    if (!pattern.empty()) {
      Result<Dfa> d = Dfa::compile(pattern, n.max_len);
      if (!d) {
        error_path_ = where;
        return Error(d.error().code(), "schema" + where + ": " + d.error().message());
      }
      if (!d->can_finish(d->start(), n.min_len, n.max_len))
        return unsat(where, "no string of " + std::to_string(n.min_len) + ".." + std::to_string(n.max_len) +
                                " characters matches");
      n.dfa = static_cast<int>(g_.dfas_.size());
      g_.dfas_.push_back(std::move(*d));
    }
  } else if (type == "number" || type == "integer") {
    n.kind = Node::kNumber;
    n.integer = type == "integer";
    bool any = false;
    Result<NumberRange> r = NumberRange::from_schema(s, n.integer, path, &any);
    if (!r) {
      error_path_ = path;
      return r.error();
    }
    if (any) {
      n.range = static_cast<int>(g_.ranges_.size());
      g_.ranges_.push_back(*r);
    }
  } else if (type == "boolean") {
    return literals({"false", "true"});
  } else if (type == "null") {
    return literals({"null"});
  } else {
    return invalid(path + ".type", "unknown type \"" + type + "\"");
  }
  return add(std::move(n));
}

Status SchemaCompiler::finish(int root) {
  std::vector<Node>& nodes = g_.nodes_;
  const size_t N = nodes.size();
  // Left recursion: a cycle through anyOf/$ref nodes reads no byte.
  std::vector<uint8_t> color(N, 0);
  for (size_t s = 0; s < N; ++s) {
    if (color[s] || nodes[s].kind != Node::kAnyOf) continue;
    std::vector<std::pair<int, size_t>> stack = {{static_cast<int>(s), 0}};
    color[s] = 1;
    while (!stack.empty()) {
      auto& [v, i] = stack.back();
      const Node& n = nodes[static_cast<size_t>(v)];
      if (i < n.alts.size()) {
        const int w = n.alts[i++];
        if (nodes[static_cast<size_t>(w)].kind != Node::kAnyOf) continue;
        if (color[static_cast<size_t>(w)] == 1)
          return invalid("", "a $ref cycle that reads no input (a schema that is its own alternative)");
        if (color[static_cast<size_t>(w)] == 0) {
          color[static_cast<size_t>(w)] = 1;
          stack.emplace_back(w, 0);
        }
      } else {
        color[static_cast<size_t>(v)] = 2;
        stack.pop_back();
      }
    }
  }
  // Leaves of each anyOf (Node::leaves): the anyOf graph is acyclic (checked above), so
  // a depth-first order computes each from its alternatives' once.
  std::vector<uint8_t> done(N, 0);
  for (size_t s = 0; s < N; ++s) {
    if (done[s] || nodes[s].kind != Node::kAnyOf) continue;
    std::vector<std::pair<int, size_t>> stack = {{static_cast<int>(s), 0}};
    while (!stack.empty()) {
      auto& [v, i] = stack.back();
      Node& n = nodes[static_cast<size_t>(v)];
      if (i < n.alts.size()) {
        const int w = n.alts[i++];
        if (nodes[static_cast<size_t>(w)].kind == Node::kAnyOf && !done[static_cast<size_t>(w)]) stack.emplace_back(w, 0);
        continue;
      }
      std::vector<int> leaves;
      for (int a : n.alts) {
        const Node& an = nodes[static_cast<size_t>(a)];
        if (an.kind == Node::kAnyOf) leaves.insert(leaves.end(), an.leaves.begin(), an.leaves.end());
        else leaves.push_back(a);
      }
      // Distinct, in first-seen order (the order stacks are forked in).
      std::vector<int> seen_sorted;
      std::vector<int> out;
      for (int l : leaves) {
        auto it = std::lower_bound(seen_sorted.begin(), seen_sorted.end(), l);
        if (it != seen_sorted.end() && *it == l) continue;
        seen_sorted.insert(it, l);
        out.push_back(l);
      }
      if (static_cast<int64_t>(out.size()) > g_.opts_.max_alternatives)
        return unsupported("", "an anyOf/oneOf that reaches over " + std::to_string(g_.opts_.max_alternatives) +
                                   " distinct alternatives through nested anyOfs");
      n.leaves = std::move(out);
      done[static_cast<size_t>(v)] = 1;
      stack.pop_back();
    }
  }
  // Min depths by fixpoint (values only decrease from kUnsat).
  for (Node& n : nodes) n.min_depth = Node::kUnsat;
  auto sat_add = [](int a, int b) { return std::min(Node::kUnsat, a + b); };
  for (bool changed = true; changed;) {
    changed = false;
    for (Node& n : nodes) {
      int d = Node::kUnsat;
      switch (n.kind) {
        case Node::kAny:
        case Node::kString:
        case Node::kNumber:
          d = 0;
          break;
        case Node::kLiterals:
          d = n.lits.empty() ? Node::kUnsat : 0;
          break;
        case Node::kObject: {
          int m = 0;
          for (size_t i = 0; i < n.keys.size(); ++i)
            if ((n.required >> i) & 1) m = std::max(m, nodes[static_cast<size_t>(n.key_nodes[i])].min_depth);
          d = sat_add(1, m);
          break;
        }
        case Node::kArray: {
          int m = 0;
          for (int i = 0; i < n.min_items && m < Node::kUnsat; ++i) {
            const int item = i < static_cast<int>(n.prefix.size()) ? n.prefix[static_cast<size_t>(i)] : n.items;
            m = item < 0 ? Node::kUnsat : std::max(m, nodes[static_cast<size_t>(item)].min_depth);
            if (i >= static_cast<int>(n.prefix.size())) break;  // the rest share one node
          }
          d = sat_add(1, m);
          break;
        }
        case Node::kAnyOf:
          for (int a : n.alts) d = std::min(d, nodes[static_cast<size_t>(a)].min_depth);
          break;
        case Node::kTagged:
          for (int c : n.conts) d = std::min(d, sat_add(1, nodes[static_cast<size_t>(c)].min_depth));
          break;
      }
      if (d < n.min_depth) {
        n.min_depth = d;
        changed = true;
      }
    }
  }
  const int md = nodes[static_cast<size_t>(root)].min_depth;
  if (md >= Node::kUnsat) {
    if (!unsat_why_.empty()) return invalid(unsat_path_, "allows no value: " + unsat_why_);
    return invalid("", "allows no finite value");
  }
  if (md > g_.opts_.max_nesting)
    return unsupported("", "a schema whose smallest value nests " + std::to_string(md) + " deep (over " +
                               std::to_string(g_.opts_.max_nesting) + ")");
  return Ok{};
}

}  // namespace herd::grammar
