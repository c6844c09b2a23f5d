// The model writers (model/model_writer.h) with a row source that is not
// make-model's: every value says which tensor, row and column it is, so what
// a loader reads back shows where each row went. GGUF keeps Meta's row
// order; HF stores q_proj/k_proj rows permuted per head (spec §2.4: stored row
// c * hd/2 + j holds Meta row 2j + c), everything else in order.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "model/llama_model.h"
#include "model/model_writer.h"
#include "tensor/quant.h"
#include "tokenizer/embedded_vocab.h"

namespace herd::model {
namespace {

// An exactly representable f32 code of (tensor, row, column).
float code(const TensorPlan& p, int64_t row, int64_t col) {
  return static_cast<float>(static_cast<int>(p.id) * 4096 + (row % 512)) + static_cast<float>(col % 64) / 64.0f;
}

std::vector<float> row_of(const TensorView& t, int64_t r) {
  std::vector<float> v(static_cast<size_t>(t.cols()));
  dequantize_row_ref(t.dtype, t.row(r), v.data(), t.cols());
  return v;
}

TEST(ModelWriter, RowsLandWhereTheFormatPutsThem) {
  const std::string dir = std::filesystem::temp_directory_path().string() + "/herd_writer_test_" +
                          std::to_string(static_cast<long>(getpid()));
  std::filesystem::create_directories(dir);
  ModelShape s{"custom", 128, 2, 4, 2, 256, 32, false};
  ModelPlan plan = plan_llama(s, DType::kF32);
  plan.name = "writer test";
  Result<tokenizer::Vocab> vocab = tokenizer::vocab_from_tiktoken(tokenizer::embedded_llama3_tokenizer_model());
  ASSERT_TRUE(vocab.has_value());
  ASSERT_TRUE(tokenizer::assign_llama3_special_ids(*vocab).has_value());
  const RowSource rows = [](const TensorPlan& p, int64_t r, float* dst) {
    for (int64_t c = 0; c < p.shape.back(); ++c) dst[c] = code(p, r, c);
  };
  ThreadPool pool(2);
  ASSERT_TRUE(write_gguf_model(plan, rows, *vocab, pool, dir + "/m.gguf", nullptr).has_value());
  ASSERT_TRUE(write_hf_model(plan, rows, *vocab, pool, dir + "/hf", 1u << 20, nullptr).has_value());
  Result<LlamaModel> g = LlamaModel::load(dir + "/m.gguf");
  Result<LlamaModel> h = LlamaModel::load(dir + "/hf");
  ASSERT_TRUE(g.has_value()) << g.error().to_string();
  ASSERT_TRUE(h.has_value()) << h.error().to_string();
  const int64_t hd = s.head_dim;
  for (int64_t il = 0; il < s.n_layers; ++il) {
    const LayerWeights& gl = g->layers()[static_cast<size_t>(il)];
    const LayerWeights& hl = h->layers()[static_cast<size_t>(il)];
    const TensorPlan q{LlamaTensor::kWq, il, {}, DType::kF32};
    const TensorPlan v{LlamaTensor::kWv, il, {}, DType::kF32};
    for (int64_t r = 0; r < gl.wq.w.rows(); ++r) {
      EXPECT_EQ(row_of(gl.wq.w, r)[3], code(q, r, 3)) << "GGUF q row " << r;
      const int64_t head = r / hd, w = r % hd, meta = head * hd + 2 * (w % (hd / 2)) + w / (hd / 2);
      EXPECT_EQ(row_of(hl.wq.w, r)[3], code(q, meta, 3)) << "HF q row " << r;
    }
    for (int64_t r = 0; r < gl.wv.w.rows(); ++r) {
      EXPECT_EQ(row_of(gl.wv.w, r)[5], code(v, r, 5));
      EXPECT_EQ(row_of(hl.wv.w, r)[5], code(v, r, 5));
    }
  }
  // Norms: one row, in order, in both.
  const TensorPlan n0{LlamaTensor::kAttnNorm, 0, {}, DType::kF32};
  EXPECT_EQ(g->layers()[0].attn_norm[7], code(n0, 0, 7));
  EXPECT_EQ(h->layers()[0].attn_norm[7], code(n0, 0, 7));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace herd::model
