#include "kernels/matmul_bf16.h"

#include <algorithm>

#include "base/check.h"
#include "tensor/repack_r16.h"

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
  // The weights on the path, as consecutive ranges of units of 16 rows (one
  // r16 group; file-layout weights are cut the same way) [start, start +
  // ceil(N / 16)) of one concatenated "matrix" that the threads split.
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
    total += (m.w->rows() + kR16Rows - 1) / kR16Rows;
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
  // Each thread takes a static range of the concatenated units and every
  // token; the tile kernels do their own cache blocking
  // (kernels_avx512bf16.cpp, tile_bf16_r16_avx512bf16.cpp).
  ctx.pool->parallel_for(total, [&](int64_t u0, int64_t u1, int) {
    for (int i = 0; i < n; ++i) {
      const Part& p = parts[i];
      const int64_t N = p.w->rows(), units = (N + kR16Rows - 1) / kR16Rows;
      const int64_t ub = std::max(u0, p.start) - p.start, ue = std::min(u1, p.start + units) - p.start;
      if (ub >= ue) continue;
      const int64_t b = ub * kR16Rows, e = std::min(N, ue * kR16Rows);
      if (p.w->interleave == kR16Rows) {
        ctx.table->tile_bf16_r16_for(p.w->dtype)(p.w->data + ub * r16_group_bytes(K), ue - ub, xb, K, T, K, p.out + b,
                                                 N);
      } else {
        const int64_t stride = p.w->row_stride();
        ctx.table->tile_bf16_for(p.w->dtype)(p.w->data + b * stride, stride, e - b, xb, K, T, K, p.out + b, N);
      }
      apply_row_scale(*p.w, p.out, N, b, e, 0, T);
    }
  });
  return n;
}

}  // namespace herd::kernels::detail
