// Vocab tests: tokenizer.model parsing and its errors, byte-level mapping, GGUF and HF
// tokenizer.json round trips, and the synthesised merges count.
#include "tokenizer/vocab.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include "tokenizer/tokenizer.h"

#include "tokenizer/byte_level.h"
#include "tokenizer/embedded_vocab.h"
#include "tokenizer/vocab_export.h"

namespace herd::tokenizer {
namespace {

const Vocab& llama3_vocab() {
  static const Vocab* v = [] {
    auto r = vocab_from_tiktoken(embedded_llama3_tokenizer_model());
    if (!r) {
      ADD_FAILURE() << r.error().to_string();
      std::abort();
    }
    return new Vocab(std::move(*r));
  }();
  return *v;
}

TEST(Vocab, TiktokenFileFacts) {
  const Vocab& v = llama3_vocab();
  ASSERT_EQ(v.size(), 128256);
  EXPECT_EQ(v.n_ranked, 128000);
  // Spec 4.1: ids 0..255 are single bytes in bytes_to_unicode order.
  EXPECT_EQ(v.token_bytes[0], "!");
  EXPECT_EQ(v.token_bytes[93], "~");
  EXPECT_EQ(v.token_bytes[188], std::string(1, '\0'));
  EXPECT_EQ(v.token_bytes[220], " ");
  EXPECT_EQ(v.token_bytes[255], "\xAD");
  size_t longest = 0, multi = 0;
  for (int32_t i = 0; i < v.n_ranked; ++i) {
    longest = std::max(longest, v.token_bytes[static_cast<size_t>(i)].size());
    multi += v.token_bytes[static_cast<size_t>(i)].size() >= 2;
  }
  EXPECT_EQ(longest, 128u);
  EXPECT_EQ(multi, 127744u);
  for (int32_t i = 0; i < v.size(); ++i) {
    EXPECT_EQ(v.token_types[static_cast<size_t>(i)], i < 128000 ? kTokenTypeNormal : kTokenTypeControl);
  }
  EXPECT_EQ(llama3_special_token_names().size(), 256u);
}

TEST(Vocab, TiktokenErrorsNameTheLine) {
  auto expect_error = [](const std::string& text, const char* needle) {
    auto r = vocab_from_tiktoken(text);
    ASSERT_FALSE(r.has_value()) << text;
    EXPECT_NE(r.error().message().find(needle), std::string::npos) << r.error().to_string();
  };
  expect_error("IQ== 0\nIg== 1\nIw=! 2\n", "line 3");      // bad base64
  expect_error("IQ== 0\n\nIg== 2\n", "line 3");            // rank gap (blank line skipped)
  expect_error("IQ== 0\nIg== 1 extra\n", "line 2");        // extra field
  expect_error("IQ== 0\nIQ== 1\n", "same bytes");          // duplicate
  expect_error("IQ== 0\nIg==\n", "line 2");                // missing rank
  expect_error("IQ== 0\nIg== -1\n", "line 2");             // bad rank
  expect_error("", "no tokens");
  auto ok = vocab_from_tiktoken("IQ== 0\r\n\r\nIg== 1\r\n");
  ASSERT_TRUE(ok.has_value()) << ok.error().to_string();
  EXPECT_EQ(ok->n_ranked, 2);
  EXPECT_EQ(ok->bos_id, 2);  // specials follow the ranked tokens
}

TEST(ByteLevel, MappingMatchesSpec) {
  EXPECT_EQ(bytes_to_byte_level(" "), "\xC4\xA0");      // U+0120 Ġ
  EXPECT_EQ(bytes_to_byte_level("\n"), "\xC4\x8A");     // U+010A Ċ
  EXPECT_EQ(bytes_to_byte_level("\t"), "\xC4\x89");     // U+0109 ĉ
  EXPECT_EQ(bytes_to_byte_level(std::string(1, '\0')), "\xC4\x80");
  EXPECT_EQ(bytes_to_byte_level("\x7F"), "\xC4\xA1");   // U+0121 ġ
  EXPECT_EQ(bytes_to_byte_level("\xAD"), "\xC5\x83");   // U+0143 Ń
  EXPECT_EQ(bytes_to_byte_level("A\xE9"), "A\xC3\xA9");
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  auto back = byte_level_to_bytes(bytes_to_byte_level(all));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, all);
  EXPECT_FALSE(byte_level_to_bytes("\xC5\x84").has_value());  // U+0144 is outside the map
  EXPECT_FALSE(byte_level_to_bytes(" ").has_value());         // raw space is not byte-level
  EXPECT_FALSE(byte_level_to_bytes("\xFF").has_value());
}

TEST(VocabExport, GgufTokensRoundTrip) {
  const Vocab& v = llama3_vocab();
  std::vector<std::string> strings = gguf_token_strings(v);
  ASSERT_EQ(strings.size(), 128256u);
  EXPECT_EQ(strings[220], "\xC4\xA0");
  EXPECT_EQ(strings[128009], "<|eot_id|>");
  std::vector<int32_t> t32 = gguf_token_types(v);
  std::vector<int64_t> types(t32.begin(), t32.end());
  auto back = vocab_from_gguf_tokens(strings, types);
  ASSERT_TRUE(back.has_value()) << back.error().to_string();
  EXPECT_TRUE(*back == v);

  types[5] = kTokenTypeControl;  // a special among the ranked tokens
  EXPECT_FALSE(vocab_from_gguf_tokens(strings, types).has_value());
  types[5] = 2;
  EXPECT_FALSE(vocab_from_gguf_tokens(strings, types).has_value());
  types.pop_back();
  EXPECT_FALSE(vocab_from_gguf_tokens(strings, types).has_value());
}

// Spec 4.6/4.7: a GGUF dump of the Llama 3.x vocab shows 280147 merges. Every split of a
// ranked token into two ranked tokens is one merge (see vocab_export.h for why the
// "both halves rank lower" variant, 230517, is not what the converter writes).
TEST(VocabExport, MergesMatchRealGgufCount) {
  std::vector<std::string> merges = gguf_merges(llama3_vocab());
  EXPECT_EQ(merges.size(), 280147u);
  // The first merges form ids 256.. in rank order: id 256 is "  " (two spaces).
  ASSERT_FALSE(merges.empty());
  EXPECT_EQ(merges[0], "\xC4\xA0 \xC4\xA0");
}

TEST(VocabExport, HfTokenizerJsonRoundTrip) {
  const Vocab& v = llama3_vocab();
  std::string json = hf_tokenizer_json(v);
  EXPECT_NE(json.find("\"ignore_merges\": true"), std::string::npos);
  EXPECT_NE(json.find("\"TemplateProcessing\""), std::string::npos);
  auto back = vocab_from_hf_tokenizer_json(json);
  ASSERT_TRUE(back.has_value()) << back.error().to_string();
  EXPECT_TRUE(*back == v);

  std::string config = hf_tokenizer_config_json(v, /*instruct=*/true);
  EXPECT_NE(config.find("\"eos_token\": \"<|eot_id|>\""), std::string::npos) << config.substr(0, 400);
  EXPECT_NE(config.find("\"model_max_length\": 131072"), std::string::npos);
  EXPECT_NE(hf_tokenizer_config_json(v, false).find("\"eos_token\": \"<|end_of_text|>\""), std::string::npos);
}

TEST(VocabExport, HfTokenizerJsonRejectsOtherTokenizers) {
  EXPECT_FALSE(vocab_from_hf_tokenizer_json("not json").has_value());
  EXPECT_FALSE(vocab_from_hf_tokenizer_json("[]").has_value());
  EXPECT_FALSE(vocab_from_hf_tokenizer_json(R"({"model": {"type": "Unigram", "vocab": []}})").has_value());
  EXPECT_FALSE(vocab_from_hf_tokenizer_json(R"({"model": {"type": "BPE", "vocab": {"a": "x"}}})").has_value());
  auto other_regex = vocab_from_hf_tokenizer_json(
      R"({"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split",
          "pattern": {"Regex": "\\s+"}, "behavior": "Isolated", "invert": false}]},
          "model": {"type": "BPE", "vocab": {"a": 0}}})");
  ASSERT_FALSE(other_regex.has_value());
  EXPECT_EQ(other_regex.error().code(), ErrorCode::kUnsupported);
}

}  // namespace
}  // namespace herd::tokenizer

