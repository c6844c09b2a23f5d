#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "grammar/json_constraint.h"
#include "grammar/json_grammar.h"
#include "tokenizer/tokenizer.h"

namespace herd::grammar {
namespace {

using Json = nlohmann::json;

std::shared_ptr<const Grammar> schema(const char* text, Options o = {}) {
  auto g = Grammar::from_schema(Json::parse(text), o);
  EXPECT_TRUE(g.has_value()) << (g.has_value() ? "" : g.error().to_string());
  return *g;
}

// A validator for the schema subset the grammar supports (the test's own oracle).
bool validate(const Json& v, const Json& s) {
  if (s.is_boolean()) return s.get<bool>();
  if (s.contains("const")) return v == s["const"];
  if (s.contains("enum")) {
    for (const Json& e : s["enum"])
      if (e == v) return true;
    return false;
  }
  for (const char* k : {"anyOf", "oneOf"})
    if (s.contains(k)) {
      for (const Json& a : s[k])
        if (validate(v, a)) return true;
      return false;
    }
  if (!s.contains("type")) return true;
  std::vector<std::string> types;
  if (s["type"].is_array()) {
    for (const Json& t : s["type"]) types.push_back(t);
  } else {
    types.push_back(s["type"]);
  }
  for (const std::string& t : types) {
    if (t == "null" && v.is_null()) return true;
    if (t == "boolean" && v.is_boolean()) return true;
    if (t == "integer" && (v.is_number_integer() || (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>()))) return true;
    if (t == "number" && v.is_number()) return true;
    if (t == "string" && v.is_string()) {
      size_t chars = 0;
      for (char ch : v.get<std::string>()) chars += (static_cast<uint8_t>(ch) & 0xC0) != 0x80;
      if (s.contains("maxLength") && chars > s["maxLength"].get<size_t>()) return false;
      return true;
    }
    if (t == "array" && v.is_array()) {
      if (s.contains("minItems") && v.size() < s["minItems"].get<size_t>()) return false;
      if (s.contains("maxItems") && v.size() > s["maxItems"].get<size_t>()) return false;
      if (s.contains("items"))
        for (const Json& x : v)
          if (!validate(x, s["items"])) return false;
      return true;
    }
    if (t == "object" && v.is_object()) {
      if (s.contains("required"))
        for (const Json& r : s["required"])
          if (!v.contains(r.get<std::string>())) return false;
      const bool closed = s.contains("additionalProperties") && s["additionalProperties"] == false;
      for (auto& [k, x] : v.items()) {
        if (s.contains("properties") && s["properties"].contains(k)) {
          if (!validate(x, s["properties"][k])) return false;
        } else if (closed) {
          return false;
        }
      }
      return true;
    }
  }
  return false;
}

struct Case {
  const char* schema;
  const char* text;
  bool ok;
};

TEST(JsonGrammar, AcceptsAndRejects) {
  const char* person = R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},
      "tags":{"type":"array","items":{"type":"string"},"maxItems":2}},"required":["name"],"additionalProperties":false})";
  const Case cases[] = {
      {person, R"({"name":"Ann"})", true},
      {person, R"({"name": "Ann", "age": 31})", true},
      {person, R"({"age":31,"name":"A\u00e9\n"})", true},
      {person, R"({"name":"Ann","tags":["a","b"]})", true},
      {person, R"({"name":"Ann","tags":["a","b","c"]})", false},  // maxItems
      {person, R"({"age":31})", false},                          // required
      {person, R"({"name":"Ann","extra":1})", false},            // unknown key
      {person, R"({"name":"Ann","name":"Bob"})", false},         // duplicate key
      {person, R"({"name":"Ann","age":1.5})", false},            // integer
      {person, R"({"name":"Ann",})", false},
      {person, R"({"name":"Ann"}x)", false},
      {person, R"({"name":"Ann"     })", false},                 // whitespace bound
      {person, R"({"name":"\ud800"})", false},                   // lone surrogate
      {person, "{\"name\":\"\xff\"}", false},                    // invalid UTF-8
      {person, "{\"name\":\"\x01\"}", false},                    // control byte
      {R"({"type":"number"})", "-12.5e+3", true},
      {R"({"type":"number"})", "012", false},
      {R"({"type":"number"})", "1.", false},
      {R"({"type":"integer"})", "-0", true},
      {R"({"type":"integer"})", "123456789012345", true},
      {R"({"type":"integer"})", "1234567890123456", false},   // 15-digit cap
      {R"({"type":"number"})", "1e99", true},
      {R"({"type":"number"})", "1e999", false},               // exponent cap
      {R"({"type":"boolean"})", "true", true},
      {R"({"type":"boolean"})", "tru", false},
      {R"({"type":"null"})", "null", true},
      {R"({"enum":["red","green",1,12]})", "\"green\"", true},
      {R"({"enum":["red","green",1,12]})", "12", true},
      {R"({"enum":["red","green",1,12]})", "1", true},
      {R"({"enum":["red","green",1,12]})", "13", false},
      {R"({"enum":["red","green",1,12]})", "\"blue\"", false},
      {R"({"const":"x"})", "\"x\"", true},
      {R"({"type":"string","maxLength":3})", "\"abc\"", true},
      {R"({"type":"string","maxLength":3})", "\"abcd\"", false},
      {R"({"anyOf":[{"type":"string"},{"type":"integer"}]})", "5", true},
      {R"({"anyOf":[{"type":"string"},{"type":"integer"}]})", "\"5\"", true},
      {R"({"anyOf":[{"type":"string"},{"type":"integer"}]})", "true", false},
      {R"({"type":["string","null"]})", "null", true},
      {R"({"type":"array","items":{"type":"integer"},"minItems":1})", "[]", false},
      {R"({"type":"array","items":{"type":"integer"},"minItems":1})", "[1, 2,3]", true},
      {R"({"type":"object"})", R"({"a":[1,{"b":null}],"c":"d"})", true},
      {R"({})", R"([true, false, null, "x", -1e5])", true},
      {R"({"type":"object","additionalProperties":false})", "{}", true},
      {R"({"type":"object","additionalProperties":false})", R"({"a":1})", false},
  };
  for (const Case& c : cases) EXPECT_EQ(matches(schema(c.schema), c.text), c.ok) << c.schema << "\n  " << c.text;
}

