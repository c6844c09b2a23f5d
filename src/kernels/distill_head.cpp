// Distillation heads (distill_head.h).
#include "kernels/distill_head.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/check.h"
#include "kernels/logit_chunks.h"
#include "kernels/ops.h"
#include "tensor/quant.h"

namespace herd::kernels {
namespace {

// W dequantized in double (times its row scale): the references' weights.
std::vector<double> dequantized(const TensorView& w) {
  const int64_t V = w.rows(), D = w.cols();
  HERD_CHECK(w.interleave == 1, "distill head reference: file layout only");
  HERD_CHECK(w.scale_groups == 1, "an LM head with column-group scales");
  std::vector<float> row(static_cast<size_t>(D));
  std::vector<double> wd(static_cast<size_t>(V * D));
  for (int64_t v = 0; v < V; ++v) {
    dequantize_row_ref(w.dtype, w.row(v), row.data(), D);
    const double s = w.row_scale ? w.row_scale[v] : 1.0;
    for (int64_t k = 0; k < D; ++k) wd[static_cast<size_t>(v * D + k)] = row[static_cast<size_t>(k)] * s;
  }
  return wd;
}

// Inserts (id, value) into the descending list of at most k entries (ties keep the earlier id first).
void topk_insert(int32_t* ids, float* vals, int64_t k, int64_t* n, int32_t id, float value) {
  if (*n == k && !(value > vals[k - 1])) return;
  int64_t i = *n < k ? (*n)++ : k - 1;
  while (i > 0 && vals[i - 1] < value) {
    ids[i] = ids[i - 1];
    vals[i] = vals[i - 1];
    --i;
  }
  ids[i] = id;
  vals[i] = value;
}

}  // namespace

void logits_topk(const ExecContext& ctx, const float* h, int64_t T, const TensorView& w, int64_t k, float temperature,
                 int32_t* ids, float* logits, double* lse, float* scratch) {
  const int64_t V = w.rows();
  HERD_CHECK(k >= 1 && k <= V, "logits_topk: k %lld for a vocabulary of %lld", static_cast<long long>(k),
             static_cast<long long>(V));
  OnlineLse acc(T);
  std::vector<int64_t> filled(static_cast<size_t>(T), 0);
  const double inv_t = 1.0 / temperature;
  for_each_logit_chunk(ctx, h, T, w, scratch, [&](int64_t t, const float* l, int64_t c0, int64_t n) {
    acc.add(t, l, n, inv_t);
    for (int64_t j = 0; j < n; ++j)
      topk_insert(ids + t * k, logits + t * k, k, &filled[static_cast<size_t>(t)], static_cast<int32_t>(c0 + j), l[j]);
  });
  for (int64_t t = 0; t < T; ++t) lse[t] = acc.lse(t);
}

void logits_topk_ref(const float* h, int64_t T, const TensorView& w, int64_t k, double temperature, int32_t* ids,
                     double* logits, double* lse) {
  const int64_t V = w.rows(), D = w.cols();
  const std::vector<double> wd = dequantized(w);
  std::vector<double> l(static_cast<size_t>(V));
  std::vector<int32_t> order(static_cast<size_t>(V));
  for (int64_t t = 0; t < T; ++t) {
    double mx = -INFINITY;
    for (int64_t v = 0; v < V; ++v) {
      double d = 0;
      for (int64_t i = 0; i < D; ++i) d += static_cast<double>(h[t * D + i]) * wd[static_cast<size_t>(v * D + i)];
      l[static_cast<size_t>(v)] = d;
      mx = std::max(mx, d / temperature);
    }
    double s = 0;
    for (double x : l) s += std::exp(x / temperature - mx);
    lse[t] = mx + std::log(s);
    for (int64_t v = 0; v < V; ++v) order[static_cast<size_t>(v)] = static_cast<int32_t>(v);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return l[static_cast<size_t>(a)] > l[static_cast<size_t>(b)]; });
    for (int64_t j = 0; j < k; ++j) {
      ids[t * k + j] = order[static_cast<size_t>(j)];
      logits[t * k + j] = l[static_cast<size_t>(order[static_cast<size_t>(j)])];
    }
  }
}

