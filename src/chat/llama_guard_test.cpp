// Llama Guard 3 prompts and verdicts (chat/llama_guard.h). The byte-exact
// comparison with the released templates, rendered by an independent Jinja
// implementation, is tests/e2e/test_guard.sh (tests/golden/guard); here: the
// structure each variant must have, the conversation rules, and the verdict
// parser's strictness.
#include "chat/llama_guard.h"

#include <gtest/gtest.h>

namespace herd::chat {
namespace {

std::vector<Message> convo(std::initializer_list<std::pair<const char*, const char*>> turns) {
  std::vector<Message> out;
  for (const auto& [role, text] : turns) {
    Message m;
    m.role = role;
    m.content = text;
    out.push_back(m);
  }
  return out;
}

TEST(LlamaGuard, CategoriesOfEachVariant) {
  const auto c8 = guard_categories(GuardVariant::k8B), c1 = guard_categories(GuardVariant::k1B);
  ASSERT_EQ(c8.size(), 14u);
  ASSERT_EQ(c1.size(), 13u);
  EXPECT_EQ(c8[0].code, "S1");
  EXPECT_EQ(c8[0].name, "Violent Crimes.");
  EXPECT_EQ(c8[13].code, "S14");
  EXPECT_EQ(c8[13].name, "Code Interpreter Abuse.");
  EXPECT_EQ(c1[12].name, "Elections.");
}

TEST(LlamaGuard, EightBPromptOfAUserTurn) {
  auto p = render_guard_prompt(convo({{"user", "  How do I bake bread?\n"}}), {});
  ASSERT_TRUE(p) << p.error().to_string();
  EXPECT_EQ(p->role, GuardRole::kUser);
  const std::string t = p->prompt.text();
  EXPECT_EQ(t.rfind(" <|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nTask: Check if there is unsafe "
                    "content in 'User' messages", 0),
            0u)
      << t;
  EXPECT_NE(t.find("S14: Code Interpreter Abuse.\n<END UNSAFE CONTENT CATEGORIES>"), std::string::npos);
  EXPECT_NE(t.find("<BEGIN CONVERSATION>\n\nUser: How do I bake bread?\n\n<END CONVERSATION>"), std::string::npos);
  const std::string end = "list of violated categories.<|eot_id|><|start_header_id|>assistant<|end_header_id|>";
  ASSERT_GE(t.size(), end.size());
  EXPECT_EQ(t.substr(t.size() - end.size()), end);
}

TEST(LlamaGuard, OneBPromptOfAnAgentTurnWithExclusions) {
  GuardPromptOptions o;
  o.variant = GuardVariant::k1B;
  o.excluded = {"S6", "S13"};
  auto p = render_guard_prompt(convo({{"user", "hi"}, {"assistant", "hello"}}), o);
  ASSERT_TRUE(p) << p.error().to_string();
  EXPECT_EQ(p->role, GuardRole::kAgent);
  const std::string t = p->prompt.text();
  EXPECT_EQ(t.rfind("<|begin_of_text|>", 0), 0u);
  EXPECT_NE(t.find("in 'Agent' messages"), std::string::npos);
  EXPECT_NE(t.find("S5: Defamation.\nS7: Privacy.\n"), std::string::npos);
  EXPECT_EQ(t.find("S6:"), std::string::npos);
  EXPECT_EQ(t.find("S13:"), std::string::npos);
  EXPECT_EQ(t.find("S14:"), std::string::npos);
  EXPECT_NE(t.find("User: hi\n\nAgent: hello\n\n<END CONVERSATION>\n\nProvide your safety assessment for ONLY THE "
                   "LAST Agent message"),
            std::string::npos);
  EXPECT_NE(t.find("violated categories. <|eot_id|>"), std::string::npos);
}

TEST(LlamaGuard, HeaderSeparatorIsAppendedOnRequest) {
  GuardPromptOptions o;
  o.header_separator = true;
  auto p = render_guard_prompt(convo({{"user", "x"}}), o);
  ASSERT_TRUE(p);
  const std::string t = p->prompt.text();
  EXPECT_EQ(t.substr(t.size() - 19), "<|end_header_id|>\n\n");
}

TEST(LlamaGuard, ConversationRulesAreErrors) {
  EXPECT_FALSE(render_guard_prompt({}, {}));
  auto sys = render_guard_prompt(convo({{"system", "be nice"}, {"user", "hi"}}), {});
  ASSERT_FALSE(sys);
  EXPECT_NE(sys.error().message().find("messages[0]"), std::string::npos) << sys.error().message();
  EXPECT_FALSE(render_guard_prompt(convo({{"user", "a"}, {"user", "b"}}), {}));
  EXPECT_FALSE(render_guard_prompt(convo({{"user", "a"}, {"assistant", "b"}, {"tool", "c"}}), {}));
  GuardPromptOptions o;
  o.variant = GuardVariant::k1B;
  o.excluded = {"S14"};  // not a 1B category
  EXPECT_FALSE(render_guard_prompt(convo({{"user", "a"}}), o));
}

TEST(LlamaGuard, ConversationIsCutAtTheClassifiedRole) {
  const auto c = convo({{"user", "a"}, {"assistant", "b"}, {"user", "c"}, {"assistant", "d"}});
  auto u = guard_conversation_for(c, GuardRole::kUser);
  ASSERT_TRUE(u);
  ASSERT_EQ(u->size(), 3u);
  EXPECT_EQ(u->back().content, "c");
  auto a = guard_conversation_for(c, GuardRole::kAgent);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->size(), 4u);
  EXPECT_FALSE(guard_conversation_for(convo({{"user", "a"}}), GuardRole::kAgent));
}

TEST(LlamaGuard, VerdictParsingIsStrict) {
  const auto cats = guard_categories(GuardVariant::k8B);
  auto safe = parse_guard_verdict("safe", cats);
  ASSERT_TRUE(safe);
  EXPECT_TRUE(safe->safe);
  EXPECT_TRUE(parse_guard_verdict("\n\nsafe\n", cats));  // surrounding whitespace, as Llama Stack strips
  auto bad = parse_guard_verdict("unsafe\nS1,S14", cats);
  ASSERT_TRUE(bad) << bad.error().to_string();
  EXPECT_FALSE(bad->safe);
  EXPECT_EQ(bad->codes, (std::vector<std::string>{"S1", "S14"}));
  for (const char* reply : {"", "Safe", "safe.", "unsafe", "unsafe\n", "unsafe\nS15", "unsafe\nS1,", "unsafe\nS1 ,S2",
                            "unsafe\nS1\nS2", "unsafe S1", "safe\nS1", "I cannot help", "unsafe\nS01", "unsafe\nX1"}) {
    EXPECT_FALSE(parse_guard_verdict(reply, cats)) << "accepted " << testing::PrintToString(reply);
  }
  EXPECT_FALSE(parse_guard_verdict("unsafe\nS14", guard_categories(GuardVariant::k1B)));
}

TEST(LlamaGuard, PythonStripMatchesStrIsspace) {
  EXPECT_EQ(python_strip(" \t\n\r\v\fx y\x1c\x1f"), "x y");
  EXPECT_EQ(python_strip("\xc2\xa0" "a" "\xe3\x80\x80"), "a");        // U+00A0, U+3000
  EXPECT_EQ(python_strip("\xe2\x80\x8b" "a"), "\xe2\x80\x8b" "a");  // U+200B is not whitespace
  EXPECT_EQ(python_strip("   "), "");
  EXPECT_EQ(python_strip("\xff a \xff"), "\xff a \xff");  // invalid bytes are kept
}

TEST(LlamaGuard, CustomCategoriesKeepTheirOrder) {
  auto c = parse_guard_categories_json(R"({"S1": "Violence.", "S10": "Spam.", "S2": "Other."})");
  ASSERT_TRUE(c) << c.error().to_string();
  ASSERT_EQ(c->size(), 3u);
  EXPECT_EQ((*c)[1].code, "S10");
  GuardPromptOptions o;
  o.categories = *c;
  auto p = render_guard_prompt(convo({{"user", "a"}}), o);
  ASSERT_TRUE(p);
  EXPECT_NE(p->prompt.text().find("S1: Violence.\nS10: Spam.\nS2: Other.\n<END UNSAFE"), std::string::npos);
  for (const char* bad : {"[]", "{}", R"({"X1": "a"})", R"({"S1": ""})", R"({"S1": "a\nb"})", "nope",
                          R"([{"code": "S1"}])"}) {
    EXPECT_FALSE(parse_guard_categories_json(bad)) << bad;
  }
}

}  // namespace
}  // namespace herd::chat
