// The frozen products of training in bf16 (herd finetune --bf16, as
// PyTorch's autocast or HF Trainer's --bf16: ExecContext::bf16_products):
// matmul's x . W^T and matmul_t's dy . W with both operands rounded to bf16
// and f32 sums, on the table's gemm_bf16_pairs (tdpbf16ps on AMX, vdpbf16ps
// on AVX512_BF16, the scalar specification on ISA ref). Declared in ops.h.
//
// The weight is read in its stored dtype (the table's row_to_f32: its exact
// f32 values) and rounded to bf16 on the fly, a panel at a time, so no bf16
// copy of the model is kept (a QLoRA base stays 4-bit in memory):
//   forward   C = W_panel x^T: A = kPanelRows weight rows as bf16 rows (no
//             reordering), B = x in pair form, packed once per call and shared
//             by every panel; each panel's C [rows, tokens] is written
//             transposed into out [tokens, rows].
//   backward  C = dy W: A = dy as bf16 rows, packed once; B = a column chunk
//             of W in pair form (rows 2p and 2p + 1 interleaved), one chunk of
//             kColChunk columns per task, the reduction over N cut in blocks
//             of kReduceBlock rows so A's block and the chunk stay in L2
//             (gemm_bf16_pairs's accumulate: the same bits as one pass).
// Every output is one gemm_bf16_pairs chain over its reduction in order:
// the same bits for any thread count and any T. A row-scaled weight (FP8)
// scales each output (forward) or each dy[t, n] (backward: fl(dy s), then
// rounded) as the f32 paths do; column-group scales and dynamic FP8
// activations keep the exact f32 path.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "base/check.h"
#include "base/half.h"
#include "kernels/matmul_bf16.h"
#include "kernels/ops.h"
#include "tensor/quant.h"

