// The backward ops of kernels/backward.h and their double references
// (rope_backward shares the forward's rotation loop in ops.cpp).
#include "kernels/backward.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/check.h"
#include "kernels/logit_chunks.h"
#include "tensor/quant.h"

namespace herd::kernels {

void rms_norm_backward(const float* x, const float* w, float eps, const float* dy, int64_t T, int64_t D, float* dx,
                       float* dw) {
  for (int64_t t = 0; t < T; ++t) {
    const float* xr = x + t * D;
    const float* g = dy + t * D;
    double ss = 0, c = 0;
    for (int64_t i = 0; i < D; ++i) {
      ss += static_cast<double>(xr[i]) * xr[i];
      c += static_cast<double>(w[i]) * g[i] * xr[i];
    }
    const double r = 1.0 / std::sqrt(ss / static_cast<double>(D) + eps);
    const double k = r * r * r / static_cast<double>(D) * c;
    for (int64_t i = 0; i < D; ++i) dx[t * D + i] = static_cast<float>(r * w[i] * g[i] - xr[i] * k);
    if (dw != nullptr)
      for (int64_t i = 0; i < D; ++i) dw[i] += static_cast<float>(static_cast<double>(g[i]) * xr[i] * r);
  }
}

void rms_norm_backward_ref(const float* x, const float* w, float eps, const float* dy, int64_t T, int64_t D,
                           double* dx, double* dw) {
  for (int64_t t = 0; t < T; ++t) {
    const float* xr = x + t * D;
    const float* g = dy + t * D;
    double ss = 0, c = 0;
    for (int64_t i = 0; i < D; ++i) ss += static_cast<double>(xr[i]) * xr[i];
    for (int64_t i = 0; i < D; ++i) c += static_cast<double>(w[i]) * g[i] * xr[i];
    const double r = 1.0 / std::sqrt(ss / static_cast<double>(D) + static_cast<double>(eps));
    for (int64_t i = 0; i < D; ++i)
      dx[t * D + i] = r * w[i] * g[i] - static_cast<double>(xr[i]) * r * r * r / static_cast<double>(D) * c;
    if (dw != nullptr)
      for (int64_t i = 0; i < D; ++i) dw[i] += static_cast<double>(g[i]) * xr[i] * r;
  }
}

void silu_mul_backward(const ExecContext& ctx, const float* g, const float* u, const float* dh, int64_t n, float* dg,
                       float* du) {
  constexpr int64_t kChunk = 4096;
  ctx.pool->parallel_for((n + kChunk - 1) / kChunk, [&](int64_t c0, int64_t c1, int) {
    for (int64_t i = c0 * kChunk; i < std::min(n, c1 * kChunk); ++i) {
      const float s = 1.0f / (1.0f + std::exp(-g[i]));
      dg[i] = dh[i] * u[i] * (s * (1.0f + g[i] * (1.0f - s)));
      du[i] = dh[i] * (g[i] * s);
    }
  });
}

void silu_mul_backward_ref(const float* g, const float* u, const float* dh, int64_t n, double* dg, double* du) {
  for (int64_t i = 0; i < n; ++i) {
    const double z = g[i], s = 1.0 / (1.0 + std::exp(-z));
    dg[i] = static_cast<double>(dh[i]) * u[i] * s * (1.0 + z * (1.0 - s));
    du[i] = static_cast<double>(dh[i]) * z * s;
  }
}

namespace {

int64_t first_key(const AttnTrainShape& s, int64_t t) { return s.first == nullptr ? 0 : s.first[t]; }

void check_shape(const AttnTrainShape& s) {
  HERD_CHECK(s.T >= 0 && s.KV > 0 && s.H % s.KV == 0 && s.hd > 0, "attention_train: T=%lld H=%lld KV=%lld hd=%lld",
             static_cast<long long>(s.T), static_cast<long long>(s.H), static_cast<long long>(s.KV),
             static_cast<long long>(s.hd));
  for (int64_t t = 0; s.first != nullptr && t < s.T; ++t)
    HERD_CHECK(s.first[t] >= 0 && s.first[t] <= t, "attention_train: first[%lld] = %d", static_cast<long long>(t),
               s.first[t]);
}

// scores[j - j0] = scale * q . k_j for the keys j0 .. t of KV head g; returns their max.
float scores_row(const ExecContext& ctx, const AttnTrainShape& s, const float* qrow, const float* k, int64_t g,
                 int64_t j0, int64_t t, float* scores) {
  float m = -INFINITY;
  for (int64_t j = j0; j <= t; ++j) {
    const float v = ctx.table->dot_f32(qrow, k + (j * s.KV + g) * s.hd, s.hd) * attention_scale(s.hd);
    scores[j - j0] = v;
    m = std::max(m, v);
  }
  return m;
}

}  // namespace

void attention_train(const ExecContext& ctx, const AttnTrainShape& s, const float* q, const float* k, const float* v,
                     float* out, float* lse) {
  check_shape(s);
  const int64_t group = s.H / s.KV, hd = s.hd;
  ctx.pool->parallel_for(s.T * s.KV, [&](int64_t u0, int64_t u1, int) {
    std::vector<float> scratch(static_cast<size_t>(attention_scratch_floats(group, s.T, hd)));
    std::vector<float> scores(static_cast<size_t>(s.T));
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t t = u / s.KV, g = u % s.KV, j0 = first_key(s, t);
      KvRows kv;
      kv.k = k + (j0 * s.KV + g) * hd;
      kv.v = v + (j0 * s.KV + g) * hd;
      kv.k_stride = kv.v_stride = s.KV * hd * static_cast<int64_t>(sizeof(float));
      attention_rows(ctx, q + (t * s.H + g * group) * hd, group, hd, kv, t - j0 + 1, scratch.data(),
                     out + (t * s.H + g * group) * hd);
      for (int64_t h = g * group; h < (g + 1) * group; ++h) {
        const float m = scores_row(ctx, s, q + (t * s.H + h) * hd, k, g, j0, t, scores.data());
        double sum = 0;
        for (int64_t j = j0; j <= t; ++j) sum += std::exp(scores[static_cast<size_t>(j - j0)] - m);
        lse[t * s.H + h] = static_cast<float>(m + std::log(sum));
      }
    }
  });
}

