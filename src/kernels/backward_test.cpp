// The backward ops (kernels/backward.h) on every ISA the host has:
//  - each double reference is the gradient: for L = <dy, f(x)> computed in
//    double, the central difference (L(x + eE) - L(x - eE)) / 2e along a random
//    direction E equals <dx_ref, E> to 1e-6 relative (the difference's error
//    is O(e^2) plus rounding of ~1e-16 / e);
//  - each f32 op is within a bound of its reference derived from its
//    arithmetic (stated per test, in units of u = 2^-24, against the sum of
//    the absolute values of the terms behind each element);
//  - 1 and 2 threads give the same bits; negative controls where a bound
//    could hide a wrong formula.
#include "kernels/backward.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/directional_check.h"
#include "kernels/isa_test.h"
#include "kernels/ops.h"
#include "tensor/quant.h"

namespace herd::kernels {
namespace {

constexpr double kU = 1.0 / 16777216.0;  // 2^-24

class BackwardTest : public IsaTableTest {
 protected:
  ExecContext ctx(ThreadPool& p) { return ExecContext{&p, &table_}; }
};

INSTANTIATE_TEST_SUITE_P(AllIsas, BackwardTest, ::testing::ValuesIn(all_isas()), isa_test_name);

double dot(const std::vector<float>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

TEST_P(BackwardTest, RmsNorm) {
  const int64_t T = 3, D = 40;
  const float eps = 1e-5f;
  std::vector<float> x = normals(1, 0, T * D), w = normals(2, 0, D), dy = normals(3, 0, T * D);
  std::vector<double> dx_ref(static_cast<size_t>(T * D)), dw_ref(static_cast<size_t>(D), 0.0);
  rms_norm_backward_ref(x.data(), w.data(), eps, dy.data(), T, D, dx_ref.data(), dw_ref.data());
  // The reference is the gradient of L = <dy, rms_norm(x) w>, in x and in w.
  auto L = [&](const std::vector<float>& xx, const std::vector<float>& ww) {
    double l = 0;
    for (int64_t t = 0; t < T; ++t) {
      double ss = 0;
      for (int64_t i = 0; i < D; ++i) ss += static_cast<double>(xx[t * D + i]) * xx[t * D + i];
      const double r = 1 / std::sqrt(ss / D + static_cast<double>(eps));
      for (int64_t i = 0; i < D; ++i) l += static_cast<double>(dy[t * D + i]) * xx[t * D + i] * r * ww[i];
    }
    return l;
  };
  expect_directional([&](const std::vector<float>& xx) { return L(xx, w); }, x, dx_ref, 4, "dx");
  expect_directional([&](const std::vector<float>& ww) { return L(x, ww); }, w, dw_ref, 5, "dw");
  // f32: each dx is one double expression rounded once (<= 2u of its terms'
  // magnitude), dw sums T f32-rounded terms in f32 (gamma_{T+1}).
  std::vector<float> dx(static_cast<size_t>(T * D)), dw(static_cast<size_t>(D), 0.0f);
  rms_norm_backward(x.data(), w.data(), eps, dy.data(), T, D, dx.data(), dw.data());
  for (int64_t t = 0; t < T; ++t) {
    double ss = 0, c = 0;
    for (int64_t i = 0; i < D; ++i) {
      ss += static_cast<double>(x[t * D + i]) * x[t * D + i];
      c += std::fabs(static_cast<double>(w[i]) * dy[t * D + i] * x[t * D + i]);
    }
    const double r = 1 / std::sqrt(ss / D + static_cast<double>(eps));
    for (int64_t i = 0; i < D; ++i) {
      const double mag = std::fabs(r * w[i] * dy[t * D + i]) + std::fabs(x[t * D + i] * r * r * r / D * c);
      EXPECT_LE(std::fabs(dx[t * D + i] - dx_ref[t * D + i]), 2 * kU * mag) << t << "," << i;
    }
  }
  for (int64_t i = 0; i < D; ++i) {
    double mag = 0;
    for (int64_t t = 0; t < T; ++t) {
      double ss = 0;
      for (int64_t j = 0; j < D; ++j) ss += static_cast<double>(x[t * D + j]) * x[t * D + j];
      mag += std::fabs(dy[t * D + i] * x[t * D + i] / std::sqrt(ss / D + static_cast<double>(eps)));
    }
    EXPECT_LE(std::fabs(dw[i] - dw_ref[i]), (T + 1) * kU * mag) << i;
  }
}

TEST_P(BackwardTest, RopeBackwardIsTheTranspose) {
  // <rope(x), dy> = <x, rope_backward(dy)> for every style; a backward
  // rotating the wrong way fails by far more than the rounding (a few u of
  // sum |x| |dy|).
  const int64_t T = 4, H = 3, hd = 16;
  const std::vector<int64_t> pos = {0, 7, 300, 9000};
  std::vector<double> inv(hd / 2);
  for (int64_t i = 0; i < hd / 2; ++i) inv[static_cast<size_t>(i)] = std::pow(500000.0, -2.0 * i / hd);
  for (RopeStyle st : {RopeStyle::kInterleaved, RopeStyle::kHalves}) {
    std::vector<float> x = normals(6, 0, T * H * hd), dy = normals(7, 0, T * H * hd);
    std::vector<float> rx = x, bdy = dy, wrong = dy;
    rope(rx.data(), T, H, hd, pos.data(), inv.data(), st);
    rope_backward(bdy.data(), T, H, hd, pos.data(), inv.data(), st);
    rope(wrong.data(), T, H, hd, pos.data(), inv.data(), st);
    double a = 0, b = 0, c = 0, mag = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      a += static_cast<double>(rx[i]) * dy[i];
      b += static_cast<double>(x[i]) * bdy[i];
      c += static_cast<double>(x[i]) * wrong[i];
      mag += std::fabs(x[i]) * std::fabs(dy[i]) * 2;
    }
    EXPECT_LE(std::fabs(a - b), 8 * kU * mag);
    EXPECT_GT(std::fabs(a - c), 8 * kU * mag);
  }
}

TEST_P(BackwardTest, SiluMul) {
  const int64_t n = 5000;  // two chunks of the pool's split
  std::vector<float> g = normals(8, 0, n, 3.0f), u = normals(9, 0, n), dh = normals(10, 0, n);
  std::vector<double> dg_ref(static_cast<size_t>(n)), du_ref(static_cast<size_t>(n));
  silu_mul_backward_ref(g.data(), u.data(), dh.data(), n, dg_ref.data(), du_ref.data());
  auto L = [&](const std::vector<float>& gg, const std::vector<float>& uu) {
    double l = 0;
    for (int64_t i = 0; i < n; ++i) l += static_cast<double>(dh[i]) * gg[i] / (1 + std::exp(-static_cast<double>(gg[i]))) * uu[i];
    return l;
  };
  expect_directional([&](const std::vector<float>& gg) { return L(gg, u); }, g, dg_ref, 11, "dg");
  expect_directional([&](const std::vector<float>& uu) { return L(g, uu); }, u, du_ref, 12, "du");
  // f32: s = 1/(1 + exp(-g)) within ~3u (libm exp <= 1 ulp, two roundings),
  // then at most 5 more roundings, with 1 + g (1 - s) evaluated on |g| (1 - s)
  // terms: 16u of |dh u| (s + |g| s (1 - s) + s) covers it.
  ThreadPool one(1), two(2);
  std::vector<float> dg(static_cast<size_t>(n)), du(dg.size()), dg2(dg.size()), du2(dg.size());
  silu_mul_backward(ctx(one), g.data(), u.data(), dh.data(), n, dg.data(), du.data());
  silu_mul_backward(ctx(two), g.data(), u.data(), dh.data(), n, dg2.data(), du2.data());
  EXPECT_EQ(std::memcmp(dg.data(), dg2.data(), dg.size() * 4), 0);
  for (int64_t i = 0; i < n; ++i) {
    const double s = 1 / (1 + std::exp(-static_cast<double>(g[i])));
    const double mag_g = std::fabs(dh[i] * u[i]) * (2 * s + std::fabs(g[i]) * s * (1 - s));
    EXPECT_LE(std::fabs(dg[i] - dg_ref[i]), 16 * kU * mag_g) << i;
    EXPECT_LE(std::fabs(du[i] - du_ref[i]), 16 * kU * std::fabs(dh[i] * g[i] * s)) << i;
  }
}

// Two packed sequences (tokens 0..6 and 7..12), GQA 4 query heads on 2 KV heads.
struct AttnCase {
  int64_t T = 13, H = 4, KV = 2, hd = 64;  // hd 64: the AVX-512 attn_rows path too
  std::vector<int32_t> first = {0, 0, 0, 0, 0, 0, 0, 7, 7, 7, 7, 7, 7};
  std::vector<float> q = normals(20, 0, T * H * hd), k = normals(21, 0, T * KV * hd), v = normals(22, 0, T * KV * hd),
                     dout = normals(23, 0, T * H * hd);
  AttnTrainShape shape() const {
    AttnTrainShape s;
    s.T = T, s.H = H, s.KV = KV, s.hd = hd, s.first = first.data();
    return s;
  }
  // Sequences of 37 and 16 tokens with hd 128: whole blocks of 16 keys and
  // tails in the fused AVX-512 backward (attn_backward_row), 8B's head size.
  static AttnCase longer() {
    AttnCase c;
    c.T = 53, c.hd = 128;
    c.first.assign(37, 0);
    c.first.resize(53, 37);
    c.q = normals(20, 1, c.T * c.H * c.hd), c.k = normals(21, 1, c.T * c.KV * c.hd);
    c.v = normals(22, 1, c.T * c.KV * c.hd), c.dout = normals(23, 1, c.T * c.H * c.hd);
    return c;
  }
};

TEST_P(BackwardTest, AttentionReferenceIsTheGradient) {
  AttnCase c;
  const AttnTrainShape s = c.shape();
  std::vector<double> dq(c.q.size()), dk(c.k.size()), dv(c.v.size());
  attention_train_ref(s, c.q.data(), c.k.data(), c.v.data(), nullptr, nullptr, c.dout.data(), dq.data(), dk.data(),
                      dv.data());
  auto L = [&](const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v) {
    std::vector<double> out(c.q.size());
    attention_train_ref(s, q.data(), k.data(), v.data(), out.data(), nullptr, nullptr, nullptr, nullptr, nullptr);
    return dot(c.dout, out);
  };
  expect_directional([&](const std::vector<float>& q) { return L(q, c.k, c.v); }, c.q, dq, 24, "dq");
  expect_directional([&](const std::vector<float>& k) { return L(c.q, k, c.v); }, c.k, dk, 25, "dk");
  expect_directional([&](const std::vector<float>& v) { return L(c.q, c.k, v); }, c.v, dv, 26, "dv");
}

TEST_P(BackwardTest, AttentionWithinBoundOfReference) {
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round == 0 ? "13 tokens, hd 64" : "53 tokens (full 16-key blocks), hd 128");
    AttnCase c;
    if (round == 1) c = AttnCase::longer();
    const AttnTrainShape s = c.shape();
    const size_t nq = c.q.size(), nk = c.k.size();
    std::vector<double> out_ref(nq), lse_ref(static_cast<size_t>(c.T * c.H)), dq_ref(nq), dk_ref(nk), dv_ref(nk);
    attention_train_ref(s, c.q.data(), c.k.data(), c.v.data(), out_ref.data(), lse_ref.data(), c.dout.data(),
                        dq_ref.data(), dk_ref.data(), dv_ref.data());
    ThreadPool one(1), two(2);
    std::vector<float> out(nq), lse(lse_ref.size()), dq(nq), dk(nk), dv(nk);
    attention_train(ctx(one), s, c.q.data(), c.k.data(), c.v.data(), out.data(), lse.data());
    attention_train_backward(ctx(one), s, c.q.data(), c.k.data(), c.v.data(), out.data(), lse.data(), c.dout.data(),
                             dq.data(), dk.data(), dv.data());
    std::vector<float> dq2(nq), dk2(nk), dv2(nk);
    attention_train_backward(ctx(two), s, c.q.data(), c.k.data(), c.v.data(), out.data(), lse.data(), c.dout.data(),
                             dq2.data(), dk2.data(), dv2.data());
    EXPECT_EQ(std::memcmp(dk.data(), dk2.data(), nk * 4), 0);
    EXPECT_EQ(std::memcmp(dq.data(), dq2.data(), nq * 4), 0);
    // Error budget. A score s_j = scale fl(q.k_j) is off by <= hd u S_j, S_j =
    // scale sum|q k_j|; lse by <= (hd u S + n u) (S = max_j S_j, n keys: the
    // double sum and the f32 rounding of lse); so p_j = exp(s_j - lse) is off
    // relatively by e_p <= 2 (hd u S + n u) + 2u. Every gradient element is a
    // sum over at most n terms of products of p (or ds) with f32 operands, each
    // rounded a few times: budget (n + hd + 8) u plus e_p, times the sum of the
    // absolute terms (with |ds_j| bounded by p_j (|dout.v_j| + |D|) and its own
    // dot products' hd u). A single wrong sign or a missing term exceeds this.
    const int64_t group = c.H / c.KV;
    std::vector<double> mq(nq, 0.0), mk(nk, 0.0), mv(nk, 0.0), mo(nq, 0.0), ep(static_cast<size_t>(c.T * c.H));
    for (int64_t t = 0; t < c.T; ++t)
      for (int64_t h = 0; h < c.H; ++h) {
        const int64_t g = h / group, j0 = c.first[static_cast<size_t>(t)], n = t - j0 + 1;
        const float* qr = c.q.data() + (t * c.H + h) * c.hd;
        const float* go = c.dout.data() + (t * c.H + h) * c.hd;
        double S = 0, D = 0;
        for (int64_t i = 0; i < c.hd; ++i) D += std::fabs(go[i] * out_ref[static_cast<size_t>((t * c.H + h) * c.hd + i)]);
        for (int64_t j = j0; j <= t; ++j) {
          double sj = 0;
          for (int64_t i = 0; i < c.hd; ++i) sj += std::fabs(qr[i] * c.k[static_cast<size_t>((j * c.KV + g) * c.hd + i)]);
          S = std::max(S, sj * attention_scale(c.hd));
        }
        const double e = 2 * (c.hd * kU * S + n * kU) + 2 * kU + (n + c.hd + 8) * kU;
        ep[static_cast<size_t>(t * c.H + h)] = e;
        for (int64_t j = j0; j <= t; ++j) {
          double sc = 0, dpa = 0;
          for (int64_t i = 0; i < c.hd; ++i) {
            sc += static_cast<double>(qr[i]) * c.k[static_cast<size_t>((j * c.KV + g) * c.hd + i)];
            dpa += std::fabs(go[i] * c.v[static_cast<size_t>((j * c.KV + g) * c.hd + i)]);
          }
          const double p = std::exp(sc * attention_scale(c.hd) - lse_ref[static_cast<size_t>(t * c.H + h)]);
          const double dsa = p * (dpa + D);
          for (int64_t i = 0; i < c.hd; ++i) {
            const size_t qi = static_cast<size_t>((t * c.H + h) * c.hd + i), ki = static_cast<size_t>((j * c.KV + g) * c.hd + i);
            mo[qi] += e * p * std::fabs(c.v[ki]);
            mq[qi] += e * attention_scale(c.hd) * dsa * std::fabs(c.k[ki]);
            mk[ki] += e * attention_scale(c.hd) * dsa * std::fabs(qr[i]);
            mv[ki] += e * p * std::fabs(go[i]);
          }
        }
      }
    auto outside = [](const std::vector<float>& got, const std::vector<double>& want, const std::vector<double>& m) {
      int64_t bad = 0;
      for (size_t i = 0; i < got.size(); ++i)
        if (!(std::fabs(got[i] - want[i]) <= m[i] + 1e-30)) ++bad;
      return bad;
    };
    EXPECT_EQ(outside(out, out_ref, mo), 0);
    EXPECT_EQ(outside(dq, dq_ref, mq), 0);
    EXPECT_EQ(outside(dk, dk_ref, mk), 0);
    EXPECT_EQ(outside(dv, dv_ref, mv), 0);
    for (size_t i = 0; i < lse.size(); ++i) EXPECT_NEAR(lse[i], lse_ref[i], 1e-5 * (1 + std::fabs(lse_ref[i])));
    // Negative control: without the packing boundary (every token sees keys
    // from 0), the second sequence's gradients move far outside the bound.
    AttnTrainShape joined = s;
    joined.first = nullptr;
    std::vector<float> o3(nq), l3(lse.size()), dq3(nq), dk3(nk), dv3(nk);
    attention_train(ctx(one), joined, c.q.data(), c.k.data(), c.v.data(), o3.data(), l3.data());
    attention_train_backward(ctx(one), joined, c.q.data(), c.k.data(), c.v.data(), o3.data(), l3.data(),
                             c.dout.data(), dq3.data(), dk3.data(), dv3.data());
    EXPECT_GT(outside(dq3, dq_ref, mq), 0);
    EXPECT_GT(outside(dk3, dk_ref, mk), 0);
  }
}

