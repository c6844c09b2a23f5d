// The encoder's operations (encoder_ops.h) against their double references,
// within bounds derived from the f32 roundings each fast path makes (u = 2^-24):
//   layer_norm: mean and variance are double sums of the same f32 inputs, so
//     what differs is the mean and 1/sqrt rounded to f32 (u each) and four f32
//     operations per element: |y - ref| <= 6u (|xhat w| + |b|) + u |mean| inv |w|.
//   gelu: erf in f32 is within 2 ulp (glibc), then three roundings:
//     |gelu - ref| <= 6u |x|; the vector erf (gelu_avx2.cpp) derives 3.5u |x|.
//   biased_softmax_rows: z = s scale + bias is rounded twice (2u |z|), the
//     maximum is exact, exp adds 2u, 1/sum and the product u each; an error
//     eps_j in exponent j moves p_j by eps_j and the sum by at most max eps:
//     |p - ref| <= p_ref (2 E + 4u), E = 2u max|z| + 2u.
// Each test also has a negative control (a perturbed input fails its bound),
// and the results are the same bits for 1 and 2 threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "base/half.h"
#include "base/thread_pool.h"
#include "kernels/encoder_ops.h"
#include "kernels/guarded_buffer.h"
#include "kernels/isa_test.h"
#include "kernels/kernel_table.h"

namespace herd::kernels {
namespace {

constexpr double kU = 1.0 / 16777216.0;

struct Ctx {
  ThreadPool pool;
  KernelTable table;
  ExecContext ctx;
  explicit Ctx(int threads) : pool(threads) {
    table = select_kernels("ref").value();
    ctx.pool = &pool;
    ctx.table = &table;
  }
};

int64_t layer_norm_outside(const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>& b,
                           const std::vector<float>& got, float eps, int64_t T, int64_t D) {
  std::vector<double> ref(got.size());
  layer_norm_ref(x.data(), w.data(), b.data(), eps, T, D, ref.data());
  int64_t bad = 0;
  for (int64_t t = 0; t < T; ++t) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < D; ++i) mean += x[t * D + i];
    mean /= D;
    for (int64_t i = 0; i < D; ++i) var += (x[t * D + i] - mean) * (x[t * D + i] - mean);
    const double inv = 1 / std::sqrt(var / D + eps);
    for (int64_t i = 0; i < D; ++i) {
      const size_t k = static_cast<size_t>(t * D + i);
      const double xhat_w = std::fabs((x[k] - mean) * inv * w[i]);
      const double tol = 6 * kU * (xhat_w + std::fabs(b[i])) + kU * std::fabs(mean) * inv * std::fabs(w[i]);
      if (!(std::fabs(got[k] - ref[k]) <= tol)) ++bad;
    }
  }
  return bad;
}

TEST(EncoderOps, LayerNormWithinDerivedBound) {
  const int64_t T = 37, D = 96;
  std::vector<float> x = normals(1, 1, T * D, 3.0f), w = normals(1, 2, D), b = normals(1, 3, D);
  for (int64_t i = 0; i < T * D; ++i) x[static_cast<size_t>(i)] += 5.0f;  // a mean far from 0
  Ctx one(1), two(2);
  std::vector<float> y1(x.size()), y2(x.size());
  layer_norm(one.ctx, x.data(), w.data(), b.data(), 1e-7f, T, D, y1.data());
  layer_norm(two.ctx, x.data(), w.data(), b.data(), 1e-7f, T, D, y2.data());
  EXPECT_EQ(y1, y2);
  EXPECT_EQ(layer_norm_outside(x, w, b, y1, 1e-7f, T, D), 0);
  std::vector<float> bad = y1;
  bad[5] = std::nextafter(std::nextafter(bad[5], 1e9f), 1e9f) * (1 + 64 * static_cast<float>(kU));
  EXPECT_GT(layer_norm_outside(x, w, b, bad, 1e-7f, T, D), 0);
  // In place.
  std::vector<float> in_place = x;
  layer_norm(two.ctx, in_place.data(), w.data(), b.data(), 1e-7f, T, D, in_place.data());
  EXPECT_EQ(in_place, y1);
}

