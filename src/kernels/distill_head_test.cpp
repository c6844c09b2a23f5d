// The distillation heads (kernels/distill_head.h) on every ISA the host has:
//  - soft_cross_entropy_ref is the gradient of its loss (central differences,
//    directional_check.h), and with a one-hot target, no tail and temperature
//    1 it is cross_entropy_ref (the plain cross-entropy) to 1e-12;
//  - the f32 kernels are within a bound of their references derived from the
//    cross-entropy's (backward_test.cpp), stated below;
//  - logits_topk returns the reference's ids and values, largest first;
//  - the labels' cross-entropy term of the reference is cross_entropy_ref's
//    (1e-12) and the gradient of its loss; the f32 kernel with it is within
//    the sum of both bounds, at the bins' temperature 1 and 2;
//  - 1 and 2 threads give the same bits; negative controls (targets moved to
//    another id, a label moved by one) fall outside the bound.
#include "kernels/distill_head.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/directional_check.h"
#include "kernels/isa_test.h"
#include "kernels/ops.h"
#include "tensor/quant.h"

namespace herd::kernels {
namespace {

constexpr double kU = 1.0 / 16777216.0;  // 2^-24

class DistillHeadTest : public IsaTableTest {
 protected:
  ExecContext ctx(ThreadPool& p) {
    ExecContext c{&p, &table_};
    c.exact_f32 = true;
    return c;
  }
};

INSTANTIATE_TEST_SUITE_P(AllIsas, DistillHeadTest, ::testing::ValuesIn(all_isas()), isa_test_name);

constexpr int64_t T = 4, D = 256, V = 2 * kCeChunk + 300, K = 5;

struct Fixture {
  std::vector<float> h = normals(40, 0, T * D, 0.5f);
  std::vector<uint8_t> bytes;
  TensorView w;
  std::vector<double> wd;  // W dequantized
  explicit Fixture(DType t) {
    const std::vector<float> src = normals(41, static_cast<uint64_t>(t), V * D, 0.5f);
    bytes.resize(static_cast<size_t>(V * row_bytes(t, D)));
    for (int64_t v = 0; v < V; ++v) quantize_row_ref(t, src.data() + v * D, bytes.data() + v * row_bytes(t, D), D);
    w.dtype = t;
    w.shape = {V, D};
    w.data = bytes.data();
    std::vector<float> row(static_cast<size_t>(D));
    wd.resize(static_cast<size_t>(V * D));
    for (int64_t v = 0; v < V; ++v) {
      dequantize_row_ref(t, bytes.data() + v * row_bytes(t, D), row.data(), D);
      for (int64_t k = 0; k < D; ++k) wd[static_cast<size_t>(v * D + k)] = row[static_cast<size_t>(k)];
    }
  }
  // Token t's logits in double and A_t = max_v sum_k |h_tk W_vk| (the row-dot bound's scale).
  std::vector<double> logits(int64_t t, double* A) const {
    std::vector<double> l(static_cast<size_t>(V));
    *A = 0;
    for (int64_t v = 0; v < V; ++v) {
      double d = 0, a = 0;
      for (int64_t k = 0; k < D; ++k) {
        const double p = h[static_cast<size_t>(t * D + k)] * wd[static_cast<size_t>(v * D + k)];
        d += p;
        a += std::fabs(p);
      }
      l[static_cast<size_t>(v)] = d;
      *A = std::max(*A, a);
    }
    return l;
  }
};

// Teacher-like targets: 5 ids spread over the chunks with weights summing to
// 0.7 and a tail of 0.3; token 1 has none (not counted); token 3 also carries
// a cross-entropy share on its label (one more id).
struct Targets {
  std::vector<int32_t> ids = std::vector<int32_t>(static_cast<size_t>(T * K), -1);
  std::vector<float> weights = std::vector<float>(static_cast<size_t>(T * K), 0.0f);
  std::vector<float> tail = std::vector<float>(static_cast<size_t>(T), 0.0f);
  Targets() {
    const int32_t pick[T][K] = {{3, 900, static_cast<int32_t>(kCeChunk), static_cast<int32_t>(V - 1), 4000},
                                {-1, -1, -1, -1, -1},
                                {10, 11, 12, static_cast<int32_t>(kCeChunk + 1), -1},
                                {77, 2, 3000, static_cast<int32_t>(V - 2), 5}};
    const float wts[K] = {0.3f, 0.2f, 0.1f, 0.06f, 0.04f};
    for (int64_t t = 0; t < T; ++t) {
      float sum = 0;
      for (int64_t j = 0; j < K; ++j) {
        ids[static_cast<size_t>(t * K + j)] = pick[t][j];
        if (pick[t][j] >= 0) {
          weights[static_cast<size_t>(t * K + j)] = wts[j];
          sum += wts[j];
        }
      }
      tail[static_cast<size_t>(t)] = sum > 0 ? 1.0f - sum : 0.0f;
    }
  }
  SoftTargets view() const { return SoftTargets{K, ids.data(), weights.data(), tail.data()}; }
};

TEST(DistillHead, ReferenceIsTheGradientAndOneHotIsCrossEntropy) {
  Fixture f(DType::kQ8_0);
  Targets tg;
  for (double temp : {1.0, 2.0}) {
    std::vector<double> dh(static_cast<size_t>(T * D));
    soft_cross_entropy_ref(f.h.data(), T, f.w, tg.view(), temp, 0.25, dh.data());
    expect_directional(
        [&](const std::vector<float>& hh) {
          return soft_cross_entropy_ref(hh.data(), T, f.w, tg.view(), temp, 0.25, nullptr).loss_sum * 0.25;
        },
        f.h, dh, 7, "dh");
  }
  // One-hot on the label, no tail: the cross-entropy.
  const std::vector<int32_t> labels = {3, -100, static_cast<int32_t>(V - 1), 77};
  std::vector<int32_t> ids(static_cast<size_t>(T), -1);
  std::vector<float> ones(static_cast<size_t>(T), 0.0f), zero(static_cast<size_t>(T), 0.0f);
  for (int64_t t = 0; t < T; ++t)
    if (labels[static_cast<size_t>(t)] >= 0) {
      ids[static_cast<size_t>(t)] = labels[static_cast<size_t>(t)];
      ones[static_cast<size_t>(t)] = 1.0f;
    }
  std::vector<double> dh_soft(static_cast<size_t>(T * D)), dh_ce(dh_soft.size());
  const CeResult a = soft_cross_entropy_ref(f.h.data(), T, f.w, SoftTargets{1, ids.data(), ones.data(), zero.data()},
                                            1.0, 0.5, dh_soft.data());
  const CeResult b = cross_entropy_ref(f.h.data(), T, f.w, labels.data(), 0.5, dh_ce.data());
  EXPECT_EQ(a.counted, b.counted);
  EXPECT_NEAR(a.loss_sum, b.loss_sum, 1e-12 * std::fabs(b.loss_sum));
  for (size_t i = 0; i < dh_ce.size(); ++i) EXPECT_NEAR(dh_soft[i], dh_ce[i], 1e-12 + 1e-12 * std::fabs(dh_ce[i]));
}

// The labels' cross-entropy term (SoftTargets::labels): token 0's label is one
// of its listed ids, token 1 has no bins, only a label, token 2's label is in
// its tail, token 3 has none.
const std::vector<int32_t> kLabels = {900, 5, static_cast<int32_t>(V - 1), -1};

TEST(DistillHead, ReferenceLabelTermIsTheCrossEntropy) {
  Fixture f(DType::kQ8_0);
  Targets tg;
  const double gs = 0.25, ls = 0.3;
  for (double temp : {1.0, 2.0}) {
    SCOPED_TRACE(temp);
    SoftTargets with = tg.view();
    with.labels = kLabels.data();
    with.label_scale = static_cast<float>(ls);
    std::vector<double> dh_with(static_cast<size_t>(T * D)), dh_bins(dh_with.size()), dh_ce(dh_with.size());
    const SoftCeResult a = soft_cross_entropy_ref(f.h.data(), T, f.w, with, temp, gs, dh_with.data());
    const SoftCeResult b = soft_cross_entropy_ref(f.h.data(), T, f.w, tg.view(), temp, gs, dh_bins.data());
    const CeResult c = cross_entropy_ref(f.h.data(), T, f.w, kLabels.data(), static_cast<float>(ls), dh_ce.data());
    EXPECT_EQ(a.counted, b.counted);
    EXPECT_EQ(a.loss_sum, b.loss_sum);
    EXPECT_EQ(a.label_counted, 3);
    EXPECT_EQ(b.label_counted, 0);
    EXPECT_NEAR(a.label_loss_sum, c.loss_sum, 1e-12 * std::fabs(c.loss_sum));
    for (size_t i = 0; i < dh_with.size(); ++i)
      EXPECT_NEAR(dh_with[i], dh_bins[i] + dh_ce[i], 1e-12 + 1e-12 * std::fabs(dh_with[i]));
    // And it is the gradient of gs x bins + ls x labels.
    expect_directional(
        [&](const std::vector<float>& hh) {
          const SoftCeResult r = soft_cross_entropy_ref(hh.data(), T, f.w, with, temp, gs, nullptr);
          return r.loss_sum * gs + r.label_loss_sum * static_cast<double>(static_cast<float>(ls));
        },
        f.h, dh_with, 13, "dh (labels)");
  }
}

TEST_P(DistillHeadTest, SoftCrossEntropyWithinBoundOfReference) {
  struct Case {
    DType type;
    float temp;
    bool labels;
  };
  // Without labels; with them at another temperature (their own log-sum-exp) and at 1 (shared).
  for (const Case cs : {Case{DType::kF32, 2.0f, false}, Case{DType::kQ4_K, 2.0f, false},
                        Case{DType::kQ4_K, 2.0f, true}, Case{DType::kF32, 1.0f, true}}) {
    SCOPED_TRACE(std::string(dtype_name(cs.type)) + " temperature " + std::to_string(cs.temp) +
                 (cs.labels ? " with labels" : ""));
    Fixture f(cs.type);
    Targets tg;
    const float temp = cs.temp, gs = 0.25f, ls = cs.labels ? 0.3f : 0.0f;
    SoftTargets view = tg.view();
    if (cs.labels) {
      view.labels = kLabels.data();
      view.label_scale = ls;
    }
    std::vector<double> dh_ref(static_cast<size_t>(T * D));
    const SoftCeResult ref = soft_cross_entropy_ref(f.h.data(), T, f.w, view, temp, gs, dh_ref.data());
    ThreadPool one(1), two(2);
    std::vector<float> scratch(static_cast<size_t>(ce_scratch_floats(T, D))), dh(static_cast<size_t>(T * D)), dh2(dh);
    const SoftCeResult got = soft_cross_entropy(ctx(one), f.h.data(), T, f.w, view, temp, gs, dh.data(), scratch.data());
    const SoftCeResult got2 = soft_cross_entropy(ctx(two), f.h.data(), T, f.w, view, temp, gs, dh2.data(), scratch.data());
    EXPECT_EQ(got.counted, 3);
    EXPECT_EQ(got.label_counted, cs.labels ? 3 : 0);
    EXPECT_EQ(got.loss_sum, got2.loss_sum);
    EXPECT_EQ(got.label_loss_sum, got2.label_loss_sum);
    EXPECT_EQ(std::memcmp(dh.data(), dh2.data(), dh.size() * 4), 0);
    // Negative controls: token 0's first target moved to another id; token 1's label moved by one.
    Targets moved;
    moved.ids[0] = 4;
    SoftTargets moved_view = moved.view();
    moved_view.labels = view.labels;
    moved_view.label_scale = ls;
    std::vector<int32_t> moved_labels = kLabels;
    ++moved_labels[1];
    SoftTargets label_moved = view;
    label_moved.labels = moved_labels.data();
    std::vector<float> dh_moved(dh.size()), dh_label_moved(dh.size());
    soft_cross_entropy(ctx(one), f.h.data(), T, f.w, moved_view, temp, gs, dh_moved.data(), scratch.data());
    soft_cross_entropy(ctx(one), f.h.data(), T, f.w, label_moved, temp, gs, dh_label_moved.data(), scratch.data());
    // Bound (the cross-entropy's, backward_test.cpp, carried through 1 / temperature):
    // each logit is off by <= e_t = (2D + 2) u A_t, each z = logit / temp by e_t / temp
    // + u, so each lse, log q and q / q_T by <= eps_t = 2 (e_t / temp + u) + (V + 8) u
    // (the sums of V exponentials), and each g_tv = gs / temp (S q_v - target_v) by
    // gs / temp (S q_v + target_v) eps_t plus its own rounding; dh sums V products in
    // f32 over the chunks (gamma_{V + chunks + 1}). The loss is off by sum_t S_t eps_t
    // (each log-prob weighted by its target weight). The label term at temperature 1
    // is the cross-entropy's: p1 and its log-sum-exp off by eps1_t = 2 (e_t + u) +
    // (V + 8) u, its g = ls (p1_v - [label]) by ls p1_v eps1_t + its rounding, its
    // loss by eps1_t per labelled token.
    double loss_bound = 0, label_loss_bound = 0;
    int64_t moved_outside = 0, label_moved_outside = 0;
    for (int64_t tk = 0; tk < T; ++tk) {
      double A = 0;
      const std::vector<double> l = f.logits(tk, &A);
      double S = tg.tail[static_cast<size_t>(tk)];
      for (int64_t j = 0; j < K; ++j) S += tg.weights[static_cast<size_t>(tk * K + j)];
      const int32_t label = cs.labels ? kLabels[static_cast<size_t>(tk)] : -1;
      if (S == 0 && label < 0) {
        for (int64_t k = 0; k < D; ++k) EXPECT_EQ(dh[static_cast<size_t>(tk * D + k)], 0.0f);
        continue;
      }
      const double eps = 2 * ((2 * D + 2) * kU * A / temp + kU) + (V + 8) * kU;
      const double eps1 = 2 * ((2 * D + 2) * kU * A + kU) + (V + 8) * kU;
      const double gamma = (V + V / kCeChunk + 2) * kU;
      std::vector<double> coef(static_cast<size_t>(V), 0.0);
      if (S != 0) {
        loss_bound += S * eps;
        double mx = -INFINITY;
        for (double x : l) mx = std::max(mx, x / temp);
        double se = 0, st = 0;
        std::vector<char> listed(static_cast<size_t>(V), 0);
        for (int64_t j = 0; j < K; ++j)
          if (tg.ids[static_cast<size_t>(tk * K + j)] >= 0) listed[static_cast<size_t>(tg.ids[static_cast<size_t>(tk * K + j)])] = 1;
        for (int64_t v = 0; v < V; ++v) {
          se += std::exp(l[static_cast<size_t>(v)] / temp - mx);
          if (!listed[static_cast<size_t>(v)]) st += std::exp(l[static_cast<size_t>(v)] / temp - mx);
        }
        for (int64_t v = 0; v < V; ++v) {
          const double q = std::exp(l[static_cast<size_t>(v)] / temp - mx) / se;
          // (a listed id's target is at most 0.3, the largest weight)
          double tv = listed[static_cast<size_t>(v)] ? 0.3 : tg.tail[static_cast<size_t>(tk)] * std::exp(l[static_cast<size_t>(v)] / temp - mx) / st;
          const double g = gs / temp * (S * q + tv);
          coef[static_cast<size_t>(v)] += g * (eps + 4 * kU) + gamma * g;
        }
      }
      if (label >= 0) {
        label_loss_bound += eps1;
        double mx = -INFINITY, se = 0;
        for (double x : l) mx = std::max(mx, x);
        for (double x : l) se += std::exp(x - mx);
        for (int64_t v = 0; v < V; ++v) {
          const double p1 = std::exp(l[static_cast<size_t>(v)] - mx) / se;
          const double g = ls * (p1 + (v == label ? 1.0 : 0.0));
          coef[static_cast<size_t>(v)] += ls * p1 * eps1 + g * 4 * kU + gamma * g;
        }
      }
      for (int64_t k = 0; k < D; ++k) {
        double m = 0;
        for (int64_t v = 0; v < V; ++v) m += coef[static_cast<size_t>(v)] * std::fabs(f.wd[static_cast<size_t>(v * D + k)]);
        const double ref_v = dh_ref[static_cast<size_t>(tk * D + k)];
        EXPECT_LE(std::fabs(dh[static_cast<size_t>(tk * D + k)] - ref_v), m) << "token " << tk << " k " << k;
        if (tk == 0 && !(std::fabs(dh_moved[static_cast<size_t>(k)] - ref_v) <= m)) ++moved_outside;
        if (tk == 1 && !(std::fabs(dh_label_moved[static_cast<size_t>(D + k)] - ref_v) <= m)) ++label_moved_outside;
      }
    }
    EXPECT_LE(std::fabs(got.loss_sum - ref.loss_sum), loss_bound);
    EXPECT_LE(std::fabs(got.label_loss_sum - ref.label_loss_sum), label_loss_bound);
    EXPECT_GT(moved_outside, D / 2);
    if (cs.labels) {
      EXPECT_GT(label_moved_outside, D / 2);
    }
  }
}

TEST_P(DistillHeadTest, ReverseKlWithinBoundOfItsReference) {
  Fixture f(DType::kQ8_0);
  Targets tg;
  SoftTargets rv = tg.view();
  rv.reverse = true;
  const float temp = 2.0f, gs = 0.25f;
  // The reference is the gradient of sum_t KL(q_t || p_t) (binned), at two temperatures.
  for (double tp : {1.0, 2.0}) {
    std::vector<double> dh(static_cast<size_t>(T * D));
    soft_cross_entropy_ref(f.h.data(), T, f.w, rv, tp, gs, dh.data());
    expect_directional(
        [&](const std::vector<float>& hh) {
          return soft_cross_entropy_ref(hh.data(), T, f.w, rv, tp, gs, nullptr).loss_sum * gs;
        },
        f.h, dh, 9, "dh (reverse)");
  }
  std::vector<double> dh_ref(static_cast<size_t>(T * D));
  const CeResult ref = soft_cross_entropy_ref(f.h.data(), T, f.w, rv, temp, gs, dh_ref.data());
  ThreadPool one(1), two(2);
  std::vector<float> scratch(static_cast<size_t>(ce_scratch_floats(T, D))), dh(static_cast<size_t>(T * D)), dh2(dh);
  const CeResult got = soft_cross_entropy(ctx(one), f.h.data(), T, f.w, rv, temp, gs, dh.data(), scratch.data());
  const CeResult got2 = soft_cross_entropy(ctx(two), f.h.data(), T, f.w, rv, temp, gs, dh2.data(), scratch.data());
  EXPECT_EQ(got.counted, 3);
  EXPECT_GT(ref.loss_sum, 0.0);
  EXPECT_EQ(got.loss_sum, got2.loss_sum);
  EXPECT_EQ(std::memcmp(dh.data(), dh2.data(), dh.size() * 4), 0);
  // The forward cross-entropy's gradient (another loss) must fall outside the bound.
  std::vector<float> dh_fwd(dh.size());
  soft_cross_entropy(ctx(one), f.h.data(), T, f.w, tg.view(), temp, gs, dh_fwd.data(), scratch.data());
  // Bound: as the forward's (SoftCrossEntropyWithinBoundOfReference), every log q and
  // q / q_T is off by <= eps_t; c_b = log q_b - log p_b by eps_t; the loss_t = sum_b q_b
  // c_b by Q_t eps_t, Q_t = sum_b q_b (|c_b| + 1); so g_tv = gs / temp q_v (c - loss_t)
  // by gs / temp q_v (|c - loss_t| + 1 + Q_t) eps_t, plus its rounding and dh's sum.
  double loss_bound = 0;
  int64_t fwd_outside = 0;
  for (int64_t tk = 0; tk < T; ++tk) {
    double S = tg.tail[static_cast<size_t>(tk)];
    for (int64_t j = 0; j < K; ++j) S += tg.weights[static_cast<size_t>(tk * K + j)];
    if (S == 0) {
      for (int64_t k = 0; k < D; ++k) EXPECT_EQ(dh[static_cast<size_t>(tk * D + k)], 0.0f);
      continue;
    }
    double A = 0;
    const std::vector<double> l = f.logits(tk, &A);
    const double eps = 2 * ((2 * D + 2) * kU * A / temp + kU) + (V + 8) * kU;
    double mx = -INFINITY;
    for (double x : l) mx = std::max(mx, x / temp);
    std::vector<double> pv(static_cast<size_t>(V), -1.0);  // the listed ids' p
    for (int64_t j = 0; j < K; ++j)
      if (tg.ids[static_cast<size_t>(tk * K + j)] >= 0)
        pv[static_cast<size_t>(tg.ids[static_cast<size_t>(tk * K + j)])] = tg.weights[static_cast<size_t>(tk * K + j)];
    double se = 0, st = 0;
    for (int64_t v = 0; v < V; ++v) {
      const double e = std::exp(l[static_cast<size_t>(v)] / temp - mx);
      se += e;
      if (pv[static_cast<size_t>(v)] < 0) st += e;
    }
    const double log_qt = std::log(st / se), c_t = log_qt - std::log(tg.tail[static_cast<size_t>(tk)]);
    double kl = std::exp(log_qt) * c_t, Q = std::exp(log_qt) * (std::fabs(c_t) + 1);
    for (int64_t v = 0; v < V; ++v)
      if (pv[static_cast<size_t>(v)] >= 0) {
        const double lq = l[static_cast<size_t>(v)] / temp - mx - std::log(se), c = lq - std::log(pv[static_cast<size_t>(v)]);
        kl += std::exp(lq) * c;
        Q += std::exp(lq) * (std::fabs(c) + 1);
      }
    loss_bound += Q * eps;
    const double gamma = (V + V / kCeChunk + 2) * kU;
    std::vector<double> coef(static_cast<size_t>(V));
    for (int64_t v = 0; v < V; ++v) {
      const double lq = l[static_cast<size_t>(v)] / temp - mx - std::log(se), q = std::exp(lq);
      const double c = pv[static_cast<size_t>(v)] >= 0 ? lq - std::log(pv[static_cast<size_t>(v)]) : c_t;
      const double g = gs / temp * q * std::fabs(c - kl);
      coef[static_cast<size_t>(v)] = gs / temp * q * (std::fabs(c - kl) + 1 + Q) * eps + (4 * kU + gamma) * g;
    }
    for (int64_t k = 0; k < D; ++k) {
      double m = 0;
      for (int64_t v = 0; v < V; ++v) m += coef[static_cast<size_t>(v)] * std::fabs(f.wd[static_cast<size_t>(v * D + k)]);
      const double ref_v = dh_ref[static_cast<size_t>(tk * D + k)];
      EXPECT_LE(std::fabs(dh[static_cast<size_t>(tk * D + k)] - ref_v), m) << "token " << tk << " k " << k;
      if (!(std::fabs(dh_fwd[static_cast<size_t>(tk * D + k)] - ref_v) <= m)) ++fwd_outside;
    }
  }
  EXPECT_LE(std::fabs(got.loss_sum - ref.loss_sum), loss_bound);
  EXPECT_GT(fwd_outside, D);
}

TEST_P(DistillHeadTest, TopKIsTheReferences) {
  Fixture f(DType::kQ8_0);
  const int64_t k = 8;
  const float temp = 1.5f;
  ThreadPool one(1), two(2);
  std::vector<float> scratch(static_cast<size_t>(ce_scratch_floats(T, D))), vals(static_cast<size_t>(T * k)), vals2(vals);
  std::vector<int32_t> ids(static_cast<size_t>(T * k)), ids2(ids), ids_ref(ids);
  std::vector<double> lse(static_cast<size_t>(T)), lse2(lse), lse_ref(lse), vals_ref(static_cast<size_t>(T * k));
  logits_topk(ctx(one), f.h.data(), T, f.w, k, temp, ids.data(), vals.data(), lse.data(), scratch.data());
  logits_topk(ctx(two), f.h.data(), T, f.w, k, temp, ids2.data(), vals2.data(), lse2.data(), scratch.data());
  logits_topk_ref(f.h.data(), T, f.w, k, temp, ids_ref.data(), vals_ref.data(), lse_ref.data());
  EXPECT_EQ(ids, ids2);
  EXPECT_EQ(vals, vals2);
  EXPECT_EQ(lse, lse2);
  for (int64_t t = 0; t < T; ++t) {
    double A = 0;
    f.logits(t, &A);
    const double e = (2 * D + 2) * kU * A;  // a logit's bound (backward_test.cpp)
    // Ids agree wherever the reference's neighbouring values are further apart than the error.
    for (int64_t j = 0; j < k; ++j) {
      const size_t i = static_cast<size_t>(t * k + j);
      EXPECT_LE(std::fabs(vals[i] - vals_ref[i]), e) << t << " " << j;
      if (j > 0) {
        EXPECT_GE(vals[i - 1], vals[i]);
      }
      const bool clear = (j == 0 || vals_ref[i - 1] - vals_ref[i] > 2 * e) && (j == k - 1 || vals_ref[i] - vals_ref[i + 1] > 2 * e);
      if (clear) {
        EXPECT_EQ(ids[i], ids_ref[i]) << t << " " << j;
      }
    }
    // lse: each z off by e / temp + u, the sum of V exponentials by (V + 2) u relative,
    // the log by u relative.
    const double lse_ref_t = lse_ref[static_cast<size_t>(t)];
    EXPECT_LE(std::fabs(lse[static_cast<size_t>(t)] - lse_ref_t), e / temp + (V + 3) * kU + kU * std::fabs(lse_ref_t));
  }
}

}  // namespace
}  // namespace herd::kernels
