// Unit tests of TurnAssembler: how input lines become `herd chat` turns. The terminal
// side (libedit, history, paste, Ctrl-C) is driven through a pseudo-terminal in
// tests/e2e/chat_pty.py.
#include "turn_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace herd::cli {
namespace {

struct Turn {
  std::string text;
  bool single = false;
};

// Feeds lines (none waiting after them unless listed in `waiting`) and collects turns.
std::vector<Turn> assemble(const std::vector<std::string>& lines, const std::vector<size_t>& waiting = {},
                           int* too_long = nullptr) {
  TurnAssembler a;
  std::vector<Turn> turns;
  for (size_t i = 0; i < lines.size(); ++i) {
    bool w = false;
    for (size_t j : waiting) w = w || j == i;
    switch (a.feed(lines[i], w)) {
      case TurnAssembler::Fed::kTurn: {
        Turn t;
        t.single = a.single_line();
        t.text = a.take();
        turns.push_back(t);
        break;
      }
      case TurnAssembler::Fed::kMore:
        break;
      case TurnAssembler::Fed::kTooLong:
        if (too_long) ++*too_long;
        break;
    }
  }
  return turns;
}

TEST(TurnAssembler, PlainLinesAreOneTurnEach) {
  auto t = assemble({"hello", "/reset", "bye\r"});
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].text, "hello");
  EXPECT_TRUE(t[0].single);
  EXPECT_EQ(t[1].text, "/reset");
  EXPECT_TRUE(t[1].single);
  EXPECT_EQ(t[2].text, "bye");  // a CRLF line loses its CR
}

TEST(TurnAssembler, TripleQuoteBlocksAsOllama) {
  auto t = assemble({"\"\"\"first", "  second", "", "/not a command", "last\"\"\"", "after"});
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].text, "first\n  second\n\n/not a command\nlast");
  EXPECT_FALSE(t[0].single);  // so a /word inside a block is text, not a command
  EXPECT_EQ(t[1].text, "after");
  // Fences alone on their lines, and a block on one line.
  t = assemble({"\"\"\"", "a", "b", "\"\"\"", "\"\"\"one line\"\"\""});
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].text, "a\nb");
  EXPECT_EQ(t[1].text, "one line");
  EXPECT_FALSE(t[1].single);
}

TEST(TurnAssembler, BackslashContinuesAsLlamaCli) {
  auto t = assemble({"line one\\", "line two\\", "line three", "next"});
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].text, "line one\nline two\nline three");
  EXPECT_FALSE(t[0].single);
  EXPECT_EQ(t[1].text, "next");
}

TEST(TurnAssembler, APasteIsOneTurn) {
  // Lines 0 and 1 ended with more input already waiting: a paste, joined with line 2.
  auto t = assemble({"pasted 1", "pasted 2", "pasted 3", "typed"}, {0, 1});
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].text, "pasted 1\npasted 2\npasted 3");
  EXPECT_FALSE(t[0].single);
  EXPECT_EQ(t[1].text, "typed");
}

TEST(TurnAssembler, ContinuingTellsThePrompt) {
  TurnAssembler a;
  EXPECT_FALSE(a.continuing());
  EXPECT_EQ(a.feed("\"\"\"x", false), TurnAssembler::Fed::kMore);
  EXPECT_TRUE(a.continuing());
  EXPECT_EQ(a.feed("y\"\"\"", false), TurnAssembler::Fed::kTurn);
  EXPECT_EQ(a.take(), "x\ny");
  EXPECT_FALSE(a.continuing());
}

TEST(TurnAssembler, AnOverlongTurnIsDroppedWholeAndReadingGoesOn) {
  const std::string big(kMaxTurnBytes / 2 + 10, 'x');
  int too_long = 0;
  // Three halves in one block: the block is dropped as a whole (not cut into turns).
  auto t = assemble({"\"\"\"", big, big, big, "\"\"\"", "small"}, {}, &too_long);
  EXPECT_EQ(too_long, 1);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].text, "small");
  // A turn just under the limit is kept.
  t = assemble({std::string(kMaxTurnBytes - 1, 'y')}, {}, &too_long);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].text.size(), kMaxTurnBytes - 1);
  EXPECT_EQ(too_long, 1);
}

}  // namespace
}  // namespace herd::cli
