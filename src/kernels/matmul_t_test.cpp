// matmul_t (the transposed product dY . W, kernels/ops.h) against its scalar
// reference on every ISA the host has, every dtype with kernels, the file
// layout and the r8 and r16 repacked layouts:
//   |got - exact| <= gamma_N * sum_n |dy[t,n] W[n,k]|,  gamma_N = N u / (1 - N u),
// the worst case of N f32 additions of products each rounded once (or fused):
// the reference is exact (double sums of the reference dequantization, whose
// values are f32), so this is the whole budget. Also: the same bits for 1 and
// 2 threads and for a token computed alone or among others, and a negative
// control (a weight one element off fails the bound).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/isa_test.h"
#include "kernels/kernel_table.h"
#include "kernels/ops.h"
#include "tensor/quant.h"
#include "tensor/repack_r16.h"
#include "tensor/repack_r8.h"

namespace herd::kernels {
namespace {

constexpr double kU = 1.0 / 16777216.0;  // 2^-24

struct Stored {
  std::vector<uint8_t> bytes;
  TensorView view;
};

// N x K random weights in dtype t, in the file layout (interleave 1) or
// repacked to r8 or r16 (interleave 8, 16).
Stored make_weight(DType t, int64_t N, int64_t K, int interleave, uint64_t seed) {
  const std::vector<float> w = normals(seed, 7, N * K);
  const int64_t rb = row_bytes(t, K);
  std::vector<uint8_t> file(static_cast<size_t>(N * rb));
  for (int64_t n = 0; n < N; ++n) quantize_row_ref(t, w.data() + n * K, file.data() + n * rb, K);
  Stored s;
  s.view.dtype = t;
  s.view.shape = {N, K};
  if (interleave == 1) {
    s.bytes = std::move(file);
  } else if (interleave == 8) {
    s.bytes.resize(static_cast<size_t>(N / 8 * r8_group_bytes(t, K)));
    repack_r8(t, file.data(), N, K, s.bytes.data());
  } else {
    s.bytes.resize(static_cast<size_t>(N / kR16Rows * r16_group_bytes(K)));
    repack_r16(t, file.data(), N, K, s.bytes.data(), t);
  }
  s.view.interleave = interleave;
  s.view.data = s.bytes.data();
  return s;
}

// Elements outside the bound gamma_N * abs_sum; 0 when all are inside.
int64_t outside_bound(const std::vector<float>& got, const std::vector<double>& want, const std::vector<double>& abs_sum,
                      int64_t N) {
  const double gamma = N * kU / (1 - N * kU);
  int64_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::fabs(got[i] - want[i]) <= gamma * abs_sum[i])) ++bad;
  return bad;
}

class MatmulTTest : public IsaTableTest {};

INSTANTIATE_TEST_SUITE_P(AllIsas, MatmulTTest, ::testing::ValuesIn(all_isas()), isa_test_name);

TEST_P(MatmulTTest, EqualsExactProductWithinBoundOnEveryDtypeAndLayout) {
  ThreadPool one(1), two(2);
  // K: three column chunks and a part (768 + 256 = 4 chunks for K-quants; 800
  // for 32-blocks: a partial last chunk); N: not a multiple of the row block
  // in the file layout.
  for (DType t : dtypes_with_kernels()) {
    const int64_t K = dtype_info(t).block_elems == 256 ? 1024 : 800;
    for (int il : {1, 8, 16}) {
      if ((il == 8 && !has_r8_layout(t)) || (il == 16 && !has_r16_layout(t))) continue;
      const int64_t N = il == 1 ? 43 : 48;
      SCOPED_TRACE(std::string(dtype_name(t)) + " interleave " + std::to_string(il));
      const Stored w = make_weight(t, N, K, il, 17 + static_cast<uint64_t>(t));
      for (int64_t T : {1, 5, 37, 133}) {  // 133: two token tiles, the second partial
        const std::vector<float> dy = normals(99 + static_cast<uint64_t>(T), 7, T * N);
        std::vector<double> want(static_cast<size_t>(T * K)), abs_sum(want.size());
        matmul_t_ref(dy.data(), T, w.view, want.data(), abs_sum.data());
        std::vector<float> got1(want.size(), NAN), got2(want.size(), NAN);
        matmul_t(ExecContext{&one, &table_}, dy.data(), T, w.view, got1.data());
        matmul_t(ExecContext{&two, &table_}, dy.data(), T, w.view, got2.data());
        EXPECT_EQ(outside_bound(got1, want, abs_sum, N), 0) << "T " << T;
        EXPECT_EQ(std::memcmp(got1.data(), got2.data(), got1.size() * sizeof(float)), 0) << "1 vs 2 threads, T " << T;
        // The last token alone: the same bits as within the batch.
        std::vector<float> last(static_cast<size_t>(K));
        matmul_t(ExecContext{&two, &table_}, dy.data() + (T - 1) * N, 1, w.view, last.data());
        EXPECT_EQ(std::memcmp(last.data(), got1.data() + (T - 1) * K, last.size() * sizeof(float)), 0) << "T " << T;
      }
    }
  }
}

// Negative control: the bound is tight enough to catch one wrong weight row
// (the reference computed with row 3 of a different weight).
TEST_P(MatmulTTest, BoundCatchesAWrongRow) {
  ThreadPool pool(2);
  const int64_t N = 16, K = 256, T = 4;
  const Stored w = make_weight(DType::kQ8_0, N, K, 1, 5);
  Stored other = make_weight(DType::kQ8_0, N, K, 1, 6);
  std::memcpy(other.bytes.data(), w.bytes.data(), other.bytes.size());
  const int64_t rb = row_bytes(DType::kQ8_0, K);
  other.bytes[static_cast<size_t>(3 * rb + 2)] ^= 0x10;  // one quant of row 3
  const std::vector<float> dy = normals(3, 7, T * N);
  std::vector<double> want(static_cast<size_t>(T * K)), abs_sum(want.size());
  matmul_t_ref(dy.data(), T, other.view, want.data(), abs_sum.data());
  std::vector<float> got(want.size());
  matmul_t(ExecContext{&pool, &table_}, dy.data(), T, w.view, got.data());
  EXPECT_GT(outside_bound(got, want, abs_sum, N), 0);
}

}  // namespace
}  // namespace herd::kernels
