// The bf16 products of training (--bf16): the table's gemm_bf16_pairs against
// its specification gemm_bf16_pairs_ref, and matmul_bf16_products /
// matmul_t_bf16_products (kernels/ops.h) against matmul_bf16_products_ref on
// every ISA that has a bf16 product, every dtype, in the file layout.
//
// Bound: the specification sums the exact products of the bf16-rounded
// operands in double and rounds once; the kernels sum the same exact products
// (a product of two bf16 is exact in f32) in f32 in some order, so
//   |got - spec| <= gamma_m * sum |products|,  gamma_m = m u / (1 - m u),
// m the reduction's length (Kp, K or N; + 1 when accumulating onto C or
// scaling by a row scale), u = 2^-24: the whole budget. The negative controls:
// the exact f32 products (no rounding) fall outside it, as does a B with the
// halves of one pair swapped. Also: the same bits for 1 and 2 threads, for a
// token alone and among others, for M and N split, and for a reduction cut in
// blocks with `accumulate`.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "base/half.h"
#include "base/thread_pool.h"
#include "kernels/backward.h"
#include "kernels/isa_test.h"
#include "kernels/kernel_table.h"
#include "kernels/ops.h"
#include "tensor/quant.h"

namespace herd::kernels {
namespace {

constexpr double kU = 1.0 / 16777216.0;  // 2^-24

double gamma(int64_t m) { return static_cast<double>(m) * kU / (1 - static_cast<double>(m) * kU); }

std::vector<uint16_t> bf16_normals(uint64_t seed, int64_t n) {
  const std::vector<float> f = normals(seed, 3, n);
  std::vector<uint16_t> out(f.size());
  for (size_t i = 0; i < f.size(); ++i) out[i] = f32_to_bf16(f[i]);
  return out;
}

class GemmBf16PairsTest : public IsaTableTest {};
INSTANTIATE_TEST_SUITE_P(AllIsas, GemmBf16PairsTest, ::testing::ValuesIn(all_isas()), isa_test_name);

// B in the pair form, as rows (panel 16) or as panels of 16 columns (ldb 16).
struct PairB {
  std::vector<uint32_t> w;
  int64_t ldb = 0, panel = 0;
  uint32_t at(int64_t p, int64_t j) const { return w[static_cast<size_t>(p * ldb + j / 16 * panel + j % 16)]; }
};

// Random bf16 normals for Kp / 2 pair rows of Np columns (a multiple of 16),
// the same values in either layout; panels spaced by 16 words more than
// they need, rows by 16 words more than Np.
PairB pair_b(uint64_t seed, int64_t Kp, int64_t Np, bool panels) {
  const std::vector<uint16_t> h = bf16_normals(seed, Kp * Np);
  PairB b;
  b.ldb = panels ? 16 : Np + 16;
  b.panel = panels ? Kp / 2 * 16 + 16 : 16;
  b.w.resize(static_cast<size_t>(panels ? Np / 16 * b.panel : Kp / 2 * b.ldb));
  for (int64_t p = 0; p < Kp / 2; ++p)
    for (int64_t j = 0; j < Np; ++j) {
      const size_t e = static_cast<size_t>(2 * (p * Np + j));
      b.w[static_cast<size_t>(p * b.ldb + j / 16 * b.panel + j % 16)] = h[e] | static_cast<uint32_t>(h[e + 1]) << 16;
    }
  return b;
}

// sum_k |a_k b_k| of C[i, j] (the bound's scale), from the operands.
double abs_sum(const std::vector<uint16_t>& a, int64_t lda, const PairB& b, int64_t i, int64_t j, int64_t Kp) {
  double s = 0;
  for (int64_t k = 0; k < Kp; ++k) {
    const uint32_t w = b.at(k / 2, j);
    const auto bk = static_cast<uint16_t>(k % 2 == 0 ? w & 0xffffu : w >> 16);
    s += std::fabs(static_cast<double>(bf16_to_f32(a[static_cast<size_t>(i * lda + k)])) * bf16_to_f32(bk));
  }
  return s;
}

TEST_P(GemmBf16PairsTest, WithinGammaOfTheSpecificationAndSplitInvariant) {
  const GemmBf16PairsFn gemm = table_.gemm_bf16_pairs;
  if (gemm == nullptr) GTEST_SKIP() << "no bf16 product on " << GetParam();
  const int64_t kKps[] = {32, 64, 1024};
  for (int64_t round = 0; round < 6; ++round) {  // each Kp with B as rows, then in the panel form
    const bool panels = round >= 3;
    const int64_t Kp = kKps[round % 3];
    for (int64_t M : {1, 15, 16, 17, 33, 40}) {
      for (int64_t N : {1, 16, 17, 31, 48}) {
        SCOPED_TRACE("Kp " + std::to_string(Kp) + " M " + std::to_string(M) + " N " + std::to_string(N) +
                     (panels ? " panel form" : " rows"));
        const int64_t Mp = (M + 15) / 16 * 16, Np = (N + 15) / 16 * 16;
        const int64_t lda = Kp + 32, ldc = N + 3;  // strides wider than the operands
        const std::vector<uint16_t> a = bf16_normals(static_cast<uint64_t>(Kp * 1000 + M), Mp * lda);
        const PairB pb = pair_b(static_cast<uint64_t>(Kp * 1000 + N + 500), Kp, Np, panels);
        const uint32_t* b = pb.w.data();
        const int64_t ldb = pb.ldb, bp = pb.panel;
        const std::vector<float> c0 = normals(static_cast<uint64_t>(M * N), 5, M * ldc);
        std::vector<float> spec(c0), got(c0), acc(c0);
        gemm_bf16_pairs_ref(a.data(), lda, b, ldb, bp, spec.data(), ldc, M, N, Kp, false);
        gemm(a.data(), lda, b, ldb, bp, got.data(), ldc, M, N, Kp, false);
        int64_t bad = 0;
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j) {
            const size_t e = static_cast<size_t>(i * ldc + j);
            if (!(std::fabs(static_cast<double>(got[e]) - spec[e]) <= gamma(Kp) * abs_sum(a, lda, pb, i, j, Kp))) ++bad;
          }
        EXPECT_EQ(bad, 0);
        for (int64_t i = 0; i < M; ++i)  // the padding columns of C untouched
          for (int64_t j = N; j < ldc; ++j)
            EXPECT_EQ(got[static_cast<size_t>(i * ldc + j)], c0[static_cast<size_t>(i * ldc + j)]);
        // Accumulating onto C: within gamma_{Kp + 1} of C + spec.
        std::vector<float> spec_acc(c0);
        gemm_bf16_pairs_ref(a.data(), lda, b, ldb, bp, spec_acc.data(), ldc, M, N, Kp, true);
        gemm(a.data(), lda, b, ldb, bp, acc.data(), ldc, M, N, Kp, true);
        bad = 0;
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j) {
            const size_t e = static_cast<size_t>(i * ldc + j);
            const double scale = abs_sum(a, lda, pb, i, j, Kp) + std::fabs(c0[e]);
            if (!(std::fabs(static_cast<double>(acc[e]) - spec_acc[e]) <= gamma(Kp + 1) * scale)) ++bad;
          }
        EXPECT_EQ(bad, 0);
        // The reduction in two blocks (the second accumulating): the same bits as one call
        // (the hardware kernels; the specification rounds each call's sum).
        if (Kp >= 64 && GetParam() != "ref") {
          std::vector<float> blocks(c0);
          gemm(a.data(), lda, b, ldb, bp, blocks.data(), ldc, M, N, 32, false);
          gemm(a.data() + 32, lda, b + 16 * ldb, ldb, bp, blocks.data(), ldc, M, N, Kp - 32, true);
          EXPECT_EQ(std::memcmp(blocks.data(), got.data(), got.size() * sizeof(float)), 0);
        }
        // Rows from 16 on and columns from 16 on computed apart: the same bits.
        if (M > 16 && N > 16) {
          std::vector<float> split(c0);
          gemm(a.data(), lda, b, ldb, bp, split.data(), ldc, 16, N, Kp, false);
          gemm(a.data() + 16 * lda, lda, b, ldb, bp, split.data() + 16 * ldc, ldc, M - 16, 16, Kp, false);
          gemm(a.data() + 16 * lda, lda, b + bp, ldb, bp, split.data() + 16 * ldc + 16, ldc, M - 16, N - 16, Kp,
               false);
          EXPECT_EQ(std::memcmp(split.data(), got.data(), got.size() * sizeof(float)), 0);
        }
      }
    }
  }
}