void attention_train_backward(const ExecContext& ctx, const AttnTrainShape& s, const float* q, const float* k,
                              const float* v, const float* out, const float* lse, const float* dout, float* dq,
                              float* dk, float* dv) {
  check_shape(s);
  const int64_t group = s.H / s.KV, hd = s.hd;
  const float scale = attention_scale(hd);
  const bool fused = ctx.table->attn_backward_rows != nullptr && (hd == 64 || hd == 128) && group <= 16;
  ctx.pool->parallel_for(s.KV, [&](int64_t g0, int64_t g1, int) {
    std::vector<float> scores(static_cast<size_t>(s.T)), dd(static_cast<size_t>(group));
    std::vector<double> ll(static_cast<size_t>(group));
    for (int64_t g = g0; g < g1; ++g) {
      for (int64_t j = 0; j < s.T; ++j) {
        std::fill(dk + (j * s.KV + g) * hd, dk + (j * s.KV + g + 1) * hd, 0.0f);
        std::fill(dv + (j * s.KV + g) * hd, dv + (j * s.KV + g + 1) * hd, 0.0f);
      }
      for (int64_t t = 0; t < s.T; ++t) {
        const int64_t j0 = first_key(s, t);
        if (fused) {  // the group's rows together (kernel_table.h AttnBackwardRowsFn)
          const int64_t r0 = t * s.H + g * group, at = (j0 * s.KV + g) * hd;
          for (int64_t h = 0; h < group; ++h) {
            dd[static_cast<size_t>(h)] = ctx.table->dot_f32(dout + (r0 + h) * hd, out + (r0 + h) * hd, hd);
            ll[static_cast<size_t>(h)] = lse[r0 + h];
          }
          ctx.table->attn_backward_rows(q + r0 * hd, dout + r0 * hd, dd.data(), ll.data(), group, scale, k + at, v + at,
                                        s.KV * hd, t - j0 + 1, hd, dq + r0 * hd, dk + at, dv + at);
          continue;
        }
        for (int64_t h = g * group; h < (g + 1) * group; ++h) {
          const float* qrow = q + (t * s.H + h) * hd;
          const float* go = dout + (t * s.H + h) * hd;
          float* dqr = dq + (t * s.H + h) * hd;
          std::fill(dqr, dqr + hd, 0.0f);
          scores_row(ctx, s, qrow, k, g, j0, t, scores.data());
          const double l = lse[t * s.H + h];
          const float d = ctx.table->dot_f32(go, out + (t * s.H + h) * hd, hd);
          for (int64_t j = j0; j <= t; ++j) {
            const float* kj = k + (j * s.KV + g) * hd;
            const float* vj = v + (j * s.KV + g) * hd;
            const float p = static_cast<float>(std::exp(scores[static_cast<size_t>(j - j0)] - l));
            const float ds = p * (ctx.table->dot_f32(go, vj, hd) - d);
            ctx.table->axpy_f32(scale * ds, kj, dqr, hd);
            ctx.table->axpy_f32(scale * ds, qrow, dk + (j * s.KV + g) * hd, hd);
            ctx.table->axpy_f32(p, go, dv + (j * s.KV + g) * hd, hd);
          }
        }
      }
    }
  });
}

