// The transposed product of a stored weight, dX = dY . W (backward through a
// frozen linear layer; kernels/ops.h matmul_t), and its scalar reference.
//
// W [N, K] is read in its stored dtype and layout: a column chunk of 32 rows
// at a time is converted to f32 (the table's row_to_f32; a repacked row
// is first unpacked to the file layout by TensorView::file_row), then each token
// adds dy[t, n] * W[n, chunk] of the 32 rows to its output chunk with the
// table's axpy_rows_tokens_f32 (the 32 axpys' arithmetic, the output chunk
// loaded and stored once instead of 32 times, and on AVX-512 each weight
// vector loaded once for 4 tokens: a 3.2-1B Q4_0 LoRA step at sequence 256
// took 26.2 s with 8 axpy calls, 21.7 s with one pass per token; same bits). The
// work is split by column chunks of kColChunk elements (a multiple of every
// block size and r8 unit), tokens in tiles of kTokenTile so a tile's output
// chunk stays in L2 while the weight chunk is converted once per tile (128
// tokens: a 3.2-1B LoRA step at sequence 256 took 26.6 s instead of 32.4 s
// with 32-token tiles, whose weight conversions, 4x as many, cost more than
// the output staying in L1 saved; 256 measured the same as 128).
// 32 rows per pass instead of 8 (one r8 group) read and write each output
// chunk a quarter as often: kernels_bench matmul_t avx512bf16, 2 threads,
// T 512, F16 and Q4_0 2048x2048 / 8192x2048 / 2048x8192, two alternating
// rounds: 163-212 -> 209-272 GFLOP/s; 64 rows measured no better than 32;
// AVX2 unchanged within noise (71-98 GFLOP/s either way).
// Every out[t, k] is the same f32 reduction over n = 0..N-1 in order,
// whatever the thread count, T or layout. A row-scaled weight (F8_E4M3)
// scales each dy[t, n] by the row's scale first: fl(dy s) * W[n, k].
#include <algorithm>
#include <cmath>
#include <vector>

#include "base/check.h"
#include "kernels/ops.h"
#include "tensor/quant.h"

namespace herd::kernels {
namespace {

constexpr int64_t kColChunk = 256;   // elements: Q*_K super-blocks are 256
constexpr int64_t kRowBlock = 32;    // weight rows converted at once (four r8 groups, two r16)
constexpr int64_t kTokenTile = 128;  // 128 x 256 floats of output: 128 KB (L2)

}  // namespace

void matmul_t(const ExecContext& ctx, const float* dy, int64_t T, const TensorView& w, float* out) {
  if (ctx.bf16_products) {
    matmul_t_bf16_products(ctx, dy, T, w, out);
    return;
  }
  const int64_t N = w.rows(), K = w.cols();
  const RowToF32Fn to_f32 = ctx.table->to_f32_for(w.dtype);
  const AxpyRowsTokensF32Fn axpy_rows_tokens = ctx.table->axpy_rows_tokens_f32;
  HERD_CHECK(to_f32 != nullptr, "matmul_t: no transposed product for %s", dtype_name(w.dtype));
  HERD_CHECK(w.row_scale == nullptr || w.interleave == 1, "matmul_t: row scales on a repacked weight");
  const float* scale = w.row_scale;
  HERD_CHECK(N % w.interleave == 0, "matmul_t: r%d weight with %lld rows", w.interleave, static_cast<long long>(N));
  // Column chunks never straddle a scale group (TensorView::scale_groups): each
  // chunk's rows have one scale.
  const int64_t G = w.scale_groups, width = K / G;
  HERD_CHECK(G >= 1 && width * G == K, "matmul_t: %lld scale groups over %lld columns", static_cast<long long>(G),
             static_cast<long long>(K));
  const int64_t per_group = (width + kColChunk - 1) / kColChunk;
  ctx.pool->parallel_for(G * per_group, [&](int64_t c0, int64_t c1, int) {
    float wbuf[kRowBlock * kColChunk];
    float coef[kTokenTile * kRowBlock];  // the token tile's dy (times the row scales) of the block's rows
    uint8_t raw[kColChunk * 4];  // one row chunk in the file layout: at most 4 bytes an element (F32)
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t g = c / per_group, k0 = g * width + c % per_group * kColChunk;
      const int64_t kc = std::min(kColChunk, (g + 1) * width - k0);
      for (int64_t t0 = 0; t0 < T; t0 += kTokenTile) {
        const int64_t tn = std::min(kTokenTile, T - t0);
        for (int64_t t = t0; t < t0 + tn; ++t) std::fill(out + t * K + k0, out + t * K + k0 + kc, 0.0f);
        for (int64_t n0 = 0; n0 < N; n0 += kRowBlock) {
          const int64_t rn = std::min(kRowBlock, N - n0);
          for (int64_t r = 0; r < rn; ++r) to_f32(w.file_row(n0 + r, k0, kc, raw), wbuf + r * kColChunk, kc);
          for (int64_t t = t0; t < t0 + tn; ++t) {
            const float* dyr = dy + t * N + n0;
            // The next block's coefficients (a 128-byte run per token, N floats apart), fetched
            // while this block's products run: the plain loads missed for every column chunk
            // (7.1% -> 2.8% of an F16 3.2-1B LoRA step in matmul_t itself, perf).
            if (n0 + 2 * kRowBlock <= N) {
              __builtin_prefetch(dyr + kRowBlock);
              __builtin_prefetch(dyr + kRowBlock + 16);
            }
            for (int64_t r = 0; r < rn; ++r) coef[(t - t0) * kRowBlock + r] = scale ? dyr[r] * scale[(n0 + r) * G + g] : dyr[r];
          }
          axpy_rows_tokens(coef, kRowBlock, rn, wbuf, kColChunk, tn, out + t0 * K + k0, K, kc);
        }
      }
    }
  });
}

void matmul_t_ref(const float* dy, int64_t T, const TensorView& w, double* out, double* abs_sum) {
  const int64_t N = w.rows(), K = w.cols();
  std::vector<float> row(static_cast<size_t>(K));
  std::vector<uint8_t> raw(static_cast<size_t>(row_bytes(w.dtype, K)));
  std::fill(out, out + T * K, 0.0);
  if (abs_sum) std::fill(abs_sum, abs_sum + T * K, 0.0);
  for (int64_t n = 0; n < N; ++n) {
    const uint8_t* src = w.file_row(n, 0, K, raw.data());
    dequantize_row_ref(w.dtype, src, row.data(), K);
    const int64_t G = w.scale_groups, width = K / G;
    for (int64_t t = 0; t < T; ++t)
      for (int64_t k = 0; k < K; ++k) {
        const double g = dy[t * N + n] * (w.row_scale ? w.row_scale[n * G + k / width] : 1.0);
        out[t * K + k] += g * row[static_cast<size_t>(k)];
        if (abs_sum) abs_sum[t * K + k] += std::fabs(g * row[static_cast<size_t>(k)]);
      }
  }
}

}  // namespace herd::kernels
