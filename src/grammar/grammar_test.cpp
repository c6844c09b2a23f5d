// JSON grammar: per schema feature, whole documents that must be accepted or rejected,
// prefixes whose last byte must be refused, compile errors (with their paths), strict
// vs lenient, tool calls; then a byte-level property test: random walks through the
// automaton never dead-end and always end in a document that parses and validates
// (schema_validate.h is the oracle, itself tested in regex_test.cpp).
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/sanitizer_build.h"
#include "grammar/json_grammar.h"
#include "grammar/schema_validate.h"

namespace herd::grammar {
namespace {

using Json = nlohmann::json;

std::shared_ptr<const Grammar> schema(const std::string& text, Options o = {}) {
  std::string path;
  auto g = Grammar::from_schema(Json::parse(text), o, &path);
  EXPECT_TRUE(g.has_value()) << text << "\n" << (g.has_value() ? "" : g.error().to_string() + " at " + path);
  return g.has_value() ? *g : Grammar::any_json(false);
}

struct Case {
  const char* schema;
  const char* text;
  bool ok;
};

void run_cases(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    auto g = schema(c.schema);
    EXPECT_EQ(matches(g, c.text), c.ok) << c.schema << "\n  " << c.text;
    if (c.ok) {
      // Every accepted text is valid (the oracle agrees with the grammar).
      const Json s = Json::parse(c.schema);
      std::string why;
      EXPECT_TRUE(validate(Json::parse(c.text), s, s, &why)) << c.text << ": " << why;
    }
  }
}

const char* kPerson = R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},
    "tags":{"type":"array","items":{"type":"string"},"maxItems":2}},"required":["name"],"additionalProperties":false})";

TEST(JsonGrammar, ObjectsStringsNumbersLiterals) {
  run_cases({
      {kPerson, R"({"name":"Ann"})", true},
      {kPerson, R"({"name": "Ann", "age": 31})", true},
      {kPerson, R"({"age":31,"name":"A\u00e9\n"})", true},
      {kPerson, R"({"name":"Ann","tags":["a","b"]})", true},
      {kPerson, R"({"name":"Ann","tags":["a","b","c"]})", false},  // maxItems
      {kPerson, R"({"age":31})", false},                          // required
      {kPerson, R"({"name":"Ann","extra":1})", false},            // unknown key
      {kPerson, R"({"name":"Ann","name":"Bob"})", false},         // duplicate key
      {kPerson, R"({"name":"Ann","age":1.5})", false},            // integer
      {kPerson, R"({"name":"Ann",})", false},
      {kPerson, R"({"name":"Ann"}x)", false},
      {kPerson, R"({"name":"Ann"     })", false},                 // whitespace bound
      {kPerson, R"({"name":"\ud800"})", false},                   // lone surrogate
      {kPerson, "{\"name\":\"\xff\"}", false},                    // invalid UTF-8
      {kPerson, "{\"name\":\"\x01\"}", false},                    // control byte
      {R"({"type":"number"})", "-12.5e+3", true},
      {R"({"type":"number"})", "012", false},
      {R"({"type":"number"})", "1.", false},
      {R"({"type":"integer"})", "-0", true},
      {R"({"type":"integer"})", "123456789012345", true},
      {R"({"type":"integer"})", "1234567890123456", false},  // 15-digit cap
      {R"({"type":"number"})", "1e99", true},
      {R"({"type":"number"})", "1e999", false},  // exponent cap
      {R"({"type":"boolean"})", "true", true},
      {R"({"type":"boolean"})", "tru", false},
      {R"({"type":"null"})", "null", true},
      {R"({"type":"object"})", R"({"a":[1,{"b":null}],"c":"d"})", true},
      {R"({})", R"([true, false, null, "x", -1e5])", true},
      {R"({"type":"object","additionalProperties":false})", "{}", true},
      {R"({"type":"object","additionalProperties":false})", R"({"a":1})", false},
  });
}