TEST(JsonGrammar, UnsupportedKeywordsAreErrors) {
  for (const char* s : {R"({"$ref":"#/x"})", R"({"type":"string","pattern":"a+"})", R"({"type":"integer","minimum":3})",
                        R"({"type":"strange"})"})
    EXPECT_FALSE(Grammar::from_schema(Json::parse(s)).has_value()) << s;
}

TEST(JsonGrammar, AnyJsonObject) {
  auto g = Grammar::any_json(true);
  EXPECT_TRUE(matches(g, R"({"a": [1, 2], "b": {"c": "d"}})"));
  EXPECT_FALSE(matches(g, "[1]"));
  EXPECT_FALSE(matches(g, "\"x\""));
}

TEST(JsonGrammar, ToolCall) {
  std::vector<Grammar::Tool> tools = {
      {"get_weather", Json::parse(R"({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]})")},
      {"get_time", Json::parse(R"({"type":"object","properties":{"tz":{"enum":["UTC","CET"]}},"required":["tz"]})")}};
  auto g = Grammar::tool_call(tools);
  ASSERT_TRUE(g.has_value());
  EXPECT_TRUE(matches(*g, R"({"name": "get_weather", "parameters": {"city": "Paris"}})"));
  EXPECT_TRUE(matches(*g, R"({"name": "get_time", "parameters": {"tz":"UTC"}})"));
  EXPECT_FALSE(matches(*g, R"({"name": "get_time", "parameters": {"city": "Paris"}})"));
  EXPECT_FALSE(matches(*g, R"({"name": "other", "parameters": {}})"));
}

const tokenizer::Tokenizer& llama3() {
  static const tokenizer::Tokenizer* t = [] {
    auto r = tokenizer::Tokenizer::llama3();
    return new tokenizer::Tokenizer(std::move(r).value());
  }();
  return *t;
}

const std::shared_ptr<const VocabIndex>& index() {
  static const std::shared_ptr<const VocabIndex> ix = VocabIndex::build(llama3());
  return ix;
}

