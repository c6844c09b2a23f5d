// Tests for the importance-matrix collector and the imatrix.dat reader and
// writer (model/imatrix.h). The end-to-end statistics against a float64
// reference are in tests/e2e/test_imatrix.sh.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <unistd.h>

#include "base/mapped_file.h"
#include "model/imatrix.h"

namespace herd::model {
namespace {

std::string temp_path(const char* name) { return ::testing::TempDir() + "/" + name + std::to_string(getpid()); }

TEST(ImatrixCollector, SumsSquaresPerColumnAndCountsEvals) {
  ImatrixCollector c(false);
  const float x[2][3] = {{1, 2, 3}, {3, 0, -1}};
  c.begin_eval(16);
  c.tap("blk.0.attn_q.weight", &x[0][0], 1, 3);  // one eval, two calls: ncall 1
  c.tap("blk.0.attn_q.weight", &x[1][0], 1, 3);
  c.tap("output.weight", &x[0][0], 2, 3);        // not without process_output
  c.tap("blk.0.attn_norm", &x[0][0], 2, 3);      // an activation tap, not a matrix
  c.begin_eval(15);                              // under 16 tokens: skipped
  c.tap("blk.0.attn_q.weight", &x[0][0], 2, 3);
  c.begin_eval(20);
  c.tap("blk.0.attn_q.weight", &x[1][0], 1, 3);
  const ImatrixFile f = c.result(7, "calib.txt");
  ASSERT_EQ(f.entries.size(), 1u);
  const ImatrixEntry& e = f.entries[0];
  EXPECT_EQ(e.name, "blk.0.attn_q.weight");
  EXPECT_EQ(e.ncall, 2);
  // Rows (1,2,3), (3,0,-1), (3,0,-1): mean squares (19/3, 4/3, 11/3), times ncall 2.
  ASSERT_EQ(e.values.size(), 3u);
  EXPECT_FLOAT_EQ(e.values[0], 19.0f / 3 * 2);
  EXPECT_FLOAT_EQ(e.values[1], 4.0f / 3 * 2);
  EXPECT_FLOAT_EQ(e.values[2], 11.0f / 3 * 2);
  EXPECT_EQ(c.counted_evals(), 2);
}

TEST(ImatrixFile, RoundTripsAndRefusesBadFiles) {
  ImatrixFile f;
  f.entries.push_back({"blk.0.ffn_down.weight", 3, {1.5f, 0.25f}});
  f.entries.push_back({"output.weight", 3, {2.0f}});
  f.chunks = 3;
  f.dataset = "wiki.train.raw";
  const std::string path = temp_path("imatrix");
  ASSERT_TRUE(write_imatrix_dat(path, f).has_value());
  Result<std::string> bytes = read_text_file(path);
  ASSERT_TRUE(bytes.has_value());
  // int32 count; per entry len, name, ncall, nval, floats; trailer chunks, len, name.
  EXPECT_EQ(bytes->size(), 4 + (4 + 21 + 8 + 8) + (4 + 13 + 8 + 4) + 8 + 14u);
  Result<ImatrixFile> back = read_imatrix_dat(path);
  ASSERT_TRUE(back.has_value()) << back.error().to_string();
  ASSERT_EQ(back->entries.size(), 2u);
  EXPECT_EQ(back->entries[0].name, "blk.0.ffn_down.weight");
  EXPECT_EQ(back->entries[0].values, f.entries[0].values);
  EXPECT_EQ(back->chunks, 3);
  EXPECT_EQ(back->dataset, "wiki.train.raw");

  auto refused = [&](std::string b, const char* words) {
    ASSERT_TRUE(write_file(path, b.data(), b.size()).has_value());
    Result<ImatrixFile> r = read_imatrix_dat(path);
    ASSERT_FALSE(r.has_value()) << words;
    EXPECT_NE(r.error().to_string().find(words), std::string::npos) << r.error().to_string();
  };
  const std::string good = *bytes;
  for (size_t n : {0, 3, 10, 30, 40}) refused(good.substr(0, n), path.c_str());  // truncated
  std::string many = good;
  const int32_t huge = 1 << 30;
  std::memcpy(many.data(), &huge, 4);
  refused(many, "cannot be in");
  std::string neg = good;
  const float minus = -1.0f;
  std::memcpy(neg.data() + 4 + 4 + 21 + 8, &minus, 4);
  refused(neg, "not a finite non-negative");
  std::string twice = good.substr(0, 4) + good.substr(4, 41) + good.substr(4, 41) + good.substr(4 + 41 + 29);
  refused(twice, "appears twice");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace herd::model
