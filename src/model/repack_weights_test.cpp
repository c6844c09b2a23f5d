// LlamaModel::repack_weights (repack_weights.cpp) on F16 models, for every
// ISA the host runs: where the table has the bf16 path's r16 tile
// (avx512bf16) every layer matrix and an untied output table become BF16 in
// the r16 layout, each value the bf16 rounding of the file's F16 value, with
// file_dtype() still F16; a tied output table, which is also the embedding
// table, keeps the file's F16 bits (its embedding rows exact); elsewhere the
// layouts are those of the table (r8 on avx2..avx512vnni, the file's on ref).
#include <gtest/gtest.h>

#include <vector>

#include "base/half.h"
#include "base/thread_pool.h"
#include "kernels/isa_coverage.h"
#include "kernels/kernel_table.h"
#include "kernels/ops.h"
#include "model/llama_model.h"
#include "model/test_models.h"
#include "tensor/quant.h"

namespace herd::model {
namespace {

// Every row of `got` (any layout) against row r of `file` (the file layout):
// equal, or, with rounded, the bf16 rounding of each F16 value.
void expect_rows(const TensorView& got, const TensorView& file, bool rounded, const std::string& what) {
  const int64_t K = file.cols();
  std::vector<uint16_t> buf(static_cast<size_t>(K));
  for (int64_t r = 0; r < file.rows(); ++r) {
    const auto* g = reinterpret_cast<const uint16_t*>(got.file_row(r, 0, K, reinterpret_cast<uint8_t*>(buf.data())));
    const auto* f = reinterpret_cast<const uint16_t*>(file.row(r));
    for (int64_t k = 0; k < K; ++k) {
      const uint16_t want = rounded ? f32_to_bf16(f16_to_f32(f[k])) : f[k];
      ASSERT_EQ(g[k], want) << what << " row " << r << " column " << k;
    }
  }
}

TEST(RepackWeights, F16BecomesBf16R16WhereTheBf16PathRuns) {
  for (bool tied : {false, true}) {
    const std::string path = make_test_model(std::string("repack-f16") + (tied ? "-tied" : "") + ".gguf",
                                             std::string("d_model=64,n_layers=2,n_heads=4,n_kv_heads=2,d_ff=128,tied=") +
                                                 (tied ? "1" : "0"),
                                             "f16", 5);
    Result<LlamaModel> file = LlamaModel::load(path);
    ASSERT_TRUE(file.has_value()) << file.error().to_string();
    for (const std::string& isa : kernels::all_isas()) {
      if (!kernels::isa_runs_here(isa)) continue;
      Result<kernels::KernelTable> table = kernels::select_kernels(isa);
      ASSERT_TRUE(table.has_value()) << isa;
      Result<LlamaModel> m = LlamaModel::load(path);
      ASSERT_TRUE(m.has_value());
      ThreadPool pool(2);
      m->repack_weights(*table, pool);
      const bool r16 = table->repacks_r16(DType::kF16);
      const int want_il = r16 ? 16 : table->repacks(DType::kF16) ? 8 : 1;
      std::vector<TensorView> before;
      file->for_each_matmul_weight([&](int64_t, LlamaTensor, const TensorView& w) { before.push_back(w); });
      size_t i = 0;
      m->for_each_matmul_weight([&](int64_t layer, LlamaTensor t, const TensorView& w) {
        const std::string what = isa + (tied ? " tied " : " ") + llama_tensor_info(t).field + " layer " +
                                 std::to_string(layer);
        const bool keep = layer < 0 && tied;  // the tied output table
        EXPECT_EQ(w.interleave, want_il) << what;
        EXPECT_EQ(w.dtype, r16 && !keep ? DType::kBF16 : DType::kF16) << what;
        EXPECT_EQ(w.rounded_from_f16, r16 && !keep) << what;
        EXPECT_EQ(w.file_dtype(), DType::kF16) << what;
        expect_rows(w, before[i++], r16 && !keep, what);
      });
      ASSERT_EQ(i, before.size());
      // The embedding rows stay the file's values.
      kernels::ExecContext ctx{&pool, &*table};
      std::vector<float> got(static_cast<size_t>(m->config().d_model)), want(got.size());
      for (int64_t r : {0, 7, 255}) {
        kernels::embedding_row(ctx, m->tok_embd(), r, got.data());
        dequantize_row_ref(DType::kF16, file->tok_embd().row(r), want.data(), m->config().d_model);
        EXPECT_EQ(got, want) << isa << (tied ? " tied" : "") << " embedding row " << r;
      }
    }
  }
}

}  // namespace
}  // namespace herd::model
