// Tool-call parsing: each per-form parser's accepted and rejected shapes, a table of
// malformed outputs and what each yields, render -> parse round trips for every call
// form, and the streaming parser's contract (same result as the whole-text parse, for
// every way of cutting the text into pieces).
#include "chat/tool_calls.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "chat/llama3_format.h"

namespace herd::chat {
namespace {

nlohmann::json args_of(const ToolCall& c) { return nlohmann::json::parse(c.arguments); }

TEST(BuiltinCalls, Accepted) {
  auto one = parse_builtin_calls(R"(brave_search.call(query="Menlo Park weather"))");
  ASSERT_TRUE(one.has_value()) << one.error().to_string();
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].name, "brave_search");
  EXPECT_TRUE((*one)[0].builtin);
  EXPECT_EQ((*one)[0].arguments, R"({"query":"Menlo Park weather"})");
  auto two = parse_builtin_calls(" wolfram_alpha.call(query='2+2'); brave_search.call(query=\"a \\\"b\\\"\", n=3)\n");
  ASSERT_TRUE(two.has_value()) << two.error().to_string();
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ((*two)[1].id, "call_1");
  EXPECT_EQ(args_of((*two)[1]), nlohmann::json::parse(R"({"query": "a \"b\"", "n": 3})"));
  auto custom = parse_builtin_calls("my_tool.call(x=True, y=None)");
  ASSERT_TRUE(custom.has_value());
  EXPECT_FALSE((*custom)[0].builtin);
}

TEST(BuiltinCalls, Rejected) {
  for (const char* s : {"", "brave_search", "brave_search.call(", "brave_search.call(query=\"x)",
                        "brave_search.call(query=x y)", "brave_search.call(\"x\")", "print(1)",
                        "brave_search.call(query=\"x\") and more"}) {
    EXPECT_FALSE(parse_builtin_calls(s).has_value()) << s;
  }
}

TEST(JsonCalls, Accepted) {
  struct Case {
    const char* text;
    size_t n;
    const char* name0;
    const char* args0;
  } cases[] = {
      {R"({"name": "f", "parameters": {"a": 1}})", 1, "f", R"({"a":1})"},
      {R"({"name": "f", "arguments": {"a": 1}})", 1, "f", R"({"a":1})"},
      {R"({"name": "f", "arguments": "{\"a\": 1}"})", 1, "f", R"({"a":1})"},
      {R"({"type": "function", "name": "f", "parameters": {}})", 1, "f", "{}"},
      {R"({"type": "function", "function": {"name": "f", "arguments": {"b": "x"}}})", 1, "f", R"({"b":"x"})"},
      {R"({"name": "f"})", 1, "f", "{}"},
      {R"([{"name": "f", "parameters": {}}, {"name": "g", "parameters": {"x": 2}}])", 2, "f", "{}"},
      {R"({"name": "f", "parameters": {}}; {"name": "g", "parameters": {}})", 2, "f", "{}"},
      {"{\"name\": \"f\", \"parameters\": {}}\n{\"name\": \"g\", \"parameters\": {}}", 2, "f", "{}"},
      {R"({"name": "brave_search", "parameters": {"q": "x"}})", 1, "brave_search", R"({"query":"x"})"},
  };
  for (const Case& c : cases) {
    auto r = parse_json_calls(c.text);
    ASSERT_TRUE(r.has_value()) << c.text << ": " << r.error().to_string();
    ASSERT_EQ(r->size(), c.n) << c.text;
    EXPECT_EQ((*r)[0].name, c.name0) << c.text;
    EXPECT_EQ((*r)[0].arguments, c.args0) << c.text;
  }
}

TEST(JsonCalls, Rejected) {
  for (const char* s : {"", "{", R"({"name": )", R"({"city": "Paris"})", R"({"name": 3})", R"({"name": ""})",
                        "[]", "[1, 2]", R"({"name": "f", "parameters": [1]})", R"({"name": "f", "parameters": "x"})",
                        R"({"name": "f"} trailing words)", R"({"name": "f", "parameters": {}} {"city": 1})"}) {
    EXPECT_FALSE(parse_json_calls(s).has_value()) << s;
  }
}