TEST(JsonGrammar, EnumConstAndTypeArrays) {
  run_cases({
      {R"({"enum":["red","green",1,12]})", "\"green\"", true},
      {R"({"enum":["red","green",1,12]})", "12", true},
      {R"({"enum":["red","green",1,12]})", "1", true},
      {R"({"enum":["red","green",1,12]})", "13", false},
      {R"({"enum":["red","green",1,12]})", "\"blue\"", false},
      {R"({"enum":[null,true,{"a":[1,2]},[1,"x"]]})", R"({"a":[1,2]})", true},
      {R"({"enum":[null,true,{"a":[1,2]},[1,"x"]]})", R"([1,"x"])", true},
      {R"({"enum":[null,true,{"a":[1,2]},[1,"x"]]})", "false", false},
      {R"({"const":"x"})", "\"x\"", true},
      {R"({"const":{"k":null}})", R"({"k":null})", true},
      {R"({"type":"string","enum":["a",1,"b"]})", "1", false},  // enum filtered by type
      {R"({"type":["string","null"]})", "null", true},
      {R"({"type":["string","null"]})", "\"s\"", true},
      {R"({"type":["string","null"]})", "1", false},
      {R"({"type":["integer","boolean"],"minimum":3})", "2", false},
      {R"({"type":["integer","boolean"],"minimum":3})", "false", true},
      {R"({"type":"integer","nullable":true})", "null", true},
  });
}

TEST(JsonGrammar, AnyOfFollowsEveryBranch) {
  const char* ab = R"({"anyOf":[{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"],"additionalProperties":false},
                               {"type":"object","properties":{"b":{"type":"string"}},"required":["b"],"additionalProperties":false}]})";
  run_cases({
      {R"({"anyOf":[{"type":"string"},{"type":"integer"}]})", "5", true},
      {R"({"anyOf":[{"type":"string"},{"type":"integer"}]})", "\"5\"", true},
      {R"({"anyOf":[{"type":"string"},{"type":"integer"}]})", "true", false},
      // Both branches start with '"': the second is reachable (the old first-branch rule lost it).
      {R"({"anyOf":[{"type":"string","maxLength":2},{"type":"string","pattern":"^x+$"}]})", "\"xxxxx\"", true},
      {R"({"anyOf":[{"type":"string","maxLength":2},{"type":"string","pattern":"^x+$"}]})", "\"ab\"", true},
      {R"({"anyOf":[{"type":"string","maxLength":2},{"type":"string","pattern":"^x+$"}]})", "\"abc\"", false},
      {ab, R"({"a":1})", true},
      {ab, R"({"b":"x"})", true},
      {ab, R"({"a":1,"b":"x"})", false},
      {ab, "{}", false},
      {R"({"oneOf":[{"type":"integer","maximum":0},{"type":"integer","minimum":10}]})", "-3", true},
      {R"({"oneOf":[{"type":"integer","maximum":0},{"type":"integer","minimum":10}]})", "12", true},
      {R"({"oneOf":[{"type":"integer","maximum":0},{"type":"integer","minimum":10}]})", "5", false},
      // Siblings of anyOf apply to every branch.
      {R"({"type":"object","properties":{"k":{"type":"integer"}},"required":["k"],
          "anyOf":[{"required":["x"],"properties":{"x":{"const":1}}},{"required":["y"],"properties":{"y":{"const":2}}}]})",
       R"({"k":0,"y":2})", true},
      {R"({"type":"object","properties":{"k":{"type":"integer"}},"required":["k"],
          "anyOf":[{"required":["x"],"properties":{"x":{"const":1}}},{"required":["y"],"properties":{"y":{"const":2}}}]})",
       R"({"y":2})", false},
  });
}

TEST(JsonGrammar, AllOfMerges) {
  const char* s = R"({"allOf":[{"type":"object","properties":{"a":{"type":"integer","minimum":0}},"required":["a"]},
                              {"properties":{"a":{"maximum":5},"b":{"type":"boolean"}},"required":["b"]}]})";
  run_cases({
      {s, R"({"a":3,"b":true})", true},
      {s, R"({"b":true,"a":5})", true},
      {s, R"({"a":6,"b":true})", false},
      {s, R"({"a":3})", false},
      {R"({"allOf":[{"type":"string","minLength":2},{"maxLength":3}]})", "\"abc\"", true},
      {R"({"allOf":[{"type":"string","minLength":2},{"maxLength":3}]})", "\"abcd\"", false},
      {R"({"allOf":[{"enum":[1,2,3]},{"enum":[2,3,4]}]})", "2", true},
      {R"({"allOf":[{"enum":[1,2,3]},{"enum":[2,3,4]}]})", "1", false},
      {R"({"$defs":{"base":{"type":"object","properties":{"id":{"type":"integer"}},"required":["id"]}},
          "allOf":[{"$ref":"#/$defs/base"},{"properties":{"n":{"type":"string"}},"required":["n"]}]})",
       R"({"id":1,"n":"x"})", true},
  });
}