void attention_train_ref(const AttnTrainShape& s, const float* q, const float* k, const float* v, double* out,
                         double* lse, const float* dout, double* dq, double* dk, double* dv) {
  check_shape(s);
  const int64_t group = s.H / s.KV, hd = s.hd;
  const double scale = attention_scale(hd);
  if (dout != nullptr) {
    std::fill(dq, dq + s.T * s.H * hd, 0.0);
    std::fill(dk, dk + s.T * s.KV * hd, 0.0);
    std::fill(dv, dv + s.T * s.KV * hd, 0.0);
  }
  std::vector<double> sc(static_cast<size_t>(s.T)), o(static_cast<size_t>(hd));
  for (int64_t t = 0; t < s.T; ++t) {
    const int64_t j0 = first_key(s, t);
    for (int64_t h = 0; h < s.H; ++h) {
      const int64_t g = h / group;
      const float* qrow = q + (t * s.H + h) * hd;
      double m = -INFINITY;
      for (int64_t j = j0; j <= t; ++j) {
        double d = 0;
        for (int64_t i = 0; i < hd; ++i) d += static_cast<double>(qrow[i]) * k[(j * s.KV + g) * hd + i];
        sc[static_cast<size_t>(j - j0)] = d * scale;
        m = std::max(m, d * scale);
      }
      double sum = 0;
      for (int64_t j = j0; j <= t; ++j) sum += std::exp(sc[static_cast<size_t>(j - j0)] - m);
      const double l = m + std::log(sum);
      if (lse != nullptr) lse[t * s.H + h] = l;
      std::fill(o.begin(), o.end(), 0.0);
      for (int64_t j = j0; j <= t; ++j) {
        const double p = std::exp(sc[static_cast<size_t>(j - j0)] - l);
        for (int64_t i = 0; i < hd; ++i) o[static_cast<size_t>(i)] += p * v[(j * s.KV + g) * hd + i];
      }
      if (out != nullptr) std::copy(o.begin(), o.end(), out + (t * s.H + h) * hd);
      if (dout == nullptr) continue;
      const float* go = dout + (t * s.H + h) * hd;
      double d = 0;
      for (int64_t i = 0; i < hd; ++i) d += static_cast<double>(go[i]) * o[static_cast<size_t>(i)];
      for (int64_t j = j0; j <= t; ++j) {
        const double p = std::exp(sc[static_cast<size_t>(j - j0)] - l);
        double dp = 0;
        for (int64_t i = 0; i < hd; ++i) dp += static_cast<double>(go[i]) * v[(j * s.KV + g) * hd + i];
        const double ds = p * (dp - d);
        for (int64_t i = 0; i < hd; ++i) {
          dq[(t * s.H + h) * hd + i] += scale * ds * k[(j * s.KV + g) * hd + i];
          dk[(j * s.KV + g) * hd + i] += scale * ds * qrow[i];
          dv[(j * s.KV + g) * hd + i] += p * go[i];
        }
      }
    }
  }
}

