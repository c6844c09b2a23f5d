// The LM head over the vocabulary in chunks of kCeChunk rows of its weight
// (kernels/backward.h), the loop every head loss shares (cross_entropy_loss
// and cross_entropy_grad in backward.cpp; logits_topk and soft_cross_entropy
// in distill_head.cpp), so that no [tokens, vocabulary] float matrix exists:
//   - for_each_logit_chunk: chunk[T, n] = h . W[c0 : c0 + n]^T, then
//     row(t, logits of token t, c0, n) for every token, the tokens split over
//     the pool; with keep ([T, V] floats), each chunk is written there
//     (chunk-major: chunk c0's [T, n] block at keep + c0 T) instead of chunk,
//     so a second pass need not compute it again;
//   - backprop_logit_chunks: the same, where row() turns token t's logits into
//     d loss / d logits in place, and dh[T, D] (zeroed first; null: not
//     wanted) accumulates chunk . W[c0 : c0 + n] chunk by chunk (tmp: [T, D]
//     scratch); with dw ([V, D], full fine-tuning of the head), dw[c0 : c0 +
//     n] += chunk^T . h (weight_grad); with kept (what for_each_logit_chunk's
//     keep holds), each chunk is read from there (and overwritten) instead of
//     computed: the same bits, the products being deterministic;
//   - OnlineLse: a per-token log-sum-exp of z = logit * inv_t kept across
//     chunks (running max and rescaled sum, in double).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/backward.h"
#include "kernels/ops.h"

namespace herd::kernels {

template <class RowFn>
void for_each_logit_chunk(const ExecContext& ctx, const float* h, int64_t T, const TensorView& w, float* chunk,
                          RowFn&& row, float* keep = nullptr) {
  const int64_t V = w.rows();
  for (int64_t c0 = 0; c0 < V; c0 += kCeChunk) {
    const int64_t n = std::min(kCeChunk, V - c0);
    float* c = keep != nullptr ? keep + c0 * T : chunk;
    matmul(ctx, h, T, w.rows_view(c0, n), c);
    ctx.pool->parallel_for(T, [&](int64_t t0, int64_t t1, int) {
      for (int64_t t = t0; t < t1; ++t) row(t, c + t * n, c0, n);
    });
  }
}

template <class RowFn>
void backprop_logit_chunks(const ExecContext& ctx, const float* h, int64_t T, const TensorView& w, float* chunk_buf,
                           float* tmp, float* dh, float* dw, RowFn&& row, float* kept = nullptr) {
  const int64_t V = w.rows(), D = w.cols();
  if (dh != nullptr) std::fill(dh, dh + T * D, 0.0f);
  for (int64_t c0 = 0; c0 < V; c0 += kCeChunk) {
    const int64_t n = std::min(kCeChunk, V - c0);
    const TensorView part = w.rows_view(c0, n);
    float* chunk = kept != nullptr ? kept + c0 * T : chunk_buf;
    if (kept == nullptr) matmul(ctx, h, T, part, chunk);
    ctx.pool->parallel_for(T, [&](int64_t t0, int64_t t1, int) {
      for (int64_t t = t0; t < t1; ++t) row(t, chunk + t * n, c0, n);
    });
    if (dw != nullptr) weight_grad(ctx, chunk, h, T, n, D, dw + c0 * D);
    if (dh == nullptr) continue;
    matmul_t(ctx, chunk, T, part, tmp);
    for (int64_t i = 0; i < T * D; ++i) dh[i] += tmp[i];
  }
}

struct OnlineLse {
  explicit OnlineLse(int64_t T) : m(static_cast<size_t>(T), -INFINITY), sum(static_cast<size_t>(T), 0.0) {}
  // Folds token t's chunk l[0 .. n) in.
  void add(int64_t t, const float* l, int64_t n, double inv_t) {
    const auto ti = static_cast<size_t>(t);
    double mx = m[ti];
    for (int64_t j = 0; j < n; ++j) mx = std::max(mx, l[j] * inv_t);
    double s = sum[ti] * std::exp(m[ti] - mx);
    for (int64_t j = 0; j < n; ++j) s += std::exp(l[j] * inv_t - mx);
    m[ti] = mx;
    sum[ti] = s;
  }
  double lse(int64_t t) const { return m[static_cast<size_t>(t)] + std::log(sum[static_cast<size_t>(t)]); }
  std::vector<double> m, sum;
};

}  // namespace herd::kernels
