// Linear layers with LoRA adapters (model/linear.h) against float64
// references of the formulas, with bounds derived from the kernels' fixed
// f32 reductions: a sum of m products computed in f32 in any fixed order is
// within gamma_m * sum |terms| of the exact sum (gamma_m = m u / (1 - m u),
// u = 2^-24); a composition (x A^T then . B^T, times s, added to x W^T) is
// within gamma_{K + r + 3} of the sum of the absolute terms of every stage.
// The adapter gradients are also checked to be the gradients: for
// L(A, B) = <dy, y(A, B)>, which is linear in A (and in B),
// L(A + E) - L(A) = <dA, E> exactly, computed in double.
// And in the model: a PEFT-initialised adapter (B = 0) leaves the logits
// bitwise unchanged, a trained one (B != 0) changes them, bad attachments are
// refused.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "base/half.h"
#include "base/rng.h"
#include "base/thread_pool.h"
#include "kernels/kernel_table.h"
#include "kernels/ops.h"
#include "model/linear.h"
#include "model/llama_context.h"
#include "model/test_models.h"

namespace herd::model {
namespace {

constexpr double kU = 1.0 / 16777216.0;
double gamma(int64_t m) { return m * kU / (1 - m * kU); }

std::vector<float> normals(uint64_t seed, int64_t n, float scale = 1.0f) {
  Rng r(seed, 3);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = r.next_normal() * scale;
  return v;
}

struct Case {
  int64_t N = 48, K = 64, T = 5;
  std::vector<float> w = normals(1, 48 * 64, 0.2f);
  std::vector<float> x = normals(2, 5 * 64);
  std::vector<float> dy = normals(3, 5 * 48);
  std::vector<std::vector<float>> a = {normals(4, 4 * 64, 0.1f), normals(5, 8 * 64, 0.1f)};
  std::vector<std::vector<float>> b = {normals(6, 48 * 4, 0.1f), normals(7, 48 * 8, 0.1f)};
  Linear lin;
  Case() {
    lin.w.dtype = DType::kF32;
    lin.w.shape = {N, K};
    lin.w.data = reinterpret_cast<const uint8_t*>(w.data());
    lin.adapters = {{a[0].data(), b[0].data(), 4, 0.5f}, {a[1].data(), b[1].data(), 8, 2.0f}};
  }
};

// Double references with the sums of absolute terms, for both directions:
//   y[t, o] = sum_i u[t,i] M(o,i) + sum_a s_a sum_j Q_a(o,j) sum_i u[t,i] P_a(j,i)
// forward: u = x, M = W, P = A, Q = B; input gradient: u = dy, M = W^T,
// P = B^T, Q = A^T.
using Elem = std::function<double(int64_t, int64_t)>;
struct Factor {
  Elem p, q;
  int64_t rank;
  double scale;
};

void ref_composed(int64_t T, int64_t O, int64_t I, const float* u, const Elem& m, const std::vector<Factor>& fs,
                  std::vector<double>* y, std::vector<double>* mag) {
  y->assign(static_cast<size_t>(T * O), 0.0);
  mag->assign(y->size(), 0.0);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t o = 0; o < O; ++o) {
      double v = 0, a = 0;
      for (int64_t i = 0; i < I; ++i) {
        v += u[t * I + i] * m(o, i);
        a += std::fabs(u[t * I + i] * m(o, i));
      }
      for (const Factor& f : fs)
        for (int64_t j = 0; j < f.rank; ++j) {
          double h = 0, ha = 0;
          for (int64_t i = 0; i < I; ++i) {
            h += u[t * I + i] * f.p(j, i);
            ha += std::fabs(u[t * I + i] * f.p(j, i));
          }
          v += f.scale * h * f.q(o, j);
          a += std::fabs(f.scale * f.q(o, j)) * ha;
        }
      (*y)[static_cast<size_t>(t * O + o)] = v;
      (*mag)[static_cast<size_t>(t * O + o)] = a;
    }
}

void ref_forward(const Case& c, std::vector<double>* y, std::vector<double>* mag) {
  std::vector<Factor> fs;
  for (const LoraAdapter& ad : c.lin.adapters)
    fs.push_back({[&c, ad](int64_t j, int64_t k) { return static_cast<double>(ad.a[j * c.K + k]); },
                  [ad](int64_t n, int64_t j) { return static_cast<double>(ad.b[n * ad.rank + j]); }, ad.rank, ad.scale});
  ref_composed(c.T, c.N, c.K, c.x.data(), [&c](int64_t n, int64_t k) { return static_cast<double>(c.w[n * c.K + k]); },
               fs, y, mag);
}

void ref_backward_input(const Case& c, std::vector<double>* dx, std::vector<double>* mag) {
  std::vector<Factor> fs;
  for (const LoraAdapter& ad : c.lin.adapters)
    fs.push_back({[ad](int64_t j, int64_t n) { return static_cast<double>(ad.b[n * ad.rank + j]); },
                  [&c, ad](int64_t k, int64_t j) { return static_cast<double>(ad.a[j * c.K + k]); }, ad.rank, ad.scale});
  ref_composed(c.T, c.K, c.N, c.dy.data(), [&c](int64_t k, int64_t n) { return static_cast<double>(c.w[n * c.K + k]); },
               fs, dx, mag);
}

// <dy, y> in double for the case's adapters (weights as given).
double loss(const Case& c) {
  std::vector<double> y, mag;
  ref_forward(c, &y, &mag);
  double l = 0;
  for (size_t i = 0; i < y.size(); ++i) l += c.dy[i] * y[i];
  return l;
}

int64_t outside(const std::vector<float>& got, const std::vector<double>& want, const std::vector<double>& mag,
                double g) {
  int64_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::fabs(got[i] - want[i]) <= g * mag[i])) ++bad;
  return bad;
}

class LinearTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<kernels::KernelTable> t = kernels::select_kernels();
    ASSERT_TRUE(t.has_value());
    table_ = *t;
  }
  kernels::ExecContext exec() { return kernels::ExecContext{&pool_, &table_}; }
  ThreadPool pool_{2};
  kernels::KernelTable table_;
};

TEST_F(LinearTest, ForwardWithTwoAdaptersWithinBound) {
  Case c;
  std::vector<float> y(static_cast<size_t>(c.T * c.N)), scratch(static_cast<size_t>(c.T * c.lin.max_rank()));
  kernels::matmul(exec(), c.x.data(), c.T, c.lin.w, y.data());
  lora_forward_add(exec(), c.lin, c.x.data(), c.T, y.data(), scratch.data());
  std::vector<double> want, mag;
  ref_forward(c, &want, &mag);
  EXPECT_EQ(outside(y, want, mag, gamma(c.K + 8 + 3)), 0);
  // Negative control: without the second adapter the result is far outside.
  c.lin.adapters.pop_back();
  std::vector<float> y1(y.size());
  kernels::matmul(exec(), c.x.data(), c.T, c.lin.w, y1.data());
  lora_forward_add(exec(), c.lin, c.x.data(), c.T, y1.data(), scratch.data());
  EXPECT_GT(outside(y1, want, mag, gamma(c.K + 8 + 3)), 0);
}

TEST_F(LinearTest, BackwardInputWithinBound) {
  Case c;
  std::vector<float> dx(static_cast<size_t>(c.T * c.K)), scratch(static_cast<size_t>(c.T * c.lin.max_rank()));
  linear_backward_input(exec(), c.lin, c.dy.data(), c.T, dx.data(), scratch.data());
  std::vector<double> want, mag;
  ref_backward_input(c, &want, &mag);
  EXPECT_EQ(outside(dx, want, mag, gamma(c.N + 8 + 3)), 0);
  // Negative control: the plain transposed product misses the adapters' terms.
  std::vector<float> plain(dx.size());
  kernels::matmul_t(exec(), c.dy.data(), c.T, c.lin.w, plain.data());
  EXPECT_GT(outside(plain, want, mag, gamma(c.N + 8 + 3)), 0);
}