TEST(JsonGrammar, RefsAndRecursion) {
  const char* tree = R"({"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},
      "kids":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["v"],"additionalProperties":false}},
      "$ref":"#/$defs/node"})";
  const char* list = R"({"type":"object","properties":{"v":{"type":"integer"},"next":{"anyOf":[{"$ref":"#"},{"type":"null"}]}},
      "required":["v","next"],"additionalProperties":false})";
  run_cases({
      {R"({"definitions":{"pos":{"type":"integer","minimum":0}},"type":"array","items":{"$ref":"#/definitions/pos"}})", "[0,5]", true},
      {R"({"definitions":{"pos":{"type":"integer","minimum":0}},"type":"array","items":{"$ref":"#/definitions/pos"}})", "[-1]", false},
      {tree, R"({"v":1,"kids":[{"v":2,"kids":[{"v":3}]},{"v":4,"kids":[]}]})", true},
      {tree, R"({"v":1,"kids":[{"kids":[]}]})", false},
      {list, R"({"v":1,"next":{"v":2,"next":{"v":3,"next":null}}})", true},
      {list, R"({"v":1,"next":{"v":2}})", false},
      {R"({"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"type":"boolean"}},"$ref":"#/$defs/a"})", "true", true},
      // $ref with siblings: allOf of both.
      {R"({"$defs":{"s":{"type":"string"}},"$ref":"#/$defs/s","maxLength":2})", "\"abc\"", false},
  });
}

TEST(JsonGrammar, NumberRanges) {
  run_cases({
      {R"({"type":"integer","minimum":10,"maximum":200})", "10", true},
      {R"({"type":"integer","minimum":10,"maximum":200})", "200", true},
      {R"({"type":"integer","minimum":10,"maximum":200})", "9", false},
      {R"({"type":"integer","minimum":10,"maximum":200})", "201", false},
      {R"({"type":"integer","minimum":10,"maximum":200})", "-15", false},
      {R"({"type":"integer","exclusiveMinimum":0})", "0", false},
      {R"({"type":"integer","exclusiveMinimum":0})", "123456", true},
      {R"({"type":"integer","minimum":-50,"maximum":-10})", "-10", true},
      {R"({"type":"integer","minimum":-50,"maximum":-10})", "-51", false},
      {R"({"type":"integer","minimum":1.5,"maximum":3.5})", "2", true},
      {R"({"type":"integer","minimum":1.5,"maximum":3.5})", "1", false},
      {R"({"type":"number","minimum":0.5,"maximum":2.25})", "0.5", true},
      {R"({"type":"number","minimum":0.5,"maximum":2.25})", "2.25", true},
      {R"({"type":"number","minimum":0.5,"maximum":2.25})", "1", true},
      {R"({"type":"number","minimum":0.5,"maximum":2.25})", "2.2500001", false},
      {R"({"type":"number","minimum":0.5,"maximum":2.25})", "0.49", false},
      {R"({"type":"number","minimum":0.5,"maximum":2.25})", "1e0", false},  // no exponent with a range
      {R"({"type":"number","exclusiveMaximum":1})", "0.999", true},
      {R"({"type":"number","exclusiveMaximum":1})", "1.0", false},
      {R"({"type":"number","exclusiveMaximum":1})", "-7.25", true},
      {R"({"type":"array","items":{"type":"integer","minimum":1,"maximum":12}})", "[1,12,7]", true},
      {R"({"type":"array","items":{"type":"integer","minimum":1,"maximum":12}})", "[13]", false},
  });
}

TEST(JsonGrammar, StringLengthsPatternsFormats) {
  run_cases({
      {R"({"type":"string","minLength":2,"maxLength":4})", "\"ab\"", true},
      {R"({"type":"string","minLength":2,"maxLength":4})", "\"a\"", false},
      {R"({"type":"string","minLength":2,"maxLength":4})", "\"abcde\"", false},
      {R"({"type":"string","minLength":2,"maxLength":4})", "\"\xc3\xa9\xc3\xa9\xc3\xa9\"", true},  // 3 code points
      {R"({"type":"string","minLength":2,"maxLength":4})", "\"\\n\\t\"", true},                  // 2 characters
      {R"({"type":"string","pattern":"^[a-z]+-\\d{2,3}$"})", "\"ab-12\"", true},
      {R"({"type":"string","pattern":"^[a-z]+-\\d{2,3}$"})", "\"ab-1\"", false},
      {R"({"type":"string","pattern":"^[a-z]+-\\d{2,3}$"})", "\"Ab-12\"", false},
      {R"({"type":"string","pattern":"abc"})", "\"xxabcyy\"", true},  // unanchored: a match anywhere
      {R"({"type":"string","pattern":"abc"})", "\"ab\"", false},
      {R"({"type":"string","pattern":"^(cat|dog)s?$"})", "\"dogs\"", true},
      {R"({"type":"string","pattern":"^(cat|dog)s?$"})", "\"cow\"", false},
      {R"({"type":"string","pattern":"^a\"b\\\\$"})", R"("a\"b\\")", true},  // escapes feed decoded bytes
      {R"({"type":"string","pattern":"^a\\nb$"})", R"("a\nb")", true},
      {R"({"type":"string","pattern":"^\\w+$","maxLength":3})", "\"abcd\"", false},
      {R"({"type":"string","format":"date"})", "\"2024-07-26\"", true},
      {R"({"type":"string","format":"date"})", "\"2024-02-30\"", false},
      {R"({"type":"string","format":"time"})", "\"12:30:00Z\"", true},
      {R"({"type":"string","format":"date-time"})", "\"2024-07-26T12:30:00.5+02:00\"", true},
      {R"({"type":"string","format":"uuid"})", "\"123e4567-e89b-12d3-a456-426614174000\"", true},
      {R"({"type":"string","format":"email"})", "\"a.b@example.com\"", true},
      {R"({"type":"string","format":"email"})", "\"a@b\"", false},
  });
}

