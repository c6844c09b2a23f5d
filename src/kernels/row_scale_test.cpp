// Row-scaled FP8 weights (F8_E4M3 with TensorView::row_scale, Meta's
// "fp8_mixed" feed-forward weights) on every ISA the host has:
//  - the row dot, the f32 tile and the bf16 tile (where the ISA has the bf16
//    path) read every one of the 256 codes as f8_e4m3_to_f32 gives it (NaN
//    codes give NaN);
//  - matmul: out[t, n] = fl(dot(row n, x_t)) * scale[n], against the exact
//    sum in long double: |err| <= (2K + 1) u * scale[n] * sum_k |w x| (the
//    row dots' 2K u bound, kernels_test.cpp, plus the scale's rounding); on
//    the bf16 path (matmul_path says which) x_t is its bf16 rounding, and
//    the bf16 tile's own bound, (2 ceil(K/32) + 6) u sum|w x|
//    (kernels_bf16_test.cpp), is far inside the same (2K + 1) u; in a shared
//    input with an F16 weight, the bits of matmul alone;
//  - matmul_t against matmul_t_ref (which scales in double): gamma_{N+1};
//  - the same bits for 1 and 2 threads and for one token alone;
//  - negative control: one row's scale off by 1/64 breaks both bounds;
//  - column-group scales (scale_groups > 1, Meta's native FP8 merged from
//    model-parallel ranks): each group's partial sum scaled on its own, with
//    weight-only and dynamic activations (each group's slice quantized on its
//    own), against the exact sums; a group's scale off fails them.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "base/half.h"
#include "base/thread_pool.h"
#include "kernels/isa_test.h"
#include "kernels/kernel_table.h"
#include "kernels/ops.h"
#include "tensor/quant.h"

namespace herd::kernels {
namespace {

constexpr double kU = 1.0 / 16777216.0;  // 2^-24

class RowScaleTest : public IsaTableTest {};

INSTANTIATE_TEST_SUITE_P(AllIsas, RowScaleTest, ::testing::ValuesIn(all_isas()), isa_test_name);

// Code c alone in a row of 19 zero codes (at c % 19: the 16-wide vector
// part and the tail), times a one-hot activation at that place.
TEST_P(RowScaleTest, EveryCodeIsReadAsItsValue) {
  const int64_t K = 19;
  const RowDotFn dot = table_.dot_for(DType::kF8_E4M3);
  const TileDotF32Fn tile = table_.tile_f32_for(DType::kF8_E4M3);
  ASSERT_NE(dot, nullptr);
  for (int c = 0; c < 256; ++c) {
    const int64_t at = c % K;
    std::vector<uint8_t> row(K, 0);
    std::vector<float> x(K, 0.0f);
    row[static_cast<size_t>(at)] = static_cast<uint8_t>(c);
    x[static_cast<size_t>(at)] = 1.0f;
    const float want = f8_e4m3_to_f32(static_cast<uint8_t>(c));
    const float got = dot(row.data(), x.data(), K);
    float got_tile = got, got_bf16 = got;
    if (tile) tile(row.data(), K, 1, x.data(), K, 1, K, &got_tile, 1);
    if (const TileDotBf16Fn bf16 = table_.tile_bf16_for(DType::kF8_E4M3)) {
      std::vector<uint16_t> xb(K, 0);
      xb[static_cast<size_t>(at)] = f32_to_bf16(1.0f);
      bf16(row.data(), K, 1, xb.data(), K, 1, K, &got_bf16, 1);
    }
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got) && std::isnan(got_tile) && std::isnan(got_bf16)) << "code " << c;
    } else {
      EXPECT_EQ(got, want) << "code " << c;
      EXPECT_EQ(got_tile, want) << "code " << c;
      EXPECT_EQ(got_bf16, want) << "code " << c;
    }
  }
}

struct F8Weight {
  std::vector<uint8_t> bytes;
  std::vector<float> scale;
  TensorView view;
};

