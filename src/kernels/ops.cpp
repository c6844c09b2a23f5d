// Forward-pass operations, ISA-neutral: the inner loops call the kernel
// table's entries, chosen once at start-up.
#include "kernels/ops.h"
#include "kernels/backward.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <span>
#include <vector>

#include "base/check.h"
#include "kernels/matmul_bf16.h"
#include "tensor/quant.h"
#include "tensor/repack_r8.h"

namespace herd::kernels {

namespace {

// Adds the wall time of its scope to *dst (when dst is set).
class ScopeTimer {
 public:
  explicit ScopeTimer(int64_t* dst) : dst_(dst), t0_(dst ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{}) {}
  ~ScopeTimer() {
    if (dst_) *dst_ += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0_).count();
  }
  ScopeTimer(const ScopeTimer&) = delete;
  ScopeTimer& operator=(const ScopeTimer&) = delete;

 private:
  int64_t* dst_;
  std::chrono::steady_clock::time_point t0_;
};

// Tokens per pass over the weights in the q8 path: their quantized rows
// (32 x K/32 x 40 bytes, 573 KB at K = 14336) stay in L2 while a thread's
// weight rows stream past, each row block reused by every token of the tile.
constexpr int64_t kQ8TokenChunk = 32;

// The r8 path streams each group's weights once per chunk of tokens, so a
// larger chunk means fewer passes over the weights from memory: as many
// tokens as fit about 512 KB of quantized activations (half of a Zen 4 L2),
// 32 to 256 of them, a multiple of the AMX tile's 16 tokens (and so of the
// VNNI tile's 8): a chunk of 200 left 8 tokens of every chunk to the slower
// tile (tile_r8_amx.cpp).
int64_t r8_token_chunk(int64_t nb) {
  const int64_t fit = (int64_t{512} << 10) / (nb * static_cast<int64_t>(sizeof(BlockQ8)));
  return std::clamp<int64_t>(fit / 16 * 16, 32, 256);
}

// x[T, K] -> xq[T, K/32] (BlockQ8), one row per task.
void quantize_rows(const ExecContext& ctx, const float* x, int64_t T, int64_t K, BlockQ8* xq) {
  const QuantizeQ8Fn quantize = ctx.table->quantize_q8;
  const int64_t nb = K / 32;
  ctx.pool->parallel_for(T, [&](int64_t t0, int64_t t1, int) {
    for (int64_t t = t0; t < t1; ++t) quantize(x + t * K, xq + t * nb, K);
  });
}

// The tiled matmuls' loop: the pool splits [0, n_units) (rows, or groups of
// rows) in tasks of at least `grain`, and each task walks the tokens in
// chunks: body(u0, u1, t0, tn) for tokens t0 .. t0 + tn - 1.
template <class Body>
void for_rows_and_token_chunks(const ExecContext& ctx, int64_t n_units, int64_t grain, int64_t T, int64_t chunk,
                               const Body& body) {
  ctx.pool->parallel_for(
      n_units,
      [&](int64_t u0, int64_t u1, int) {
        for (int64_t t0 = 0; t0 < T; t0 += chunk) body(u0, u1, t0, std::min(chunk, T - t0));
      },
      grain);
}

// out[T, N] from already quantized activations xq[T, K/32].
void matmul_q8(const ExecContext& ctx, const BlockQ8* xq, int64_t T, const TensorView& w, float* out,
               TileDotQ8Fn tile) {
  const int64_t N = w.rows(), K = w.cols(), nb = K / 32;
  const int64_t stride = w.row_stride();
  for_rows_and_token_chunks(ctx, N, 16, T, kQ8TokenChunk, [&](int64_t n0, int64_t n1, int64_t t0, int64_t tn) {
    tile(w.data + n0 * stride, stride, n1 - n0, xq + t0 * nb, nb, tn, K, out + t0 * N + n0, N);
  });
}

// The same for a weight in the r8 layout: threads split the groups of 8 rows.
void matmul_q8_r8(const ExecContext& ctx, const BlockQ8* xq, int64_t T, const TensorView& w, float* out,
                  TileDotQ8R8Fn tile) {
  const int64_t N = w.rows(), K = w.cols(), nb = K / 32;
  const int64_t gb = r8_group_bytes(w.dtype, K);
  for_rows_and_token_chunks(ctx, N / 8, 2, T, r8_token_chunk(nb), [&](int64_t g0, int64_t g1, int64_t t0, int64_t tn) {
    tile(w.data + g0 * gb, g1 - g0, xq + t0 * nb, nb, tn, K, out + t0 * N + 8 * g0, N);
  });
}

// Several r8 weights of one input in one parallel region: their groups of 8
// rows are numbered one after another and the pool splits that range, so a
// decode step waits for the threads once for wq, wk and wv (and once for gate
// and up) instead of once per weight. Each group gets the same tile call as
// in matmul_q8_r8, so the outputs are the same bits.
struct R8Job {
  const TensorView* w = nullptr;
  float* out = nullptr;
  TileDotQ8R8Fn tile = nullptr;
};
void matmul_q8_r8_fused(const ExecContext& ctx, const BlockQ8* xq, int64_t T, std::span<const R8Job> jobs) {
  int64_t total = 0;
  for (const R8Job& j : jobs) total += j.w->rows() / 8;
  const int64_t nb = jobs.front().w->cols() / 32;
  for_rows_and_token_chunks(ctx, total, 2, T, r8_token_chunk(nb), [&](int64_t u0, int64_t u1, int64_t t0, int64_t tn) {
    int64_t first = 0;  // the first group of job j in the joint numbering
    for (const R8Job& j : jobs) {
      const int64_t N = j.w->rows(), groups = N / 8;
      const int64_t g0 = std::max(u0, first) - first, g1 = std::min(u1, first + groups) - first;
      if (g0 < g1) {
        const int64_t gb = r8_group_bytes(j.w->dtype, j.w->cols());
        j.tile(j.w->data + g0 * gb, g1 - g0, xq + t0 * nb, nb, tn, j.w->cols(), j.out + t0 * N + 8 * g0, N);
      }
      first += groups;
    }
  });
}

// Tokens per pass of the f32 path's tile kernel: about 512 KB of activation
// rows, rounded up to a multiple of 6 (the AVX-512 register tile, twice
// AVX2's), 6 to 48. Each pass streams the thread's weight rows once; measured
// on a 2-core AVX2 host (kernels_bench f16 T:64, 1 thread), 512 KB beat 24, 48
// and 96 KB on the 8192x2048 and 2048x8192 shapes (weights from DRAM) by
// 15-45% and was within noise on 2048x2048. At K 8192 the rounding gives 18
// tokens where 15 (a multiple of 3) left three to the 1-token tile on AVX-512:
// kernels_bench matmul f16 file 2048x8192 T:512, 2 threads, Zen 5, alternating
// rounds: AVX-512 193/197 -> 217/217 GFLOP/s, AVX2 106/106 -> 112/111.
int64_t f32_token_chunk(int64_t K) {
  const int64_t fit = (int64_t{512} << 10) / (K * static_cast<int64_t>(sizeof(float)));
  return std::clamp<int64_t>((fit + 5) / 6 * 6, 6, 48);
}

// The exact f32 path (ExecContext::exact_f32) for a weight without an f32
// tile kernel (the block-quantized types): each thread converts kExactRows
// rows at a time to their exact f32 values and runs the F32 tile kernel on
// them for every token, instead of re-expanding a row's blocks once per
// token in a row dot; the tokens in f32_token_chunk passes, so a pass's
// activations stay in L2 while the tile walks the converted rows four at a
// time (all 256 tokens of a 3.2-1B training step, 2 MB, were re-read from L3
// for every four rows: the Q4_0 LoRA step took 12.3 s, 11.0 s in passes).
// out[t, n] = the F32 row dot of the converted row n.
constexpr int64_t kExactRows = 16;
void matmul_exact_converted(const ExecContext& ctx, const float* x, int64_t T, const TensorView& w, float* out,
                            TileDotF32Fn tile) {
  const int64_t N = w.rows(), K = w.cols();
  const int64_t stride = w.row_stride();
  const RowToF32Fn to_f32 = ctx.table->to_f32_for(w.dtype);
  const int64_t chunk = f32_token_chunk(K);
  ctx.pool->parallel_for(
      N,
      [&](int64_t n0, int64_t n1, int) {
        std::vector<float> rows(static_cast<size_t>(kExactRows * K));
        for (int64_t r0 = n0; r0 < n1; r0 += kExactRows) {
          const int64_t rn = std::min(kExactRows, n1 - r0);
          for (int64_t r = 0; r < rn; ++r) to_f32(w.data + (r0 + r) * stride, rows.data() + r * K, K);
          for (int64_t t0 = 0; t0 < T; t0 += chunk)
            tile(reinterpret_cast<const uint8_t*>(rows.data()), K * 4, rn, x + t0 * K, K, std::min(chunk, T - t0), K,
                 out + t0 * N + r0, N);
          detail::apply_row_scale(w, out, N, r0, r0 + rn, 0, T);
        }
      },
      16);
}

void matmul_f32(const ExecContext& ctx, const float* x, int64_t T, const TensorView& w, float* out);

// Meta's w8a8 FP8 product (fc_dynamic) emulated: each activation row becomes
// its e4m3 values q (exact in f32 and in bf16) and scale s_t
// (quantize_activation_row_fp8); out[t, n] = (fl(sum_k q[t,k] wq[n,k]) *
// w_scale[n]) * s_t, each product exact and the sum in f32 as the weight's own
// path (f32 or bf16: the same exact products, in that path's order) computes
// it (FBGEMM accumulates in f32 in its own order).
void matmul_fp8_dynamic(const ExecContext& ctx, const float* x, int64_t T, const TensorView& w, float* out) {
  const int64_t N = w.rows(), K = w.cols();
  // The caller thread's buffers, grown to the largest call seen (decode allocates
  // nothing; the view's shape is assigned into the same storage).
  thread_local std::vector<float> q, s;
  thread_local TensorView plain;
  if (q.size() < static_cast<size_t>(T * K)) q.resize(static_cast<size_t>(T * K));
  if (s.size() < static_cast<size_t>(T)) s.resize(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t)
    s[static_cast<size_t>(t)] = quantize_activation_row_fp8(x + t * K, q.data() + t * K, K, w.act_scale_ub);
  plain = w;
  plain.act_scale_ub = 0.0f;
  if (ctx.exact_f32)
    matmul_f32(ctx, q.data(), T, plain, out);
  else
    matmul_shared_input(ctx, q.data(), T, {MatmulOut{&plain, out}});
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < N; ++n) out[t * N + n] *= s[static_cast<size_t>(t)];
}

