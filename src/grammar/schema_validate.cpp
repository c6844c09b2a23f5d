// See schema_validate.h.
#include "grammar/schema_validate.h"

#include <cmath>
#include <set>

#include "grammar/regex.h"

namespace herd::grammar {
namespace {

using Json = nlohmann::json;

size_t code_points(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<uint8_t>(c) & 0xC0) != 0x80;
  return n;
}

bool is_integer_value(const Json& v) {
  if (v.is_number_integer()) return true;
  if (!v.is_number_float()) return false;
  const double d = v.get<double>();
  return std::isfinite(d) && std::floor(d) == d;
}

bool has_type(const Json& v, const std::string& t) {
  if (t == "null") return v.is_null();
  if (t == "boolean") return v.is_boolean();
  if (t == "integer") return is_integer_value(v);
  if (t == "number") return v.is_number();
  if (t == "string") return v.is_string();
  if (t == "array") return v.is_array();
  if (t == "object") return v.is_object();
  return false;
}

bool flag(const Json& s, const char* k) {
  auto it = s.find(k);
  return it != s.end() && it->is_boolean() && it->get<bool>();
}

int hex_digit(char h) {
  return h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
}

bool pattern_matches(const std::string& pattern, const std::string& s) {
  Result<Dfa> d = Dfa::compile(pattern, static_cast<int>(code_points(s)));
  return d.has_value() && d->matches(s);
}

struct Validator {
  const Json& root;
  std::string* why;
  int depth = 0;

  bool fail(const std::string& path, const std::string& what) {
    if (why && why->empty()) *why = (path.empty() ? std::string("value") : path) + ": " + what;
    return false;
  }

  bool check(const Json& v, const Json& s, const std::string& path) {
    if (s.is_boolean()) return s.get<bool>() || fail(path, "schema false");
    if (!s.is_object()) return true;
    if (++depth > 200) return fail(path, "$ref recursion too deep");
    const bool ok = check_object(v, s, path);
    --depth;
    return ok;
  }

  bool quiet(const Json& v, const Json& s) {
    Validator sub{root, nullptr, depth};
    return sub.check(v, s, "");
  }

  bool check_object(const Json& v, const Json& s, const std::string& path) {
    if (auto it = s.find("$ref"); it != s.end() && it->is_string()) {
      const Json* t = resolve_ref(root, it->get<std::string>());
      if (!t) return fail(path, "unresolvable $ref " + it->get<std::string>());
      if (!check(v, *t, path)) return false;
    }
    if (auto it = s.find("allOf"); it != s.end() && it->is_array())
      for (const Json& a : *it)
        if (!check(v, a, path)) return false;
    if (auto it = s.find("anyOf"); it != s.end() && it->is_array()) {
      bool any = false;
      for (const Json& a : *it) any = any || quiet(v, a);
      if (!any) return fail(path, "matches no anyOf branch");
    }
    if (auto it = s.find("oneOf"); it != s.end() && it->is_array()) {
      int n = 0;
      for (const Json& a : *it) n += quiet(v, a) ? 1 : 0;
      if (n != 1) return fail(path, "matches " + std::to_string(n) + " oneOf branches");
    }
    if (auto it = s.find("not"); it != s.end() && quiet(v, *it)) return fail(path, "matches \"not\"");
    if (auto it = s.find("const"); it != s.end() && v != *it) return fail(path, "not the const");
    if (auto it = s.find("enum"); it != s.end() && it->is_array()) {
      bool in = false;
      for (const Json& e : *it) in = in || e == v;
      if (!in) return fail(path, "not in enum");
    }
    if (auto it = s.find("type"); it != s.end()) {
      bool ok = false;
      if (it->is_string()) ok = has_type(v, it->get<std::string>());
      if (it->is_array())
        for (const Json& t : *it) ok = ok || (t.is_string() && has_type(v, t.get<std::string>()));
      if (!ok && v.is_null() && flag(s, "nullable")) ok = true;
      if (!ok) return fail(path, "wrong type, want " + it->dump());
    }
    if (v.is_number()) return check_number(v.get<double>(), s, path);
    if (v.is_string()) return check_string(v.get<std::string>(), s, path);
    if (v.is_array()) return check_array(v, s, path);
    if (v.is_object()) return check_members(v, s, path);
    return true;
  }

  bool check_number(double x, const Json& s, const std::string& path) {
    auto num = [&](const char* k, double* out) {
      auto it = s.find(k);
      if (it == s.end() || !it->is_number()) return false;
      *out = it->get<double>();
      return true;
    };
    double b;
    const bool ex_min = flag(s, "exclusiveMinimum");
    const bool ex_max = flag(s, "exclusiveMaximum");
    if (num("minimum", &b) && (ex_min ? !(x > b) : !(x >= b))) return fail(path, "below minimum");
    if (num("maximum", &b) && (ex_max ? !(x < b) : !(x <= b))) return fail(path, "above maximum");
    if (num("exclusiveMinimum", &b) && !(x > b)) return fail(path, "not above exclusiveMinimum");
    if (num("exclusiveMaximum", &b) && !(x < b)) return fail(path, "not below exclusiveMaximum");
    if (num("multipleOf", &b) && b > 0) {
      const double q = x / b;
      if (std::fabs(q - std::round(q)) > 1e-9) return fail(path, "not a multipleOf");
    }
    return true;
  }