// N x K weights of rows with different magnitudes, quantized as Meta does.
F8Weight make_f8(int64_t N, int64_t K, uint64_t seed) {
  F8Weight w;
  std::vector<float> src = normals(seed, 3, N * K);
  w.bytes.resize(static_cast<size_t>(N * K));
  w.scale.resize(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t k = 0; k < K; ++k) src[static_cast<size_t>(n * K + k)] *= std::ldexp(1.0f, static_cast<int>(n % 9) - 6);
    w.scale[static_cast<size_t>(n)] = quantize_row_f8_e4m3(src.data() + n * K, w.bytes.data() + n * K, K);
  }
  w.view.dtype = DType::kF8_E4M3;
  w.view.shape = {N, K};
  w.view.data = w.bytes.data();
  w.view.row_scale = w.scale.data();
  return w;
}

// Outputs of matmul outside (2K + 1) u * scale * sum|w x| of the exact value.
int64_t matmul_outside(const F8Weight& w, const std::vector<float>& x, int64_t T, const std::vector<float>& got) {
  const int64_t N = w.view.rows(), K = w.view.cols();
  int64_t bad = 0;
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t n = 0; n < N; ++n) {
      long double exact = 0, abs_sum = 0;
      for (int64_t k = 0; k < K; ++k) {
        const long double p = static_cast<long double>(f8_e4m3_to_f32(w.bytes[static_cast<size_t>(n * K + k)])) *
                              x[static_cast<size_t>(t * K + k)];
        exact += p;
        abs_sum += std::fabs(p);
      }
      const long double s = w.scale[static_cast<size_t>(n)];
      const long double err = std::fabs(got[static_cast<size_t>(t * N + n)] - exact * s);
      if (!(err <= (2 * K + 1) * kU * abs_sum * s)) ++bad;
    }
  }
  return bad;
}

// A copy whose view points at its own bytes and scales.
F8Weight clone(const F8Weight& w) {
  F8Weight c = w;
  c.view.data = c.bytes.data();
  c.view.row_scale = c.scale.data();
  return c;
}

// matmul_t of dy [T, N] with 1 and 2 threads (the same bits, checked); the result.
std::vector<float> transposed(const KernelTable& table, const TensorView& w, const std::vector<float>& dy, int64_t T) {
  ThreadPool one(1), two(2);
  std::vector<float> g1(static_cast<size_t>(T * w.cols()), NAN), g2 = g1;
  matmul_t(ExecContext{&one, &table}, dy.data(), T, w, g1.data());
  matmul_t(ExecContext{&two, &table}, dy.data(), T, w, g2.data());
  EXPECT_EQ(std::memcmp(g1.data(), g2.data(), g1.size() * sizeof(float)), 0) << "1 vs 2 threads";
  return g1;
}

// Elements of `got` outside gamma_{N+1} * sum|dy W| of matmul_t_ref on w.
int64_t transposed_outside(const TensorView& w, const std::vector<float>& dy, int64_t T, const std::vector<float>& got) {
  const int64_t N = w.rows();
  std::vector<double> want(got.size()), abs_sum(got.size());
  matmul_t_ref(dy.data(), T, w, want.data(), abs_sum.data());
  const double gamma = (N + 1) * kU / (1 - (N + 1) * kU);
  int64_t bad = 0;
  for (size_t i = 0; i < want.size(); ++i)
    if (!(std::fabs(got[i] - want[i]) <= gamma * abs_sum[i])) ++bad;
  return bad;
}