namespace herd::kernels {
namespace {

constexpr int64_t kPanelRows = 32;      // weight rows per forward panel (two tiles of 16)
constexpr int64_t kColChunk = 256;      // backward: columns per task (a multiple of every block size)
constexpr int64_t kReduceBlock = 1024;  // backward: rows of W per pass over a chunk

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

void round_row(const KernelTable& t, const float* x, uint16_t* y, int64_t n) {
  if (t.round_bf16 != nullptr) {
    t.round_bf16(x, y, n);
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = f32_to_bf16(x[i]);
  }
}

uint32_t pair(uint16_t lo, uint16_t hi) { return static_cast<uint32_t>(lo) | static_cast<uint32_t>(hi) << 16; }

bool exact_only(const TensorView& w) { return w.scale_groups > 1 || w.act_scale_ub > 0.0f; }

GemmBf16PairsFn gemm_of(const ExecContext& ctx) {
  HERD_CHECK(ctx.table->gemm_bf16_pairs != nullptr, "bf16 products: ISA %s has no bf16 product", ctx.table->isa);
  return ctx.table->gemm_bf16_pairs;
}

}  // namespace

void matmul_bf16_products(const ExecContext& ctx, const float* x, int64_t T, const TensorView& w, float* out) {
  if (exact_only(w) || T <= 0) {
    ExecContext exact = ctx;
    exact.bf16_products = false;
    matmul(exact, x, T, w, out);
    return;
  }
  const GemmBf16PairsFn gemm = gemm_of(ctx);
  const int64_t N = w.rows(), K = w.cols(), Kp = round_up(K, 32), Tp = round_up(T, 16);
  const RowToF32Fn to_f32 = ctx.table->to_f32_for(w.dtype);
  HERD_CHECK(to_f32 != nullptr, "bf16 products: no conversion of %s", dtype_name(w.dtype));
  // x in pair form: word (p, t) = (x[t][2p], x[t][2p + 1]); columns past T zero.
  std::vector<uint32_t> xb(static_cast<size_t>(Kp / 2 * Tp), 0u);
  ctx.pool->parallel_for(T, [&](int64_t t0, int64_t t1, int) {
    std::vector<uint16_t> row(static_cast<size_t>(Kp), 0);
    for (int64_t t = t0; t < t1; ++t) {
      round_row(*ctx.table, x + t * K, row.data(), K);
      for (int64_t p = 0; p < Kp / 2; ++p) xb[static_cast<size_t>(p * Tp + t)] = pair(row[2 * p], row[2 * p + 1]);
    }
  });
  const int64_t panels = (N + kPanelRows - 1) / kPanelRows;
  const int64_t stride = w.row_stride();
  ctx.pool->parallel_for(panels, [&](int64_t p0, int64_t p1, int) {
    std::vector<float> f(static_cast<size_t>(K));
    std::vector<uint16_t> a(static_cast<size_t>(kPanelRows * Kp), 0);
    std::vector<float> c(static_cast<size_t>(kPanelRows * Tp));
    std::vector<uint8_t> raw(static_cast<size_t>(w.interleave == 1 ? 0 : stride));
    for (int64_t pi = p0; pi < p1; ++pi) {
      const int64_t r0 = pi * kPanelRows, rn = std::min(kPanelRows, N - r0);
      for (int64_t r = 0; r < rn; ++r) {
        to_f32(w.file_row(r0 + r, 0, K, raw.data()), f.data(), K);
        round_row(*ctx.table, f.data(), a.data() + r * Kp, K);
      }
      gemm(a.data(), Kp, xb.data(), Tp, c.data(), Tp, rn, T, Kp, false);
      for (int64_t t = 0; t < T; ++t) {
        float* o = out + t * N + r0;
        for (int64_t r = 0; r < rn; ++r) o[r] = c[static_cast<size_t>(r * Tp + t)];
      }
      detail::apply_row_scale(w, out, N, r0, r0 + rn, 0, T);
    }
  });
}

void matmul_t_bf16_products(const ExecContext& ctx, const float* dy, int64_t T, const TensorView& w, float* out) {
  if (exact_only(w) || T <= 0) {
    ExecContext exact = ctx;
    exact.bf16_products = false;
    matmul_t(exact, dy, T, w, out);
    return;
  }
  const GemmBf16PairsFn gemm = gemm_of(ctx);
  const int64_t N = w.rows(), K = w.cols(), Np = round_up(N, 32), Tp = round_up(T, 16);
  const RowToF32Fn to_f32 = ctx.table->to_f32_for(w.dtype);
  HERD_CHECK(to_f32 != nullptr, "bf16 products: no conversion of %s", dtype_name(w.dtype));
  // dy as bf16 rows [Tp, Np] (times the row scales first, if any); padding zero.
  std::vector<uint16_t> a(static_cast<size_t>(Tp * Np), 0);
  ctx.pool->parallel_for(T, [&](int64_t t0, int64_t t1, int) {
    std::vector<float> scaled(static_cast<size_t>(w.row_scale != nullptr ? N : 0));
    for (int64_t t = t0; t < t1; ++t) {
      const float* src = dy + t * N;
      if (w.row_scale != nullptr) {
        for (int64_t n = 0; n < N; ++n) scaled[static_cast<size_t>(n)] = src[n] * w.row_scale[n];
        src = scaled.data();
      }
      round_row(*ctx.table, src, a.data() + t * Np, N);
    }
  });
  const int64_t chunks = (K + kColChunk - 1) / kColChunk;
  ctx.pool->parallel_for(chunks, [&](int64_t c0, int64_t c1, int) {
    std::vector<uint32_t> b(static_cast<size_t>(Np / 2 * kColChunk));
    std::vector<float> lo(static_cast<size_t>(kColChunk)), hi(static_cast<size_t>(kColChunk));
    std::vector<uint16_t> lo16(static_cast<size_t>(kColChunk)), hi16(static_cast<size_t>(kColChunk));
    std::vector<uint8_t> raw(static_cast<size_t>(row_bytes(w.dtype, kColChunk)) + 64);
    for (int64_t ci = c0; ci < c1; ++ci) {
      const int64_t k0 = ci * kColChunk, kc = std::min(kColChunk, K - k0);
      for (int64_t p = 0; p < Np / 2; ++p) {
        for (int h = 0; h < 2; ++h) {
          const int64_t n = 2 * p + h;
          std::vector<uint16_t>& dst = h == 0 ? lo16 : hi16;
          if (n < N) {
            std::vector<float>& f = h == 0 ? lo : hi;
            to_f32(w.file_row(n, k0, kc, raw.data()), f.data(), kc);
            round_row(*ctx.table, f.data(), dst.data(), kc);
          } else {
            std::fill(dst.begin(), dst.begin() + kc, uint16_t{0});
          }
        }
        uint32_t* row = b.data() + p * kColChunk;
        for (int64_t j = 0; j < kc; ++j) row[j] = pair(lo16[static_cast<size_t>(j)], hi16[static_cast<size_t>(j)]);
      }
      for (int64_t n0 = 0; n0 < Np; n0 += kReduceBlock) {
        const int64_t nb = std::min(kReduceBlock, Np - n0);
        gemm(a.data() + n0, Np, b.data() + n0 / 2 * kColChunk, kColChunk, out + k0, K, T, kc, nb, n0 > 0);
      }
    }
  });
}

void matmul_bf16_products_ref(const float* x, int64_t T, const TensorView& w, double* out, double* abs_sum,
                              bool transposed) {
  const int64_t N = w.rows(), K = w.cols();
  std::vector<float> row(static_cast<size_t>(K));
  std::vector<uint8_t> raw(static_cast<size_t>(row_bytes(w.dtype, K)));
  const int64_t width = transposed ? K : N;
  std::fill(out, out + T * width, 0.0);
  if (abs_sum) std::fill(abs_sum, abs_sum + T * width, 0.0);
  const auto bf = [](float v) { return static_cast<double>(bf16_to_f32(f32_to_bf16(v))); };
  for (int64_t n = 0; n < N; ++n) {
    dequantize_row_ref(w.dtype, w.file_row(n, 0, K, raw.data()), row.data(), K);
    const double s = w.row_scale != nullptr ? w.row_scale[n] : 1.0;
    for (int64_t t = 0; t < T; ++t) {
      if (!transposed) {  // out[t, n] = s sum_k bf(x[t, k]) bf(W[n, k])
        double acc = 0.0, mag = 0.0;
        for (int64_t k = 0; k < K; ++k) {
          const double p = bf(x[t * K + k]) * bf(row[static_cast<size_t>(k)]);
          acc += p;
          mag += std::abs(p);
        }
        out[t * N + n] = acc * s;
        if (abs_sum) abs_sum[t * N + n] = mag * std::abs(s);
      } else {  // out[t, k] += bf(fl(dy[t, n] s)) bf(W[n, k])
        const double g = bf(w.row_scale != nullptr ? x[t * N + n] * w.row_scale[n] : x[t * N + n]);
        for (int64_t k = 0; k < K; ++k) {
          const double p = g * bf(row[static_cast<size_t>(k)]);
          out[t * K + k] += p;
          if (abs_sum) abs_sum[t * K + k] += std::abs(p);
        }
      }
    }
  }
}

}  // namespace herd::kernels