// FP8 weights whose row scale differs per column group (TensorView::scale_groups:
// Meta's native checkpoint merged from model-parallel ranks, each of which quantized
// its own columns of w2). Each group is a product of its own, as each rank computes
// its partial sum, times its rows' scales (with dynamic activations, each token's
// slice of the group quantized on its own, as each rank quantizes its slice); the
// groups are summed in order, as the ranks' partial sums are all-reduced:
// out[t, n] = sum_g (fl(dot_g(row n, x_t)) * s[n, g]) [* s_t,g].
void matmul_f32_groups(const ExecContext& ctx, const float* x, int64_t T, const TensorView& w, float* out) {
  const int64_t N = w.rows(), K = w.cols(), G = w.scale_groups, width = K / G;
  HERD_CHECK(w.row_scale != nullptr && width * G == K && w.interleave == 1,
             "matmul: %lld scale groups over %lld columns", static_cast<long long>(G), static_cast<long long>(K));
  const float* xs = x;
  thread_local std::vector<float> q, act_scale;  // grown, never shrunk: decode allocates nothing
  const bool dynamic = w.act_scale_ub > 0.0f;
  if (dynamic) {
    if (q.size() < static_cast<size_t>(T * K)) q.resize(static_cast<size_t>(T * K));
    if (act_scale.size() < static_cast<size_t>(T * G)) act_scale.resize(static_cast<size_t>(T * G));
    for (int64_t t = 0; t < T; ++t)
      for (int64_t g = 0; g < G; ++g)
        act_scale[static_cast<size_t>(t * G + g)] =
            quantize_activation_row_fp8(x + t * K + g * width, q.data() + t * K + g * width, width, w.act_scale_ub);
    xs = q.data();
  }
  // The workers below see their own thread_locals: they get the caller's through this pointer.
  const float* act = dynamic ? act_scale.data() : nullptr;
  const int64_t stride = w.row_stride(), group_bytes = row_bytes(w.dtype, width);
  const TileDotF32Fn tile = ctx.table->tile_f32_for(w.dtype);
  const RowDotFn dot = ctx.table->dot_for(w.dtype);
  HERD_CHECK(tile != nullptr || dot != nullptr, "no product for %s", dtype_name(w.dtype));
  for_rows_and_token_chunks(ctx, N, 16, T, f32_token_chunk(width), [&](int64_t n0, int64_t n1, int64_t t0, int64_t tn) {
    const int64_t rn = n1 - n0;
    // One buffer per thread, grown to the largest tile seen (decode allocates nothing).
    thread_local std::vector<float> part;
    if (part.size() < static_cast<size_t>(tn * rn)) part.resize(static_cast<size_t>(tn * rn));
    for (int64_t g = 0; g < G; ++g) {
      const uint8_t* wg = w.data + n0 * stride + g * group_bytes;
      if (tile != nullptr) {
        tile(wg, stride, rn, xs + t0 * K + g * width, K, tn, width, part.data(), rn);
      } else {
        for (int64_t t = 0; t < tn; ++t)
          for (int64_t r = 0; r < rn; ++r) part[static_cast<size_t>(t * rn + r)] = dot(wg + r * stride, xs + (t0 + t) * K + g * width, width);
      }
      for (int64_t t = 0; t < tn; ++t)
        for (int64_t r = 0; r < rn; ++r) {
          float v = part[static_cast<size_t>(t * rn + r)] * w.row_scale[(n0 + r) * G + g];
          if (act != nullptr) v *= act[(t0 + t) * G + g];
          float& o = out[(t0 + t) * N + n0 + r];
          o = g == 0 ? v : o + v;
        }
    }
  });
}