TEST_P(RowScaleTest, MatmulAndTransposedProductApplyTheRowScales) {
  ThreadPool one(1), two(2);
  const int64_t N = 45, K = 300;
  F8Weight w = make_f8(N, K, 21);
  for (int64_t T : {1, 7}) {
    SCOPED_TRACE("T " + std::to_string(T));
    const std::vector<float> x = normals(22, static_cast<uint64_t>(T), T * K);
    std::vector<float> y1(static_cast<size_t>(T * N), NAN), y2 = y1;
    matmul(ExecContext{&one, &table_}, x.data(), T, w.view, y1.data());
    matmul(ExecContext{&two, &table_}, x.data(), T, w.view, y2.data());
    // The operands the path multiplies: x itself, or its bf16 rounding.
    std::vector<float> xp = x;
    if (matmul_path(table_, w.view) == MatmulPath::kBf16)
      for (float& v : xp) v = bf16_to_f32(f32_to_bf16(v));
    EXPECT_EQ(matmul_outside(w, xp, T, y1), 0) << matmul_path_name(matmul_path(table_, w.view));
    EXPECT_EQ(std::memcmp(y1.data(), y2.data(), y1.size() * sizeof(float)), 0) << "1 vs 2 threads";
    std::vector<float> last(static_cast<size_t>(N));
    matmul(ExecContext{&two, &table_}, x.data() + (T - 1) * K, 1, w.view, last.data());
    EXPECT_EQ(std::memcmp(last.data(), y1.data() + (T - 1) * N, last.size() * sizeof(float)), 0) << "alone vs batch";
    // Beside other paths' weights of the same input (the feed-forward's gate/up
    // share one): the bits it gets alone, theirs too.
    {
      std::vector<uint8_t> fb(static_cast<size_t>(N * row_bytes(DType::kF16, K)));
      const std::vector<float> src = normals(24, 0, N * K);
      for (int64_t n = 0; n < N; ++n) quantize_row_ref(DType::kF16, src.data() + n * K, fb.data() + n * row_bytes(DType::kF16, K), K);
      const TensorView f16{DType::kF16, {N, K}, fb.data()};
      std::vector<float> s1(y1.size(), NAN), s2(y1.size(), NAN), a2(y1.size(), NAN);
      matmul(ExecContext{&two, &table_}, x.data(), T, f16, a2.data());
      matmul_shared_input(ExecContext{&two, &table_}, x.data(), T, {{&f16, s2.data()}, {&w.view, s1.data()}});
      EXPECT_EQ(std::memcmp(s1.data(), y1.data(), y1.size() * sizeof(float)), 0) << "shared input vs alone";
      EXPECT_EQ(std::memcmp(s2.data(), a2.data(), a2.size() * sizeof(float)), 0) << "F16 beside it vs alone";
    }

    const std::vector<float> dy = normals(23, static_cast<uint64_t>(T), T * N);
    const std::vector<float> g1 = transposed(table_, w.view, dy, T);
    EXPECT_EQ(transposed_outside(w.view, dy, T, g1), 0);

    // Negative control: the references with row 5's scale off by 1/64.
    F8Weight off = clone(w);
    off.scale[5] *= 1.0f + 1.0f / 64;
    EXPECT_GT(matmul_outside(off, x, T, y1), 0);
    EXPECT_GT(transposed_outside(off.view, dy, T, g1), 0);
  }
}