SoftCeResult soft_cross_entropy(const ExecContext& ctx, const float* h, int64_t T, const TensorView& w,
                                const SoftTargets& tg, float temperature, float grad_scale, float* dh, float* scratch,
                                float* dw) {
  const int64_t V = w.rows(), K = tg.k;
  float* chunk = scratch;              // [T, kCeChunk]
  float* tmp = chunk + T * kCeChunk;   // [T, D]
  const double inv_t = 1.0 / temperature;
  // The label term at temperature 1 has its own log-sum-exp unless the bins' is at 1 too.
  const bool own_lse1 = tg.labels != nullptr && inv_t != 1.0;
  auto label_of = [&](int64_t t) { return tg.labels != nullptr ? tg.labels[t] : -1; };
  // Each token's listed ids, sorted, with their entry index (for walking a chunk in order).
  std::vector<std::vector<std::pair<int32_t, int64_t>>> listed(static_cast<size_t>(T));
  std::vector<double> S(static_cast<size_t>(T), 0.0);
  std::vector<char> active(static_cast<size_t>(T), 0);
  for (int64_t t = 0; t < T; ++t) {
    auto& L = listed[static_cast<size_t>(t)];
    for (int64_t j = 0; j < K; ++j) {
      const int32_t id = tg.ids[t * K + j];
      if (id < 0) continue;
      HERD_CHECK(id < V, "soft_cross_entropy: id %d of token %lld is outside the vocabulary of %lld", id,
                 static_cast<long long>(t), static_cast<long long>(V));
      L.emplace_back(id, j);
      S[static_cast<size_t>(t)] += tg.weights[t * K + j];
    }
    std::sort(L.begin(), L.end());
    for (size_t i = 1; i < L.size(); ++i)
      HERD_CHECK(L[i].first != L[i - 1].first, "soft_cross_entropy: id %d listed twice for token %lld", L[i].first,
                 static_cast<long long>(t));
    S[static_cast<size_t>(t)] += tg.tail[t];
    HERD_CHECK(label_of(t) < V, "soft_cross_entropy: label %d of token %lld is outside the vocabulary of %lld",
               label_of(t), static_cast<long long>(t), static_cast<long long>(V));
    active[static_cast<size_t>(t)] = S[static_cast<size_t>(t)] != 0 || label_of(t) >= 0;
  }
  // Pass 1: per token the max m, the sums of exp(z - m) over all ids and over the
  // unlisted ones (walked around the listed ids, not subtracted), the listed z,
  // the label's logit and (own_lse1) the log-sum-exp at temperature 1.
  std::vector<double> m(static_cast<size_t>(T), -INFINITY), all(static_cast<size_t>(T), 0.0),
      tail(static_cast<size_t>(T), 0.0), zl(static_cast<size_t>(T * std::max<int64_t>(K, 1)), 0.0),
      label_logit(static_cast<size_t>(T), 0.0);
  OnlineLse lse1_acc(own_lse1 ? T : 0);
  for_each_logit_chunk(ctx, h, T, w, chunk, [&](int64_t t, const float* l, int64_t c0, int64_t n) {
    const auto ti = static_cast<size_t>(t);
    if (!active[ti]) return;
    const int32_t label = label_of(t);
    if (label >= c0 && label < c0 + n) label_logit[ti] = l[label - c0];
    if (own_lse1) lse1_acc.add(t, l, n, 1.0);
    double mx = m[ti];
    for (int64_t j = 0; j < n; ++j) mx = std::max(mx, l[j] * inv_t);
    const double r = std::exp(m[ti] - mx);
    double sa = all[ti] * r, st = tail[ti] * r;
    const auto& L = listed[ti];
    auto it = std::lower_bound(L.begin(), L.end(), std::make_pair(static_cast<int32_t>(c0), int64_t{-1}));
    for (int64_t j = 0; j < n; ++j) {
      const double e = std::exp(l[j] * inv_t - mx);
      sa += e;
      if (it != L.end() && it->first == c0 + j) {
        zl[static_cast<size_t>(t * K + it->second)] = l[j] * inv_t;
        ++it;
      } else {
        st += e;
      }
    }
    m[ti] = mx;
    all[ti] = sa;
    tail[ti] = st;
  });
  SoftCeResult r;
  std::vector<double> lse(static_cast<size_t>(T)), lse1(static_cast<size_t>(T));
  // Reverse KL: c_b of each listed id and of the tail, and each token's loss.
  std::vector<double> c_listed(tg.reverse ? static_cast<size_t>(T * K) : 0), c_tail(static_cast<size_t>(T)),
      kl(static_cast<size_t>(T));
  auto log_p = [](double p) { return std::log(std::max(p, kReverseKlFloor)); };
  for (int64_t t = 0; t < T; ++t) {
    const auto ti = static_cast<size_t>(t);
    if (!active[ti]) continue;
    lse[ti] = m[ti] + std::log(all[ti]);
    lse1[ti] = own_lse1 ? lse1_acc.lse(t) : lse[ti];
    if (label_of(t) >= 0) {
      r.label_loss_sum += lse1[ti] - label_logit[ti];
      ++r.label_counted;
    }
    if (S[ti] == 0) continue;
    const double log_qt = std::log(tail[ti]) + m[ti] - lse[ti];
    double loss = 0;
    if (tg.reverse) {
      for (const auto& [id, j] : listed[ti]) {
        const double lq = zl[static_cast<size_t>(t * K + j)] - lse[ti];
        c_listed[static_cast<size_t>(t * K + j)] = lq - log_p(tg.weights[t * K + j]);
        loss += std::exp(lq) * c_listed[static_cast<size_t>(t * K + j)];
      }
      c_tail[ti] = log_qt - log_p(tg.tail[t]);
      if (tail[ti] > 0) loss += std::exp(log_qt) * c_tail[ti];
      kl[ti] = loss;
    } else {
      for (const auto& [id, j] : listed[ti]) loss -= tg.weights[t * K + j] * (zl[static_cast<size_t>(t * K + j)] - lse[ti]);
      if (tg.tail[t] != 0) loss -= tg.tail[t] * log_qt;
    }
    r.loss_sum += loss;
    ++r.counted;
  }
  if (dh == nullptr) return r;
  // Pass 2: g_tv = grad_scale / temperature (S q_v - target_v) (reverse:
  // grad_scale / temperature q_v (c_b(v) - loss_t)), plus label_scale (p1_v -
  // [v == label]), through W back to dh.
  const double gs = grad_scale * inv_t, ls = tg.label_scale;
  backprop_logit_chunks(ctx, h, T, w, chunk, tmp, dh, dw, [&](int64_t t, float* l, int64_t c0, int64_t n) {
    const auto ti = static_cast<size_t>(t);
    const bool bins = S[ti] != 0, label_term = label_of(t) >= 0 && ls != 0;
    if (!bins && !label_term) {
      std::fill(l, l + n, 0.0f);
      return;
    }
    // Unlisted v: S q_v - tail q_v / q_T = q_v (S - tail / q_T), q_v / q_T = exp(z - m) / tail sum.
    const double tail_w = tg.tail[t], tail_sum = tail[ti];
    const auto& L = listed[ti];
    auto it = std::lower_bound(L.begin(), L.end(), std::make_pair(static_cast<int32_t>(c0), int64_t{-1}));
    const int64_t label_j = label_term ? label_of(t) - c0 : -1;
    for (int64_t j = 0; j < n; ++j) {
      const double z = l[j] * inv_t;
      const double q = std::exp(z - lse[ti]);
      const bool is_listed = it != L.end() && it->first == c0 + j;
      double g = 0;
      if (!bins) {
      } else if (is_listed) {
        g = tg.reverse ? q * (c_listed[static_cast<size_t>(t * K + it->second)] - kl[ti])
                       : S[ti] * q - tg.weights[t * K + it->second];
      } else if (tg.reverse) {
        g = q * (c_tail[ti] - kl[ti]);
      } else {
        g = S[ti] * q - (tail_w != 0 ? tail_w * std::exp(z - m[ti]) / tail_sum : 0.0);
      }
      if (is_listed) ++it;
      g *= gs;
      if (label_term)
        g += ls * ((own_lse1 ? std::exp(static_cast<double>(l[j]) - lse1[ti]) : q) - (j == label_j ? 1.0 : 0.0));
      l[j] = static_cast<float>(g);
    }
  });
  return r;
}

