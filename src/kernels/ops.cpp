// Forward-pass operations, ISA-neutral: the inner loops call the kernel
// table's entries, chosen once at start-up.
#include "kernels/ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/check.h"

namespace herd::kernels {

namespace {

// Tokens per pass over the weights in the q8 path: their quantized rows
// (32 x K/32 x 40 bytes, 573 KB at K = 14336) stay in L2 while a thread's
// weight rows stream past, each row block reused by every token of the tile.
constexpr int64_t kQ8TokenChunk = 32;

// x[T, K] -> xq[T, K/32] (BlockQ8), one row per task.
void quantize_rows(const ExecContext& ctx, const float* x, int64_t T, int64_t K, BlockQ8* xq) {
  const QuantizeQ8Fn quantize = ctx.table->quantize_q8;
  const int64_t nb = K / 32;
  ctx.pool->parallel_for(T, [&](int64_t t0, int64_t t1, int) {
    for (int64_t t = t0; t < t1; ++t) quantize(x + t * K, xq + t * nb, K);
  });
}

// out[T, N] from already quantized activations xq[T, K/32].
void matmul_q8(const ExecContext& ctx, const BlockQ8* xq, int64_t T, const TensorView& w, float* out,
               TileDotQ8Fn tile) {
  const int64_t N = w.rows(), K = w.cols(), nb = K / 32;
  const int64_t stride = w.row_stride();
  ctx.pool->parallel_for(
      N,
      [&](int64_t n0, int64_t n1, int) {
        for (int64_t t0 = 0; t0 < T; t0 += kQ8TokenChunk) {
          const int64_t tn = std::min(kQ8TokenChunk, T - t0);
          tile(w.data + n0 * stride, stride, n1 - n0, xq + t0 * nb, nb, tn, K, out + t0 * N + n0, N);
        }
      },
      16);
}

void matmul_f32(const ExecContext& ctx, const float* x, int64_t T, const TensorView& w, float* out) {
  const int64_t N = w.rows(), K = w.cols();
  RowDotFn dot = ctx.table->dot_for(w.dtype);
  HERD_DCHECK(dot != nullptr, "no row dot for %s", dtype_name(w.dtype));
  const int64_t stride = w.row_stride();
  ctx.pool->parallel_for(
      N,
      [&](int64_t n0, int64_t n1, int) {
        // Row-outer: one weight row stays in L1 while every token uses it.
        for (int64_t n = n0; n < n1; ++n) {
          const uint8_t* row = w.data + n * stride;
          for (int64_t t = 0; t < T; ++t) out[t * N + n] = dot(row, x + t * K, K);
        }
      },
      16);
}

TileDotQ8Fn tile_for(const ExecContext& ctx, const TensorView& w) {
  TileDotQ8Fn tile = ctx.table->tile_q8_for(w.dtype);
  return tile != nullptr && w.cols() % 32 == 0 ? tile : nullptr;
}

}  // namespace

void matmul(const ExecContext& ctx, const float* x, int64_t T, const TensorView& w, float* out) {
  matmul_shared_input(ctx, x, T, {MatmulOut{&w, out}});
}

void matmul_shared_input(const ExecContext& ctx, const float* x, int64_t T, std::initializer_list<MatmulOut> outs) {
  std::vector<BlockQ8> tmp;
  BlockQ8* xq = nullptr;  // quantized on first use, then shared
  for (const MatmulOut& m : outs) {
    const TensorView& w = *m.w;
    const TileDotQ8Fn tile = tile_for(ctx, w);
    if (tile == nullptr) {
      matmul_f32(ctx, x, T, w, m.out);
      continue;
    }
    const int64_t K = w.cols();
    if (xq == nullptr) {
      xq = ctx.q8;
      if (xq == nullptr || ctx.q8_blocks < T * (K / 32)) {
        tmp.resize(static_cast<size_t>(T * (K / 32)));  // off the hot path only (see ExecContext)
        xq = tmp.data();
      }
      quantize_rows(ctx, x, T, K, xq);
    }
    matmul_q8(ctx, xq, T, w, m.out, tile);
  }
}

void rms_norm(const float* x, const float* weight, float eps, int64_t T, int64_t D, float* y) {
  for (int64_t t = 0; t < T; ++t) {
    const float* xr = x + t * D;
    float* yr = y + t * D;
    double ss = 0.0;
    for (int64_t i = 0; i < D; ++i) ss += static_cast<double>(xr[i]) * xr[i];
    const float scale = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(D) + eps));
    for (int64_t i = 0; i < D; ++i) yr[i] = xr[i] * scale * weight[i];
  }
}

void embedding_row(const ExecContext& ctx, const TensorView& table, int64_t r, float* dst) {
  ctx.table->to_f32_for(table.dtype)(table.row(r), dst, table.cols());
}

void rope(float* x, int64_t T, int64_t n_heads, int64_t hd, const int64_t* pos,
          const double* inv_freq, RopeStyle style) {
  const int64_t half = hd / 2;
  float cs[512], sn[512];  // hd/2 <= 512 (checked when the model is validated)
  HERD_DCHECK(half <= 512, "head_dim %lld too large", static_cast<long long>(hd));
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t i = 0; i < half; ++i) {
      const double a = static_cast<double>(pos[t]) * inv_freq[i];
      cs[i] = static_cast<float>(std::cos(a));
      sn[i] = static_cast<float>(std::sin(a));
    }
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = x + (t * n_heads + h) * hd;
      for (int64_t i = 0; i < half; ++i) {
        const int64_t a = style == RopeStyle::kInterleaved ? 2 * i : i;
        const int64_t b = style == RopeStyle::kInterleaved ? 2 * i + 1 : i + half;
        const float x0 = v[a], x1 = v[b];
        v[a] = x0 * cs[i] - x1 * sn[i];
        v[b] = x0 * sn[i] + x1 * cs[i];
      }
    }
  }
}

void silu_mul(float* g, const float* u, int64_t n) {
  for (int64_t i = 0; i < n; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

void attention(const ExecContext& ctx, const float* q, int64_t T, int64_t H, int64_t KV,
               int64_t hd, const float* k_cache, const float* v_cache, int64_t n_past,
               float* const* scratch, float* out) {
  const int64_t group = H / KV;
  const int64_t kv_stride = KV * hd;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  const DotF32Fn dot = ctx.table->dot_f32;
  const AxpyF32Fn axpy = ctx.table->axpy_f32;
  ctx.pool->parallel_for(T * H, [&](int64_t b, int64_t e, int worker) {
    float* scores = scratch[worker];
    for (int64_t task = b; task < e; ++task) {
      const int64_t t = task / H, h = task % H, kvh = h / group;
      const float* qv = q + (t * H + h) * hd;
      const int64_t n_keys = n_past + t + 1;  // causal: keys 0..n_past+t
      float mx = -INFINITY;
      for (int64_t j = 0; j < n_keys; ++j) {
        scores[j] = dot(qv, k_cache + j * kv_stride + kvh * hd, hd) * scale;
        mx = scores[j] > mx ? scores[j] : mx;
      }
      double sum = 0.0;
      for (int64_t j = 0; j < n_keys; ++j) {
        scores[j] = std::exp(scores[j] - mx);
        sum += scores[j];
      }
      const float inv = static_cast<float>(1.0 / sum);
      float* o = out + (t * H + h) * hd;
      for (int64_t i = 0; i < hd; ++i) o[i] = 0.0f;
      for (int64_t j = 0; j < n_keys; ++j) axpy(scores[j] * inv, v_cache + j * kv_stride + kvh * hd, o, hd);
    }
  });
}

}  // namespace herd::kernels
