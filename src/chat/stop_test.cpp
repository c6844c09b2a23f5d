// Stop handling: which end token fired, and stop strings split across pieces, never
// partly shown.
#include "chat/stop.h"

#include <gtest/gtest.h>

namespace herd::chat {
namespace {

TEST(StopTokens, Llama3Ids) {
  auto tok = tokenizer::Tokenizer::llama3();
  ASSERT_TRUE(tok.has_value());
  const StopTokens s = StopTokens::from_tokenizer(*tok);
  EXPECT_EQ(s.eot, 128009);
  EXPECT_EQ(s.eom, 128008);
  EXPECT_EQ(s.end_of_text, 128001);
  EXPECT_EQ(s.classify(128009), StopReason::kEndOfTurn);
  EXPECT_EQ(s.classify(128008), StopReason::kEndOfMessage);
  EXPECT_EQ(s.classify(128001), StopReason::kEndOfText);
  EXPECT_EQ(s.classify(9906), StopReason::kNone);
  EXPECT_EQ(s.classify(-1), StopReason::kNone);
  EXPECT_STREQ(stop_reason_name(StopReason::kEndOfMessage), "eom");
}

// The model's own end ids join the three (deduplicated); without a tokenizer
// only they stop.
TEST(StopTokens, ModelEndIdsJoinTheThree) {
  auto tok = tokenizer::Tokenizer::llama3();
  ASSERT_TRUE(tok.has_value());
  const StopTokens s = StopTokens::for_model(&*tok, {128009, 128001, 128256 - 1, 128256 - 1});
  EXPECT_EQ(s.model_eos, (std::vector<int32_t>{128255}));
  EXPECT_EQ(s.ids(), (std::vector<int32_t>{128009, 128008, 128001, 128255}));
  EXPECT_EQ(s.classify(128255), StopReason::kEndOfText);
  EXPECT_TRUE(s.is_stop(128008));
  EXPECT_FALSE(s.is_stop(9906));
  const StopTokens bare = StopTokens::for_model(nullptr, {7});
  EXPECT_EQ(bare.ids(), (std::vector<int32_t>{7}));
  EXPECT_FALSE(bare.is_stop(128009));
}

TEST(StopStringMatcher, HoldsPartialMatchesAndStops) {
  StopStringMatcher m({"User:", "", "###"});
  auto a = m.push("Hello Us");
  EXPECT_EQ(a.text, "Hello ");
  EXPECT_FALSE(a.stopped);
  auto b = m.push("ually fine #");
  EXPECT_EQ(b.text, "Usually fine ");
  auto c = m.push("## tail");
  EXPECT_TRUE(c.stopped);
  EXPECT_EQ(c.which, 2u);  // index in the caller's list, empty strings counted
  EXPECT_EQ(c.text, "");
  EXPECT_EQ(m.push("more").text, "");  // stopped: nothing more
  m.reset();
  auto d = m.push("ok User");
  EXPECT_EQ(d.text, "ok ");
  EXPECT_EQ(m.flush(), "User");
}

TEST(StopStringMatcher, EarliestMatchWins) {
  StopStringMatcher m({"bc", "ab"});
  auto s = m.push("xabc");
  EXPECT_TRUE(s.stopped);
  EXPECT_EQ(s.which, 1u);
  EXPECT_EQ(s.text, "x");
}

TEST(StopStringMatcher, NoStopsPassesThrough) {
  StopStringMatcher m({});
  EXPECT_EQ(m.push("abc").text, "abc");
  EXPECT_EQ(m.flush(), "");
}

}  // namespace
}  // namespace herd::chat