int64_t softmax_outside(const std::vector<float>& s, const std::vector<float>& bias, const std::vector<float>& got,
                        int64_t rows, int64_t n, float scale) {
  std::vector<double> ref(got.size());
  biased_softmax_rows_ref(s.data(), bias.data(), rows, n, scale, ref.data());
  int64_t bad = 0;
  for (int64_t r = 0; r < rows; ++r) {
    double zmax = 0;
    for (int64_t j = 0; j < n; ++j)
      zmax = std::max(zmax, std::fabs(s[r * n + j] * static_cast<double>(scale) + bias[r * n + j]));
    const double e = 2 * kU * zmax + 2 * kU;
    for (int64_t j = 0; j < n; ++j) {
      const size_t k = static_cast<size_t>(r * n + j);
      if (!(std::fabs(got[k] - ref[k]) <= ref[k] * (2 * e + 4 * kU))) ++bad;
    }
  }
  return bad;
}

// On every ISA: the softmax row is the table's (libm's expf in ref, exp_ps from AVX2 up,
// both within the 2 u the bound takes for exp).
class EncoderKernels : public IsaTableTest {};

TEST_P(EncoderKernels, BiasedSoftmaxWithinDerivedBound) {
  const int64_t rows = 24, n = 131;
  const float scale = 0.0721f;
  std::vector<float> s = normals(3, 1, rows * n, 20.0f), bias = normals(3, 2, rows * n, 2.0f);
  Ctx one(1), two(2);
  one.table = table_;
  two.table = table_;
  std::vector<float> a = s, b = s;
  biased_softmax_rows(one.ctx, a.data(), bias.data(), rows, n, scale);
  biased_softmax_rows(two.ctx, b.data(), bias.data(), rows, n, scale);
  EXPECT_EQ(a, b);
  EXPECT_EQ(softmax_outside(s, bias, a, rows, n, scale), 0);
  // Control: the softmax without its bias is far outside.
  std::vector<float> no_bias = s;
  biased_softmax_rows(one.ctx, no_bias.data(), nullptr, rows, n, scale);
  EXPECT_GT(softmax_outside(s, bias, no_bias, rows, n, scale), rows * n / 2);
  // A row of 2 (shorter than a vector, all tail) and of 8 (one vector, no tail).
  for (const int64_t m : {int64_t{2}, int64_t{8}}) {
    std::vector<float> sm(s.begin(), s.begin() + m), bm(bias.begin(), bias.begin() + m), got = sm;
    biased_softmax_rows(one.ctx, got.data(), bm.data(), 1, m, scale);
    EXPECT_EQ(softmax_outside(sm, bm, got, 1, m, scale), 0) << m;
  }
}