TEST(FunctionTagCalls, AcceptedAndRejected) {
  std::string outside;
  auto r = parse_function_tag_calls("Sure. <function=f>{\"a\": 1}</function> then <function=g>{'b': 'x'}", &outside);
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].arguments, R"({"a":1})");
  EXPECT_EQ((*r)[1].arguments, R"({"b":"x"})");  // Meta's single-quote retry
  EXPECT_EQ(outside, "Sure.  then ");
  for (const char* s : {"<function=f", "<function=>{}", "<function=f>[1]", "<function=f>{\"a\": ",
                        "<function=f>{\"a\" 1}", "no call here"}) {
    EXPECT_FALSE(parse_function_tag_calls(s, &outside).has_value()) << s;
  }
}

// What each malformed or borderline output yields: the table the issue asks for.
struct Row {
  const char* output;
  const char* content;   // expected content
  const char* call;      // expected first call name, or "" for none
  bool rejected;         // a call-like part was kept as text
};
const Row kTable[] = {
    {"Hello there.", "Hello there.", "", false},
    {"", "", "", false},
    {"{\"city\": \"Paris\"}", "{\"city\": \"Paris\"}", "", true},          // JSON answer, not a call
    {"{\"name\": \"f\", \"parameters\": {", "{\"name\": \"f\", \"parameters\": {", "", true},  // truncated
    {"{\"name\": \"f\", \"parameters\": {}} and text", "{\"name\": \"f\", \"parameters\": {}} and text", "", true},
    {"[1, 2, 3]", "[1, 2, 3]", "", true},
    {"<|python_tag|>{\"name\": ", "{\"name\": ", "", true},                // malformed JSON after the tag: text
    {"<|python_tag|>", "", "", false},
    {"<|python_tag|>x = 1\nprint(x)", "", "code_interpreter", false},      // code after the tag
    {"<|python_tag|>print(brave_search.call(query=\"x\"))", "", "code_interpreter", false},
    {"<|python_tag|>brave_search.call(query=\"x\")", "", "brave_search", false},
    {"Let me check.<|python_tag|>brave_search.call(query=\"x\")", "Let me check.", "brave_search", false},
    {"brave_search.call(query=\"x\")", "", "brave_search", false},         // built-in without the tag
    {"brave_search.call(query=\"x\"", "brave_search.call(query=\"x\"", "", true},
    {"<function=f>{\"a\": 1}</function>", "", "f", false},
    {"<function=f>{\"a\": </function>", "<function=f>{\"a\": </function>", "", true},
    {"<function=f>", "<function=f>", "", true},
    {"<function=brave_search>{\"q\": \"x\"}</function>", "", "brave_search", false},
    {"I'd use <function=f>{}</function>.", "I'd use .", "f", false},
    {"a < b and {c}", "a < b and {c}", "", false},
    {"<|start_header_id|>assistant<|end_header_id|>\n\nHi<|eot_id|>", "Hi", "", false},
    {"\xff\xfe{\"name\"", "\xff\xfe{\"name\"", "", false},                 // invalid UTF-8 survives
};

TEST(ParseAssistantOutput, MalformedTable) {
  for (const Row& r : kTable) {
    const ParsedOutput p = parse_assistant_output(r.output);
    SCOPED_TRACE(r.output);
    EXPECT_EQ(p.content, r.content);
    if (*r.call) {
      ASSERT_FALSE(p.tool_calls.empty());
      EXPECT_EQ(p.tool_calls[0].name, r.call);
      for (const ToolCall& c : p.tool_calls) EXPECT_TRUE(nlohmann::json::parse(c.arguments).is_object());
    } else {
      EXPECT_TRUE(p.tool_calls.empty());
    }
    EXPECT_EQ(!p.rejected.empty(), r.rejected) << p.rejected;
  }
}

