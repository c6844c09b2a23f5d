// OpenAI-shaped message and tool JSON: accepted shapes, errors that name the field
// path, and the /save -> /load round trip.
#include "chat/messages.h"

#include <gtest/gtest.h>

namespace herd::chat {
namespace {

TEST(Messages, AcceptedShapes) {
  auto r = parse_messages_json(R"({"model": "x", "messages": [
    {"role": "system", "content": "S"},
    {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
    {"role": "assistant", "content": null, "tool_calls": [
      {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"x\": 1, \"a\": 2}"}},
      {"function": {"name": "brave_search", "arguments": {"query": "q"}}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "42"},
    {"role": "ipython", "content": "", "name": "brave_search"}]})");
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  ASSERT_EQ(r->size(), 5u);
  EXPECT_EQ((*r)[1].content, "ab");
  ASSERT_EQ((*r)[2].tool_calls.size(), 2u);
  EXPECT_EQ((*r)[2].tool_calls[0].arguments, R"({"x":1,"a":2})");  // key order kept
  EXPECT_FALSE((*r)[2].tool_calls[0].builtin);
  EXPECT_EQ((*r)[2].tool_calls[1].id, "call_1");
  EXPECT_TRUE((*r)[2].tool_calls[1].builtin);
  EXPECT_EQ((*r)[3].tool_call_id, "c1");
  EXPECT_EQ((*r)[4].name, "brave_search");
}

TEST(Messages, ErrorsNameTheFieldPath) {
  struct Case {
    const char* json;
    const char* path;
  } cases[] = {
      {R"([{"role": "user", "content": "a"}, {"role": "user"}, {"role": "user", "content": 3}])", "messages[1].content"},
      {R"([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "user", "content": 3}])",
       "messages[2].content: expected string"},
      {R"([{"role": "bot", "content": "a"}])", "messages[0].role: expected one of"},
      {R"([{"content": "a"}])", "messages[0].role"},
      {R"(["hi"])", "messages[0]: expected object"},
      {R"({"role": "user"})", "messages"},
      {R"([{"role": "user", "content": "a", "tool_calls": []}])", "messages[0].tool_calls"},
      {R"([{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{x"}}]}])",
       "messages[0].tool_calls[0].function.arguments: not valid JSON"},
      {R"([{"role": "assistant", "tool_calls": [{"function": {"arguments": "{}"}}]}])",
       "messages[0].tool_calls[0].function.name"},
      {R"([{"role": "user", "content": [{"type": "image_url"}]}])", "messages[0].content[0].type"},
      {R"([{"role": "user", "content": "a"},)", "messages: not valid JSON"},
  };
  for (const Case& c : cases) {
    auto r = parse_messages_json(c.json);
    ASSERT_FALSE(r.has_value()) << c.json;
    EXPECT_NE(r.error().message().find(c.path), std::string::npos) << r.error().message();
  }
}

TEST(Messages, SaveLoadRoundTrip) {
  std::vector<Message> conv = {{"system", "S", {}, "", ""},
                               {"user", "héllo \"q\"\n", {}, "", ""},
                               {"assistant", "", {{"c0", "f", R"({"b":1,"a":[true,null]})", false}}, "", ""},
                               {"tool", "out", {}, "c0", "f"}};
  auto back = parse_messages_json(messages_to_json(conv));
  ASSERT_TRUE(back.has_value()) << back.error().to_string();
  ASSERT_EQ(back->size(), conv.size());
  for (size_t i = 0; i < conv.size(); ++i) {
    EXPECT_EQ((*back)[i].role, conv[i].role);
    EXPECT_EQ((*back)[i].content, conv[i].content);
    EXPECT_EQ((*back)[i].tool_call_id, conv[i].tool_call_id);
    EXPECT_EQ((*back)[i].name, conv[i].name);
    ASSERT_EQ((*back)[i].tool_calls.size(), conv[i].tool_calls.size());
    for (size_t k = 0; k < conv[i].tool_calls.size(); ++k) {
      EXPECT_EQ((*back)[i].tool_calls[k].arguments, conv[i].tool_calls[k].arguments);
      EXPECT_EQ((*back)[i].tool_calls[k].id, conv[i].tool_calls[k].id);
    }
  }
}

TEST(Tools, AcceptedAndRoundTrip) {
  auto r = parse_tools_json(R"(["brave_search", {"type": "builtin", "name": "wolfram_alpha"},
    {"type": "function", "function": {"name": "get_weather", "description": "d",
      "parameters": {"type": "object", "properties": {"z": {"type": "string"}, "a": {"type": "int"}},
                     "required": ["z"]}}}])");
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(r->builtin, (std::vector<std::string>{"brave_search", "wolfram_alpha"}));
  ASSERT_EQ(r->custom.size(), 1u);
  EXPECT_LT(r->custom[0].parameters.find("\"z\""), r->custom[0].parameters.find("\"a\""));  // order kept
  auto back = parse_tools_json(tools_to_json(*r));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->builtin, r->builtin);
  EXPECT_EQ(back->custom[0].parameters, r->custom[0].parameters);
}

TEST(Tools, Errors) {
  struct Case {
    const char* json;
    const char* msg;
  } cases[] = {
      {R"(["google"])", "tools[0]: unknown built-in tool \"google\""},
      {R"([{"type": "function"}])", "tools[0].function: expected object"},
      {R"([{"type": "function", "function": {"name": "f", "parameters": []}}])", "tools[0].function.parameters"},
      {R"([{"type": "function", "function": {"name": "f", "parameters": {"required": "x"}}}])",
       "tools[0].function.parameters.required"},
      {R"(["brave_search", "brave_search"])", "tools[1]: duplicate"},
      {R"([{"type": "retrieval"}])", "tools[0].type"},
      {R"(3)", "tools: expected array"},
  };
  for (const Case& c : cases) {
    auto r = parse_tools_json(c.json);
    ASSERT_FALSE(r.has_value()) << c.json;
    EXPECT_NE(r.error().message().find(c.msg), std::string::npos) << r.error().message();
  }
}

}  // namespace
}  // namespace herd::chat
