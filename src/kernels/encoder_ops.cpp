// The encoder's element-wise and row operations (see encoder_ops.h).
#include "kernels/encoder_ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/thread_pool.h"

namespace herd::kernels {
namespace {

// Rows per task: enough work to be worth a wake-up.
int64_t row_grain(int64_t cols) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(cols, 1)); }

}  // namespace

void layer_norm(const ExecContext& ctx, const float* x, const float* w, const float* b, float eps, int64_t T,
                int64_t D, float* y) {
  ctx.pool->parallel_for(
      T,
      [&](int64_t t0, int64_t t1, int) {
        for (int64_t t = t0; t < t1; ++t) {
          const float* xr = x + t * D;
          float* yr = y + t * D;
          double sum = 0;
          for (int64_t i = 0; i < D; ++i) sum += xr[i];
          const double mean = sum / static_cast<double>(D);
          double var = 0;
          for (int64_t i = 0; i < D; ++i) {
            const double d = xr[i] - mean;
            var += d * d;
          }
          var /= static_cast<double>(D);
          const float m = static_cast<float>(mean);
          const float inv = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
          for (int64_t i = 0; i < D; ++i) yr[i] = (xr[i] - m) * inv * w[i] + b[i];
        }
      },
      row_grain(D));
}

void layer_norm_ref(const float* x, const float* w, const float* b, double eps, int64_t T, int64_t D, double* y) {
  for (int64_t t = 0; t < T; ++t) {
    const float* xr = x + t * D;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < D; ++i) mean += xr[i];
    mean /= static_cast<double>(D);
    for (int64_t i = 0; i < D; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    var /= static_cast<double>(D);
    const double inv = 1.0 / std::sqrt(var + eps);
    for (int64_t i = 0; i < D; ++i) y[t * D + i] = (xr[i] - mean) * inv * w[i] + b[i];
  }
}

void add_bias(const ExecContext& ctx, float* x, const float* bias, int64_t T, int64_t N) {
  ctx.pool->parallel_for(
      T,
      [&](int64_t t0, int64_t t1, int) {
        for (int64_t t = t0; t < t1; ++t) {
          float* r = x + t * N;
          for (int64_t i = 0; i < N; ++i) r[i] += bias[i];
        }
      },
      row_grain(N));
}

void gelu(const ExecContext& ctx, float* x, int64_t n) {
  constexpr int64_t kChunk = 4096;
  const GeluFn fn = ctx.table->gelu;
  ctx.pool->parallel_for((n + kChunk - 1) / kChunk, [&](int64_t c0, int64_t c1, int) {
    const int64_t b = c0 * kChunk, e = std::min(n, c1 * kChunk);
    fn(x + b, e - b);
  });
}

void add_bias_gelu(const ExecContext& ctx, float* x, const float* bias, int64_t T, int64_t N) {
  const GeluFn fn = ctx.table->gelu;
  ctx.pool->parallel_for(
      T,
      [&](int64_t t0, int64_t t1, int) {
        for (int64_t t = t0; t < t1; ++t) {
          float* r = x + t * N;
          for (int64_t i = 0; i < N; ++i) r[i] += bias[i];
          fn(r, N);
        }
      },
      row_grain(N));
}

double gelu_ref(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }

void biased_softmax_rows(const ExecContext& ctx, float* s, const float* bias, int64_t rows, int64_t n, float scale) {
  ctx.pool->parallel_for(
      rows,
      [&](int64_t r0, int64_t r1, int) {
        for (int64_t r = r0; r < r1; ++r) {
          float* row = s + r * n;
          if (bias != nullptr) {
            const float* br = bias + r * n;
            for (int64_t j = 0; j < n; ++j) row[j] = row[j] * scale + br[j];
          } else {
            for (int64_t j = 0; j < n; ++j) row[j] = row[j] * scale;
          }
          ctx.table->softmax_row(row, n);
        }
      },
      row_grain(n));
}

void biased_softmax_rows_ref(const float* s, const float* bias, int64_t rows, int64_t n, double scale, double* p) {
  for (int64_t r = 0; r < rows; ++r) {
    double m = -INFINITY;
    for (int64_t j = 0; j < n; ++j) {
      p[r * n + j] = s[r * n + j] * scale + (bias ? bias[r * n + j] : 0.0);
      m = std::max(m, p[r * n + j]);
    }
    double sum = 0;
    for (int64_t j = 0; j < n; ++j) sum += (p[r * n + j] = std::exp(p[r * n + j] - m));
    for (int64_t j = 0; j < n; ++j) p[r * n + j] /= sum;
  }
}

}  // namespace herd::kernels
