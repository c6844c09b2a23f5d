// Linear layers with low-rank adapters (model/linear.h).
#include "model/linear.h"

#include <algorithm>
#include <vector>

#include "kernels/backward.h"
#include "kernels/ops.h"

namespace herd::model {
namespace {

TensorView f32_view(const float* p, int64_t rows, int64_t cols) {
  TensorView v;
  v.dtype = DType::kF32;
  v.shape = {rows, cols};
  v.data = reinterpret_cast<const uint8_t*>(p);
  return v;
}

// Adapters' own products and gradients stay exact f32 under --bf16
// (ExecContext::bf16_products covers the model's own weights only).
kernels::ExecContext adapter_exec(const kernels::ExecContext& exec) {
  kernels::ExecContext e = exec;
  e.bf16_products = false;
  return e;
}

// out[T, N] += s (x . A^T) . B^T for one adapter over T rows.
void lora_rows_add(const kernels::ExecContext& exec, const LoraAdapter& ad, float scale, int64_t N, int64_t K,
                   const float* x, int64_t T, float* out, float* scratch) {
  const int64_t r = ad.rank;
  float* h = scratch;  // [T, r] = s * x . A^T
  kernels::matmul(adapter_exec(exec), x, T, f32_view(ad.a, r, K), h);
  for (int64_t i = 0; i < T * r; ++i) h[i] *= scale;
  // out[t] += sum_j h[t, j] B^T[j] (B^T [r, N], transposed once per call):
  // one axpy_rows_f32 per token, tokens split over the pool. A dot of r = 16
  // per output element spent most of its time in the horizontal sum.
  thread_local std::vector<float> bt;
  bt.resize(static_cast<size_t>(r * N));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t j = 0; j < r; ++j) bt[static_cast<size_t>(j * N + n)] = ad.b[n * r + j];
  const float* btp = bt.data();  // the caller's buffer (a worker's thread_local would be its own)
  exec.pool->parallel_for(T, [&](int64_t t0, int64_t t1, int) {
    for (int64_t t = t0; t < t1; ++t) exec.table->axpy_rows_f32(h + t * r, r, btp, N, out + t * N, N);
  });
}

}  // namespace

void lora_forward_add(const kernels::ExecContext& exec, const Linear& l, const float* x, int64_t T, float* out,
                      float* scratch, const LoraRows& rows) {
  const int64_t N = l.w.rows(), K = l.w.cols();
  for (const LoraAdapter& ad : l.adapters) {
    const bool weighted = ad.set == 0 && ad.id >= 0 && ad.id < rows.n_weights && rows.weight != nullptr;
    if (ad.set == 0 && !weighted) {
      lora_rows_add(exec, ad, ad.scale, N, K, x, T, out, scratch);
      continue;
    }
    if (ad.set != 0 && rows.set == nullptr) continue;
    // The rows the adapter applies to, in runs of one scale.
    auto key = [&](int64_t t) { return weighted ? rows.weight[t * rows.n_weights + ad.id] : 0.0f; };
    auto applies = [&](int64_t t) { return weighted ? key(t) != 0.0f : rows.set[t] == ad.set; };
    for (int64_t t0 = 0; t0 < T;) {
      if (!applies(t0)) {
        ++t0;
        continue;
      }
      int64_t t1 = t0 + 1;
      while (t1 < T && applies(t1) && key(t1) == key(t0)) ++t1;
      const float scale = weighted ? static_cast<float>(ad.unit * key(t0)) : ad.scale;
      lora_rows_add(exec, ad, scale, N, K, x + t0 * K, t1 - t0, out + t0 * N, scratch);
      t0 = t1;
    }
  }
}

void linear_backward_input(const kernels::ExecContext& exec, const Linear& l, const float* dy, int64_t T, float* dx,
                           float* scratch, const float* lora_factor) {
  const int64_t N = l.w.rows(), K = l.w.cols();
  kernels::matmul_t(exec, dy, T, l.w, dx);
  for (const LoraAdapter& ad : l.adapters) {
    if (ad.set != 0) continue;  // per-request serving adapters take no part in training
    const int64_t r = ad.rank;
    float* g = scratch;  // [T, r] = s * dy . B
    kernels::matmul_t(adapter_exec(exec), dy, T, f32_view(ad.b, N, r), g);
    for (int64_t i = 0; i < T * r; ++i) g[i] *= ad.scale;
    // dx[t] += sum_j g[t, j] A_j (times the dropout factors), tokens split over the pool.
    float* term = scratch + T * r;  // [T, K] with lora_factor
    exec.pool->parallel_for(T, [&](int64_t t0, int64_t t1, int) {
      for (int64_t t = t0; t < t1; ++t) {
        float* out = lora_factor != nullptr ? term + t * K : dx + t * K;
        if (lora_factor != nullptr) std::fill(out, out + K, 0.0f);
        exec.table->axpy_rows_f32(g + t * r, r, ad.a, K, out, K);  // the r axpys' bits, out loaded once
        if (lora_factor != nullptr)
          for (int64_t k = 0; k < K; ++k) dx[t * K + k] += out[k] * lora_factor[t * K + k];
      }
    });
  }
}

void lora_backward_weights(const kernels::ExecContext& exec, const Linear& l, size_t i, const float* x, const float* dy,
                           int64_t T, float* da, float* db, float* scratch) {
  const LoraAdapter& ad = l.adapters[i];
  const int64_t N = l.w.rows(), K = l.w.cols();
  float* g = scratch;                // [T, r] = dy . B
  float* h = scratch + T * ad.rank;  // [T, r] = x . A^T
  kernels::matmul_t(adapter_exec(exec), dy, T, f32_view(ad.b, N, ad.rank), g);
  kernels::matmul(adapter_exec(exec), x, T, f32_view(ad.a, ad.rank, K), h);
  kernels::weight_grad(adapter_exec(exec), g, x, T, ad.rank, K, da, ad.scale);   // dA += s g^T x
  kernels::weight_grad(adapter_exec(exec), dy, h, T, N, ad.rank, db, ad.scale);  // dB += s dy^T h
}

}  // namespace herd::model