// Weights of each kind the loss head may have, over three vocabulary chunks.
TEST_P(BackwardTest, CrossEntropyChunkedEqualsReference) {
  const int64_t T = 5, D = 256, V = 2 * kCeChunk + 300;  // D: one Q4_K super-block
  const std::vector<int32_t> labels = {3, -100, static_cast<int32_t>(V - 1), static_cast<int32_t>(kCeChunk), 77};
  const std::vector<float> h = normals(30, 0, T * D, 0.5f);
  for (DType t : {DType::kF32, DType::kQ8_0, DType::kQ4_K, DType::kF8_E4M3}) {
    SCOPED_TRACE(dtype_name(t));
    const std::vector<float> src = normals(31, static_cast<uint64_t>(t), V * D, 0.5f);
    std::vector<uint8_t> bytes(static_cast<size_t>(V * row_bytes(t, D)));
    std::vector<float> scales(static_cast<size_t>(V));
    for (int64_t v = 0; v < V; ++v) {
      uint8_t* row = bytes.data() + v * row_bytes(t, D);
      if (t == DType::kF8_E4M3)
        scales[static_cast<size_t>(v)] = quantize_row_f8_e4m3(src.data() + v * D, row, D);
      else
        quantize_row_ref(t, src.data() + v * D, row, D);
    }
    TensorView w;
    w.dtype = t;
    w.shape = {V, D};
    w.data = bytes.data();
    if (t == DType::kF8_E4M3) w.row_scale = scales.data();
    const double scale = 1.0 / 4;  // mean over the 4 counted tokens
    std::vector<double> dh_ref(static_cast<size_t>(T * D));
    const CeResult ref = cross_entropy_ref(h.data(), T, w, labels.data(), scale, dh_ref.data());
    ASSERT_EQ(ref.counted, 4);
    expect_directional(
        [&](const std::vector<float>& hh) {
          return cross_entropy_ref(hh.data(), T, w, labels.data(), scale, nullptr).loss_sum * scale;
        },
        h, dh_ref, 32, "dh");
    ThreadPool one(1), two(2);
    std::vector<float> scratch(static_cast<size_t>(ce_scratch_floats(T, D))), dh(static_cast<size_t>(T * D)), dh2(dh);
    ExecContext c1 = ctx(one), c2 = ctx(two);
    c1.exact_f32 = c2.exact_f32 = true;
    const CeResult got = cross_entropy_backward(c1, h.data(), T, w, labels.data(), static_cast<float>(scale), dh.data(),
                                                scratch.data());
    const CeResult got2 = cross_entropy_backward(c2, h.data(), T, w, labels.data(), static_cast<float>(scale),
                                                 dh2.data(), scratch.data());
    // Negative control: token 0 trained towards another label.
    std::vector<int32_t> wrong_labels = labels;
    wrong_labels[0] = 4;
    std::vector<float> dh_wrong(dh.size());
    cross_entropy_backward(c1, h.data(), T, w, wrong_labels.data(), static_cast<float>(scale), dh_wrong.data(),
                           scratch.data());
    int64_t wrong_outside = 0;
    EXPECT_EQ(got.counted, 4);
    EXPECT_EQ(got.loss_sum, got2.loss_sum);
    EXPECT_EQ(std::memcmp(dh.data(), dh2.data(), dh.size() * 4), 0);
    // Bound: a logit is a row dot of f32 products (<= 2D u A_t, A_t =
    // max_v sum_k |h W_v|, the kernels' row-dot bound; + u for a row scale), so
    // each lse and label logit is off by <= e_t = (2D + 2) u A_t + 2u |lse|, the
    // loss by the sum of 2 e_t; g = scale (p - [label]) by scale p (2 e_t + 4u);
    // dh sums V terms over chunks in f32 (gamma_{V + chunks + 1}).
    std::vector<float> row(static_cast<size_t>(D));
    std::vector<double> wd(static_cast<size_t>(V * D));
    for (int64_t v = 0; v < V; ++v) {
      dequantize_row_ref(t, bytes.data() + v * row_bytes(t, D), row.data(), D);
      for (int64_t k = 0; k < D; ++k)
        wd[static_cast<size_t>(v * D + k)] = row[static_cast<size_t>(k)] * (w.row_scale ? scales[static_cast<size_t>(v)] : 1.0);
    }
    double loss_bound = 0;
    for (int64_t tk = 0; tk < T; ++tk) {
      if (labels[static_cast<size_t>(tk)] < 0) {
        for (int64_t k = 0; k < D; ++k) EXPECT_EQ(dh[static_cast<size_t>(tk * D + k)], 0.0f);
        continue;
      }
      std::vector<double> lg(static_cast<size_t>(V));
      double A = 0, mx = -INFINITY;
      for (int64_t v = 0; v < V; ++v) {
        double d = 0, a = 0;
        for (int64_t k = 0; k < D; ++k) {
          d += h[static_cast<size_t>(tk * D + k)] * wd[static_cast<size_t>(v * D + k)];
          a += std::fabs(h[static_cast<size_t>(tk * D + k)] * wd[static_cast<size_t>(v * D + k)]);
        }
        lg[static_cast<size_t>(v)] = d;
        A = std::max(A, a);
        mx = std::max(mx, d);
      }
      double se = 0;
      for (double l : lg) se += std::exp(l - mx);
      const double lse = mx + std::log(se);
      const double e = (2 * D + 2) * kU * A + 2 * kU * std::fabs(lse);
      loss_bound += 2 * e;
      const double gamma = (V + V / kCeChunk + 2) * kU;
      std::vector<double> coef(static_cast<size_t>(V));  // per row v: the error per unit |W_v k|
      for (int64_t v = 0; v < V; ++v) {
        const double p = std::exp(lg[static_cast<size_t>(v)] - lse);
        const double gv = scale * (p + (v == labels[static_cast<size_t>(tk)] ? 1.0 : 0.0));
        coef[static_cast<size_t>(v)] = scale * p * (2 * e + 4 * kU) + gamma * gv;
      }
      for (int64_t k = 0; k < D; ++k) {
        double m = 0;
        for (int64_t v = 0; v < V; ++v) m += coef[static_cast<size_t>(v)] * std::fabs(wd[static_cast<size_t>(v * D + k)]);
        EXPECT_LE(std::fabs(dh[static_cast<size_t>(tk * D + k)] - dh_ref[static_cast<size_t>(tk * D + k)]), m)
            << "token " << tk << " k " << k;
        if (!(std::fabs(dh_wrong[static_cast<size_t>(tk * D + k)] - dh_ref[static_cast<size_t>(tk * D + k)]) <= m))
          ++wrong_outside;
      }
    }
    EXPECT_LE(std::fabs(got.loss_sum - ref.loss_sum), loss_bound);
    EXPECT_GT(wrong_outside, D / 2);

    // The two halves with a factor per token (DPO's per-sequence weights):
    // per-token losses sum to the loss, match the reference's per token within
    // the whole loss bound, and factors that are powers of two times the
    // uniform one scale each token's dh row exactly (the same float
    // operations, exponent shifted), which fails if a factor reaches the wrong token.
    std::vector<double> lse(static_cast<size_t>(T)), nll(static_cast<size_t>(T)), nll_ref(static_cast<size_t>(T));
    const CeResult parts = cross_entropy_loss(c1, h.data(), T, w, labels.data(), lse.data(), nll.data(), scratch.data());
    EXPECT_EQ(parts.loss_sum, got.loss_sum);
    cross_entropy_ref(h.data(), T, w, labels.data(), scale, nullptr, nullptr, nll_ref.data());
    double nll_sum = 0;
    for (int64_t tk = 0; tk < T; ++tk) {
      nll_sum += nll[static_cast<size_t>(tk)];
      if (labels[static_cast<size_t>(tk)] < 0) {
        EXPECT_EQ(nll[static_cast<size_t>(tk)], 0.0);
      }
      EXPECT_LE(std::fabs(nll[static_cast<size_t>(tk)] - nll_ref[static_cast<size_t>(tk)]), loss_bound) << tk;
    }
    EXPECT_EQ(nll_sum, got.loss_sum);
    const float factors[] = {2.0f, -0.5f, 4.0f, -1.0f, 0.25f, 8.0f};
    std::vector<float> token_scale(static_cast<size_t>(T));
    for (int64_t tk = 0; tk < T; ++tk)
      token_scale[static_cast<size_t>(tk)] = static_cast<float>(scale) * factors[tk % 6];
    std::vector<float> dh_w(dh.size());
    cross_entropy_grad(c2, h.data(), T, w, labels.data(), lse.data(), token_scale.data(), dh_w.data(), scratch.data());
    for (int64_t tk = 0; tk < T; ++tk) {
      for (int64_t k = 0; k < D; ++k) {
        ASSERT_EQ(dh_w[static_cast<size_t>(tk * D + k)], dh[static_cast<size_t>(tk * D + k)] * factors[tk % 6])
            << "token " << tk << " k " << k;
      }
    }
  }
}