// A row-scaled FP8 weight (F8_E4M3 + TensorView::row_scale) under the same
// adapters: scales are powers of two, so the reference's W = e4m3 * scale is
// exact in f32; the scale adds one rounding to each product's chain
// (gamma_{m+1}). Without the scales the results are far outside.
TEST_F(LinearTest, RowScaledF8WeightForwardAndBackwardWithinBound) {
  Case c;
  std::vector<uint8_t> q(static_cast<size_t>(c.N * c.K));
  std::vector<float> scale(static_cast<size_t>(c.N));
  for (int64_t n = 0; n < c.N; ++n) {
    scale[static_cast<size_t>(n)] = std::ldexp(1.0f, -static_cast<int>(n % 5) - 3);
    for (int64_t k = 0; k < c.K; ++k) {
      const size_t i = static_cast<size_t>(n * c.K + k);
      q[i] = f32_to_f8_e4m3(c.w[i] / scale[static_cast<size_t>(n)]);
      c.w[i] = f8_e4m3_to_f32(q[i]) * scale[static_cast<size_t>(n)];
    }
  }
  c.lin.w.dtype = DType::kF8_E4M3;
  c.lin.w.data = q.data();
  c.lin.w.row_scale = scale.data();
  // On the bf16 path (AVX512_BF16, ref: kernels/ops.h) the base product rounds x
  // to bf16 first: take x already in bf16, so both paths multiply the same values.
  if (kernels::matmul_path(table_, c.lin.w) == kernels::MatmulPath::kBf16)
    for (float& v : c.x) v = bf16_to_f32(f32_to_bf16(v));
  std::vector<float> y(static_cast<size_t>(c.T * c.N)), scratch(static_cast<size_t>(c.T * c.lin.max_rank()));
  kernels::matmul(exec(), c.x.data(), c.T, c.lin.w, y.data());
  lora_forward_add(exec(), c.lin, c.x.data(), c.T, y.data(), scratch.data());
  std::vector<double> want, mag;
  ref_forward(c, &want, &mag);
  EXPECT_EQ(outside(y, want, mag, gamma(c.K + 8 + 4)), 0);
  std::vector<float> dx(static_cast<size_t>(c.T * c.K));
  linear_backward_input(exec(), c.lin, c.dy.data(), c.T, dx.data(), scratch.data());
  std::vector<double> dwant, dmag;
  ref_backward_input(c, &dwant, &dmag);
  EXPECT_EQ(outside(dx, dwant, dmag, gamma(c.N + 8 + 4)), 0);
  c.lin.w.row_scale = nullptr;  // negative control: the e4m3 values alone
  kernels::matmul(exec(), c.x.data(), c.T, c.lin.w, y.data());
  lora_forward_add(exec(), c.lin, c.x.data(), c.T, y.data(), scratch.data());
  EXPECT_GT(outside(y, want, mag, gamma(c.K + 8 + 4)), 0);
  linear_backward_input(exec(), c.lin, c.dy.data(), c.T, dx.data(), scratch.data());
  EXPECT_GT(outside(dx, dwant, dmag, gamma(c.N + 8 + 4)), 0);
}

// dA and dB are the gradients of L = <dy, y>: for a random direction E,
// L(A + E) - L(A) = <dA, E> (L is linear in A; likewise in B).
TEST_F(LinearTest, AdapterGradientsAreTheGradients) {
  Case c;
  for (size_t i = 0; i < c.lin.adapters.size(); ++i) {
    const int64_t r = c.lin.adapters[i].rank;
    std::vector<float> da(static_cast<size_t>(r * c.K), 0.0f), db(static_cast<size_t>(c.N * r), 0.0f);
    std::vector<float> scratch(static_cast<size_t>(2 * c.T * r));
    lora_backward_weights(exec(), c.lin, i, c.x.data(), c.dy.data(), c.T, da.data(), db.data(), scratch.data());
    const double l0 = loss(c);
    const LoraAdapter& ad = c.lin.adapters[i];
    for (int which = 0; which < 2; ++which) {
      std::vector<float>& m = which == 0 ? c.a[i] : c.b[i];  // the adapter points into these
      const std::vector<float>& grad = which == 0 ? da : db;
      // Per element, the absolute terms behind its f32 value: dA[j,k] =
      // s sum_t fl(dy_t . B_j) x_tk (gamma_{N+T+2}), dB[n,j] = s sum_t dy_tn
      // fl(x_t . A_j) (gamma_{K+T+2}).
      std::vector<double> term(grad.size(), 0.0);
      for (int64_t t = 0; t < c.T; ++t)
        for (int64_t j = 0; j < r; ++j) {
          double gb = 0, xa = 0;
          for (int64_t n = 0; n < c.N; ++n) gb += std::fabs(static_cast<double>(c.dy[t * c.N + n]) * ad.b[n * r + j]);
          for (int64_t k = 0; k < c.K; ++k) xa += std::fabs(static_cast<double>(c.x[t * c.K + k]) * ad.a[j * c.K + k]);
          if (which == 0)
            for (int64_t k = 0; k < c.K; ++k)
              term[static_cast<size_t>(j * c.K + k)] += std::fabs(ad.scale) * gb * std::fabs(c.x[t * c.K + k]);
          else
            for (int64_t n = 0; n < c.N; ++n)
              term[static_cast<size_t>(n * r + j)] += std::fabs(ad.scale) * xa * std::fabs(c.dy[t * c.N + n]);
        }
      const double g = gamma((which == 0 ? c.N : c.K) + c.T + 2);
      const std::vector<float> e = normals(50 + i * 2 + static_cast<uint64_t>(which), static_cast<int64_t>(m.size()), 1e-3f);
      const std::vector<float> saved = m;
      for (size_t j = 0; j < m.size(); ++j) m[j] += e[j];
      // The perturbed matrix in f32 is saved + e rounded: use the actual step.
      double dot = 0, bound = 0;
      for (size_t j = 0; j < m.size(); ++j) {
        const double step = static_cast<double>(m[j]) - saved[j];
        dot += step * grad[j];
        bound += std::fabs(step) * g * term[j];
      }
      const double dl = loss(c) - l0;
      m = saved;
      // Plus the double evaluation of the two losses (1e-13 of |L|, generously).
      EXPECT_NEAR(dl, dot, bound + 1e-13 * std::fabs(l0)) << "adapter " << i << (which == 0 ? " dA" : " dB");
      // Negative control: a gradient 1% off is caught.
      EXPECT_GT(std::fabs(dl - 1.01 * dot), bound + 1e-13 * std::fabs(l0)) << "adapter " << i;
      EXPECT_GT(std::fabs(dot), 0.0);
    }
  }
}