CeResult cross_entropy_loss(const ExecContext& ctx, const float* h, int64_t T, const TensorView& w,
                            const int32_t* labels, double* lse, double* nll, float* scratch, float* keep_logits) {
  const int64_t V = w.rows();
  OnlineLse acc(T);
  std::vector<double> label_logit(static_cast<size_t>(T), 0.0);
  for (int64_t t = 0; t < T; ++t)
    HERD_CHECK(labels[t] < V, "cross_entropy: label %d of token %lld is outside the vocabulary of %lld", labels[t],
               static_cast<long long>(t), static_cast<long long>(V));
  // The log-sum-exp of every row, a chunk of the vocabulary at a time.
  for_each_logit_chunk(ctx, h, T, w, scratch, [&](int64_t t, const float* l, int64_t c0, int64_t n) {
    acc.add(t, l, n, 1.0);
    if (labels[t] >= c0 && labels[t] < c0 + n) label_logit[static_cast<size_t>(t)] = l[labels[t] - c0];
  }, keep_logits);
  CeResult r;
  for (int64_t t = 0; t < T; ++t) {
    lse[t] = acc.lse(t);
    nll[t] = labels[t] < 0 ? 0.0 : lse[t] - label_logit[static_cast<size_t>(t)];
    if (labels[t] < 0) continue;
    r.loss_sum += nll[t];
    ++r.counted;
  }
  return r;
}

void cross_entropy_grad(const ExecContext& ctx, const float* h, int64_t T, const TensorView& w, const int32_t* labels,
                        const double* lse, const float* token_scale, float* dh, float* scratch, float* dw,
                        float* kept_logits) {
  float* tmp = scratch + T * kCeChunk;  // [T, D]
  // The logits again, a chunk at a time, turned into g and taken through W back to dh.
  backprop_logit_chunks(ctx, h, T, w, scratch, tmp, dh, dw, [&](int64_t t, float* l, int64_t c0, int64_t n) {
    if (labels[t] < 0) {
      std::fill(l, l + n, 0.0f);
      return;
    }
    const double lt = lse[t];
    const float gs = token_scale[t];
    for (int64_t j = 0; j < n; ++j) l[j] = static_cast<float>(std::exp(static_cast<double>(l[j]) - lt)) * gs;
    if (labels[t] >= c0 && labels[t] < c0 + n) l[labels[t] - c0] -= gs;
  }, kept_logits);
}

CeResult cross_entropy_backward(const ExecContext& ctx, const float* h, int64_t T, const TensorView& w,
                                const int32_t* labels, float grad_scale, float* dh, float* scratch) {
  std::vector<double> lse(static_cast<size_t>(T)), nll(static_cast<size_t>(T));
  const CeResult r = cross_entropy_loss(ctx, h, T, w, labels, lse.data(), nll.data(), scratch);
  if (dh == nullptr) return r;  // the loss only
  const std::vector<float> scale(static_cast<size_t>(T), grad_scale);
  cross_entropy_grad(ctx, h, T, w, labels, lse.data(), scale.data(), dh, scratch);
  return r;
}

