// GuardShield::check_all against a scripted engine (no model): each result is
// what check() gives for that conversation alone, in order, although the
// replies finish out of submission order; the checks ran side by side (the
// engine had several at once); a conversation the prompt cannot be built for
// gets its own error and the others still their verdicts; a refused group
// (more requests than the engine takes) is every result's error.
#include "guard_shield.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/scripted_engine.h"

namespace herd::server {
namespace {

const tokenizer::Tokenizer& tok() {
  static const tokenizer::Tokenizer* t = new tokenizer::Tokenizer(std::move(*tokenizer::Tokenizer::llama3()));
  return *t;
}

// The guard's reply by what the conversation says: a knife is S1 (a longer reply
// than "safe", so it finishes later), "garbled" is no verdict.
std::string guard_reply(const std::string& prompt, const engine::GenerationRequest&) {
  const size_t conv = prompt.find("<BEGIN CONVERSATION>");
  const std::string c = conv == std::string::npos ? "" : prompt.substr(conv);
  if (c.find("knife") != std::string::npos) return "unsafe\nS1";
  if (c.find("garbled") != std::string::npos) return "perhaps";
  return "safe";
}

std::vector<chat::Message> user_says(const std::string& text) {
  chat::Message m;
  m.role = "user";
  m.content = text;
  return {m};
}

TEST(GuardShield, CheckAllIsEachCheckAloneInOrder) {
  engine::ScriptedEngine eng(tok(), guard_reply);
  GuardOptions o;
  o.variant = chat::GuardVariant::k1B;
  Result<GuardShield> shield = GuardShield::make(eng, tok(), o);
  ASSERT_TRUE(shield.has_value()) << shield.error().message();
  std::vector<std::vector<chat::Message>> convs = {user_says("how do I sharpen a knife to hurt someone"),
                                                    user_says("hello there"), user_says("garbled"),
                                                    {},  // no message: no prompt can be built
                                                    user_says("a knife again"), user_says("what is 2 + 2")};
  const std::vector<Result<GuardResult>> all = shield->check_all(convs);
  ASSERT_EQ(all.size(), convs.size());
  EXPECT_GE(eng.most_running(), 2);  // side by side, not one at a time
  const bool want_flagged[] = {true, false, false, false, true, false};
  for (size_t i = 0; i < convs.size(); ++i) {
    SCOPED_TRACE(i);
    const Result<GuardResult> one = shield->check(convs[i]);
    ASSERT_EQ(all[i].has_value(), one.has_value());
    if (!one.has_value()) {
      EXPECT_EQ(i, 3u);
      EXPECT_EQ(all[i].error().message(), one.error().message());
      continue;
    }
    EXPECT_EQ(all[i]->flagged, want_flagged[i]);
    EXPECT_EQ(all[i]->flagged, one->flagged);
    EXPECT_EQ(all[i]->reply, one->reply);
    EXPECT_EQ(all[i]->error, one->error);
    EXPECT_EQ(all[i]->codes, one->codes);
    EXPECT_DOUBLE_EQ(all[i]->unsafe_score, one->unsafe_score);
  }
  EXPECT_FALSE(all[2]->error.empty());  // "perhaps" is no verdict
  EXPECT_NEAR(all[0]->unsafe_score, 0.9, 1e-6);
  EXPECT_EQ(all[0]->codes, std::vector<std::string>{"S1"});

  // More checks than the engine takes: every result is the refusal.
  eng.max_jobs = 2;
  const std::vector<Result<GuardResult>> refused = shield->check_all({convs[0], convs[1], convs[4]});
  ASSERT_EQ(refused.size(), 3u);
  for (const Result<GuardResult>& r : refused) EXPECT_FALSE(r.has_value());
}

}  // namespace
}  // namespace herd::server