// gemm_nn_f32 on every ISA: the reference's fma chain bit for bit, for row and column tails
// of every width, strided operands, K = 0, operands ending at an inaccessible page and an
// output whose gaps between rows must stay untouched; the reference itself within the
// bound of a K-step chain, |c - exact| <= K u sum_k |a_k b_k| (one rounding per step),
// with a control (the largest term dropped) far outside it.
TEST_P(EncoderKernels, GemmNnF32IsTheReferenceChain) {
  const KernelTable ref = select_kernels("ref").value();
  int64_t cases = 0;
  for (const int64_t M : {1, 4, 5, 6, 7, 13})
    for (const int64_t N : {1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 70})
      for (const int64_t K : {0, 1, 64, 67})
        for (const int64_t pad : {0, 3}) {
          const int64_t lda = K + pad, ldb = N + 2 * pad, ldc = N + pad;
          const std::vector<float> a = normals(7, static_cast<uint64_t>(M * 1000 + K), M * lda);
          const std::vector<float> b = normals(8, static_cast<uint64_t>(N * 1000 + K), K * ldb);
          GuardedBuffer<float> ga(a.size()), gb(b.size()), gc(static_cast<size_t>(M * ldc), NAN);
          std::copy(a.begin(), a.end(), ga.data());  // not memcpy: K = 0 leaves b empty (a null data())
          std::copy(b.begin(), b.end(), gb.data());
          std::vector<float> want(static_cast<size_t>(M * ldc), NAN);
          ref.gemm_nn_f32(a.data(), lda, b.data(), ldb, want.data(), ldc, M, N, K);
          table_.gemm_nn_f32(ga.data(), lda, gb.data(), ldb, gc.data(), ldc, M, N, K);
          const std::string where = GetParam() + " M=" + std::to_string(M) + " N=" + std::to_string(N) +
                                    " K=" + std::to_string(K) + " pad=" + std::to_string(pad);
          ASSERT_TRUE(ga.canary_intact() && gb.canary_intact() && gc.canary_intact()) << where;
          for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < ldc; ++j) {
              const float got = gc[static_cast<size_t>(i * ldc + j)], w = want[static_cast<size_t>(i * ldc + j)];
              if (j < N)
                ASSERT_EQ(std::memcmp(&got, &w, sizeof got), 0) << where << " at " << i << "," << j;
              else
                ASSERT_TRUE(std::isnan(got)) << where << ": wrote between rows at " << i << "," << j;
            }
          ++cases;
        }
  EXPECT_EQ(cases, 6 * 11 * 4 * 2);
  // The reference against long double.
  const int64_t M = 3, N = 5, K = 512;
  const std::vector<float> a = normals(9, 1, M * K), b = normals(9, 2, K * N);
  std::vector<float> c(static_cast<size_t>(M * N));
  ref.gemm_nn_f32(a.data(), K, b.data(), N, c.data(), N, M, N, K);
  int64_t outside = 0, control_outside = 0;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      long double exact = 0, mag = 0, first = 0;  // first: the largest product
      for (int64_t k = 0; k < K; ++k) {
        const long double p = static_cast<long double>(a[i * K + k]) * b[k * N + j];
        exact += p;
        mag += std::fabs(p);
        if (std::fabs(p) > std::fabs(first)) first = p;
      }
      const long double bound = K * kU * mag;
      outside += std::fabs(c[i * N + j] - exact) > bound;
      control_outside += std::fabs(c[i * N + j] - first - exact) > bound;
    }
  EXPECT_EQ(outside, 0);
  EXPECT_EQ(control_outside, M * N);
}