TEST(JsonGrammar, ArraysAndAdditionalProperties) {
  const char* tuple = R"({"type":"array","prefixItems":[{"type":"integer"},{"type":"string"}],"items":false})";
  const char* addl = R"({"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":{"type":"string"}})";
  run_cases({
      {R"({"type":"array","items":{"type":"integer"},"minItems":1})", "[]", false},
      {R"({"type":"array","items":{"type":"integer"},"minItems":1})", "[1, 2,3]", true},
      {R"({"type":"array","minItems":2,"maxItems":2})", "[1,\"x\"]", true},
      {R"({"type":"array","minItems":2,"maxItems":2})", "[1]", false},
      {tuple, R"([1,"a"])", true},
      {tuple, R"([1])", true},
      {tuple, R"([1,"a",2])", false},
      {tuple, R"(["a"])", false},
      {R"({"type":"array","prefixItems":[{"const":"x"}],"items":{"type":"integer"}})", R"(["x",1,2])", true},
      {R"({"type":"array","items":[{"type":"integer"}],"additionalItems":false})", "[1,2]", false},  // draft 4 tuple
      {addl, R"({"a":1,"b":"x"})", true},
      {addl, R"({"b":"x","c":"y","a":2})", true},
      {addl, R"({"b":1})", false},
      {addl, R"({"a":"x"})", false},  // a listed key never takes the additional schema
      {R"({"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":true})", R"({"a":1,"zz":[1]})", true},
      {R"({"type":"object","properties":{},"required":["k"],"additionalProperties":{"type":"integer"}})", R"({"k":1})", true},
  });
}

// The prefix is accepted but its last byte is refused (no way to complete a valid value).
TEST(JsonGrammar, RefusesBytesThatCannotComplete) {
  struct P {
    const char* schema;
    const char* ok_prefix;
    const char* bad_next;
  };
  const P cases[] = {
      {R"({"type":"integer","minimum":10,"maximum":200})", "", "0"},
      {R"({"type":"integer","minimum":10,"maximum":200})", "", "-"},
      {R"({"type":"integer","minimum":10,"maximum":200})", "20", "1"},
      {R"({"type":"integer","minimum":10,"maximum":200})", "2", "."},
      {R"({"type":"number","minimum":0.5,"maximum":2.25})", "2.2", "6"},
      {R"({"type":"number","minimum":0.5,"maximum":2.25})", "0.", "4"},
      {R"({"type":"number","minimum":0.5,"maximum":2.25})", "1", "e"},
      {R"({"type":"array","items":{"type":"integer","minimum":5,"maximum":7}})", "[", "8"},
      {R"({"type":"string","pattern":"^[a-z]+-\\d{2,3}$"})", "\"ab", "1"},
      {R"({"type":"string","pattern":"^[a-z]+-\\d{2,3}$"})", "\"ab-1", "\""},
      {R"({"type":"string","pattern":"^[a-z]+-\\d{2,3}$"})", "\"ab-123", "4"},
      {R"({"type":"string","pattern":"^[a-z]+$"})", "\"ab", "\\"},  // no escape yields a-z
      {R"({"type":"string","pattern":"^x{5}$","maxLength":4})", "", "\""},  // unsatisfiable would be a compile error; see below
      {R"({"type":"string","minLength":3})", "\"ab", "\""},
      {R"({"type":"string","maxLength":2})", "\"ab", "c"},
      {R"({"type":"string","format":"date"})", "\"2024-02-2", "9"},
      {R"({"type":"string","format":"uuid"})", "\"123e4567-", "g"},
      {R"({"enum":["red","green"]})", "\"gr", "a"},
      {R"({"const":42})", "4", "3"},
      {kPerson, "{\"name\":\"A\"", "}x"},
      {R"({"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":{"type":"string"}})", "{\"a\":1,\"", "a\""},
  };
  for (const P& c : cases) {
    std::string path;
    auto g = Grammar::from_schema(Json::parse(c.schema), {}, &path);
    if (!g.has_value()) {
      EXPECT_NE(std::string(c.schema).find("x{5}"), std::string::npos) << c.schema << ": " << g.error().to_string();
      continue;
    }
    Matcher m(*g);
    ASSERT_TRUE(m.feed(c.ok_prefix)) << c.schema << " prefix " << c.ok_prefix;
    EXPECT_FALSE(m.feed(c.bad_next)) << c.schema << " after " << c.ok_prefix << " took " << c.bad_next;
  }
}