void matmul_f32(const ExecContext& ctx, const float* x, int64_t T, const TensorView& w, float* out) {
  const int64_t N = w.rows(), K = w.cols();
  if (w.scale_groups > 1) {
    matmul_f32_groups(ctx, x, T, w, out);
    return;
  }
  if (w.act_scale_ub > 0.0f) {
    matmul_fp8_dynamic(ctx, x, T, w, out);
    return;
  }
  const int64_t stride = w.row_stride();
  if (const TileDotF32Fn f32_tile = ctx.table->tile_f32_for(DType::kF32);
      ctx.exact_f32 && ctx.table->tile_f32_for(w.dtype) == nullptr && f32_tile != nullptr) {
    matmul_exact_converted(ctx, x, T, w, out, f32_tile);
    return;
  }
  if (const TileDotF32Fn tile = ctx.table->tile_f32_for(w.dtype); tile != nullptr) {
    for_rows_and_token_chunks(ctx, N, 16, T, f32_token_chunk(K), [&](int64_t n0, int64_t n1, int64_t t0, int64_t tn) {
      tile(w.data + n0 * stride, stride, n1 - n0, x + t0 * K, K, tn, K, out + t0 * N + n0, N);
      detail::apply_row_scale(w, out, N, n0, n1, t0, tn);
    });
    return;
  }
  RowDotFn dot = ctx.table->dot_for(w.dtype);
  HERD_DCHECK(dot != nullptr, "no row dot for %s", dtype_name(w.dtype));
  ctx.pool->parallel_for(
      N,
      [&](int64_t n0, int64_t n1, int) {
        // Row-outer: one weight row stays in L1 while every token uses it.
        for (int64_t n = n0; n < n1; ++n) {
          const uint8_t* row = w.data + n * stride;
          for (int64_t t = 0; t < T; ++t) out[t * N + n] = dot(row, x + t * K, K);
        }
        detail::apply_row_scale(w, out, N, n0, n1, 0, T);
      },
      16);
}

