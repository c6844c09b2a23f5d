// The frozen products of training in bf16 (herd finetune --bf16, as
// PyTorch's autocast or HF Trainer's --bf16: ExecContext::bf16_products):
// matmul's x . W^T and matmul_t's dy . W with both operands rounded to bf16
// and f32 sums, on the table's gemm_bf16_pairs (tdpbf16ps on AMX, vdpbf16ps
// on AVX512_BF16, the scalar specification on ISA ref). Declared in ops.h.
//
// The weight is read in its stored dtype (its exact f32 values, by the
// table's row_to_bf16 or row_to_f32) and rounded to bf16 on the fly, a panel at a time, so no bf16
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
// Every B is packed in gemm_bf16_pairs's panel form (16 columns' pairs
// contiguous, panels kPad bytes past a multiple of 4 KB apart: each tile of B
// one kilobyte), which the AMX tile loads read a third faster than rows of
// the whole width (kernels_bench train/ rows, Intel AMX host).
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
#include "kernels/backward.h"
#include "kernels/matmul_bf16.h"
#include "kernels/ops.h"
#include "tensor/quant.h"

namespace herd::kernels {
namespace {

constexpr int64_t kPanelRows = 32;      // weight rows per forward panel (two tiles of 16)
constexpr int64_t kSliceTokens = 32;    // tokens per tile-product call between prefetches
constexpr int64_t kColChunk = 512;      // backward: columns per task (a multiple of every block size)
constexpr int64_t kPad = 64;           // bytes added to the packed operands' row strides
constexpr int64_t kReduceBlock = 512;   // backward: rows of W per pass over a chunk

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

void round_row(const KernelTable& t, const float* x, uint16_t* y, int64_t n) {
  if (t.round_bf16 != nullptr) {
    t.round_bf16(x, y, n);
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = f32_to_bf16(x[i]);
  }
}

// n values of a stored row (its file layout) as bf16: the table's fused
// conversion where it has one, else its row_to_f32 into f (n floats) and
// round_row: the same bits.
void row_bf16(const KernelTable& t, DType dt, const uint8_t* src, uint16_t* dst, int64_t n, float* f) {
  if (const RowToBf16Fn fused = t.to_bf16_for(dt); fused != nullptr) {
    fused(src, dst, n);
    return;
  }
  t.to_f32_for(dt)(src, f, n);
  round_row(t, f, dst, n);
}

uint32_t pair(uint16_t lo, uint16_t hi) { return static_cast<uint32_t>(lo) | static_cast<uint32_t>(hi) << 16; }

// Words between the panels of a panel-form B of `pair_rows` rows (kPad past
// 16 words a row).
int64_t panel_words(int64_t pair_rows) { return pair_rows * 16 + kPad / 4; }

// One pair row of a panel-form B: words (lo[j], hi[j]) for j < n, each run of
// 16 into its panel (dst points at the row in the first panel).
void pack_panels(const uint16_t* lo, const uint16_t* hi, int64_t n, uint32_t* dst, int64_t panel) {
  for (int64_t j0 = 0; j0 < n; j0 += 16) {
    uint32_t* d = dst + j0 / 16 * panel;
    const int64_t m = std::min<int64_t>(16, n - j0);
    for (int64_t j = 0; j < m; ++j) d[j] = pair(lo[j0 + j], hi[j0 + j]);
  }
}

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
  // Row strides of the packed operands 64 bytes past a multiple of 4 KB (kPad):
  // 16 tile rows 4 KB apart would share one L1 set.
  const int64_t lda = Kp + kPad / 2, ldx = Tp + kPad / 4, xpanel = panel_words(Kp / 2);
  HERD_CHECK(ctx.table->to_f32_for(w.dtype) != nullptr, "bf16 products: no conversion of %s", dtype_name(w.dtype));
  // x in the panel form: word (p, t) = (x[t][2p], x[t][2p + 1]); columns past
  // T zero. Sixteen tokens (one panel) at a time.
  std::vector<uint32_t> xb(static_cast<size_t>(Tp / 16 * xpanel), 0u);
  ctx.pool->parallel_for(Tp / 16, [&](int64_t b0, int64_t b1, int) {
    std::vector<uint16_t> rows(static_cast<size_t>(16 * Kp), 0);
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t t0 = blk * 16, tn = std::min<int64_t>(16, T - t0);
      for (int64_t t = 0; t < tn; ++t) round_row(*ctx.table, x + (t0 + t) * K, rows.data() + t * Kp, K);
      for (int64_t p = 0; p < Kp / 2; ++p) {
        uint32_t* dst = xb.data() + blk * xpanel + p * 16;
        for (int64_t t = 0; t < tn; ++t) dst[t] = pair(rows[static_cast<size_t>(t * Kp + 2 * p)], rows[static_cast<size_t>(t * Kp + 2 * p + 1)]);
      }
    }
  });
  const int64_t panels = (N + kPanelRows - 1) / kPanelRows;
  const int64_t stride = w.row_stride();
  ctx.pool->parallel_for(panels, [&](int64_t p0, int64_t p1, int) {
    std::vector<float> f(static_cast<size_t>(K));
    std::vector<uint16_t> a(static_cast<size_t>(kPanelRows * lda), 0);
    std::vector<float> c(static_cast<size_t>(kPanelRows * ldx));
    std::vector<uint8_t> raw(static_cast<size_t>(w.interleave == 1 ? 0 : stride));
    for (int64_t pi = p0; pi < p1; ++pi) {
      const int64_t r0 = pi * kPanelRows, rn = std::min(kPanelRows, N - r0);
      for (int64_t r = 0; r < rn; ++r)
        row_bf16(*ctx.table, w.dtype, w.file_row(r0 + r, 0, K, raw.data()), a.data() + r * lda, K, f.data());
      // The tile products in slices of tokens, each followed by prefetches of a
      // share of the next panel's weight bytes into L2: the memory reads overlap
      // the products instead of stalling the next panel's conversion.
      const int64_t next_r0 = r0 + kPanelRows, next_rn = pi + 1 < p1 ? std::min(kPanelRows, N - next_r0) : 0;
      const int64_t slices = std::max<int64_t>(1, Tp / kSliceTokens);
      for (int64_t sl = 0; sl < slices; ++sl) {
        const int64_t j0 = sl * kSliceTokens, jn = sl + 1 < slices ? kSliceTokens : T - j0;
        if (jn > 0) gemm(a.data(), lda, xb.data() + j0 / 16 * xpanel, 16, xpanel, c.data() + j0, ldx, rn, jn, Kp, false);
        if (next_rn > 0 && w.interleave == 1) {
          const uint8_t* base = w.data + next_r0 * stride;
          const int64_t bytes = next_rn * stride, share = (bytes + slices - 1) / slices;
          for (int64_t off = sl * share; off < std::min(bytes, (sl + 1) * share); off += 64) __builtin_prefetch(base + off, 0, 2);
        }
      }
      for (int64_t t = 0; t < T; ++t) {
        float* o = out + t * N + r0;
        for (int64_t r = 0; r < rn; ++r) o[r] = c[static_cast<size_t>(r * ldx + t)];
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
  const int64_t lda = Np + kPad / 2, bpanel = panel_words(kReduceBlock / 2);  // as the forward's (kPad)
  HERD_CHECK(ctx.table->to_f32_for(w.dtype) != nullptr, "bf16 products: no conversion of %s", dtype_name(w.dtype));
  // dy as bf16 rows [Tp, Np] (times the row scales first, if any); padding zero.
  std::vector<uint16_t> a(static_cast<size_t>(Tp * lda), 0);
  ctx.pool->parallel_for(T, [&](int64_t t0, int64_t t1, int) {
    std::vector<float> scaled(static_cast<size_t>(w.row_scale != nullptr ? N : 0));
    for (int64_t t = t0; t < t1; ++t) {
      const float* src = dy + t * N;
      if (w.row_scale != nullptr) {
        for (int64_t n = 0; n < N; ++n) scaled[static_cast<size_t>(n)] = src[n] * w.row_scale[n];
        src = scaled.data();
      }
      round_row(*ctx.table, src, a.data() + t * lda, N);
    }
  });
  const int64_t chunks = (K + kColChunk - 1) / kColChunk;
  const int64_t stride = w.row_stride();
  // Prefetches into L2 of share `sl` of `slices` of the weight bytes that
  // block (ci, n0) will convert: rows n0 .. n0 + kReduceBlock, chunk ci's columns.
  auto prefetch_block = [&](int64_t ci, int64_t n0, int64_t sl, int64_t slices) {
    if (w.interleave != 1 || ci * kColChunk >= K || n0 >= N) return;
    const int64_t k0 = ci * kColChunk, kc = std::min(kColChunk, K - k0);
    const int64_t off = row_bytes(w.dtype, k0), len = row_bytes(w.dtype, kc);
    const int64_t rows = std::min(kReduceBlock, N - n0), share = (rows + slices - 1) / slices;
    for (int64_t n = n0 + sl * share; n < std::min(n0 + rows, n0 + (sl + 1) * share); ++n)
      for (int64_t b = 0; b < len; b += 64) __builtin_prefetch(w.data + n * stride + off + b, 0, 2);
  };
  ctx.pool->parallel_for(chunks, [&](int64_t c0, int64_t c1, int) {
    std::vector<uint32_t> b(static_cast<size_t>(kColChunk / 16 * bpanel));
    std::vector<float> f(static_cast<size_t>(kColChunk));  // row_bf16's f32 scratch
    std::vector<uint16_t> lo16(static_cast<size_t>(kColChunk)), hi16(static_cast<size_t>(kColChunk));
    std::vector<uint8_t> raw(static_cast<size_t>(row_bytes(w.dtype, kColChunk)) + 64);
    for (int64_t ci = c0; ci < c1; ++ci) {
      const int64_t k0 = ci * kColChunk, kc = std::min(kColChunk, K - k0);
      for (int64_t n0 = 0; n0 < Np; n0 += kReduceBlock) {
        const int64_t nb = std::min(kReduceBlock, Np - n0);
        // This block of W's rows in the panel form: rows n0 + 2q and n0 + 2q + 1 interleaved.
        for (int64_t q = 0; q < nb / 2; ++q) {
          for (int h = 0; h < 2; ++h) {
            const int64_t n = n0 + 2 * q + h;
            std::vector<uint16_t>& dst = h == 0 ? lo16 : hi16;
            if (n < N)
              row_bf16(*ctx.table, w.dtype, w.file_row(n, k0, kc, raw.data()), dst.data(), kc, f.data());
            else
              std::fill(dst.begin(), dst.begin() + kc, uint16_t{0});
          }
          pack_panels(lo16.data(), hi16.data(), kc, b.data() + q * 16, bpanel);
        }
        // The products in slices of tokens, the next block's bytes prefetched between them.
        const bool last = n0 + kReduceBlock >= Np;
        const int64_t next_ci = last ? ci + 1 : ci, next_n0 = last ? 0 : n0 + kReduceBlock;
        const bool has_next = !last || ci + 1 < c1;
        const int64_t slices = std::max<int64_t>(1, (T + kSliceTokens - 1) / kSliceTokens);
        for (int64_t sl = 0; sl < slices; ++sl) {
          const int64_t t0 = sl * kSliceTokens, tn = std::min(kSliceTokens, T - t0);
          gemm(a.data() + t0 * lda + n0, lda, b.data(), 16, bpanel, out + t0 * K + k0, K, tn, kc, nb, n0 > 0);
          if (has_next) prefetch_block(next_ci, next_n0, sl, slices);
        }
      }
    }
  });
}

void weight_grad_bf16_products(const ExecContext& ctx, const float* dy, const float* x, int64_t T, int64_t N,
                               int64_t K, float* dw, float scale) {
  if (T <= 0 || N <= 0 || K <= 0) return;
  const GemmBf16PairsFn gemm = gemm_of(ctx);
  const int64_t Tp = round_up(T, 32), Np = round_up(N, 16), Kp = round_up(K, 16);
  const int64_t lda = Tp + kPad / 2, bpanel = panel_words(Tp / 2);
  // A = (scale dy)^T as bf16 rows [Np, Tp]: a[n][t] = bf16(fl(scale dy[t, n])); padding zero.
  std::vector<uint16_t> a(static_cast<size_t>(Np * lda), 0);
  ctx.pool->parallel_for(N, [&](int64_t n0, int64_t n1, int) {
    for (int64_t t = 0; t < T; ++t)
      for (int64_t n = n0; n < n1; ++n) a[static_cast<size_t>(n * lda + t)] = f32_to_bf16(scale * dy[t * N + n]);
  });
  // B = x in the panel form along the tokens: word (p, k) = (x[2p][k], x[2p + 1][k]).
  std::vector<uint32_t> b(static_cast<size_t>(Kp / 16 * bpanel), 0u);
  ctx.pool->parallel_for(Tp / 2, [&](int64_t p0, int64_t p1, int) {
    std::vector<uint16_t> lo(static_cast<size_t>(K)), hi(static_cast<size_t>(K));
    for (int64_t p = p0; p < p1; ++p) {
      if (2 * p >= T) break;
      round_row(*ctx.table, x + 2 * p * K, lo.data(), K);
      if (2 * p + 1 < T)
        round_row(*ctx.table, x + (2 * p + 1) * K, hi.data(), K);
      else
        std::fill(hi.begin(), hi.end(), uint16_t{0});
      pack_panels(lo.data(), hi.data(), K, b.data() + p * 16, bpanel);
    }
  });
  const int64_t blocks = (N + 31) / 32;
  ctx.pool->parallel_for(blocks, [&](int64_t b0, int64_t b1, int) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t n0 = blk * 32, nn = std::min<int64_t>(32, N - n0);
      gemm(a.data() + n0 * lda, lda, b.data(), 16, bpanel, dw + n0 * K, K, nn, K, Tp, true);
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