TEST(JsonGrammar, ErrorsNameKeywordAndPath) {
  struct E {
    const char* schema;
    const char* path;
    const char* words;
    ErrorCode code;
  };
  const E cases[] = {
      {R"({"type":"object","properties":{"age":{"type":"integer","multipleOf":3}}})", ".properties.age.multipleOf",
       "\"multipleOf\"", ErrorCode::kUnsupported},
      {R"({"type":"array","uniqueItems":true})", ".uniqueItems", "\"uniqueItems\"", ErrorCode::kUnsupported},
      {R"({"not":{"type":"string"}})", ".not", "\"not\"", ErrorCode::kUnsupported},
      {R"({"type":"string","format":"uri"})", ".format", "format \"uri\"", ErrorCode::kUnsupported},
      {R"({"type":"string","pattern":"(a)\\1"})", ".pattern", "backreference", ErrorCode::kUnsupported},
      {R"({"$ref":"#/$defs/missing"})", ".$ref", "names nothing", ErrorCode::kInvalidArgument},
      {R"({"$ref":"other.json#/a"})", ".$ref", "remote", ErrorCode::kUnsupported},
      {R"({"type":"strange"})", ".type", "unknown type", ErrorCode::kInvalidArgument},
      {R"({"type":"integer","minimum":5,"maximum":1})", "", "no integer", ErrorCode::kInvalidArgument},
      {R"({"type":"string","minLength":5,"maxLength":2})", "", "minLength > maxLength", ErrorCode::kInvalidArgument},
      {R"({"type":"object","properties":{"a":{"enum":[1]}},"required":["a"],"allOf":[{"properties":{"a":{"enum":[2]}}}]})",
       ".properties.a", "no enum value", ErrorCode::kInvalidArgument},
      {R"({"$defs":{"a":{"anyOf":[{"$ref":"#/$defs/a"},{"type":"null"}]}},"$ref":"#/$defs/a"})", "", "cycle",
       ErrorCode::kInvalidArgument},
      {R"({"$defs":{"n":{"type":"object","properties":{"c":{"$ref":"#/$defs/n"}},"required":["c"]}},"$ref":"#/$defs/n"})", "",
       "allows no", ErrorCode::kInvalidArgument},
  };
  for (const E& c : cases) {
    std::string path = "unset";
    auto g = Grammar::from_schema(Json::parse(c.schema), {}, &path);
    ASSERT_FALSE(g.has_value()) << c.schema;
    EXPECT_EQ(g.error().code(), c.code) << c.schema << ": " << g.error().to_string();
    EXPECT_NE(g.error().message().find(c.words), std::string::npos) << g.error().message();
    EXPECT_EQ(path.substr(0, std::string(c.path).size()), c.path) << c.schema << ": " << g.error().message();
  }
}

TEST(JsonGrammar, LenientModeIgnoresUnsupportedKeywords) {
  Options o;
  o.strict = false;
  auto g = Grammar::from_schema(Json::parse(R"({"type":"integer","multipleOf":3,"foo":1})"), o);
  ASSERT_TRUE(g.has_value());
  EXPECT_TRUE(matches(*g, "4"));  // multipleOf ignored: the output may break it
  g = Grammar::from_schema(Json::parse(R"({"type":"string","format":"uri","maxLength":3})"), o);
  ASSERT_TRUE(g.has_value());
  EXPECT_FALSE(matches(*g, "\"abcd\""));  // supported keywords still hold
  // Strict: the same unknown keyword is an error.
  EXPECT_FALSE(Grammar::from_schema(Json::parse(R"({"type":"integer","foo":1})")).has_value());
  // Annotations are never errors.
  EXPECT_TRUE(Grammar::from_schema(Json::parse(R"({"$schema":"x","title":"t","description":"d","default":1,"examples":[1],
      "$defs":{},"type":"integer","x-extension":true})")).has_value());
}

TEST(JsonGrammar, AnyJsonObject) {
  auto g = Grammar::any_json(true);
  EXPECT_TRUE(matches(g, R"({"a": [1, 2], "b": {"c": "d"}})"));
  EXPECT_FALSE(matches(g, "[1]"));
  EXPECT_FALSE(matches(g, "\"x\""));
}

TEST(JsonGrammar, ToolCalls) {
  std::vector<Grammar::Tool> tools = {
      {"get_weather", Json::parse(R"({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]})")},
      {"get_time", Json::parse(R"({"type":"object","properties":{"tz":{"enum":["UTC","CET"]}},"required":["tz"]})")}};
  auto one = Grammar::tool_call(tools);
  ASSERT_TRUE(one.has_value());
  EXPECT_TRUE(matches(*one, R"({"name": "get_weather", "parameters": {"city": "Paris"}})"));
  EXPECT_TRUE(matches(*one, R"({"name": "get_time", "parameters": {"tz":"UTC"}})"));
  EXPECT_FALSE(matches(*one, R"({"name": "get_time", "parameters": {"city": "Paris"}})"));
  EXPECT_FALSE(matches(*one, R"({"name": "other", "parameters": {}})"));
  EXPECT_FALSE(matches(*one, R"({"name": "get_time", "parameters": {"tz":"UTC"}}; {"name": "get_time", "parameters": {"tz":"CET"}})"));
  auto three = Grammar::tool_call(tools, {}, 3);
  ASSERT_TRUE(three.has_value());
  const std::string c1 = R"({"name": "get_time", "parameters": {"tz":"UTC"}})";
  const std::string c2 = R"({"name": "get_weather", "parameters": {"city":"Oslo"}})";
  EXPECT_TRUE(matches(*three, c1));
  EXPECT_TRUE(matches(*three, c1 + "; " + c2));
  EXPECT_TRUE(matches(*three, c1 + "; " + c2 + "; " + c1));
  EXPECT_FALSE(matches(*three, c1 + "; " + c2 + "; " + c1 + "; " + c2));  // at most 3
  EXPECT_FALSE(matches(*three, c1 + "; "));
  Matcher m(*three);
  ASSERT_TRUE(m.feed(c1));
  EXPECT_TRUE(m.accepts_end());
  EXPECT_TRUE(m.can_continue());  // another call may follow
  ASSERT_TRUE(m.feed("; " + c2 + "; " + c1));
  EXPECT_TRUE(m.accepts_end());
  EXPECT_FALSE(m.can_continue());
  // A tool whose parameters cannot be compiled is named.
  std::string tool, path;
  tools.push_back({"bad", Json::parse(R"({"type":"object","properties":{"x":{"type":"integer","multipleOf":2}}})")});
  auto bad = Grammar::tool_call(tools, {}, 1, &tool, &path);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(tool, "bad");
  EXPECT_EQ(path, ".properties.x.multipleOf");
  tools.back().strict = false;  // function.strict false: ignored
  EXPECT_TRUE(Grammar::tool_call(tools, {}, 1).has_value());
}

// ---------------------------------------------------------------------------------
// Property test: random byte walks.

// Bytes the matcher accepts next.
std::vector<uint8_t> allowed_bytes(const Matcher& m) {
  std::vector<uint8_t> out;
  for (int c = 0; c < 256; ++c) {
    Matcher t = m;
    if (t.feed(static_cast<uint8_t>(c))) out.push_back(static_cast<uint8_t>(c));
  }
  return out;
}

// A random walk: uniform over allowed bytes (ASCII preferred 15:1, so std::regex-style
// oracles stay meaningful) for `budget` steps, then closing bytes first. Fails the test
// on a dead end (nothing allowed, not finished).
std::string walk(const std::shared_ptr<const Grammar>& g, std::mt19937& rng, int budget, bool* finished) {
  Matcher m(g);
  std::string out;
  *finished = false;
  for (int step = 0; step < 20000; ++step) {
    const std::vector<uint8_t> allowed = allowed_bytes(m);
    const bool can_end = m.accepts_end();
    if (allowed.empty()) {
      EXPECT_TRUE(can_end) << "dead end after " << out;
      *finished = can_end;
      return out;
    }
    if (can_end && (step >= budget || rng() % 8 == 0)) {
      *finished = true;
      return out;
    }
    uint8_t c = 0;
    bool chosen = false;
    if (step >= budget) {
      for (uint8_t want : {'"', ']', '}'})
        if (!chosen && std::find(allowed.begin(), allowed.end(), want) != allowed.end()) {
          c = want;
          chosen = true;
        }
    }
    if (!chosen) {
      std::vector<uint8_t> ascii;
      for (uint8_t b : allowed)
        if (b < 0x80) ascii.push_back(b);
      const auto& pool = (!ascii.empty() && rng() % 16 != 0) ? ascii : allowed;
      c = pool[rng() % pool.size()];
    }
    EXPECT_TRUE(m.feed(c));
    out += static_cast<char>(c);
  }
  return out;
}

const char* kWalkSchemas[] = {
    // anyOf of objects, $ref, integer ranges, pattern, formats, prefixItems, additionalProperties.
    R"({"$defs":{"pt":{"type":"object","properties":{"x":{"type":"integer","minimum":-5,"maximum":5},
         "y":{"type":"number","minimum":0,"exclusiveMaximum":1}},"required":["x","y"],"additionalProperties":false}},
       "type":"object","properties":{
         "id":{"type":"string","pattern":"^[A-Z]{2}-\\d{3}$"},
         "when":{"type":"string","format":"date"},
         "who":{"type":"string","format":"email"},
         "shape":{"anyOf":[{"$ref":"#/$defs/pt"},{"type":"array","items":{"$ref":"#/$defs/pt"},"minItems":1,"maxItems":3},
                           {"type":"null"}]},
         "n":{"type":"integer","exclusiveMinimum":100,"maximum":999},
         "tags":{"type":"array","prefixItems":[{"const":"t"},{"enum":[1,2,"x"]}],"items":{"type":"boolean"},"maxItems":4},
         "meta":{"type":"object","properties":{"k":{"type":"string","minLength":1,"maxLength":3}},
                 "additionalProperties":{"type":"integer","minimum":0,"maximum":9}}},
       "required":["id","shape","n"],"additionalProperties":false})",
    // Recursion through $ref, bounded width.
    R"({"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer","minimum":0,"maximum":99},
         "kids":{"type":"array","items":{"$ref":"#/$defs/node"},"maxItems":2}},"required":["v","kids"],
         "additionalProperties":false}},"$ref":"#/$defs/node"})",
    // oneOf with disjoint branches, allOf, type arrays, nullable.
    R"({"type":"array","items":{"oneOf":[{"type":"string","pattern":"^(cat|dog)s?$"},
         {"type":"integer","minimum":1000},{"type":["boolean","null"]},
         {"allOf":[{"type":"object","properties":{"a":{"type":"string","maxLength":4}},"required":["a"]},
                   {"properties":{"b":{"type":"number","nullable":true}},"required":["b"]}],"additionalProperties":false}]},
       "maxItems":5})",
    // Free JSON under a schema.
    R"({"type":"object","properties":{"any":{},"obj":{"type":"object"}},"required":["any","obj"]})",
};