// Negative control: B with the halves of one pair swapped (the pair form
// misread) is outside the bound.
TEST_P(GemmBf16PairsTest, BoundCatchesSwappedPairHalves) {
  const GemmBf16PairsFn gemm = table_.gemm_bf16_pairs;
  if (gemm == nullptr) GTEST_SKIP() << "no bf16 product on " << GetParam();
  const int64_t M = 16, N = 16, Kp = 64;
  const std::vector<uint16_t> a = bf16_normals(1, M * Kp);
  const PairB b = pair_b(2, Kp, N, true);
  PairB swapped = b;
  for (int64_t j = 0; j < N; ++j) {
    uint32_t& w = swapped.w[static_cast<size_t>(5 * swapped.ldb + j / 16 * swapped.panel + j % 16)];
    w = w >> 16 | w << 16;
  }
  std::vector<float> spec(static_cast<size_t>(M * N)), got(spec.size());
  gemm_bf16_pairs_ref(a.data(), Kp, swapped.w.data(), swapped.ldb, swapped.panel, spec.data(), N, M, N, Kp, false);
  gemm(a.data(), Kp, b.w.data(), b.ldb, b.panel, got.data(), N, M, N, Kp, false);
  int64_t bad = 0;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j)
      if (!(std::fabs(static_cast<double>(got[static_cast<size_t>(i * N + j)]) - spec[static_cast<size_t>(i * N + j)]) <=
            gamma(Kp) * abs_sum(a, Kp, swapped, i, j, Kp)))
        ++bad;
  EXPECT_GT(bad, 0);
}