TEST_P(BackwardTest, WeightGradWithinBoundOfReference) {
  // T = 70 crosses a token tile; K = 37 leaves axpy tails; a zero gradient
  // (skipped) in every fourth element; dw starts non-zero (it is added to).
  const int64_t T = 70, N = 9, K = 37;
  std::vector<float> dy = normals(40, 0, T * N), x = normals(41, 0, T * K), dw0 = normals(42, 0, N * K);
  for (size_t i = 0; i < dy.size(); i += 4) dy[i] = 0.0f;
  std::vector<double> ref(dw0.begin(), dw0.end());
  weight_grad_ref(dy.data(), x.data(), T, N, K, ref.data());
  // The reference is the gradient of L = <dy, x . W^T> in W.
  std::vector<double> g(static_cast<size_t>(N * K), 0.0);
  weight_grad_ref(dy.data(), x.data(), T, N, K, g.data());
  expect_directional(
      [&](const std::vector<float>& w) {
        double l = 0;
        for (int64_t t = 0; t < T; ++t)
          for (int64_t n = 0; n < N; ++n)
            for (int64_t k = 0; k < K; ++k) l += static_cast<double>(dy[t * N + n]) * x[t * K + k] * w[n * K + k];
        return l;
      },
      dw0, g, 43, "dw");
  ThreadPool one(1), two(2);
  std::vector<float> dw1(dw0), dw2(dw0);
  weight_grad(ctx(one), dy.data(), x.data(), T, N, K, dw1.data());
  weight_grad(ctx(two), dy.data(), x.data(), T, N, K, dw2.data());
  EXPECT_EQ(std::memcmp(dw1.data(), dw2.data(), dw1.size() * 4), 0);
  // Each element sums T + 1 f32 terms in order, a product rounded (or fused)
  // then added: within gamma_{T+1} = (T + 1) u of the sum of |terms|.
  // Negative control: token 3's rows left out must fall outside it.
  std::vector<float> dy_wrong(dy), dw_wrong(dw0);
  for (int64_t n = 0; n < N; ++n) dy_wrong[static_cast<size_t>(3 * N + n)] = 0.0f;
  weight_grad(ctx(one), dy_wrong.data(), x.data(), T, N, K, dw_wrong.data());
  int64_t wrong_outside = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      double mag = std::fabs(dw0[static_cast<size_t>(n * K + k)]);
      for (int64_t t = 0; t < T; ++t) mag += std::fabs(static_cast<double>(dy[t * N + n]) * x[t * K + k]);
      const double bound = (T + 1) * kU * mag, want = ref[static_cast<size_t>(n * K + k)];
      EXPECT_LE(std::fabs(dw1[static_cast<size_t>(n * K + k)] - want), bound) << n << "," << k;
      if (!(std::fabs(dw_wrong[static_cast<size_t>(n * K + k)] - want) <= bound)) ++wrong_outside;
    }
  EXPECT_GT(wrong_outside, N * K / 2);
}

