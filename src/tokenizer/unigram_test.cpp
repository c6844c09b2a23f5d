// The unigram tokenizer (unigram.h, sp_normalizer.h) on hand-built
// tokenizer.json files: the best-scoring segmentation, runs of unknown
// characters fused, special pieces never matched in text, SentencePiece's
// whitespace rules, the template, and refusals of malformed files. The ids
// against Google's SentencePiece on a trained model: tests/e2e/test_prompt_guard.sh.
#include <gtest/gtest.h>

#include <string>

#include "tokenizer/unigram.h"

namespace herd::tokenizer {
namespace {

// "\u2581" is the escaped space.
std::string json_with(const std::string& vocab, const std::string& extra = "") {
  return R"({"model":{"type":"Unigram","unk_id":0,"vocab":[["[UNK]",0],["[CLS]",0],["[SEP]",0],)" + vocab +
         R"(]},"added_tokens":[{"id":0,"content":"[UNK]","special":true},{"id":1,"content":"[CLS]","special":true},)"
         R"({"id":2,"content":"[SEP]","special":true}],)"
         R"("normalizer":{"type":"Sequence","normalizers":[{"type":"Strip"},{"type":"Replace","pattern":{"Regex":" {2,}"},"content":" "}]},)"
         R"("pre_tokenizer":{"type":"Metaspace","replacement":"\u2581","prepend_scheme":"always"},)"
         R"("post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"[CLS]","type_id":0}},)"
         R"({"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"[SEP]","type_id":0}}],)"
         R"("special_tokens":{"[CLS]":{"id":"[CLS]","ids":[1]},"[SEP]":{"id":"[SEP]","ids":[2]}}})" +
         extra + "}";
}

const char* kVocab =
    R"(["\u2581",-2],["a",-3],["b",-3],["c",-3],["ab",-4],["\u2581ab",-5],["\u2581abc",-9.5],["[",-8],["]",-8],)"
    R"(["C",-8],["L",-8],["S",-8])";  // ids 3..14

TEST(Unigram, BestSegmentationUnknownRunsAndSpecialsAsText) {
  Result<UnigramTokenizer> t = UnigramTokenizer::from_json(json_with(kVocab), "test");
  ASSERT_TRUE(t.has_value()) << t.error().to_string();
  // "▁abc": ▁ab + c scores -8, above ▁abc's -9.5 and ▁ + ab + c's -9.
  EXPECT_EQ(t->encode("abc"), (std::vector<int32_t>{8, 6}));
  // Whitespace: leading/trailing dropped, runs collapsed, a dummy prefix.
  EXPECT_EQ(t->encode("  ab   ab "), (std::vector<int32_t>{8, 8}));
  EXPECT_EQ(t->normalize("  ab   ab "), "\xe2\x96\x81" "ab" "\xe2\x96\x81" "ab");
  // Unknown characters: one [UNK] per run.
  EXPECT_EQ(t->encode("xyz ab"), (std::vector<int32_t>{3, 0, 8}));
  // "[CLS]" in the text is characters, never the control id 1.
  const std::vector<int32_t> ids = t->encode("[CLS]");
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 1), 0);
  EXPECT_EQ(t->prefix_ids(), std::vector<int32_t>{1});
  EXPECT_EQ(t->suffix_ids(), std::vector<int32_t>{2});
  EXPECT_TRUE(t->encode("").empty());
  EXPECT_TRUE(t->encode("   ").empty());
  EXPECT_EQ(t->special_id("[SEP]"), 2);
}

TEST(Unigram, RefusesMalformedFiles) {
  const auto refused = [](const std::string& text, const char* what) {
    Result<UnigramTokenizer> t = UnigramTokenizer::from_json(text, "bad.json");
    EXPECT_FALSE(t.has_value()) << what;
    if (!t.has_value()) {
      EXPECT_NE(t.error().to_string().find("bad.json"), std::string::npos) << what;
    }
  };
  refused("{", "not JSON");
  refused(R"({"model":{"type":"BPE"}})", "not a unigram");
  refused(json_with(R"(["a",-1],["a",-2])"), "a duplicate piece");
  refused(json_with(R"(["",-1])"), "an empty piece");
  refused(json_with(R"(["a","x"])"), "a score that is not a number");
  refused(json_with(kVocab).replace(json_with(kVocab).find("\"unk_id\":0"), 10, "\"unk_id\":99"), "unk_id out of range");
  refused(json_with(kVocab).replace(json_with(kVocab).find("{\"type\":\"Strip\"}"), 16, "{\"type\":\"NFKC\"}"),
          "an unknown normalizer");
  refused(json_with(kVocab).replace(json_with(kVocab).find("{\"type\":\"Strip\"}"), 16,
                                    "{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"AAAA\"}"),
          "a character map shorter than its trie");
  std::string deep(200, '[');
  refused(deep, "nesting");
}

TEST(SpNormalizer, LongestKeyWinsAndInvalidBytesBecomeReplacementCharacters) {
  SpNormalizerOptions plain;
  plain.add_dummy_prefix = false;
  plain.remove_extra_whitespaces = false;
  plain.escape_whitespaces = false;
  Result<SpNormalizer> n = SpNormalizer::create("", plain, "test");
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->normalize("a\xff" "b"), "a\xef\xbf\xbd" "b");
  EXPECT_EQ(n->normalize("\xe2\x82"), "\xef\xbf\xbd\xef\xbf\xbd");  // a truncated sequence: one per byte
  EXPECT_FALSE(SpNormalizer::create(std::string("\x08\x00\x00\x00\x01\x02\x03", 7), plain, "t").has_value());
  EXPECT_FALSE(SpNormalizer::create(std::string("\x03\x00\x00\x00\x01\x02\x03\x04", 8), plain, "t").has_value());
}

}  // namespace
}  // namespace herd::tokenizer