struct Stored {
  std::vector<uint8_t> bytes;
  TensorView view;
};

Stored make_weight(DType t, int64_t N, int64_t K, uint64_t seed) {
  const std::vector<float> w = normals(seed, 7, N * K);
  const int64_t rb = row_bytes(t, K);
  Stored s;
  s.bytes.resize(static_cast<size_t>(N * rb));
  for (int64_t n = 0; n < N; ++n) quantize_row_ref(t, w.data() + n * K, s.bytes.data() + n * rb, K);
  s.view.dtype = t;
  s.view.shape = {N, K};
  s.view.data = s.bytes.data();
  return s;
}

int64_t outside(const std::vector<float>& got, const std::vector<double>& want, const std::vector<double>& abs_sum,
                int64_t m) {
  int64_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::fabs(got[i] - want[i]) <= gamma(m) * abs_sum[i])) ++bad;
  return bad;
}

class MatmulBf16ProductsTest : public IsaTableTest {};
INSTANTIATE_TEST_SUITE_P(AllIsas, MatmulBf16ProductsTest, ::testing::ValuesIn(all_isas()), isa_test_name);

TEST_P(MatmulBf16ProductsTest, ForwardAndTransposedWithinBoundOnEveryDtype) {
  if (table_.gemm_bf16_pairs == nullptr) GTEST_SKIP() << "no bf16 product on " << GetParam();
  ThreadPool one(1), two(2);
  for (DType t : dtypes_with_kernels()) {
    // K: not a multiple of 32 where the blocks allow (padding), several
    // backward column chunks; N: not a multiple of the 32-row panel, and
    // past one reduction block of the backward (1024 rows) for one dtype.
    const int64_t bs = dtype_info(t).block_elems;
    const int64_t K = bs == 256 ? 768 : bs == 32 ? 544 : 300;
    const int64_t N = t == DType::kQ8_0 ? 1100 : 43;
    SCOPED_TRACE(dtype_name(t));
    const Stored w = make_weight(t, N, K, 17 + static_cast<uint64_t>(t));
    for (int64_t T : {1, 5, 17, 40}) {
      SCOPED_TRACE("T " + std::to_string(T));
      // Forward: out [T, N] = x . W^T.
      const std::vector<float> x = normals(99 + static_cast<uint64_t>(T), 7, T * K);
      std::vector<double> want(static_cast<size_t>(T * N)), mag(want.size());
      matmul_bf16_products_ref(x.data(), T, w.view, want.data(), mag.data(), false);
      std::vector<float> got1(want.size(), NAN), got2(want.size(), NAN);
      matmul_bf16_products(ExecContext{&one, &table_}, x.data(), T, w.view, got1.data());
      matmul_bf16_products(ExecContext{&two, &table_}, x.data(), T, w.view, got2.data());
      EXPECT_EQ(outside(got1, want, mag, K), 0);
      EXPECT_EQ(std::memcmp(got1.data(), got2.data(), got1.size() * sizeof(float)), 0) << "1 vs 2 threads";
      std::vector<float> last(static_cast<size_t>(N));
      matmul_bf16_products(ExecContext{&two, &table_}, x.data() + (T - 1) * K, 1, w.view, last.data());
      EXPECT_EQ(std::memcmp(last.data(), got1.data() + (T - 1) * N, last.size() * sizeof(float)), 0) << "last token";
      // Through matmul with exact_f32 and bf16_products: the same function.
      ExecContext train{&two, &table_};
      train.exact_f32 = true;
      train.bf16_products = true;
      std::vector<float> via(want.size());
      matmul(train, x.data(), T, w.view, via.data());
      EXPECT_EQ(std::memcmp(via.data(), got1.data(), via.size() * sizeof(float)), 0) << "via matmul";
      // Transposed: out [T, K] = dy . W.
      const std::vector<float> dy = normals(199 + static_cast<uint64_t>(T), 7, T * N);
      std::vector<double> want_t(static_cast<size_t>(T * K)), mag_t(want_t.size());
      matmul_bf16_products_ref(dy.data(), T, w.view, want_t.data(), mag_t.data(), true);
      std::vector<float> t1(want_t.size(), NAN), t2(want_t.size(), NAN);
      matmul_t_bf16_products(ExecContext{&one, &table_}, dy.data(), T, w.view, t1.data());
      matmul_t_bf16_products(ExecContext{&two, &table_}, dy.data(), T, w.view, t2.data());
      EXPECT_EQ(outside(t1, want_t, mag_t, N), 0);
      EXPECT_EQ(std::memcmp(t1.data(), t2.data(), t1.size() * sizeof(float)), 0) << "1 vs 2 threads (transposed)";
      std::vector<float> last_t(static_cast<size_t>(K));
      matmul_t_bf16_products(ExecContext{&two, &table_}, dy.data() + (T - 1) * N, 1, w.view, last_t.data());
      EXPECT_EQ(std::memcmp(last_t.data(), t1.data() + (T - 1) * K, last_t.size() * sizeof(float)), 0)
          << "last token (transposed)";
      std::vector<float> via_t(want_t.size());
      matmul_t(train, dy.data(), T, w.view, via_t.data());
      EXPECT_EQ(std::memcmp(via_t.data(), t1.data(), via_t.size() * sizeof(float)), 0) << "via matmul_t";
      // Negative control: the exact f32 products (no bf16 rounding) are outside the bound.
      if (t == DType::kF32 || t == DType::kF16) {
        std::vector<float> exact(want.size());
        ExecContext f32{&two, &table_};
        f32.exact_f32 = true;
        matmul(f32, x.data(), T, w.view, exact.data());
        EXPECT_GT(outside(exact, want, mag, K), 0) << "exact f32 inside the bf16 bound";
      }
    }
  }
}