TEST(JsonGrammar, RandomWalksEndValid) {
  Options o;
  o.max_string_chars = 12;
  o.max_any_items = 3;
  o.max_depth = 3;
  o.max_nesting = 8;
  int finished = 0, total = 0;
  for (const char* st : kWalkSchemas) {
    const Json sj = Json::parse(st);
    auto g = schema(st, o);
    for (uint32_t seed = 0; seed < static_cast<uint32_t>(test_repetitions(60)); ++seed) {
      std::mt19937 rng(seed * 7919u + 13u);
      bool done = false;
      const std::string out = walk(g, rng, 150, &done);
      ++total;
      if (!done) continue;
      ++finished;
      // HERD_SHOW_WALKS=1: a look at what the walks write.
      if (getenv("HERD_SHOW_WALKS") && seed < 3) std::printf("%s\n", out.c_str());
      Json v = Json::parse(out, nullptr, false);
      ASSERT_FALSE(v.is_discarded()) << out;
      std::string why;
      EXPECT_TRUE(validate(v, sj, sj, &why)) << out << "\n" << why;
    }
  }
  EXPECT_EQ(finished, total);
}

// Hostile schemas from requests (a request may carry any schema): each is either
// compiled into a grammar whose per-byte work is bounded, or refused with a
// kUnsupported error naming the limit, never left to run for minutes.

