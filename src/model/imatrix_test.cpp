// Tests for the importance-matrix collector and the imatrix readers and
// writers, .dat and GGUF (model/imatrix.h). The end-to-end statistics against a float64
// reference are in tests/e2e/test_imatrix.sh.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <unistd.h>

#include "base/mapped_file.h"
#include "formats/gguf.h"
#include "formats/gguf_writer.h"
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
  f.entries.push_back({"blk.0.ffn_down.weight", 3, 0.0f, {1.5f, 0.25f}});
  f.entries.push_back({"output.weight", 3, 0.0f, {2.0f}});
  f.chunks = 3;
  f.dataset = "wiki.train.raw";
  const std::string path = temp_path("imatrix");
  ASSERT_TRUE(write_imatrix(path, f).has_value());
  Result<std::string> bytes = read_text_file(path);
  ASSERT_TRUE(bytes.has_value());
  // int32 count; per entry len, name, ncall, nval, floats; trailer chunks, len, name.
  EXPECT_EQ(bytes->size(), 4 + (4 + 21 + 8 + 8) + (4 + 13 + 8 + 4) + 8 + 14u);
  Result<ImatrixFile> back = read_imatrix(path);
  ASSERT_TRUE(back.has_value()) << back.error().to_string();
  ASSERT_EQ(back->entries.size(), 2u);
  EXPECT_EQ(back->entries[0].name, "blk.0.ffn_down.weight");
  EXPECT_EQ(back->entries[0].values, f.entries[0].values);
  EXPECT_EQ(back->chunks, 3);
  EXPECT_EQ(back->dataset, "wiki.train.raw");

  auto refused = [&](std::string b, const char* words) {
    ASSERT_TRUE(write_file(path, b.data(), b.size()).has_value());
    Result<ImatrixFile> r = read_imatrix(path);
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

// The GGUF format, as llama-imatrix writes it: the collector's sums and row
// counts (not means), metadata keys and types, tensors sorted by name as
// "<name>.in_sum2" [1, n] and "<name>.counts" [1, 1]; read back, the importance
// llama-quantize uses (in_sum2 / counts) equals the .dat file's (values / ncall).
TEST(ImatrixFile, GgufAsLlamaImatrixWritesIt) {
  ImatrixCollector c(true);
  const float x[2][3] = {{1, 2, 3}, {3, 0, -1}};
  c.begin_eval(16);
  c.tap("output.weight", &x[0][0], 2, 3);
  c.tap("blk.0.attn_q.weight", &x[1][0], 1, 3);
  const ImatrixFile g = c.result(5, "calib.txt", true, 512);
  const ImatrixFile d = c.result(5, "calib.txt");
  const std::string path = temp_path("imatrix.gguf");
  ASSERT_TRUE(write_imatrix(path, g).has_value());
  Result<formats::GgufFile> raw = formats::GgufFile::open(path);
  ASSERT_TRUE(raw.has_value()) << raw.error().to_string();
  EXPECT_EQ(*raw->get_string("general.type"), "imatrix");
  EXPECT_EQ(raw->find("imatrix.chunk_count")->type_string(), "u32");
  EXPECT_EQ(*raw->get_uint("imatrix.chunk_count"), 5u);
  EXPECT_EQ(*raw->get_uint("imatrix.chunk_size"), 512u);
  EXPECT_EQ(*raw->find("imatrix.datasets")->as_string_array(), std::vector<std::string>{"calib.txt"});
  ASSERT_EQ(raw->tensors().size(), 4u);
  const char* names[] = {"blk.0.attn_q.weight.in_sum2", "blk.0.attn_q.weight.counts", "output.weight.in_sum2",
                         "output.weight.counts"};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(raw->tensors()[static_cast<size_t>(i)].name, names[i]);
  const formats::GgufTensor* out = raw->find_tensor("output.weight.in_sum2");
  EXPECT_EQ(out->shape, (std::vector<int64_t>{1, 3}));
  float sums[3], rows;
  std::memcpy(sums, out->data, 12);
  std::memcpy(&rows, raw->find_tensor("output.weight.counts")->data, 4);
  EXPECT_EQ(sums[0], 10.0f);  // 1 + 9
  EXPECT_EQ(sums[1], 4.0f);
  EXPECT_EQ(sums[2], 10.0f);
  EXPECT_EQ(rows, 2.0f);

  Result<ImatrixFile> back = read_imatrix(path);
  ASSERT_TRUE(back.has_value()) << back.error().to_string();
  EXPECT_TRUE(back->gguf);
  EXPECT_EQ(back->chunks, 5);
  EXPECT_EQ(back->chunk_size, 512);
  EXPECT_EQ(back->dataset, "calib.txt");
  ASSERT_EQ(back->entries.size(), 2u);
  for (const ImatrixEntry& e : back->entries) {
    const ImatrixEntry* same = nullptr;
    for (const ImatrixEntry& de : d.entries)
      if (de.name == e.name) same = &de;
    ASSERT_NE(same, nullptr) << e.name;
    const std::vector<float> a = imatrix_importance(*back, e), b = imatrix_importance(d, *same);
    ASSERT_EQ(a.size(), b.size());
    for (size_t j = 0; j < a.size(); ++j) EXPECT_FLOAT_EQ(a[j], b[j]) << e.name << " " << j;
  }

  // Refusals: another GGUF type, a missing counts tensor, a negative count, an MoE-shaped entry.
  auto refused = [&](const std::function<void(formats::GgufWriter&)>& build, const char* words) {
    formats::GgufWriter w;
    build(w);
    Result<std::string> bytes = w.write_to_string();
    ASSERT_TRUE(bytes.has_value());
    Result<ImatrixFile> r = parse_imatrix(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size(), "t.gguf");
    ASSERT_FALSE(r.has_value()) << words;
    EXPECT_NE(r.error().to_string().find(words), std::string::npos) << r.error().to_string();
  };
  auto f32 = [](std::vector<float> v) {
    return [v](uint8_t* dst, uint64_t n) -> Status {
      std::memcpy(dst, v.data(), static_cast<size_t>(n));
      return Ok{};
    };
  };
  auto keys = [](formats::GgufWriter& w, const char* type) {
    w.set("general.type", formats::GgufValue::string(type));
    w.set("imatrix.chunk_count", formats::GgufValue::u32(1));
    w.set("imatrix.chunk_size", formats::GgufValue::u32(512));
  };
  refused([&](formats::GgufWriter& w) {
    keys(w, "model");
    (void)w.add_tensor("a.in_sum2", DType::kF32, {1, 2}, f32({1, 2}));
  }, "not an imatrix");
  refused([&](formats::GgufWriter& w) {
    keys(w, "imatrix");
    (void)w.add_tensor("a.in_sum2", DType::kF32, {1, 2}, f32({1, 2}));
  }, "counts [1, 1]");
  refused([&](formats::GgufWriter& w) {
    keys(w, "imatrix");
    (void)w.add_tensor("a.in_sum2", DType::kF32, {1, 2}, f32({1, 2}));
    (void)w.add_tensor("a.counts", DType::kF32, {1, 1}, f32({-3}));
  }, "counts -3 rows");
  refused([&](formats::GgufWriter& w) {
    keys(w, "imatrix");
    (void)w.add_tensor("a.in_sum2", DType::kF32, {2, 2}, f32({1, 2, 3, 4}));
    (void)w.add_tensor("a.counts", DType::kF32, {2, 1}, f32({1, 1}));
  }, "dense models");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace herd::model