// gemm_nn_bf16 where the ISA has one (avx512bf16, amx): within gamma_K sum|p| of the specification
// (gemm_nn_bf16_ref: the bf16-rounded operands' products summed in double), gamma_K =
// K u / (1 - K u), for row and column tails, strided operands, K not a multiple of 32,
// operands ending at an inaccessible page and gaps between output rows left untouched;
// the same bits for a row or column block computed alone (any split of M or N). Controls:
// the f32 product of the unrounded operands misses the bound (so the operands were rounded),
// and the specification is within its own rounding of long double.
TEST_P(EncoderKernels, GemmNnBf16WithinItsBoundOfTheSpecification) {
  if (table_.gemm_nn_bf16 == nullptr) GTEST_SKIP() << "no bf16 tile product on " << GetParam();
  int64_t cases = 0, control_outside = 0, control_total = 0;
  for (const int64_t M : {1, 15, 16, 17, 40})
    for (const int64_t N : {1, 15, 16, 17, 70})
      for (const int64_t K : {1, 31, 64, 100, 512})
        for (const int64_t pad : {0, 3}) {
          const int64_t lda = K + pad, ldb = N + 2 * pad, ldc = N + pad;
          const std::vector<float> a = normals(17, static_cast<uint64_t>(M * 1000 + K), M * lda);
          const std::vector<float> b = normals(18, static_cast<uint64_t>(N * 1000 + K), K * ldb);
          GuardedBuffer<float> ga(a.size()), gb(b.size()), gc(static_cast<size_t>(M * ldc), NAN);
          std::copy(a.begin(), a.end(), ga.data());
          std::copy(b.begin(), b.end(), gb.data());
          std::vector<float> spec(static_cast<size_t>(M * ldc), NAN), f32(spec.size(), NAN);
          gemm_nn_bf16_ref(a.data(), lda, b.data(), ldb, spec.data(), ldc, M, N, K);
          table_.gemm_nn_f32(a.data(), lda, b.data(), ldb, f32.data(), ldc, M, N, K);
          table_.gemm_nn_bf16(ga.data(), lda, gb.data(), ldb, gc.data(), ldc, M, N, K);
          const std::string where = GetParam() + " M=" + std::to_string(M) + " N=" + std::to_string(N) +
                                    " K=" + std::to_string(K) + " pad=" + std::to_string(pad);
          ASSERT_TRUE(ga.canary_intact() && gb.canary_intact() && gc.canary_intact()) << where;
          const double gamma = K * kU / (1 - K * kU);
          for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < ldc; ++j) {
              const float got = gc[static_cast<size_t>(i * ldc + j)];
              if (j >= N) {
                ASSERT_TRUE(std::isnan(got)) << where << ": wrote between rows at " << i << "," << j;
                continue;
              }
              double mag = 0;
              for (int64_t k = 0; k < K; ++k)
                mag += std::fabs(static_cast<double>(bf16_to_f32(f32_to_bf16(a[i * lda + k]))) *
                                 bf16_to_f32(f32_to_bf16(b[k * ldb + j])));
              const double w = spec[static_cast<size_t>(i * ldc + j)];
              // The spec is the double sum rounded once to f32: half an ulp more.
              const double bound = gamma * mag + kU * std::fabs(w);
              ASSERT_LE(std::fabs(got - w), bound) << where << " at " << i << "," << j;
              ++control_total;
              control_outside += std::fabs(f32[static_cast<size_t>(i * ldc + j)] - w) > bound;
            }
          // Rows 0..M-1 from row r on alone, and columns from 7 on alone: the same bits.
          for (const int64_t r : {int64_t{0}, M / 2, M - 1}) {
            std::vector<float> part(static_cast<size_t>((M - r) * ldc), NAN);
            table_.gemm_nn_bf16(a.data() + r * lda, lda, b.data(), ldb, part.data(), ldc, M - r, N, K);
            for (int64_t i = r; i < M; ++i)
              ASSERT_EQ(std::memcmp(part.data() + (i - r) * ldc, gc.data() + i * ldc, static_cast<size_t>(N) * 4), 0)
                  << where << " rows from " << r;
          }
          if (N > 7) {
            std::vector<float> cols(static_cast<size_t>(M * ldc), NAN);
            table_.gemm_nn_bf16(a.data(), lda, b.data() + 7, ldb, cols.data(), ldc, M, N - 7, K);
            for (int64_t i = 0; i < M; ++i)
              ASSERT_EQ(std::memcmp(cols.data() + i * ldc, gc.data() + i * ldc + 7, static_cast<size_t>(N - 7) * 4), 0)
                  << where << " columns from 7";
          }
          ++cases;
        }
  EXPECT_EQ(cases, 5 * 5 * 5 * 2);
  // Unrounded f32 operands give other sums: most outputs outside the bound.
  EXPECT_GT(control_outside, control_total / 2);
  // The specification against long double: exact products of the rounded operands, one
  // rounding of a double sum.
  const int64_t M = 3, N = 5, K = 512;
  const std::vector<float> a = normals(19, 1, M * K), b = normals(19, 2, K * N);
  std::vector<float> c(static_cast<size_t>(M * N));
  gemm_nn_bf16_ref(a.data(), K, b.data(), N, c.data(), N, M, N, K);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      long double exact = 0, mag = 0;
      for (int64_t k = 0; k < K; ++k) {
        const long double p = static_cast<long double>(bf16_to_f32(f32_to_bf16(a[i * K + k]))) *
                              bf16_to_f32(f32_to_bf16(b[k * N + j]));
        exact += p;
        mag += std::fabs(p);
      }
      EXPECT_LE(std::fabs(c[i * N + j] - exact), K * 1.2e-16L * mag + kU * std::fabs(exact)) << i << "," << j;
    }
}