  bool check_string(const std::string& x, const Json& s, const std::string& path) {
    const size_t n = code_points(x);
    if (auto it = s.find("minLength"); it != s.end() && it->is_number() && n < it->get<double>())
      return fail(path, "shorter than minLength");
    if (auto it = s.find("maxLength"); it != s.end() && it->is_number() && n > it->get<double>())
      return fail(path, "longer than maxLength");
    if (auto it = s.find("pattern"); it != s.end() && it->is_string() && !pattern_matches(it->get<std::string>(), x))
      return fail(path, "does not match pattern " + it->get<std::string>());
    if (auto it = s.find("format"); it != s.end() && it->is_string()) {
      const char* p = format_pattern(it->get<std::string>());
      if (p && !pattern_matches(p, x)) return fail(path, "not a " + it->get<std::string>());
    }
    return true;
  }

  bool check_array(const Json& v, const Json& s, const std::string& path) {
    auto count = [&](const char* k, size_t* out) {
      auto it = s.find(k);
      if (it == s.end() || !it->is_number()) return false;
      *out = static_cast<size_t>(std::max(0.0, it->get<double>()));
      return true;
    };
    size_t n;
    if (count("minItems", &n) && v.size() < n) return fail(path, "fewer than minItems");
    if (count("maxItems", &n) && v.size() > n) return fail(path, "more than maxItems");
    size_t first_rest = 0;
    const Json* prefix = nullptr;
    if (auto it = s.find("prefixItems"); it != s.end() && it->is_array()) prefix = &*it;
    if (auto it = s.find("items"); it != s.end() && it->is_array()) prefix = &*it;
    if (prefix) {
      for (size_t i = 0; i < v.size() && i < prefix->size(); ++i)
        if (!check(v[i], (*prefix)[i], path + "[" + std::to_string(i) + "]")) return false;
      first_rest = prefix->size();
    }
    const Json* rest = nullptr;
    if (auto it = s.find("items"); it != s.end() && !it->is_array()) rest = &*it;
    else if (auto a = s.find("additionalItems"); a != s.end() && prefix) rest = &*a;
    if (rest)
      for (size_t i = first_rest; i < v.size(); ++i)
        if (!check(v[i], *rest, path + "[" + std::to_string(i) + "]")) return false;
    if (flag(s, "uniqueItems")) {
      std::set<std::string> seen;
      for (const Json& x : v)
        if (!seen.insert(x.dump()).second) return fail(path, "items not unique");
    }
    if (auto it = s.find("contains"); it != s.end()) {
      bool any = false;
      for (const Json& x : v) any = any || quiet(x, *it);
      if (!any) return fail(path, "no item matches contains");
    }
    return true;
  }

  bool check_members(const Json& v, const Json& s, const std::string& path) {
    if (auto it = s.find("required"); it != s.end() && it->is_array())
      for (const Json& r : *it)
        if (r.is_string() && !v.contains(r.get<std::string>())) return fail(path, "missing required " + r.dump());
    if (auto it = s.find("minProperties"); it != s.end() && it->is_number() && v.size() < it->get<double>())
      return fail(path, "fewer than minProperties");
    if (auto it = s.find("maxProperties"); it != s.end() && it->is_number() && v.size() > it->get<double>())
      return fail(path, "more than maxProperties");
    const Json* props = nullptr;
    if (auto it = s.find("properties"); it != s.end() && it->is_object()) props = &*it;
    const Json* addl = nullptr;
    if (auto it = s.find("additionalProperties"); it != s.end()) addl = &*it;
    for (auto& [k, x] : v.items()) {
      const std::string p = path + "." + k;
      if (props && props->contains(k)) {
        if (!check(x, (*props)[k], p)) return false;
      } else if (addl && !check(x, *addl, p)) {
        return fail(p, "additional property not allowed");
      }
    }
    return true;
  }
};

}  // namespace

const Json* resolve_ref(const Json& root, const std::string& ref) {
  if (ref == "#") return &root;
  if (ref.rfind("#/", 0) != 0) return nullptr;
  const Json* cur = &root;
  size_t i = 2;
  while (i <= ref.size()) {
    size_t j = ref.find('/', i);
    if (j == std::string::npos) j = ref.size();
    std::string tok;
    for (size_t k = i; k < j; ++k) {
      const char c = ref[k];
      if (c == '~' && k + 1 < j) {
        tok += ref[k + 1] == '1' ? '/' : '~';
        ++k;
      } else if (c == '%' && k + 2 < j && hex_digit(ref[k + 1]) >= 0 && hex_digit(ref[k + 2]) >= 0) {
        tok += static_cast<char>(hex_digit(ref[k + 1]) * 16 + hex_digit(ref[k + 2]));
        k += 2;
      } else {
        tok += c;
      }
    }
    if (cur->is_object()) {
      auto it = cur->find(tok);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (cur->is_array()) {
      if (tok.empty() || tok.size() > 9 || tok.find_first_not_of("0123456789") != std::string::npos) return nullptr;
      const size_t idx = std::stoul(tok);
      if (idx >= cur->size()) return nullptr;
      cur = &(*cur)[idx];
    } else {
      return nullptr;
    }
    i = j + 1;
  }
  return cur;
}

bool validate(const Json& v, const Json& schema, const Json& root, std::string* why) {
  Validator val{root, why};
  return val.check(v, schema, "");
}

}  // namespace herd::grammar
