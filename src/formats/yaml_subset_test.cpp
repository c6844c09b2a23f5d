// The YAML subset (yaml_subset.h): recipes in block style read as the JSON of
// the same content (torchtune-style files: nested mappings, sequences at the
// key's indentation, "- key: value" items, comments, quoting, core-schema
// types), and every refused construct names its line.
#include "formats/yaml_subset.h"

#include <gtest/gtest.h>

#include <string>

namespace herd::formats {
namespace {

using Json = nlohmann::ordered_json;

Json ok(const std::string& text) {
  Result<Json> j = parse_yaml_subset(text, "t.yaml");
  EXPECT_TRUE(j.has_value()) << (j.has_value() ? "" : j.error().to_string()) << "\n" << text;
  return j.has_value() ? *j : Json();
}

std::string refused(const std::string& text) {
  Result<Json> j = parse_yaml_subset(text, "t.yaml");
  EXPECT_FALSE(j.has_value()) << text << " -> " << (j.has_value() ? j->dump() : "");
  return j.has_value() ? "" : j.error().to_string();
}

TEST(YamlSubset, ARecipeReadsAsItsJson) {
  const std::string yaml = R"(---
# herd posttrain recipe
model: Llama-3.2-1B-Instruct-Q8_0.gguf   # the policy
prompts: "prompts.jsonl"
rounds: 3
synth:
  judge: json-schema:order.json
  samples: 8
  temp: 0.8
  max_tokens: 256
sft:
  epochs: 2
  lr: 2e-4
  lora_rank: 16
  train_on_inputs: true
dpo: {}
)";
  // (flow collections are refused; the test checks the rest first)
  EXPECT_NE(refused(yaml).find("t.yaml:16: flow collections"), std::string::npos);
  const std::string block = yaml.substr(0, yaml.find("dpo: {}")) + "dpo:\n  beta: 0.1\n  epochs: 1\n  ref: ~\n";
  const Json want = Json::parse(R"({"model": "Llama-3.2-1B-Instruct-Q8_0.gguf", "prompts": "prompts.jsonl",
    "rounds": 3, "synth": {"judge": "json-schema:order.json", "samples": 8, "temp": 0.8, "max_tokens": 256},
    "sft": {"epochs": 2, "lr": 0.0002, "lora_rank": 16, "train_on_inputs": true},
    "dpo": {"beta": 0.1, "epochs": 1, "ref": null}})");
  EXPECT_EQ(ok(block), want);
}

TEST(YamlSubset, SequencesScalarsAndQuoting) {
  EXPECT_EQ(ok("a:\n- 1\n- two\n- \"3\"\nb: x\n"), Json::parse(R"({"a": [1, "two", "3"], "b": "x"})"));
  EXPECT_EQ(ok("a:\n  - 1\n  -\n    c: d\n  - e: f\n    g: h\n"),
            Json::parse(R"({"a": [1, {"c": "d"}, {"e": "f", "g": "h"}]})"));
  EXPECT_EQ(ok("- a\n- b: 1\n"), Json::parse(R"(["a", {"b": 1}])"));
  EXPECT_EQ(ok("s: 'it''s # not a comment'\nt: \"tab\\there \\u00e9\"\nu: a#b\n"),
            Json::parse(R"({"s": "it's # not a comment", "t": "tab\there \u00e9", "u": "a#b"})"));
  EXPECT_EQ(ok("\"quoted key\": 1\nn: -12\nf: .5\ng: 1.\nh: +3e2\ni: 0x10\nj: 1e\nk: FALSE\nl:\n"),
            Json::parse(R"({"quoted key": 1, "n": -12, "f": 0.5, "g": 1.0, "h": 300.0, "i": "0x10", "j": "1e",
                            "k": false, "l": null})"));
  EXPECT_EQ(ok("url: http://x.org/a:b\n"), Json::parse(R"({"url": "http://x.org/a:b"})"));
  EXPECT_EQ(ok(""), Json());
  EXPECT_EQ(ok("just text\n"), Json("just text"));
  EXPECT_EQ(ok("a: 1\r\nb: 2\r\n...\n"), Json::parse(R"({"a": 1, "b": 2})"));
}

TEST(YamlSubset, RefusalsNameTheLine) {
  EXPECT_NE(refused("a: 1\nb: &x 2\n").find("t.yaml:2: anchors"), std::string::npos);
  EXPECT_NE(refused("a: *x\n").find("aliases"), std::string::npos);
  EXPECT_NE(refused("a: !!str 1\n").find("tags"), std::string::npos);
  EXPECT_NE(refused("a: |\n  text\n").find("block scalars"), std::string::npos);
  EXPECT_NE(refused("a: [1, 2]\n").find("flow collections"), std::string::npos);
  EXPECT_NE(refused("a: 1\na: 2\n").find("t.yaml:2: the key \"a\" appears twice"), std::string::npos);
  EXPECT_NE(refused("a:\n\tb: 1\n").find("tab"), std::string::npos);
  EXPECT_NE(refused("a: 1\n  b: 2\n").find("t.yaml:2: unexpected indentation"), std::string::npos);
  EXPECT_NE(refused("a: 1\n---\nb: 2\n").find("second document"), std::string::npos);
  EXPECT_NE(refused("a: \"open\n").find("does not end"), std::string::npos);
  EXPECT_NE(refused("a: .inf\n").find("NaN"), std::string::npos);
  EXPECT_NE(refused("a: 99999999999999999999\n").find("out of range"), std::string::npos);
  EXPECT_NE(refused("a: 1e999\n").find("out of range"), std::string::npos);
  EXPECT_NE(refused("a:\n  - 1\n  b: 2\n").find("expected a \"- \" item"), std::string::npos);
  EXPECT_NE(refused("a: 1\n- 2\n").find("\"- \" item where the mapping"), std::string::npos);
  EXPECT_NE(refused("a: 1\nplain words\n").find("expected \"key: value\""), std::string::npos);
  EXPECT_NE(refused("? a\n: 1\n").find("complex keys"), std::string::npos);
  EXPECT_NE(refused("a: \"\\q\"\n").find("unknown escape"), std::string::npos);
  EXPECT_NE(refused("a: 1\nb: \xff\xfe\n").find("t.yaml:2: not UTF-8"), std::string::npos);
  // Nesting is bounded (an explicit stack, no recursion).
  std::string deep;
  for (int i = 0; i < kMaxYamlDepth + 2; ++i) deep += std::string(static_cast<size_t>(2 * i), ' ') + "k:\n";
  deep += std::string(static_cast<size_t>(2 * (kMaxYamlDepth + 2)), ' ') + "v: 1\n";
  EXPECT_NE(refused(deep).find("nested deeper than"), std::string::npos);
}

}  // namespace
}  // namespace herd::formats