namespace herd::tokenizer {
namespace {

// The tokenizer_json_fuzz seed is a tokenizer.json the fuzzer's deep path
// accepts: it parses, has the Llama 3 specials, builds a Tokenizer, and
// round-trips text using its merges (so fuzzing starts past the parser).
TEST(HfTokenizerJson, FuzzSeedReachesTheTokenizer) {
  const char* src = std::getenv("HERD_SOURCE_DIR");
  ASSERT_NE(src, nullptr);
  std::ifstream f(std::string(src) + "/tests/fuzz_seeds/tokenizer_json_fuzz/small_bpe.json");
  ASSERT_TRUE(f.good());
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  Result<Vocab> v = vocab_from_hf_tokenizer_json(text);
  ASSERT_TRUE(v.has_value()) << v.error().to_string();
  ASSERT_TRUE(assign_llama3_special_ids(*v).has_value());
  Result<Tokenizer> tok = Tokenizer::from_vocab(std::move(*v));
  ASSERT_TRUE(tok.has_value()) << tok.error().to_string();
  const std::vector<int32_t> ids = tok->encode("Hello world", false);
  EXPECT_EQ(ids.size(), 2u);  // "Hello" and " world" are single tokens of the seed
  EXPECT_EQ(tok->decode(ids), "Hello world");
}

}  // namespace
}  // namespace herd::tokenizer
