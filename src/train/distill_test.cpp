// The teacher cache (distill.h): a written cache reads back equal; caches whose
// sizes or offsets disagree are refused; check_teacher_cache names what differs
// (tokenizer, k or temperature, data).
#include "train/distill.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace herd::train {
namespace {

const tokenizer::Tokenizer& tok() {
  static const tokenizer::Tokenizer t = *tokenizer::Tokenizer::llama3();
  return t;
}

SftData two_examples() {
  SftData d;
  d.examples.resize(2);
  d.examples[0].ids = {128000, 791, 4062, 14198};
  d.examples[0].trained = {false, true, true, true};
  d.examples[1].ids = {128000, 9906, 1917};
  d.examples[1].trained = {false, false, true};
  return d;
}

TeacherCache cache_for(const SftData& d) {
  TeacherCache c;
  c.k = 2;
  c.temperature = 1.5;
  c.data_fingerprint = data_fingerprint(d);
  c.tokenizer_fingerprint = tok().fingerprint();
  c.teacher = "t.gguf";
  c.offsets = {0, 3, 4};
  c.ids = {1, 2, 3, 4, 5, 6, 7, 8};
  c.logits = {1.5f, 1.0f, 2.5f, -1.0f, 0.0f, -0.5f, 3.0f, 2.0f};
  c.lse = {4.25, 5.5, 6.125, 7.0};
  return c;
}

TEST(TeacherCache, WrittenCacheReadsBackEqual) {
  const SftData d = two_examples();
  const TeacherCache c = cache_for(d);
  const std::string path = (std::filesystem::temp_directory_path() / "herd_teacher_cache_test.st").string();
  ASSERT_TRUE(write_teacher_cache(path, c).has_value());
  Result<TeacherCache> r = read_teacher_cache(path);
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(r->k, c.k);
  EXPECT_EQ(r->temperature, c.temperature);
  EXPECT_EQ(r->offsets, c.offsets);
  EXPECT_EQ(r->ids, c.ids);
  EXPECT_EQ(r->logits, c.logits);
  EXPECT_EQ(r->lse, c.lse);
  EXPECT_EQ(r->teacher, "t.gguf");
  DistillOptions o;
  o.top_k = 2;
  o.temperature = 1.5;
  EXPECT_TRUE(check_teacher_cache(*r, d, o, tok().fingerprint()).has_value());

  // Inconsistent offsets (the last does not end at the rows) are refused on reading.
  TeacherCache bad = c;
  bad.offsets = {0, 3, 5};
  ASSERT_TRUE(write_teacher_cache(path, bad).has_value());
  Result<TeacherCache> rb = read_teacher_cache(path);
  ASSERT_FALSE(rb.has_value());
  EXPECT_NE(rb.error().message().find("inconsistent"), std::string::npos) << rb.error().message();
  std::filesystem::remove(path);
}

TEST(TeacherCache, MismatchesAreNamed) {
  const SftData d = two_examples();
  const TeacherCache c = cache_for(d);
  DistillOptions o;
  o.top_k = 2;
  o.temperature = 1.5;
  Status s = check_teacher_cache(c, d, o, "0000000000000000");
  ASSERT_FALSE(s.has_value());
  EXPECT_NE(s.error().message().find("tokenizer"), std::string::npos);
  o.top_k = 3;
  s = check_teacher_cache(c, d, o, c.tokenizer_fingerprint);
  ASSERT_FALSE(s.has_value());
  EXPECT_NE(s.error().message().find("top-2"), std::string::npos);
  o.top_k = 2;
  SftData other = d;
  other.examples[1].trained[1] = true;  // one more trained position
  s = check_teacher_cache(c, other, o, c.tokenizer_fingerprint);
  ASSERT_FALSE(s.has_value());
  EXPECT_NE(s.error().message().find("other data"), std::string::npos);
}

}  // namespace
}  // namespace herd::train
