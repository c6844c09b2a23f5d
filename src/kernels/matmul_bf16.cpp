#include "kernels/matmul_bf16.h"

#include <algorithm>

#include "base/check.h"

namespace herd::kernels::detail {

bool takes_bf16_path(const ExecContext& ctx, const TensorView& w) {
  return matmul_path(*ctx.table, w) == MatmulPath::kBf16;
}

void apply_row_scale(const TensorView& w, float* out, int64_t N, int64_t n0, int64_t n1, int64_t t0, int64_t tn) {
  if (w.row_scale == nullptr) return;
  for (int64_t t = t0; t < t0 + tn; ++t)
    for (int64_t n = n0; n < n1; ++n) out[t * N + n] *= w.row_scale[n];
}

int matmul_bf16(const ExecContext& ctx, const float* x, int64_t T, std::initializer_list<MatmulOut> outs,
                Bf16Input* in) {
  // The weights on the path, as consecutive row ranges [start, start + N) of
  // one concatenated "matrix" that the threads split.
  struct Part {
    const TensorView* w;
    float* out;
    int64_t start;
  };
  Part parts[8];
  int n = 0;
  int64_t total = 0;
  for (const MatmulOut& m : outs) {
    // Dynamic FP8 activations are quantized for their weight alone (ops.cpp
    // matmul_fp8_dynamic, which comes back here with them).
    if (!takes_bf16_path(ctx, *m.w) || m.w->act_scale_ub > 0.0f) continue;
    HERD_CHECK(n < 8, "matmul_bf16: more than 8 weights share one input");
    parts[n++] = {m.w, m.out, total};
    total += m.w->rows();
  }
  if (n == 0) return 0;
  const int64_t K = parts[0].w->cols();
  if (in->xb == nullptr) {
    uint16_t* xb = ctx.bf16;
    if (xb == nullptr || ctx.bf16_elems < T * K) {
      in->tmp.resize(static_cast<size_t>(T * K));  // off the hot path only (see ExecContext)
      xb = in->tmp.data();
    }
    const RoundBf16Fn round = ctx.table->round_bf16;
    ctx.pool->parallel_for(T, [&](int64_t t0, int64_t t1, int) {
      for (int64_t t = t0; t < t1; ++t) round(x + t * K, xb + t * K, K);
    });
    in->xb = xb;
  }
  const uint16_t* xb = in->xb;
  // Each thread takes a static range of the concatenated rows and every token;
  // the tile kernel does its own cache blocking (kernels_avx512bf16.cpp).
  ctx.pool->parallel_for(
      total,
      [&](int64_t r0, int64_t r1, int) {
        for (int i = 0; i < n; ++i) {
          const Part& p = parts[i];
          const int64_t N = p.w->rows(), b = std::max(r0, p.start) - p.start, e = std::min(r1, p.start + N) - p.start;
          if (b >= e) continue;
          const int64_t stride = p.w->row_stride();
          ctx.table->tile_bf16_for(p.w->dtype)(p.w->data + b * stride, stride, e - b, xb, K, T, K, p.out + b, N);
          apply_row_scale(*p.w, p.out, N, b, e, 0, T);
        }
      },
      16);
  return n;
}

}  // namespace herd::kernels::detail
