// prompt_shield_inputs: which parts of a chat request the Prompt Guard shield
// reads (the last user turn; the tool results that end the conversation).
#include <gtest/gtest.h>

#include "prompt_shield.h"

namespace herd::server {
namespace {

chat::Message msg(const char* role, const char* content) {
  chat::Message m;
  m.role = role;
  m.content = content;
  return m;
}

TEST(PromptShieldInputs, LastUserTurnAndTrailingToolResults) {
  const PromptShieldInputs in = prompt_shield_inputs({msg("system", "sys"), msg("user", "first"), msg("assistant", "a"),
                                                      msg("user", "second"), msg("assistant", ""),
                                                      msg("tool", "result one"), msg("ipython", "result two")});
  EXPECT_EQ(in.user, std::vector<std::string>{"second"});
  EXPECT_EQ(in.third_party, (std::vector<std::string>{"result two", "result one"}));
}

TEST(PromptShieldInputs, ToolResultsBeforeTheLastAssistantTurnAreNotRead) {
  const PromptShieldInputs in =
      prompt_shield_inputs({msg("user", "q"), msg("tool", "old result"), msg("assistant", "answer"), msg("user", "")});
  EXPECT_TRUE(in.user.empty());  // an empty last user turn has nothing to score
  EXPECT_TRUE(in.third_party.empty());
}

}  // namespace
}  // namespace herd::server