// Tokens per pass of the f32 r8 tile: as many activation rows as fit about
// 1 MB (the L2 and the near L3), 6 to 192, a multiple of the 6-token register
// tile. Each pass streams the thread's weight groups once; within a pass a
// pair of groups (16 rows, 16 K bytes x 2) stays in L2 while every token tile
// uses it.
int64_t f32_r8_token_chunk(int64_t K) {
  const int64_t fit = (int64_t{1} << 20) / (K * static_cast<int64_t>(sizeof(float)));
  return std::clamp<int64_t>(fit / 6 * 6, 6, 192);
}

// F16 / BF16 weights in the r8 layout: threads split the groups of 8 rows
// (in fours, decode's register tile).
void matmul_f32_r8(const ExecContext& ctx, const float* x, int64_t T, const TensorView& w, float* out,
                   TileDotF32R8Fn tile) {
  const int64_t N = w.rows(), K = w.cols();
  const int64_t gb = r8_group_bytes(w.dtype, K);
  for_rows_and_token_chunks(ctx, N / 8, 4, T, f32_r8_token_chunk(K), [&](int64_t g0, int64_t g1, int64_t t0, int64_t tn) {
    tile(w.data + g0 * gb, g1 - g0, x + t0 * K, K, tn, K, out + t0 * N + 8 * g0, N);
  });
}

}  // namespace