// The fused conversions (row_to_bf16) give f32_to_bf16 of the reference
// dequantization bit for bit, for every dtype an ISA has one for; F32 rows
// include ties, subnormals, infinities and NaN.
TEST_P(MatmulBf16ProductsTest, RowToBf16EqualsRoundedReference) {
  int checked = 0;
  for (DType t : dtypes_with_kernels()) {
    const RowToBf16Fn fused = table_.to_bf16_for(t);
    if (fused == nullptr) continue;
    SCOPED_TRACE(dtype_name(t));
    const int64_t K = dtype_info(t).block_elems == 256 ? 512 : 96 + (t == DType::kF32 || t == DType::kF16 || t == DType::kBF16 ? 7 : 0);
    std::vector<float> v = normals(7 + static_cast<uint64_t>(t), 3, K);
    if (t == DType::kF32) {
      const uint32_t special[] = {0x3f808000u, 0x3f818000u, 0x00000001u, 0x80400000u, 0x7f800000u, 0xff800000u,
                                  0x7fc00001u, 0x7f800001u, 0x7f7fffffu};  // ties (even, odd), subnormals, inf, NaNs, max
      for (size_t i = 0; i < std::size(special); ++i) std::memcpy(&v[i], &special[i], 4);
    }
    const Stored w = make_weight(t, 1, K, 0);
    std::vector<uint8_t> raw(w.bytes);
    if (t == DType::kF32) std::memcpy(raw.data(), v.data(), raw.size());  // the specials as stored
    std::vector<float> f(static_cast<size_t>(K));
    dequantize_row_ref(t, raw.data(), f.data(), K);
    std::vector<uint16_t> got(static_cast<size_t>(K), 0xdead);
    fused(raw.data(), got.data(), K);
    for (int64_t i = 0; i < K; ++i) {
      EXPECT_EQ(got[static_cast<size_t>(i)], f32_to_bf16(f[static_cast<size_t>(i)])) << i;
    }
    ++checked;
  }
  if (GetParam() == "avx512bf16" || GetParam() == "amx") {
    EXPECT_GE(checked, 6);
  }
}