// Meta's dynamic FP8 activations (act_scale_ub > 0): each activation row is
// replaced by its e4m3 values q and scale s_t (quantize_activation_row_fp8,
// checked against a brute-force nearest-code search in tensor_test), and
// out[t, n] = (fl(sum_k q w) * scale[n]) * s_t. The reference is
// matmul_outside's bound on q with the row scale scale[n] * s_t (one more
// rounding: (2K + 2) u; q is exact in bf16, so the bf16 path multiplies the
// same q); the weight-only result differs (negative control), each keeps its
// bits in one shared input, and
// the bound of a row past the 1200 bound is the saturated one.
TEST_P(RowScaleTest, DynamicActivationsQuantizeEachTokenRow) {
  ThreadPool two(2);
  const int64_t N = 37, K = 96, T = 5;
  F8Weight w = make_f8(N, K, 31);
  std::vector<float> x = normals(32, 5, T * K);
  for (int64_t k = 0; k < K; ++k) x[static_cast<size_t>(3 * K + k)] *= 3000.0f;  // row 3 past the bound
  F8Weight dyn = clone(w);
  dyn.view.act_scale_ub = 1200.0f;
  std::vector<float> got(static_cast<size_t>(T * N), NAN), plain(got.size(), NAN);
  matmul(ExecContext{&two, &table_}, x.data(), T, dyn.view, got.data());
  matmul(ExecContext{&two, &table_}, x.data(), T, w.view, plain.data());
  std::vector<float> q(static_cast<size_t>(T * K)), s(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) s[static_cast<size_t>(t)] = quantize_activation_row_fp8(x.data() + t * K, q.data() + t * K, K, 1200.0f);
  EXPECT_EQ(s[3], 1.0f / (448.0f / 1200.0f)) << "row 3's max is bounded by 1200";
  int64_t bad = 0, differs = 0;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < N; ++n) {
      long double exact = 0, abs_sum = 0;
      for (int64_t k = 0; k < K; ++k) {
        const long double p = static_cast<long double>(f8_e4m3_to_f32(w.bytes[static_cast<size_t>(n * K + k)])) *
                              q[static_cast<size_t>(t * K + k)];
        exact += p;
        abs_sum += std::fabs(p);
      }
      const long double sc = static_cast<long double>(w.scale[static_cast<size_t>(n)]) * s[static_cast<size_t>(t)];
      const float g = got[static_cast<size_t>(t * N + n)];
      if (!(std::fabs(g - exact * sc) <= (2 * K + 2) * kU * abs_sum * sc)) ++bad;
      if (g != plain[static_cast<size_t>(t * N + n)]) ++differs;
    }
  EXPECT_EQ(bad, 0);
  EXPECT_GT(differs, T * N / 2) << "the activations were not quantized";
  // In one shared input with the weight-only view: each gets its own activations.
  std::vector<float> got2(got.size(), NAN), plain2(got.size(), NAN);
  matmul_shared_input(ExecContext{&two, &table_}, x.data(), T, {{&w.view, plain2.data()}, {&dyn.view, got2.data()}});
  EXPECT_EQ(std::memcmp(got2.data(), got.data(), got.size() * sizeof(float)), 0) << "dynamic, shared input vs alone";
  EXPECT_EQ(std::memcmp(plain2.data(), plain.data(), got.size() * sizeof(float)), 0) << "weight-only, shared vs alone";
  // Every row of 3000s saturates: its q is +-448 or its e4m3 neighbours, never more.
  for (int64_t k = 0; k < K; ++k) EXPECT_LE(std::fabs(q[static_cast<size_t>(3 * K + k)]), 448.0f);
}

// N x K weights whose rows are quantized per column group of K / G, as each
// model-parallel rank quantizes its own columns: scale [N, G].
F8Weight make_f8_groups(int64_t N, int64_t K, int64_t G, uint64_t seed) {
  F8Weight w;
  std::vector<float> src = normals(seed, 3, N * K);
  const int64_t W = K / G;
  w.bytes.resize(static_cast<size_t>(N * K));
  w.scale.resize(static_cast<size_t>(N * G));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t g = 0; g < G; ++g) {
      float* part = src.data() + n * K + g * W;
      for (int64_t k = 0; k < W; ++k) part[k] *= std::ldexp(1.0f, static_cast<int>((n + 3 * g) % 9) - 6);
      w.scale[static_cast<size_t>(n * G + g)] = quantize_row_f8_e4m3(part, w.bytes.data() + n * K + g * W, W);
    }
  w.view.dtype = DType::kF8_E4M3;
  w.view.shape = {N, K};
  w.view.data = w.bytes.data();
  w.view.row_scale = w.scale.data();
  w.view.scale_groups = G;
  return w;
}

// Outputs outside (2W + G + 2) u * sum_g scale_g * sum|w x|_g of the exact
// sum_g scale_g * dot_g (each group's row dot, its scale, the sum of G
// partials, and with activation scales act [T, G] one more rounding).
int64_t grouped_outside(const F8Weight& w, const std::vector<float>& x, int64_t T, const float* act,
                        const std::vector<float>& got) {
  const int64_t N = w.view.rows(), K = w.view.cols(), G = w.view.scale_groups, W = K / G;
  int64_t bad = 0;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < N; ++n) {
      long double exact = 0, bound = 0;
      for (int64_t g = 0; g < G; ++g) {
        long double dot = 0, abs_sum = 0;
        for (int64_t k = g * W; k < (g + 1) * W; ++k) {
          const long double p = static_cast<long double>(f8_e4m3_to_f32(w.bytes[static_cast<size_t>(n * K + k)])) *
                                x[static_cast<size_t>(t * K + k)];
          dot += p;
          abs_sum += std::fabs(p);
        }
        long double sc = w.scale[static_cast<size_t>(n * G + g)];
        if (act) sc *= act[t * G + g];
        exact += dot * sc;
        bound += abs_sum * sc;
      }
      if (!(std::fabs(got[static_cast<size_t>(t * N + n)] - exact) <= (2 * W + G + 2) * kU * bound)) ++bad;
    }
  return bad;
}