// Every ISA's gelu (ref: libm's erff; AVX2 and up: gelu_avx2.cpp's vector erf),
// over normals of sigma 4, the branch edges of the vector erf (z = |x| / sqrt 2 at
// 0.9 and 4) and their neighbours, zeros, large values and infinities.
TEST_P(EncoderKernels, GeluWithinDerivedBound) {
  std::vector<float> x = normals(2, 1, 50000, 4.0f);
  x.push_back(0.0f);
  x.push_back(-30.0f);
  x.push_back(30.0f);
  for (const float edge : {0.9f * 1.41421356f, 4.0f * 1.41421356f})
    for (int d = -40; d <= 40; ++d) {
      float e = edge;
      for (int k = 0; k < std::abs(d); ++k) e = std::nextafter(e, d < 0 ? 0.0f : 100.0f);
      x.push_back(e);
      x.push_back(-e);
    }
  for (const float big : {1e3f, 1e20f}) {
    x.push_back(big);
    x.push_back(-big);
  }
  Ctx one(1), two(2);
  one.table = table_;
  two.table = table_;
  std::vector<float> a = x, b = x;
  gelu(one.ctx, a.data(), static_cast<int64_t>(a.size()));
  gelu(two.ctx, b.data(), static_cast<int64_t>(b.size()));
  EXPECT_EQ(a, b);
  // libm's erff: 6 u |x|; the vector erf: its derived 3.5 u |x| (gelu_avx2.cpp), held to 4.
  const double bound_u = table_.gelu == ref_kernels().gelu ? 6 : 4;
  int64_t bad = 0, bad_control = 0;
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double ref = gelu_ref(x[i]);
    if (!(std::fabs(a[i] - ref) <= bound_u * kU * std::fabs(x[i]))) ++bad;
    if (x[i] != 0) worst = std::max(worst, std::fabs(a[i] - ref) / (kU * std::fabs(x[i])));
    // Control: the tanh approximation is not this GELU.
    const double approx = 0.5 * x[i] * (1 + std::tanh(0.7978845608 * (x[i] + 0.044715 * x[i] * x[i] * x[i])));
    if (std::fabs(approx - ref) > 6 * kU * std::fabs(x[i])) ++bad_control;
  }
  EXPECT_EQ(bad, 0) << GetParam() << ": worst " << worst << " u |x|";
  EXPECT_GT(bad_control, 1000);
  // Infinities as the formula gives them: gelu(+inf) = +inf, gelu(-inf) = -inf * 0 = NaN.
  float inf[2] = {INFINITY, -INFINITY};
  gelu(one.ctx, inf, 2);
  EXPECT_EQ(inf[0], INFINITY) << GetParam();
  EXPECT_TRUE(std::isnan(inf[1])) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(AllIsas, EncoderKernels, ::testing::ValuesIn(all_isas()), isa_test_name);

// One pass of bias and GELU: the bits of add_bias then gelu, every ISA, 1 and 2 threads.
TEST_P(EncoderKernels, AddBiasGeluIsAddBiasThenGelu) {
  const int64_t T = 9, N = 301;
  const std::vector<float> x = normals(5, 1, T * N, 3.0f), bias = normals(5, 2, N);
  for (int threads : {1, 2}) {
    Ctx c(threads);
    c.table = table_;
    std::vector<float> want = x, got = x;
    add_bias(c.ctx, want.data(), bias.data(), T, N);
    gelu(c.ctx, want.data(), T * N);
    add_bias_gelu(c.ctx, got.data(), bias.data(), T, N);
    EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0) << GetParam() << " " << threads;
  }
}

TEST(EncoderOps, AddBiasAddsEachRow) {
  const int64_t T = 5, N = 7;
  std::vector<float> x = normals(4, 1, T * N), bias = normals(4, 2, N);
  std::vector<float> y = x;
  Ctx two(2);
  add_bias(two.ctx, y.data(), bias.data(), T, N);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < N; ++i) EXPECT_EQ(y[t * N + i], x[t * N + i] + bias[i]);
}

}  // namespace
}  // namespace herd::kernels
