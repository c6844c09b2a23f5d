// ToolCallStream: for every way of cutting the output into pieces, the streamed
// content and deltas agree with the whole-text parse (same calls, arguments equal as
// JSON) and with the final calls (each index's fragments concatenate to its arguments);
// JSON calls are announced before the output ends and their arguments arrive in
// several fragments; non-calls, max_calls, truncation and trailing text.
#include "chat/tool_call_stream.h"

#include <map>
#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace herd::chat {
namespace {

using Json = nlohmann::json;

struct Streamed {
  std::string content;
  std::map<int, std::string> names, args;  // accumulated per index
  std::vector<int> first_order;
  std::vector<ToolCall> calls;
  int fragments = 0;
  size_t first_announce_at = std::string::npos;  // bytes pushed when index 0 was announced
  bool ok = true;
};

Streamed stream(const std::string& text, const std::vector<size_t>& cuts, int max_calls = 1 << 20) {
  ToolCallStream s(max_calls);
  Streamed r;
  size_t pushed = 0;
  auto take = [&](const StreamStep& st) {
    r.content += st.content;
    for (const ToolCallDelta& d : st.deltas) {
      if (d.first) {
        if (r.names.count(d.index)) r.ok = false;  // announced twice
        r.names[d.index] = d.name;
        r.first_order.push_back(d.index);
        if (d.index == 0) r.first_announce_at = pushed;
      } else if (!r.names.count(d.index)) {
        r.ok = false;  // a fragment before its first delta
      }
      if (!d.arguments.empty()) ++r.fragments;
      r.args[d.index] += d.arguments;
    }
  };
  size_t prev = 0;
  for (size_t c : cuts) {
    pushed = c;
    take(s.push(std::string_view(text).substr(prev, c - prev)));
    prev = c;
  }
  pushed = text.size();
  take(s.push(std::string_view(text).substr(prev)));
  ToolCallStream::Final f = s.finish();
  take(f.rest);
  r.calls = f.calls;
  return r;
}

std::vector<size_t> every_byte(const std::string& t) {
  std::vector<size_t> c;
  for (size_t i = 1; i < t.size(); ++i) c.push_back(i);
  return c;
}

void expect_consistent(const std::string& text, const Streamed& r, const std::string& how) {
  SCOPED_TRACE(how + ": " + text);
  EXPECT_TRUE(r.ok);
  const ParsedOutput want = parse_assistant_output(text);
  ASSERT_EQ(r.calls.size(), want.tool_calls.size());
  EXPECT_EQ(r.content, want.content);
  for (size_t i = 0; i < r.calls.size(); ++i) {
    EXPECT_EQ(r.calls[i].name, want.tool_calls[i].name);
    EXPECT_EQ(Json::parse(r.calls[i].arguments), Json::parse(want.tool_calls[i].arguments));
    EXPECT_EQ(r.names.at(static_cast<int>(i)), r.calls[i].name);
    EXPECT_EQ(r.args.at(static_cast<int>(i)), r.calls[i].arguments);
  }
  for (size_t i = 0; i < r.first_order.size(); ++i) EXPECT_EQ(r.first_order[i], static_cast<int>(i));
}

const char* kCallTexts[] = {
    R"({"name": "get_weather", "parameters": {"city": "Paris", "unit": "c"}})",
    R"({"name": "f", "parameters": {"a": [1, {"b": "x\"}"}], "c": null}}; {"name": "g", "parameters": {}})",
    R"(<|python_tag|>{"type": "function", "name": "f", "parameters": {"q": "a\\b"}})",
    R"([{"name": "f", "parameters": {"x": 1}}, {"name": "g", "arguments": {"y": "\u00e9"}}])",
    R"({"type": "function", "function": {"name": "f", "arguments": {"b": "x"}}})",
    R"({"name": "f", "arguments": "{\"a\": 1}"})",
    R"({"parameters": {"late": true}, "name": "f"})",
    R"({"name": "brave_search", "parameters": {"q": "x"}})",
    R"({"name": "f"})",
    "Let me check.<|python_tag|>{\"name\": \"f\", \"parameters\": {\"k\": 2}}",
    "{\"name\": \"f\",\n \"parameters\": {\n  \"a\": 1\n }\n}\n{\"name\": \"g\", \"parameters\": {}}",
};

TEST(ToolCallStream, AgreesWithWholeParseForEveryCut) {
  std::mt19937 rng(11);
  for (const char* t : kCallTexts) {
    const std::string text = t;
    expect_consistent(text, stream(text, {}), "one piece");
    expect_consistent(text, stream(text, every_byte(text)), "every byte");
    for (int k = 0; k < 30; ++k) {
      std::vector<size_t> cuts;
      for (size_t i = 1; i < text.size(); ++i)
        if (rng() % 4 == 0) cuts.push_back(i);
      expect_consistent(text, stream(text, cuts), "random cut " + std::to_string(k));
    }
  }
}

TEST(ToolCallStream, AnnouncesEarlyAndStreamsArguments) {
  const std::string text = R"({"name": "get_weather", "parameters": {"city": "Paris", "unit": "c"}})";
  const Streamed r = stream(text, every_byte(text));
  ASSERT_EQ(r.calls.size(), 1u);
  // Announced right after the name string, long before the end.
  EXPECT_EQ(r.first_announce_at, text.find("get_weather") + std::string("get_weather\"").size());
  EXPECT_GT(r.fragments, 10);  // the arguments came byte by byte
  EXPECT_EQ(r.calls[0].arguments, R"({"city":"Paris","unit":"c"})");
}

TEST(ToolCallStream, NonCallsStayContent) {
  for (const char* t : {"Hello there", R"({"answer": 42})", "[1, 2, 3]", "{not json", R"({"name": 3})",
                        "brave_search.call(query=\"x\")", "<function=f>{\"a\": 1}</function>"}) {
    const std::string text = t;
    expect_consistent(text, stream(text, every_byte(text)), "every byte");
    expect_consistent(text, stream(text, {}), "one piece");
  }
}

TEST(ToolCallStream, MaxCallsDropsTheRest) {
  const std::string text = R"({"name": "f", "parameters": {}}; {"name": "g", "parameters": {}})";
  const Streamed r = stream(text, every_byte(text), 1);
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].name, "f");
  EXPECT_EQ(r.names.size(), 1u);
  EXPECT_EQ(r.content, "");
}

TEST(ToolCallStream, CutShortOrFollowedByText) {
  // Generation stopped mid-arguments: the call stays, with what was generated.
  const std::string cut = R"({"name": "f", "parameters": {"a": 1, "b": "x)";
  Streamed r = stream(cut, every_byte(cut));
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].arguments, R"({"a":1,"b":"x)");
  EXPECT_EQ(r.args[0], r.calls[0].arguments);
  EXPECT_EQ(r.content, "");
  // Text after a complete call is content; the call is kept.
  const std::string after = R"({"name": "f", "parameters": {}} and then some words)";
  r = stream(after, every_byte(after));
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.content, "and then some words");
  // A second object that is no call: text from its brace on.
  const std::string second = R"({"name": "f", "parameters": {}}; {"x": 1})";
  r = stream(second, every_byte(second));
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.content, R"({"x": 1})");
}

TEST(ToolCallStream, ReusableAfterFinish) {
  ToolCallStream s;
  s.push(R"({"name": "f", "parameters": {}})");
  EXPECT_EQ(s.finish().calls.size(), 1u);
  StreamStep st = s.push("plain text");
  EXPECT_EQ(st.content, "plain text");
  EXPECT_TRUE(s.finish().calls.empty());
}

}  // namespace
}  // namespace herd::chat