// Rendering a call and parsing the model writing it back gives the same call.
TEST(RoundTrip, RenderThenParseEveryForm) {
  struct Case {
    ToolCall call;
    ToolFormat format;
  } cases[] = {
      {{"call_0", "brave_search", R"({"query":"Menlo Park weather"})", true}, ToolFormat::kJson},
      {{"call_0", "wolfram_alpha", R"({"query":"100th decimal of pi"})", true}, ToolFormat::kFunctionTag},
      {{"call_0", "code_interpreter", R"j({"code":"def f(n):\n    return n\nprint(f(7))"})j", true}, ToolFormat::kJson},
      {{"call_0", "trending_songs", R"({"n":"10","genre":"all"})", false}, ToolFormat::kJson},
      {{"call_0", "trending_songs", R"({"n":10,"nested":{"a":[1,2,"\u00e9"]}})", false}, ToolFormat::kFunctionTag},
  };
  FormatOptions o;
  o.preamble = SystemPreamble::kNone;
  o.add_generation_prompt = false;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.call.name);
    o.tool_format = c.format;
    Message m{"assistant", "", {c.call}, "", ""};
    auto p = format_messages({m}, o, false);
    ASSERT_TRUE(p.has_value()) << p.error().to_string();
    const ParsedOutput back = parse_assistant_output(p->text());
    ASSERT_EQ(back.tool_calls.size(), 1u) << p->text();
    EXPECT_EQ(back.content, "");
    EXPECT_EQ(back.tool_calls[0].name, c.call.name);
    EXPECT_EQ(back.tool_calls[0].builtin, c.call.builtin);
    EXPECT_EQ(args_of(back.tool_calls[0]), args_of(c.call)) << p->text();
  }
  // Several calls in one message, each form.
  for (ToolFormat f : {ToolFormat::kJson, ToolFormat::kFunctionTag}) {
    o.tool_format = f;
    Message m{"assistant", "", {{"call_0", "f", R"({"a":1})", false}, {"call_1", "g", R"({"b":"x"})", false}}, "", ""};
    auto p = format_messages({m}, o, false);
    ASSERT_TRUE(p.has_value());
    const ParsedOutput back = parse_assistant_output(p->text());
    ASSERT_EQ(back.tool_calls.size(), 2u) << p->text();
    EXPECT_EQ(back.tool_calls[1].name, "g");
    EXPECT_EQ(back.tool_calls[1].id, "call_1");
  }
  Message two{"assistant", "", {{"call_0", "brave_search", R"({"query":"a"})", true},
                                {"call_1", "wolfram_alpha", R"({"query":"b"})", true}}, "", ""};
  auto p = format_messages({two}, o, false);
  ASSERT_TRUE(p.has_value());
  const ParsedOutput back = parse_assistant_output(p->text());
  ASSERT_EQ(back.tool_calls.size(), 2u) << p->text();
  EXPECT_EQ(back.tool_calls[1].name, "wolfram_alpha");
}

// Streaming gives what the whole-text parse gives, however the text is cut.
TEST(StreamingToolParser, MatchesWholeParseForEveryChunking) {
  std::vector<std::string> texts;
  for (const Row& r : kTable) {
    const std::string s = r.output;
    if (s.find("<|start_header_id|>") == std::string::npos) texts.push_back(s);
  }
  texts.push_back("Plain text with a < and <|python in it and <funct too");
  texts.push_back("  \n {\"name\": \"f\", \"parameters\": {\"a\": 1}}");
  texts.push_back("wolfram is not brave_search.call(query=\"x\")");
  texts.push_back("brave_se");
  for (const std::string& t : texts) {
    const ParsedOutput whole = parse_assistant_output(t);
    for (size_t chunk : {size_t{1}, size_t{2}, size_t{3}, size_t{7}, t.size() + 1}) {
      SCOPED_TRACE(t + " / chunk " + std::to_string(chunk));
      StreamingToolParser sp;
      std::string shown;
      for (size_t i = 0; i < t.size(); i += chunk) shown += sp.push(std::string_view(t).substr(i, chunk));
      const ParsedOutput rest = sp.finish();
      EXPECT_EQ(shown + rest.content, whole.content);
      ASSERT_EQ(rest.tool_calls.size(), whole.tool_calls.size());
      for (size_t k = 0; k < rest.tool_calls.size(); ++k) {
        EXPECT_EQ(rest.tool_calls[k].name, whole.tool_calls[k].name);
        EXPECT_EQ(rest.tool_calls[k].arguments, whole.tool_calls[k].arguments);
      }
    }
  }
}

TEST(StreamingToolParser, ShowsPlainTextPromptlyAndHoldsCalls) {
  StreamingToolParser sp;
  EXPECT_EQ(sp.push("Hello"), "Hello");
  EXPECT_EQ(sp.push(" wor"), " wor");
  EXPECT_EQ(sp.push("ld <fun"), "ld ");  // "<fun" may become <function=
  EXPECT_TRUE(sp.holding());
  EXPECT_EQ(sp.push("ny>"), "<funny>");
  EXPECT_EQ(sp.finish().content, "");
  EXPECT_EQ(sp.push("{\"name\""), "");  // may be a JSON call: held to the end
  EXPECT_EQ(sp.push(": \"f\"}"), "");
  const ParsedOutput p = sp.finish();
  ASSERT_EQ(p.tool_calls.size(), 1u);
  EXPECT_EQ(p.tool_calls[0].name, "f");
}

}  // namespace
}  // namespace herd::chat