MatmulPath matmul_path(const KernelTable& table, const TensorView& w) {
  // Row scales are applied on the f32 and bf16 paths only (apply_row_scale):
  // a dtype that carries them never takes another.
  HERD_CHECK(w.row_scale == nullptr || (dtype_info(w.dtype).row_scaled && w.interleave == 1 &&
                                        table.tile_q8_for(w.dtype) == nullptr),
             "row scales on a %s weight (only row-scaled dtypes in the file layout carry them)", dtype_name(w.dtype));
  // Column-group scales (matmul_f32_groups) stay on the f32 path.
  if (table.tile_bf16_for(w.dtype) != nullptr && w.interleave == 1 && w.scale_groups <= 1) return MatmulPath::kBf16;
  if (w.interleave == 16) {
    // A weight repacked at load needs the table it was repacked for.
    HERD_CHECK(table.tile_bf16_r16_for(w.dtype) != nullptr,
               "weight repacked to the r16 layout of %s but ISA %s has no kernel for it", dtype_name(w.dtype), table.isa);
    return MatmulPath::kBf16;
  }
  if (w.interleave == 8) {
    if (table.tile_f32_r8_for(w.dtype) != nullptr) return MatmulPath::kF32R8;
    // A weight repacked at load needs the table it was repacked for.
    HERD_CHECK(table.tile_q8_r8_for(w.dtype) != nullptr,
               "weight repacked to the r8 layout of %s but ISA %s has no kernel for it", dtype_name(w.dtype),
               table.isa);
    return MatmulPath::kQ8R8;
  }
  if (table.tile_q8_for(w.dtype) != nullptr && w.cols() % 32 == 0) return MatmulPath::kQ8;
  return MatmulPath::kF32;
}

const char* matmul_path_name(MatmulPath p) {
  switch (p) {
    case MatmulPath::kBf16: return "bf16";
    case MatmulPath::kF32R8: return "f32_r8";
    case MatmulPath::kQ8R8: return "q8_r8";
    case MatmulPath::kQ8: return "q8";
    case MatmulPath::kF32: return "f32";
  }
  return "?";
}

void matmul(const ExecContext& ctx, const float* x, int64_t T, const TensorView& w, float* out) {
  matmul_shared_input(ctx, x, T, {MatmulOut{&w, out}});
}