// 40 levels of anyOf [$ref below, $ref below] over an integer: 2^40 paths to the one
// leaf. The automaton starts the leaf once (Node::leaves), so matching is immediate;
// before, Matcher::can_start walked every path.
TEST(JsonGrammarLimits, SharedAnyOfChainIsLinear) {
  Json defs = {{"l0", {{"type", "integer"}}}};
  for (int i = 1; i <= 40; ++i) {
    const std::string below = "#/$defs/l" + std::to_string(i - 1);
    defs["l" + std::to_string(i)] = {{"anyOf", Json::array({{{"$ref", below}}, {{"$ref", below}}})}};
  }
  const Json sch = {{"$defs", defs}, {"$ref", "#/$defs/l40"}};
  auto g = Grammar::from_schema(sch);
  ASSERT_TRUE(g.has_value()) << g.error().to_string();
  EXPECT_TRUE(matches(*g, "12345"));
  EXPECT_FALSE(matches(*g, "\"x\""));
  Matcher m(*g);
  ASSERT_TRUE(m.feed("7"));
  EXPECT_EQ(m.n_stacks(), 1u);
  // The leaves are what a byte is checked against: the integer node, once.
  int top = 0;
  for (const Node& n : (*g)->nodes())
    if (n.kind == Node::kAnyOf) top = std::max(top, static_cast<int>(n.leaves.size()));
  EXPECT_EQ(top, 1);
}