// weight_grad under bf16_products (full fine-tuning with --bf16): dw += bf16(fl(s
// dy))^T bf16(x) within gamma_{Tp + 1} (|dw| + sum |products|) of the
// specification in double; 1 and 2 threads give the same bits; the f32
// weight_grad (unrounded) falls outside the bound.
TEST_P(MatmulBf16ProductsTest, WeightGradWithinBoundOfBf16Spec) {
  if (table_.gemm_bf16_pairs == nullptr) GTEST_SKIP() << "no bf16 product on " << GetParam();
  ThreadPool one(1), two(2);
  const auto bf = [](float v) { return static_cast<double>(bf16_to_f32(f32_to_bf16(v))); };
  for (int64_t T : {1, 17, 40, 70}) {
    const int64_t N = 37, K = 50;
    const float s = 0.75f;
    SCOPED_TRACE("T " + std::to_string(T));
    const std::vector<float> dy = normals(31 + static_cast<uint64_t>(T), 1, T * N);
    const std::vector<float> x = normals(41 + static_cast<uint64_t>(T), 2, T * K);
    const std::vector<float> dw0 = normals(51, 3, N * K);
    std::vector<double> spec(dw0.begin(), dw0.end()), mag(dw0.size());
    for (size_t i = 0; i < dw0.size(); ++i) mag[i] = std::fabs(dw0[i]);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t k = 0; k < K; ++k) {
          const double p = bf(s * dy[static_cast<size_t>(t * N + n)]) * bf(x[static_cast<size_t>(t * K + k)]);
          spec[static_cast<size_t>(n * K + k)] += p;
          mag[static_cast<size_t>(n * K + k)] += std::fabs(p);
        }
    std::vector<float> got1(dw0), got2(dw0), exact(dw0);
    ExecContext c1{&one, &table_}, c2{&two, &table_};
    c1.bf16_products = c2.bf16_products = true;
    weight_grad(c1, dy.data(), x.data(), T, N, K, got1.data(), s);
    weight_grad(c2, dy.data(), x.data(), T, N, K, got2.data(), s);
    const int64_t m = (T + 31) / 32 * 32 + 1;
    EXPECT_EQ(outside(got1, spec, mag, m), 0);
    EXPECT_EQ(std::memcmp(got1.data(), got2.data(), got1.size() * sizeof(float)), 0) << "1 vs 2 threads";
    weight_grad(ExecContext{&two, &table_}, dy.data(), x.data(), T, N, K, exact.data(), s);
    EXPECT_GT(outside(exact, spec, mag, m), 0) << "the f32 weight_grad inside the bf16 bound";
  }
}

// ISAs without a bf16 product have no entry (herd finetune --bf16 refuses there).
TEST_P(MatmulBf16ProductsTest, EntryWhereTheIsaHasABf16Product) {
  const std::string isa = GetParam();
  const bool expected = isa == "ref" || isa == "avx512bf16" || isa == "amx";
  EXPECT_EQ(table_.gemm_bf16_pairs != nullptr, expected) << isa;
}

}  // namespace
}  // namespace herd::kernels
