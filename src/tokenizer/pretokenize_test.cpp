// Pre-tokenizer tests: each alternative of the Llama 3 regex, the look-ahead rule, and
// the documented handling of invalid UTF-8. Expected splits were checked against Python's
// `regex` module with the spec 4.3 pattern (findall), except the invalid-UTF-8 cases,
// which the regex cannot see and herd defines (pretokenize.h).
#include "tokenizer/pretokenize.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace herd::tokenizer {
namespace {

std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> out;
  for (auto p : pretokenize(s)) out.emplace_back(p);
  return out;
}

using V = std::vector<std::string>;

TEST(Pretokenize, Alternatives) {
  EXPECT_EQ(split("Hello world"), (V{"Hello", " world"}));
  EXPECT_EQ(split("I'm sure you're"), (V{"I", "'m", " sure", " you", "'re"}));
  EXPECT_EQ(split("WE'LL THEY'D IT'S"), (V{"WE", "'LL", " THEY", "'D", " IT", "'S"}));
  EXPECT_EQ(split("'quoted'"), (V{"'quoted", "'"}));
  EXPECT_EQ(split("don't"), (V{"don", "'t"}));
  EXPECT_EQ(split("'sure"), (V{"'s", "ure"}));
  EXPECT_EQ(split("1234567"), (V{"123", "456", "7"}));
  EXPECT_EQ(split("3.14159 and 1,000"), (V{"3", ".", "141", "59", " and", " ", "1", ",", "000"}));
  EXPECT_EQ(split("x**2\n"), (V{"x", "**", "2", "\n"}));
  EXPECT_EQ(split("hello!!!\n\nworld"), (V{"hello", "!!!\n\n", "world"}));
  EXPECT_EQ(split(" !!"), (V{" !!"}));
  EXPECT_EQ(split("  !!"), (V{" ", " !!"}));
  EXPECT_EQ(split("  leading"), (V{" ", " leading"}));
  EXPECT_EQ(split("trailing   "), (V{"trailing", "   "}));
  EXPECT_EQ(split("a \n  \n b"), (V{"a", " \n  \n", " b"}));
  EXPECT_EQ(split("line2\r\n\r\nline3"), (V{"line", "2", "\r\n\r\n", "line", "3"}));
  EXPECT_EQ(split("tabs\tand\t\tmore"), (V{"tabs", "\tand", "\t", "\tmore"}));
  EXPECT_EQ(split("a 1"), (V{"a", " ", "1"}));
  EXPECT_EQ(split("a  1"), (V{"a", " ", " ", "1"}));  // alt 6 gives up the last space; alt 7 takes it
}

TEST(Pretokenize, UnicodeClasses) {
  EXPECT_TRUE(is_letter(0x00E9));   // é
  EXPECT_TRUE(is_letter(0x65E5));   // 日
  EXPECT_TRUE(is_letter(0x017F));   // ſ
  EXPECT_FALSE(is_letter(0x1F600)); // 😀
  EXPECT_TRUE(is_number(0x0661));   // Arabic-Indic one
  EXPECT_TRUE(is_number(0x2160));   // Roman numeral one (Nl)
  EXPECT_TRUE(is_number(0x00BD));   // ½ (No)
  EXPECT_TRUE(is_white_space(0x3000));
  EXPECT_TRUE(is_white_space(0x0085));
  EXPECT_FALSE(is_white_space(0x001C));  // isspace() in Python, not White_Space
  EXPECT_FALSE(is_white_space(0x200B));  // zero width space is Cf
  // Long s folds to s, so 'ſ is a contraction.
  EXPECT_EQ(split("it'\xC5\xBF"), (V{"it", "'\xC5\xBF"}));
  // "naïve café 😀"
  EXPECT_EQ(split("na\xC3\xAFve caf\xC3\xA9 \xF0\x9F\x98\x80"),
            (V{"na\xC3\xAFve", " caf\xC3\xA9", " \xF0\x9F\x98\x80"}));
  EXPECT_EQ(split("\xD0\x9F\xD1\x80\xD0\xB8, \xD0\xBC"), (V{"\xD0\x9F\xD1\x80\xD0\xB8", ",", " \xD0\xBC"}));
}

TEST(Pretokenize, InvalidUtf8IsPunctuationPerByte) {
  // Each invalid byte is one non-letter, non-number, non-space code point.
  EXPECT_EQ(split("\xFF" "abc"), (V{"\xFF" "abc"}));              // alt 2 prefix
  EXPECT_EQ(split("a\xFF\xFE b"), (V{"a", "\xFF\xFE", " b"}));     // alt 4 run
  EXPECT_EQ(split(" \xFF\n"), (V{" \xFF\n"}));                     // alt 4 with space and CR/LF
  // A truncated sequence is two code points, not one: E2 is not followed by a letter, so
  // alt 2 fails and alt 4 takes the run E2 82 (as one 2-byte pseudo code point it would
  // have been the prefix of "\xE2\x82" "A").
  EXPECT_EQ(split("\xE2\x82" "A"), (V{"\xE2\x82", "A"}));
  EXPECT_EQ(split("\xE2" "A"), (V{"\xE2" "A"}));
  EXPECT_EQ(split("  \xFF"), (V{" ", " \xFF"}));                   // \S for the look-ahead
  EXPECT_EQ(split(std::string("a\0b", 3)), (V{"a", std::string("\0b", 2)}));
  // Concatenation always restores the input, for every 2-byte string.
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; b += 7) {
      std::string s = {static_cast<char>(a), static_cast<char>(b), 'x'};
      std::string joined;
      for (auto p : pretokenize(s)) {
        ASSERT_FALSE(p.empty());
        joined += p;
      }
      ASSERT_EQ(joined, s) << a << " " << b;
    }
  }
}

}  // namespace
}  // namespace herd::tokenizer