CeResult cross_entropy_ref(const float* h, int64_t T, const TensorView& w, const int32_t* labels, double grad_scale,
                           double* dh, const double* token_scale, double* nll, double* dw) {
  const int64_t V = w.rows(), D = w.cols();
  HERD_CHECK(w.interleave == 1, "cross_entropy_ref: file layout only");
  HERD_CHECK(w.scale_groups == 1, "an LM head with column-group scales");
  std::vector<float> row(static_cast<size_t>(D));
  std::vector<double> wd(static_cast<size_t>(V * D)), logit(static_cast<size_t>(V));
  for (int64_t v = 0; v < V; ++v) {
    dequantize_row_ref(w.dtype, w.row(v), row.data(), D);
    const double s = w.row_scale ? w.row_scale[v] : 1.0;
    for (int64_t k = 0; k < D; ++k) wd[static_cast<size_t>(v * D + k)] = row[static_cast<size_t>(k)] * s;
  }
  CeResult r;
  if (dh != nullptr) std::fill(dh, dh + T * D, 0.0);
  if (nll != nullptr) std::fill(nll, nll + T, 0.0);
  for (int64_t t = 0; t < T; ++t) {
    if (labels[t] < 0) continue;
    double mx = -INFINITY;
    for (int64_t v = 0; v < V; ++v) {
      double d = 0;
      for (int64_t k = 0; k < D; ++k) d += static_cast<double>(h[t * D + k]) * wd[static_cast<size_t>(v * D + k)];
      logit[static_cast<size_t>(v)] = d;
      mx = std::max(mx, d);
    }
    double s = 0;
    for (int64_t v = 0; v < V; ++v) s += std::exp(logit[static_cast<size_t>(v)] - mx);
    const double lse = mx + std::log(s);
    r.loss_sum += lse - logit[static_cast<size_t>(labels[t])];
    ++r.counted;
    if (nll != nullptr) nll[t] = lse - logit[static_cast<size_t>(labels[t])];
    if (dh == nullptr && dw == nullptr) continue;
    const double gs = token_scale != nullptr ? token_scale[t] : grad_scale;
    for (int64_t v = 0; v < V; ++v) {
      const double g = gs * (std::exp(logit[static_cast<size_t>(v)] - lse) - (v == labels[t] ? 1.0 : 0.0));
      if (dh != nullptr)
        for (int64_t k = 0; k < D; ++k) dh[t * D + k] += g * wd[static_cast<size_t>(v * D + k)];
      if (dw != nullptr)
        for (int64_t k = 0; k < D; ++k) dw[v * D + k] += g * h[t * D + k];
    }
  }
  return r;
}

void embedding_backward(const int32_t* tokens, int64_t T, const float* dx, int64_t D, float* dtable) {
  for (int64_t t = 0; t < T; ++t) {
    float* row = dtable + static_cast<int64_t>(tokens[t]) * D;
    for (int64_t i = 0; i < D; ++i) row[i] += dx[t * D + i];
  }
}

void weight_grad(const ExecContext& ctx, const float* dy, const float* x, int64_t T, int64_t N, int64_t K, float* dw,
                 float scale) {
  if (ctx.bf16_products) {
    weight_grad_bf16_products(ctx, dy, x, T, N, K, dw, scale);
    return;
  }
  // Each run of consecutive tokens with dy != 0 is one axpy_rows_f32 call:
  // the run's axpys bit for bit, the row of dw loaded and stored once per run
  // (the adapters' dB rows are only r = 16 floats long: one call per token and
  // row cost more than the arithmetic).
  const AxpyRowsF32Fn axpy_rows = ctx.table->axpy_rows_f32;
  ctx.pool->parallel_for(N, [&](int64_t n0, int64_t n1, int) {
    float coef[kWeightGradTile];
    for (int64_t t0 = 0; t0 < T; t0 += kWeightGradTile) {
      const int64_t t1 = std::min(T, t0 + kWeightGradTile);
      for (int64_t n = n0; n < n1; ++n) {
        float* row = dw + n * K;
        for (int64_t t = t0; t < t1;) {
          if (dy[t * N + n] == 0.0f) {
            ++t;
            continue;
          }
          int64_t e = t;
          for (; e < t1 && dy[e * N + n] != 0.0f; ++e) coef[e - t] = scale * dy[e * N + n];
          axpy_rows(coef, e - t, x + t * K, K, row, K);
          t = e;
        }
      }
    }
  });
}

void weight_grad_ref(const float* dy, const float* x, int64_t T, int64_t N, int64_t K, double* dw) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t k = 0; k < K; ++k) dw[n * K + k] += static_cast<double>(dy[t * N + n]) * x[t * K + k];
}

}  // namespace herd::kernels