// An enum is checked value by value against its siblings, not against itself: 10^5
// values used to cost a quadratic scan. Over Options::max_enum it is refused.
TEST(JsonGrammarLimits, LargeEnumsAreBounded) {
  Json values = Json::array();
  for (int i = 0; i < 100000; ++i) values.push_back("v" + std::to_string(i));
  std::string path;
  auto big = Grammar::from_schema(Json{{"enum", values}}, {}, &path);
  ASSERT_FALSE(big.has_value());
  EXPECT_EQ(big.error().code(), ErrorCode::kUnsupported);
  EXPECT_EQ(path, ".enum");
  EXPECT_NE(big.error().message().find("100000"), std::string::npos) << big.error().message();
  values.erase(values.begin() + 1000, values.end());
  auto ok = Grammar::from_schema(Json{{"type", "string"}, {"enum", values}});
  ASSERT_TRUE(ok.has_value()) << ok.error().to_string();
  EXPECT_TRUE(matches(*ok, "\"v999\""));
  EXPECT_FALSE(matches(*ok, "\"v1000\""));
  // const with an enum beside it: the const must still be one of the enum.
  EXPECT_FALSE(Grammar::from_schema(Json{{"const", "zz"}, {"enum", {"a", "b"}}}).has_value());
}

// allOf / $ref-with-siblings are compiled again where used: a chain where each level
// uses the one below twice, with a sibling keyword, doubles the work per level.
// Options::max_compile_steps stops it with an error.
TEST(JsonGrammarLimits, ExponentialExpansionIsRefused) {
  Json defs = {{"l0", {{"type", "integer"}}}};
  for (int i = 1; i <= 30; ++i) {
    const std::string below = "#/$defs/l" + std::to_string(i - 1);
    defs["l" + std::to_string(i)] = {
        {"type", "object"},
        {"properties", {{"a", {{"$ref", below}, {"description", "x"}, {"minimum", 0}}},
                        {"b", {{"$ref", below}, {"minimum", 0}}}}}};
  }
  std::string path;
  auto g = Grammar::from_schema(Json{{"$defs", defs}, {"$ref", "#/$defs/l30"}}, {}, &path);
  ASSERT_FALSE(g.has_value());
  EXPECT_EQ(g.error().code(), ErrorCode::kUnsupported);
  EXPECT_NE(g.error().message().find("over"), std::string::npos) << g.error().message();
}

// One anyOf reaching more distinct alternatives than Options::max_alternatives.
TEST(JsonGrammarLimits, TooManyAlternativesAreRefused) {
  Json alts = Json::array();
  for (int i = 0; i < 1100; ++i) alts.push_back({{"const", i}});
  auto g = Grammar::from_schema(Json{{"anyOf", alts}});
  ASSERT_FALSE(g.has_value());
  EXPECT_NE(g.error().message().find("1024"), std::string::npos) << g.error().message();
  alts.erase(alts.begin() + 1000, alts.end());
  auto ok = Grammar::from_schema(Json{{"anyOf", alts}});
  ASSERT_TRUE(ok.has_value()) << ok.error().to_string();
  EXPECT_TRUE(matches(*ok, "999"));
}

}  // namespace
}  // namespace herd::grammar