SoftCeResult soft_cross_entropy_ref(const float* h, int64_t T, const TensorView& w, const SoftTargets& tg,
                                    double temperature, double grad_scale, double* dh) {
  const int64_t V = w.rows(), D = w.cols(), K = tg.k;
  const std::vector<double> wd = dequantized(w);
  std::vector<double> z(static_cast<size_t>(V)), raw(static_cast<size_t>(V));
  std::vector<char> is_listed(static_cast<size_t>(V));
  std::vector<double> target(static_cast<size_t>(V));
  SoftCeResult r;
  if (dh != nullptr) std::fill(dh, dh + T * D, 0.0);
  for (int64_t t = 0; t < T; ++t) {
    double S = tg.tail[t];
    std::fill(is_listed.begin(), is_listed.end(), 0);
    std::fill(target.begin(), target.end(), 0.0);
    for (int64_t j = 0; j < K; ++j) {
      const int32_t id = tg.ids[t * K + j];
      if (id < 0) continue;
      is_listed[static_cast<size_t>(id)] = 1;
      target[static_cast<size_t>(id)] = tg.weights[t * K + j];
      S += tg.weights[t * K + j];
    }
    const int32_t label = tg.labels != nullptr ? tg.labels[t] : -1;
    if (S == 0 && label < 0) continue;
    double mx = -INFINITY, mx1 = -INFINITY;
    for (int64_t v = 0; v < V; ++v) {
      double d = 0;
      for (int64_t i = 0; i < D; ++i) d += static_cast<double>(h[t * D + i]) * wd[static_cast<size_t>(v * D + i)];
      raw[static_cast<size_t>(v)] = d;
      z[static_cast<size_t>(v)] = d / temperature;
      mx = std::max(mx, z[static_cast<size_t>(v)]);
      mx1 = std::max(mx1, d);
    }
    // The label's cross-entropy at temperature 1.
    double s1 = 0;
    for (int64_t v = 0; v < V; ++v) s1 += std::exp(raw[static_cast<size_t>(v)] - mx1);
    const double lse1 = mx1 + std::log(s1);
    if (label >= 0) {
      r.label_loss_sum += lse1 - raw[static_cast<size_t>(label)];
      ++r.label_counted;
      if (dh != nullptr)
        for (int64_t v = 0; v < V; ++v) {
          const double g = tg.label_scale * (std::exp(raw[static_cast<size_t>(v)] - lse1) - (v == label ? 1.0 : 0.0));
          for (int64_t i = 0; i < D; ++i) dh[t * D + i] += g * wd[static_cast<size_t>(v * D + i)];
        }
    }
    if (S == 0) continue;
    double sa = 0, st = 0;
    for (int64_t v = 0; v < V; ++v) {
      const double e = std::exp(z[static_cast<size_t>(v)] - mx);
      sa += e;
      if (!is_listed[static_cast<size_t>(v)]) st += e;
    }
    const double lse = mx + std::log(sa), log_qt = std::log(st) + mx - lse;
    auto log_p = [](double p) { return std::log(std::max(p, kReverseKlFloor)); };
    double loss = 0;
    if (tg.reverse) {  // sum over the bins of q_b (log q_b - log p_b)
      for (int64_t v = 0; v < V; ++v)
        if (is_listed[static_cast<size_t>(v)])
          loss += std::exp(z[static_cast<size_t>(v)] - lse) *
                  (z[static_cast<size_t>(v)] - lse - log_p(target[static_cast<size_t>(v)]));
      if (st > 0) loss += std::exp(log_qt) * (log_qt - log_p(tg.tail[t]));
    } else {
      for (int64_t v = 0; v < V; ++v)
        if (is_listed[static_cast<size_t>(v)]) loss -= target[static_cast<size_t>(v)] * (z[static_cast<size_t>(v)] - lse);
      if (tg.tail[t] != 0) loss -= tg.tail[t] * log_qt;
    }
    r.loss_sum += loss;
    ++r.counted;
    if (dh == nullptr) continue;
    for (int64_t v = 0; v < V; ++v) {
      const double q = std::exp(z[static_cast<size_t>(v)] - lse);
      double g;
      if (tg.reverse) {
        const double c = is_listed[static_cast<size_t>(v)]
                             ? z[static_cast<size_t>(v)] - lse - log_p(target[static_cast<size_t>(v)])
                             : log_qt - log_p(tg.tail[t]);
        g = grad_scale / temperature * q * (c - loss);
      } else {
        const double tv = is_listed[static_cast<size_t>(v)] ? target[static_cast<size_t>(v)]
                                                            : tg.tail[t] * std::exp(z[static_cast<size_t>(v)] - mx) / st;
        g = grad_scale / temperature * (S * q - tv);
      }
      for (int64_t i = 0; i < D; ++i) dh[t * D + i] += g * wd[static_cast<size_t>(v * D + i)];
    }
  }
  return r;
}

}  // namespace herd::kernels