void matmul_shared_input(const ExecContext& ctx, const float* x, int64_t T, std::initializer_list<MatmulOut> outs) {
  const ScopeTimer timer(ctx.times ? &ctx.times->matmul_ns : nullptr);
  if (ctx.exact_f32) {
    for (const MatmulOut& m : outs) {
      HERD_CHECK(m.w->interleave == 1, "matmul: exact f32 products need the file layout (a %s weight is repacked)",
                 dtype_name(m.w->dtype));
      if (ctx.bf16_products)
        matmul_bf16_products(ctx, x, T, *m.w, m.out);
      else
        matmul_f32(ctx, x, T, *m.w, m.out);
    }
    return;
  }
  std::vector<BlockQ8> tmp;
  BlockQ8* xq = nullptr;  // quantized on first use, then shared
  // F16/BF16 weights on AVX512_BF16: all in one parallel region (matmul_bf16.h).
  detail::Bf16Input xb;
  const int n_bf16 = detail::matmul_bf16(ctx, x, T, outs, &xb);
  if (n_bf16 == static_cast<int>(outs.size())) return;
  // The r8 weights, run together at the end (a fixed array: decode allocates nothing).
  constexpr size_t kMaxJobs = 8;
  HERD_CHECK(outs.size() <= kMaxJobs, "matmul_shared_input: %zu outputs, at most %zu", outs.size(), kMaxJobs);
  std::array<R8Job, kMaxJobs> r8_jobs;
  size_t n_r8 = 0;
  for (const MatmulOut& m : outs) {
    const TensorView& w = *m.w;
    const MatmulPath path = matmul_path(*ctx.table, w);
    if (w.act_scale_ub > 0.0f && w.scale_groups <= 1) {  // its own activations (quantized)
      matmul_fp8_dynamic(ctx, x, T, w, m.out);
      continue;
    }
    if (path == MatmulPath::kBf16) continue;  // done above by matmul_bf16
    if (path == MatmulPath::kF32R8) {
      matmul_f32_r8(ctx, x, T, w, m.out, ctx.table->tile_f32_r8_for(w.dtype));
      continue;
    }
    if (path == MatmulPath::kF32) {
      matmul_f32(ctx, x, T, w, m.out);
      continue;
    }
    const TileDotQ8R8Fn tile_r8 = path == MatmulPath::kQ8R8 ? ctx.table->tile_q8_r8_for(w.dtype) : nullptr;
    const TileDotQ8Fn tile = path == MatmulPath::kQ8 ? ctx.table->tile_q8_for(w.dtype) : nullptr;
    const int64_t K = w.cols();
    if (xq == nullptr) {
      xq = ctx.q8;
      if (xq == nullptr || ctx.q8_blocks < T * (K / 32)) {
        tmp.resize(static_cast<size_t>(T * (K / 32)));  // off the hot path only (see ExecContext)
        xq = tmp.data();
      }
      quantize_rows(ctx, x, T, K, xq);
    }
    if (tile_r8)
      r8_jobs[n_r8++] = {&w, m.out, tile_r8};
    else
      matmul_q8(ctx, xq, T, w, m.out, tile);
  }
  if (n_r8 == 1)
    matmul_q8_r8(ctx, xq, T, *r8_jobs[0].w, r8_jobs[0].out, r8_jobs[0].tile);
  else if (n_r8 > 1)
    matmul_q8_r8_fused(ctx, xq, T, std::span<const R8Job>(r8_jobs.data(), n_r8));
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
  // A tied output table repacked at load is read back through file_row.
  uint8_t row[32768];  // a row of a repacked dtype: at most 2 bytes per element (F16, d_model 16384)
  const int64_t K = table.cols();
  HERD_CHECK(table.interleave == 1 || row_bytes(table.dtype, K) <= static_cast<int64_t>(sizeof row),
             "embedding row too long");
  ctx.table->to_f32_for(table.dtype)(table.file_row(r, 0, K, row), dst, K);
}

