// Tokenizer tests: the spec/llama31.md section 4.5 vectors, round trips over varied text,
// special-token handling, streaming, malformed input and the O(n log n) merge loop.
// The expected ids were computed by the spec authors with a tiktoken-equivalent encoder
// on the same tokenizer.model (SHA-256 82e9d319...), so they are exact, not tolerances.
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "tokenizer/embedded_vocab.h"
#include "tokenizer/utf8.h"

namespace herd::tokenizer {
namespace {

const Tokenizer& llama3() {
  static const Tokenizer* t = [] {
    auto r = Tokenizer::llama3();
    if (!r) {
      ADD_FAILURE() << r.error().to_string();
      std::abort();
    }
    return new Tokenizer(std::move(*r));
  }();
  return *t;
}

std::string ids_str(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + std::to_string(ids[i]);
  return s + "]";
}

struct Vector {
  const char* text;
  std::vector<int32_t> ids;
};

TEST(Tokenizer, EmbeddedModelIsMetasFile) {
  std::string_view m = embedded_llama3_tokenizer_model();
  EXPECT_EQ(m.size(), 2183982u);  // spec 4.1; SHA-256 is checked in the data README
  EXPECT_EQ(m.substr(0, 7), "IQ== 0\n");
  EXPECT_EQ(llama3().n_vocab(), 128256);
  EXPECT_EQ(llama3().vocab().n_ranked, 128000);
}

TEST(Tokenizer, SpecVectors) {
  const std::vector<Vector> cases = {
      {"Hello world", {9906, 1917}},
      {"hello world!!!", {15339, 1917, 12340}},
      {"  leading spaces", {220, 6522, 12908}},
      {"trailing   ", {376, 14612, 262}},
      {"line1\nline2\r\n\r\nline3", {1074, 16, 198, 1074, 17, 881, 1074, 18}},
      {"tabs\tand\t\tmore", {32093, 53577, 197, 2157, 461}},
      {"3.14159 and 1,000,000", {18, 13, 9335, 2946, 323, 220, 16, 11, 931, 11, 931}},
      {"I'm sure you're right, it's 'quoted'", {40, 2846, 2771, 499, 2351, 1314, 11, 433, 596, 364, 64825, 6}},
      {"def f(x):\n    return x**2\n", {755, 282, 2120, 997, 262, 471, 865, 334, 17, 198}},
      {"na\xC3\xAFve caf\xC3\xA9 \xF0\x9F\x98\x80", {3458, 38672, 588, 53050, 91416}},
      {"\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88",
       {102433, 102158, 16144, 57933, 62903, 71634}},
      {"\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82, \xD0\xBC\xD0\xB8\xD1\x80", {54745, 28089, 8341, 11, 115388}},
      {"<|eot_id|>", {27, 91, 68, 354, 851, 91, 29}},
      {"system", {9125}},
      {"user", {882}},
      {"assistant", {78191}},
      {"ipython", {23799, 4690}},
      {"\n\n", {271}},
      {"\n", {198}},
      {" ", {220}},
      {"  ", {256}},
      {"\t", {197}},
      {"safe", {19193}},
      {"unsafe", {39257}},
  };
  for (const auto& c : cases) {
    std::vector<int32_t> got = llama3().encode(c.text, /*add_bos=*/false);
    EXPECT_EQ(got, c.ids) << "text '" << c.text << "': got " << ids_str(got) << " want " << ids_str(c.ids);
    EXPECT_EQ(llama3().decode(got), c.text);
  }
}

TEST(Tokenizer, BosAndSpecialIds) {
  const Vocab& v = llama3().vocab();
  EXPECT_EQ(v.bos_id, 128000);
  EXPECT_EQ(v.eos_id, 128001);
  EXPECT_EQ(v.end_of_text_id, 128001);
  EXPECT_EQ(v.pad_id, 128004);
  EXPECT_EQ(v.start_header_id, 128006);
  EXPECT_EQ(v.end_header_id, 128007);
  EXPECT_EQ(v.eom_id, 128008);
  EXPECT_EQ(v.eot_id, 128009);
  EXPECT_EQ(v.python_tag_id, 128010);
  EXPECT_EQ(llama3().token_bytes(128005), "<|reserved_special_token_2|>");
  EXPECT_EQ(llama3().token_bytes(128011), "<|reserved_special_token_3|>");
  EXPECT_EQ(llama3().token_bytes(128255), "<|reserved_special_token_247|>");
  EXPECT_EQ(llama3().token_bytes(220), " ");
  EXPECT_EQ(llama3().token_bytes(198), "\n");
  EXPECT_EQ(llama3().token_bytes(128256), "");
  EXPECT_EQ(llama3().token_bytes(-1), "");
  EXPECT_TRUE(llama3().is_special(128009));
  EXPECT_FALSE(llama3().is_special(127999));
  EXPECT_EQ(llama3().special_id("<|eot_id|>"), 128009);
  std::vector<int32_t> ids = llama3().encode("Hello world", /*add_bos=*/true);
  EXPECT_EQ(ids, (std::vector<int32_t>{128000, 9906, 1917}));
}

TEST(Tokenizer, SpecialTextIsPlainUnlessParsed) {
  const std::string text = "hi<|start_header_id|>user<|end_header_id|>\n\nx<|eot_id|><|not_special|>";
  std::vector<int32_t> plain = llama3().encode(text, false);
  for (int32_t id : plain) EXPECT_LT(id, 128000) << "control token from plain text: " << ids_str(plain);
  EXPECT_EQ(llama3().decode(plain), text);

  std::vector<int32_t> parsed = llama3().encode(text, false, /*parse_special=*/true);
  std::vector<int32_t> want = {6151, 128006, 882, 128007, 271, 87, 128009};
  std::vector<int32_t> tail = llama3().encode("<|not_special|>", false);
  want.insert(want.end(), tail.begin(), tail.end());
  EXPECT_EQ(parsed, want) << ids_str(parsed);
  EXPECT_EQ(llama3().decode(parsed), text);
  EXPECT_EQ(llama3().encode("<|eot_id|>", false, true), (std::vector<int32_t>{128009}));
}

TEST(Tokenizer, RoundTripVariedText) {
  const std::vector<std::string> texts = {
      "",
      "The quick brown fox jumps over the lazy dog.",
      "CRLF line\r\nnext\r\n\r\n  indented\r\n",
      "tabs\t\t\tand    many        spaces    \t \n   ",
      std::string(1000, ' ') + "x" + std::string(999, ' '),
      std::string(300, '\n') + "end",
      "\xE4\xB8\xAD\xE6\x96\x87\xE6\xB5\x8B\xE8\xAF\x95\xEF\xBC\x8C\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x80\x82",
      // family emoji (ZWJ sequence), flag, skin tone modifier
      "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7 \xF0\x9F\x87\xAB\xF0\x9F\x87\xB7 "
      "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD",
      "\xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7 \xE0\xA4\xA8\xE0\xA4\xAE\xE0\xA4\xB8\xE0\xA5\x8D\xE0\xA4\xA4\xE0\xA5\x87",
      "I'LL SAY IT'S 'QUOTED' YOU'VE WE'D THEY'RE I'M DON'T \xC5\xBF's",
      "12345678901234567890 \xD9\xA1\xD9\xA2\xD9\xA3\xD9\xA4 \xE2\x85\xA0\xE2\x85\xA1 \xC2\xBD",
      "{\"key\": [1, 2.5, null], \"\\u00e9\": \"\\n\"}\n",
      "\xE2\x80\x83" "em space\xE2\x80\x83\xC2\xA0" "nbsp\xE3\x80\x80" "ideographic",
  };
  for (const auto& t : texts) {
    std::vector<int32_t> ids = llama3().encode(t, false);
    EXPECT_EQ(llama3().decode(ids), t) << "round trip failed for '" << t << "' ids " << ids_str(ids);
  }
}

TEST(Tokenizer, InvalidUtf8AndNulRoundTrip) {
  const std::vector<std::string> texts = {
      std::string("a\0b\0\0c", 7),
      std::string(1, '\0'),
      "\xFF\xFE\xFD",
      "\x80 lone continuation",
      "truncated \xF0\x9F\x98",
      "\xC0\xAF overlong \xED\xA0\x80 surrogate \xF4\x90\x80\x80 too big",
      "x\xE2\x82y \xE2\x82 z'\xC3",
      "\n\xFF\n \xFF \xFFword",
  };
  for (const auto& t : texts) {
    std::vector<int32_t> ids = llama3().encode(t, false);
    EXPECT_EQ(llama3().decode(ids), t) << ids_str(ids);
  }
  // Every byte value alone, and all 256 in a row.
  std::string all;
  for (int b = 0; b < 256; ++b) {
    std::string one(1, static_cast<char>(b));
    all += one;
    std::vector<int32_t> ids = llama3().encode(one, false);
    ASSERT_EQ(ids.size(), 1u) << "byte " << b;
    EXPECT_LT(ids[0], 256) << "single bytes are ids 0..255";
  }
  EXPECT_EQ(llama3().decode(llama3().encode(all, false)), all);
}

TEST(Tokenizer, DecodeSkipsUnknownIds) {
  std::vector<int32_t> ids = {9906, -5, 128256, 1 << 30, 1917};
  EXPECT_EQ(llama3().decode(ids), "Hello world");
}

TEST(StreamDecoder, EmojiSplitAcrossTokensIsHeldBack) {
  // Feed the 4 bytes of 😀 as 4 single-byte tokens: the worst case of a split.
  const std::string emoji = "\xF0\x9F\x98\x80";
  std::vector<int32_t> ids;
  for (char c : emoji) {
    std::vector<int32_t> one = llama3().encode(std::string(1, c), false);
    ids.insert(ids.end(), one.begin(), one.end());
  }
  ASSERT_EQ(ids.size(), 4u);
  StreamDecoder d(llama3());
  EXPECT_EQ(d.push(ids[0]), "");
  EXPECT_EQ(d.push(ids[1]), "");
  EXPECT_EQ(d.push(ids[2]), "");
  EXPECT_EQ(d.pending_bytes(), 3u);
  EXPECT_EQ(d.push(ids[3]), emoji);
  EXPECT_EQ(d.flush(), "");
}

TEST(StreamDecoder, ConcatenationEqualsDecodeAndIsAlwaysValid) {
  const std::string text =
      "na\xC3\xAFve caf\xC3\xA9 \xF0\x9F\x98\x80\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9 "
      "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E hello<|eot_id|>";
  std::vector<int32_t> ids = llama3().encode(text, false, true);
  StreamDecoder d(llama3());
  std::string all;
  for (int32_t id : ids) {
    std::string piece = d.push(id);
    std::string repaired;
    append_utf8_lossy(repaired, piece);
    EXPECT_EQ(repaired, piece) << "stream emitted invalid UTF-8 at id " << id;
    all += piece;
  }
  all += d.flush();
  EXPECT_EQ(all, text);
}

// A reply's visible text (herd run, the C API): control tokens add nothing, and
// the text around them is push()'s.
TEST(StreamDecoder, PushTextDropsSpecialTokens) {
  const std::vector<int32_t> ids =
      llama3().encode("Hello<|reserved_special_token_154|> world<|eot_id|>", false, true);
  ASSERT_EQ(ids.size(), 4u);
  StreamDecoder d(llama3());
  std::string all;
  for (int32_t id : ids) all += d.push_text(id);
  EXPECT_EQ(all, "Hello world");
  StreamDecoder raw(llama3());
  EXPECT_EQ(raw.push(ids[1]), "<|reserved_special_token_154|>");
}

TEST(StreamDecoder, InvalidBytesBecomeReplacementChars) {
  StreamDecoder d(llama3());
  std::vector<int32_t> ids = llama3().encode("a\xFF" "b\xF0\x9F", false);
  std::string all;
  for (int32_t id : ids) all += d.push(id);
  EXPECT_EQ(all, "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(d.flush(), "\xEF\xBF\xBD");  // the truncated emoji prefix is one U+FFFD
  EXPECT_EQ(d.flush(), "");
}

// Quadratic-behaviour guard: a 1 MB piece with no spaces must go through the heap-based
// merge loop in O(n log n). This takes well under a second in a release build; the 30 s
// bound is not a timing test, only a tripwire for an O(n^2) regression (which would take
// minutes) that still passes on slow sanitizer builds.
TEST(Tokenizer, OneMegabyteWithoutSpacesIsNotQuadratic) {
  std::string letters, digits_punct;
  letters.reserve(1 << 20);
  for (size_t i = 0; letters.size() < (1u << 20); ++i) letters += "abcdefghijklmnopqrstuvwxyz"[(i * 7 + i / 26) % 26];
  for (size_t i = 0; digits_punct.size() < (1u << 20); ++i) digits_punct += "~!@#$%^&*()_+{}|:<>?"[(i * 3 + i / 20) % 20];
  for (const std::string* s : {&letters, &digits_punct}) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<int32_t> ids = llama3().encode(*s, false);
    double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(sec, 30.0) << "1 MB piece took " << sec << " s: merge loop is likely quadratic";
    EXPECT_EQ(llama3().decode(ids), *s);
    EXPECT_LT(ids.size(), s->size());
  }
}

}  // namespace
}  // namespace herd::tokenizer