TEST_P(RowScaleTest, ColumnGroupScales) {
  ThreadPool one(1), two(2);
  const int64_t N = 29, K = 384, G = 3, W = K / G;
  F8Weight w = make_f8_groups(N, K, G, 41);
  for (int64_t T : {1, 6}) {
    SCOPED_TRACE("T " + std::to_string(T));
    const std::vector<float> x = normals(42, static_cast<uint64_t>(T), T * K);
    std::vector<float> y1(static_cast<size_t>(T * N), NAN), y2 = y1;
    matmul(ExecContext{&one, &table_}, x.data(), T, w.view, y1.data());
    matmul(ExecContext{&two, &table_}, x.data(), T, w.view, y2.data());
    EXPECT_EQ(grouped_outside(w, x, T, nullptr, y1), 0);
    EXPECT_EQ(std::memcmp(y1.data(), y2.data(), y1.size() * sizeof(float)), 0) << "1 vs 2 threads";
    std::vector<float> last(static_cast<size_t>(N));
    matmul(ExecContext{&two, &table_}, x.data() + (T - 1) * K, 1, w.view, last.data());
    EXPECT_EQ(std::memcmp(last.data(), y1.data() + (T - 1) * N, last.size() * sizeof(float)), 0) << "alone vs batch";

    // Dynamic activations: each token's slice of each group quantized on its own.
    F8Weight dyn = clone(w);
    dyn.view.act_scale_ub = 1200.0f;
    std::vector<float> xb = x;
    for (int64_t k = W; k < 2 * W; ++k) xb[static_cast<size_t>(k)] *= 3000.0f;  // token 0's group 1 past the bound
    std::vector<float> got(y1.size(), NAN), q(static_cast<size_t>(T * K)), act(static_cast<size_t>(T * G));
    matmul(ExecContext{&two, &table_}, xb.data(), T, dyn.view, got.data());
    for (int64_t t = 0; t < T; ++t)
      for (int64_t g = 0; g < G; ++g)
        act[static_cast<size_t>(t * G + g)] =
            quantize_activation_row_fp8(xb.data() + t * K + g * W, q.data() + t * K + g * W, W, 1200.0f);
    EXPECT_EQ(act[1], 1.0f / (448.0f / 1200.0f)) << "token 0's group 1 is bounded by 1200";
    EXPECT_EQ(grouped_outside(w, q, T, act.data(), got), 0);
    // Quantized over the whole row instead of per group: not what was computed.
    for (int64_t t = 0; t < T; ++t) {
      const float s = quantize_activation_row_fp8(xb.data() + t * K, q.data() + t * K, K, 1200.0f);
      for (int64_t g = 0; g < G; ++g) act[static_cast<size_t>(t * G + g)] = s;
    }
    EXPECT_GT(grouped_outside(w, q, T, act.data(), got), 0);

    const std::vector<float> dy = normals(43, static_cast<uint64_t>(T), T * N);
    const std::vector<float> g1 = transposed(table_, w.view, dy, T);
    EXPECT_EQ(transposed_outside(w.view, dy, T, g1), 0);

    // Negative control: every row's group 1 scale off by 1/64 in the references.
    F8Weight off = clone(w);
    for (int64_t n = 0; n < N; ++n) off.scale[static_cast<size_t>(n * G + 1)] *= 1.0f + 1.0f / 64;
    EXPECT_GT(grouped_outside(off, x, T, nullptr, y1), 0);
    EXPECT_GT(transposed_outside(off.view, dy, T, g1), 0);
  }
}

}  // namespace
}  // namespace herd::kernels