namespace {
// Rotates by +angle (rope) or -angle (its transpose: rope_backward).
void rope_rotate(float* x, int64_t T, int64_t n_heads, int64_t hd, const int64_t* pos, const double* inv_freq,
                 RopeStyle style, bool inverse) {
  const int64_t half = hd / 2;
  float cs[512], sn[512];  // hd/2 <= 512 (checked when the model is validated)
  HERD_DCHECK(half <= 512, "head_dim %lld too large", static_cast<long long>(hd));
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t i = 0; i < half; ++i) {
      const double a = static_cast<double>(pos[t]) * inv_freq[i];
      cs[i] = static_cast<float>(std::cos(a));
      sn[i] = static_cast<float>(std::sin(a));
      if (inverse) sn[i] = -sn[i];
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
}  // namespace

void rope(float* x, int64_t T, int64_t n_heads, int64_t hd, const int64_t* pos, const double* inv_freq,
          RopeStyle style) {
  rope_rotate(x, T, n_heads, hd, pos, inv_freq, style, false);
}

// Declared in kernels/backward.h: the rotation is orthogonal, so the input
// gradient is dy rotated back by the same angles (the sines negated).
void rope_backward(float* dy, int64_t T, int64_t n_heads, int64_t hd, const int64_t* pos, const double* inv_freq,
                   RopeStyle style) {
  rope_rotate(dy, T, n_heads, hd, pos, inv_freq, style, true);
}

void silu_mul(const ExecContext& ctx, float* g, const float* u, int64_t n) {
  const SiluMulFn f = ctx.table->silu_mul;
  // Elements per task. A decode step's d_ff (8192 for 1B, 14336 for 8B, a few
  // microseconds of work) runs on the caller: waking the pool for it cost more
  // than it saved. Element-wise, so the split changes no bit.
  constexpr int64_t kChunk = 4096, kSerial = 4 * kChunk;
  if (n <= kSerial) {
    f(g, u, n);
    return;
  }
  ctx.pool->parallel_for((n + kChunk - 1) / kChunk, [&](int64_t c0, int64_t c1, int) {
    const int64_t b = c0 * kChunk, e = std::min(n, c1 * kChunk);
    f(g + b, u + b, e - b);
  });
}

void kv_store(const ExecContext& ctx, DType t, const float* src, void* dst, int64_t n) {
  if (t == DType::kF16)
    ctx.table->f32_to_f16(src, static_cast<uint16_t*>(dst), n);
  else if (t == DType::kQ8_0)
    quantize_row_ref(t, src, dst, n);
  else
    std::copy(src, src + n, static_cast<float*>(dst));
}

namespace {

// A cache row of type t as f32: the row itself (f32), or converted into
// buf[hd] (f16, q8_0: exact).
const float* kv_row_f32(const ExecContext& ctx, const uint8_t* row, DType t, int64_t hd, float* buf) {
  if (t == DType::kF32) return reinterpret_cast<const float*>(row);
  ctx.table->to_f32_for(t)(row, buf, hd);
  return buf;
}

}  // namespace

void attention_rows(const ExecContext& ctx, const float* q, int64_t g, int64_t hd, const KvRows& kv, int64_t n,
                    float* scratch, float* out) {
  const float scale = attention_scale(hd);
  const KernelTable& t = *ctx.table;
  if (t.attn_rows != nullptr && hd % t.attn_hd_multiple == 0 &&
      (kv.blocks == nullptr || kv.block_rows % t.attn_block_multiple == 0)) {
    ctx.table->attn_rows(q, g, hd, kv, n, scale, scratch, out);
    return;
  }
  const DotF32Fn dot = ctx.table->dot_f32;
  const AxpyF32Fn axpy = ctx.table->axpy_f32;
  float* row = scratch + g * n;  // [hd] one converted f16 or q8_0 row
  for (int64_t r = 0; r < g; ++r) {
    const float* qv = q + r * hd;
    float* scores = scratch + r * n;
    float mx = -INFINITY;
    for (int64_t j = 0; j < n; ++j) {
      scores[j] = dot(qv, kv_row_f32(ctx, kv.k_row(j), kv.kt, hd, row), hd) * scale;
      mx = scores[j] > mx ? scores[j] : mx;
    }
    double sum = 0.0;
    for (int64_t j = 0; j < n; ++j) {
      scores[j] = std::exp(scores[j] - mx);
      sum += scores[j];
    }
    const float inv = static_cast<float>(1.0 / sum);
    float* o = out + r * hd;
    for (int64_t i = 0; i < hd; ++i) o[i] = 0.0f;
    for (int64_t j = 0; j < n; ++j) axpy(scores[j] * inv, kv_row_f32(ctx, kv.v_row(j), kv.vt, hd, row), o, hd);
  }
}

void attention_tokens(const ExecContext& ctx, const float* q, int64_t q_stride, int64_t B, int64_t g, int64_t hd,
                      const KvRows& kv, int64_t n0, float* scratch, float* out, int64_t out_stride) {
  const KernelTable& t = *ctx.table;
  if (B > 1 && t.attn_tokens != nullptr && hd % t.attn_hd_multiple == 0 &&
      (kv.blocks == nullptr || kv.block_rows % t.attn_block_multiple == 0)) {
    const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
    t.attn_tokens(q, q_stride, B, g, hd, kv, n0, scale, scratch, out, out_stride);
    return;
  }
  for (int64_t i = 0; i < B; ++i) attention_rows(ctx, q + i * q_stride, g, hd, kv, n0 + i, scratch, out + i * out_stride);
}

void attention_seqs(const ExecContext& ctx, const float* q, int64_t T, int64_t H, int64_t KV, int64_t hd,
                    const AttnCache& cache, int64_t* tiles, float* const* scratch, float* out) {
  const ScopeTimer timer(ctx.times ? &ctx.times->attention_ns : nullptr);
  const int64_t group = H / KV;
  int64_t n_tiles = 0;
  for (int64_t t = 0; t < T; ++n_tiles) {
    tiles[n_tiles] = t;
    const int64_t t0 = t;
    for (++t; t < T && t - t0 < kAttnTokenTile && cache.tables[t] == cache.tables[t0] &&
              cache.idx[t] == cache.idx[t0] + (t - t0);
         ++t) {
    }
  }
  tiles[n_tiles] = T;
  ctx.pool->parallel_for(n_tiles * KV, [&](int64_t b, int64_t e, int worker) {
    for (int64_t task = b; task < e; ++task) {
      const int64_t tile = balanced_token(task / KV, n_tiles), kvh = task % KV;
      const int64_t t = tiles[tile], B = tiles[tile + 1] - t;
      KvRows kv;
      kv.k = static_cast<const uint8_t*>(cache.k) + kv_row_bytes(cache.kt, kvh * hd);
      kv.v = static_cast<const uint8_t*>(cache.v) + kv_row_bytes(cache.vt, kvh * hd);
      kv.k_stride = kv_row_bytes(cache.kt, KV * hd);
      kv.v_stride = kv_row_bytes(cache.vt, KV * hd);
      kv.kt = cache.kt;
      kv.vt = cache.vt;
      kv.blocks = cache.tables[t];
      kv.block_rows = cache.block_rows;
      const int64_t h0 = kvh * group;
      attention_tokens(ctx, q + (t * H + h0) * hd, H * hd, B, group, hd, kv, cache.idx[t] + 1, scratch[worker],
                       out + (t * H + h0) * hd, H * hd);
    }
  });
}

void attention(const ExecContext& ctx, const float* q, int64_t T, int64_t H, int64_t KV, int64_t hd,
               const void* k_cache, const void* v_cache, DType kt, DType vt, int64_t n_past, float* const* scratch,
               float* out) {
  std::vector<int64_t> idx(static_cast<size_t>(T)), tiles(static_cast<size_t>(T) + 1);
  for (int64_t t = 0; t < T; ++t) idx[static_cast<size_t>(t)] = n_past + t;
  const std::vector<const int32_t*> tables(static_cast<size_t>(T), nullptr);
  const AttnCache cache{k_cache, v_cache, kt, vt, 0, idx.data(), tables.data()};
  attention_seqs(ctx, q, T, H, KV, hd, cache, tiles.data(), scratch, out);
}

}  // namespace herd::kernels