// Samples from softmax(random logits) under the constraint until complete or max steps.
std::string generate(const std::shared_ptr<const Grammar>& g, uint32_t seed, int max_steps, bool* done) {
  JsonSchemaConstraint con(g, index());
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 3.f);
  std::vector<float> logits(static_cast<size_t>(llama3().n_vocab()));
  *done = false;
  for (int step = 0; step < max_steps; ++step) {
    for (float& l : logits) l = nd(rng);
    con.mask(logits);
    float mx = -INFINITY;
    for (float l : logits) mx = std::max(mx, l);
    EXPECT_GT(mx, -INFINITY) << "everything masked after " << con.text();
    if (mx == -INFINITY) return con.text();
    std::vector<double> w(logits.size());
    for (size_t i = 0; i < logits.size(); ++i) w[i] = std::exp(static_cast<double>(logits[i] - mx));
    std::discrete_distribution<int32_t> pick(w.begin(), w.end());
    const int32_t id = pick(rng);
    EXPECT_FALSE(llama3().is_special(id) && id != index()->eot);
    con.accept(id);
    if (con.complete()) {
      *done = true;
      break;
    }
  }
  return con.text();
}

TEST(JsonConstraint, RandomLogitsAlwaysYieldValidJson) {
  const char* schemas[] = {
      R"({"type":"object","properties":{"name":{"type":"string","maxLength":24},"age":{"type":"integer"},
         "ok":{"type":"boolean"},"color":{"enum":["red","green","blue"]},
         "tags":{"type":"array","items":{"type":"string","maxLength":12},"maxItems":3}},
         "required":["name","age","color"],"additionalProperties":false})",
      R"({"type":"array","items":{"anyOf":[{"type":"number"},{"type":"null"},{"type":"string","maxLength":8}]},"minItems":1,"maxItems":4})",
  };
  int n_done = 0;
  for (int seed = 0; seed < 50; ++seed) {
    const char* st = schemas[seed % 2];
    const Json sj = Json::parse(st);
    bool done = false;
    const std::string out = generate(schema(st), static_cast<uint32_t>(seed), 200, &done);
    if (!done) continue;
    ++n_done;
    Json v;
    ASSERT_NO_THROW(v = Json::parse(out)) << out;
    EXPECT_TRUE(validate(v, sj)) << out;
  }
  EXPECT_EQ(n_done, 50);
}

TEST(JsonConstraint, ToolCallFromRandomLogits) {
  std::vector<Grammar::Tool> tools = {
      {"get_weather", Json::parse(R"({"type":"object","properties":{"city":{"type":"string","maxLength":16},
          "unit":{"enum":["c","f"]}},"required":["city","unit"]})")},
      {"noop", Json::parse(R"({"type":"object","properties":{}})")}};
  auto g = Grammar::tool_call(tools);
  ASSERT_TRUE(g.has_value());
  for (int seed = 0; seed < 10; ++seed) {
    bool done = false;
    const std::string out = generate(*g, 1000u + static_cast<uint32_t>(seed), 200, &done);
    ASSERT_TRUE(done) << out;
    Json v = Json::parse(out);
    ASSERT_TRUE(v.contains("name") && v.contains("parameters")) << out;
    if (v["name"] == "get_weather") {
      EXPECT_TRUE(validate(v["parameters"], tools[0].parameters)) << out;
    } else {
      EXPECT_EQ(v["name"], "noop");
    }
  }
}

TEST(JsonConstraint, AnyObjectFromRandomLogitsParses) {
  Options o;
  o.max_string_bytes = 16;
  o.max_any_items = 3;
  o.max_depth = 3;
  int n_done = 0;
  for (int seed = 0; seed < 20; ++seed) {
    bool done = false;
    const std::string out = generate(Grammar::any_json(true, o), 77u + static_cast<uint32_t>(seed), 200, &done);
    if (!done) continue;
    ++n_done;
    Json v;
    ASSERT_NO_THROW(v = Json::parse(out)) << out;
    EXPECT_TRUE(v.is_object());
  }
  EXPECT_GE(n_done, 15);
}

TEST(JsonConstraint, SpecialTokensOnlyEotAtEnd) {
  JsonSchemaConstraint con(schema(R"({"type":"boolean"})"), index());
  std::vector<float> logits(static_cast<size_t>(llama3().n_vocab()), 0.f);
  con.mask(logits);
  for (int32_t id = 0; id < llama3().n_vocab(); ++id) {
    if (llama3().is_special(id)) {
      EXPECT_EQ(logits[static_cast<size_t>(id)], -INFINITY);
    }
  }
  const int32_t t = llama3().encode("true", false)[0];
  EXPECT_GT(logits[static_cast<size_t>(t)], -INFINITY);
  con.accept(t);
  EXPECT_TRUE(con.complete());
}

}  // namespace
}  // namespace herd::grammar