TEST_P(BackwardTest, CrossEntropyHeadWeightGradient) {
  // Full fine-tuning of the head: cross_entropy_grad's dw against the
  // reference's, which is checked to be the gradient of the loss in W.
  const int64_t T = 4, D = 48, V = kCeChunk + 100;
  const std::vector<int32_t> labels = {5, -100, static_cast<int32_t>(V - 1), static_cast<int32_t>(kCeChunk)};
  const std::vector<float> h = normals(50, 0, T * D, 0.5f), wv = normals(51, 0, V * D, 0.5f);
  auto view = [&](const std::vector<float>& values) {
    TensorView w;
    w.dtype = DType::kF32;
    w.shape = {V, D};
    w.data = reinterpret_cast<const uint8_t*>(values.data());
    return w;
  };
  const double scale = 1.0 / 3;
  std::vector<double> dw_ref(static_cast<size_t>(V * D), 0.0);
  cross_entropy_ref(h.data(), T, view(wv), labels.data(), scale, nullptr, nullptr, nullptr, dw_ref.data());
  expect_directional(
      [&](const std::vector<float>& ww) {
        return cross_entropy_ref(h.data(), T, view(ww), labels.data(), scale, nullptr).loss_sum * scale;
      },
      wv, dw_ref, 52, "dW");
  ThreadPool one(1), two(2);
  ExecContext c1 = ctx(one), c2 = ctx(two);
  c1.exact_f32 = c2.exact_f32 = true;
  std::vector<float> scratch(static_cast<size_t>(ce_scratch_floats(T, D))), dh(static_cast<size_t>(T * D));
  std::vector<double> lse(static_cast<size_t>(T)), nll(static_cast<size_t>(T));
  cross_entropy_loss(c1, h.data(), T, view(wv), labels.data(), lse.data(), nll.data(), scratch.data());
  const std::vector<float> token_scale(static_cast<size_t>(T), static_cast<float>(scale));
  std::vector<float> dw1(static_cast<size_t>(V * D), 0.0f), dw2(dw1), dw_only(dw1);
  cross_entropy_grad(c1, h.data(), T, view(wv), labels.data(), lse.data(), token_scale.data(), dh.data(),
                     scratch.data(), dw1.data());
  cross_entropy_grad(c2, h.data(), T, view(wv), labels.data(), lse.data(), token_scale.data(), dh.data(),
                     scratch.data(), dw2.data());
  cross_entropy_grad(c1, h.data(), T, view(wv), labels.data(), lse.data(), token_scale.data(), nullptr,
                     scratch.data(), dw_only.data());
  EXPECT_EQ(std::memcmp(dw1.data(), dw2.data(), dw1.size() * 4), 0);
  EXPECT_EQ(std::memcmp(dw1.data(), dw_only.data(), dw1.size() * 4), 0);  // dh not needed for dw
  // Bound: g_tv is within scale p_tv (2 e_t + 4u) of its exact value (the
  // CrossEntropyChunkedEqualsReference derivation; e_t from the logit's row
  // dot), and dw_vk sums the T terms g_tv h_tk in f32 (gamma_{T+1}).
  std::vector<double> coef_sum(static_cast<size_t>(V * D), 0.0);
  for (int64_t t = 0; t < T; ++t) {
    if (labels[static_cast<size_t>(t)] < 0) continue;
    std::vector<double> lg(static_cast<size_t>(V));
    double A = 0, mx = -INFINITY;
    for (int64_t v = 0; v < V; ++v) {
      double d = 0, a = 0;
      for (int64_t k = 0; k < D; ++k) {
        d += static_cast<double>(h[static_cast<size_t>(t * D + k)]) * wv[static_cast<size_t>(v * D + k)];
        a += std::fabs(static_cast<double>(h[static_cast<size_t>(t * D + k)]) * wv[static_cast<size_t>(v * D + k)]);
      }
      lg[static_cast<size_t>(v)] = d;
      A = std::max(A, a);
      mx = std::max(mx, d);
    }
    double se = 0;
    for (double l : lg) se += std::exp(l - mx);
    const double lse_t = mx + std::log(se), e = (2 * D + 2) * kU * A + 2 * kU * std::fabs(lse_t);
    for (int64_t v = 0; v < V; ++v) {
      const double p = std::exp(lg[static_cast<size_t>(v)] - lse_t);
      const double g = scale * (p + (v == labels[static_cast<size_t>(t)] ? 1.0 : 0.0));
      const double c = scale * p * (2 * e + 4 * kU) + (T + 1) * kU * g;
      for (int64_t k = 0; k < D; ++k)
        coef_sum[static_cast<size_t>(v * D + k)] += c * std::fabs(h[static_cast<size_t>(t * D + k)]);
    }
  }
  for (size_t i = 0; i < dw1.size(); ++i) ASSERT_LE(std::fabs(dw1[i] - dw_ref[i]), coef_sum[i]) << i;
  // Negative control: the gradient of the tokens' labels moved by one is outside the bound.
  std::vector<int32_t> wrong = labels;
  wrong[0] = 6;
  std::vector<float> dw_wrong(static_cast<size_t>(V * D), 0.0f);
  cross_entropy_grad(c1, h.data(), T, view(wv), wrong.data(), lse.data(), token_scale.data(), nullptr, scratch.data(),
                     dw_wrong.data());
  int64_t outside = 0;
  for (size_t i = 0; i < dw1.size(); ++i) outside += std::fabs(dw_wrong[i] - dw_ref[i]) > coef_sum[i];
  EXPECT_GE(outside, 2 * D - 4);  // the rows of labels 5 and 6
}

TEST(Backward, EmbeddingRowsAccumulate) {
  const int64_t D = 3;
  const std::vector<int32_t> tokens = {2, 0, 2};
  const std::vector<float> dx = {1, 2, 3, 4, 5, 6, 0.5f, 0.25f, 0.125f};
  std::vector<float> table(4 * D, 1.0f);
  embedding_backward(tokens.data(), 3, dx.data(), D, table.data());
  EXPECT_EQ(table, (std::vector<float>{5, 6, 7, 1, 1, 1, 2.5f, 3.25f, 4.125f, 1, 1, 1}));
}

}  // namespace
}  // namespace herd::kernels