TEST_F(LinearTest, AdaptersInTheModel) {
  Result<LlamaModel> m = LlamaModel::load(make_test_model("linear-tiny.gguf", "tiny", "q4_0"));
  ASSERT_TRUE(m.has_value()) << m.error().to_string();
  const LlamaConfig& c = m->config();
  const std::vector<int32_t> toks = {128000, 9906, 1917, 11, 1268};
  auto logits = [&]() {
    LlamaContext ctx(*m, 16, 8, exec(), DType::kF16, DType::kF16);
    std::vector<float> out;
    EXPECT_TRUE(ctx.eval(toks, true, &out).has_value());
    return out;
  };
  const std::vector<float> base = logits();
  const int64_t r = 4, q_rows = c.n_heads * c.head_dim, d_ff = c.d_ff, D = c.d_model;
  std::vector<float> aq = normals(8, r * D, 0.1f), bq(static_cast<size_t>(q_rows * r), 0.0f);
  std::vector<float> ad = normals(9, r * d_ff, 0.1f), bd(static_cast<size_t>(D * r), 0.0f);
  ASSERT_TRUE(m->attach_lora(0, LlamaTensor::kWq, {aq.data(), bq.data(), r, 2.0f}).has_value());
  ASSERT_TRUE(m->attach_lora(1, LlamaTensor::kWDown, {ad.data(), bd.data(), r, 2.0f}).has_value());
  EXPECT_EQ(m->max_lora_rank(), r);
  const std::vector<float> zero_b = logits();
  EXPECT_EQ(std::memcmp(base.data(), zero_b.data(), base.size() * sizeof(float)), 0) << "B = 0 must change nothing";
  for (std::vector<float>* b : {&bq, &bd}) {  // each adapter alone, with a trained (non-zero) B
    const std::vector<float> trained = normals(10 + static_cast<uint64_t>(b == &bd), static_cast<int64_t>(b->size()), 0.5f);
    std::copy(trained.begin(), trained.end(), b->begin());  // in place: the model holds b->data()
    EXPECT_NE(std::memcmp(base.data(), logits().data(), base.size() * sizeof(float)), 0);
    std::fill(b->begin(), b->end(), 0.0f);
  }
  m->clear_lora();
  EXPECT_EQ(m->max_lora_rank(), 0);
  EXPECT_FALSE(m->attach_lora(2, LlamaTensor::kWq, {aq.data(), bq.data(), r, 1.0f}).has_value());  // tiny has 2 layers
  EXPECT_FALSE(m->attach_lora(0, LlamaTensor::kAttnNorm, {aq.data(), bq.data(), r, 1.0f}).has_value());
  EXPECT_FALSE(m->attach_lora(0, LlamaTensor::kWq, {aq.data(), nullptr, r, 1.0f}).has_value());
  EXPECT_FALSE(m->attach_lora(0, LlamaTensor::kWq, {aq.data(), bq.data(), 0, 1.0f}).has_value());
}

}  // namespace
}  // namespace herd::model
