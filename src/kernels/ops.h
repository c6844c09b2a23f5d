// The operations of a transformer forward pass, over plain f32 buffers and
// weight TensorViews. Kernels know nothing of models: shapes come in as
// arguments. Each op splits its work statically over ctx.pool (by output row
// or by (token, head)), and every output element is reduced in a fixed order,
// so results are identical for any thread count.
//
// Shapes use outermost-first notation; "[T, D]" is T rows of D contiguous f32.
#pragma once

#include <cmath>
#include <cstdint>
#include <initializer_list>

#include "kernels/exec_context.h"
#include "tensor/tensor_view.h"

namespace herd::kernels {

// out[T, N] = x[T, K] . W[N, K]^T  (W in any supported dtype; K == W.cols()).
// Dtypes with a q8 kernel in the table (Q8_0, Q4_0, Q4_K, Q6_K) go through quantized
// activations: each x row is quantized once to BlockQ8 (into ctx.q8) and the
// products are integer (kernel_table.h); the others use the f32 row dots or
// tiles. F16/BF16 weights, where the table has the bf16 path (avx512bf16, ref),
// are multiplied with x rounded once to bf16 (matmul_bf16.h), repacked at
// load to the r16 pair layout (W.interleave == 16) by its outer-product tile;
// repacked to r8 (W.interleave == 8, avx2..avx512vnni), by the f32
// outer-product tile.
// With ctx.exact_f32 (training) every weight takes the f32 path.
// F8_E4M3 (weight-only) takes the bf16 path where the table has it (its
// values are exact in bf16: only x is rounded) and the f32 path elsewhere
// (x stays f32), each output then multiplied by its row's scale (W.row_scale;
// none: 1); with dynamic activations (W.act_scale_ub > 0, Meta's fc_dynamic)
// each x row is quantized to e4m3 first (exact on either path); with
// column-group scales (W.scale_groups > 1) each group is a product of its own
// on the f32 path, scaled, and the groups summed in order (ops.cpp
// matmul_f32_groups). Each output element
// is one fixed-order reduction on every path: identical for any thread count
// and any T.
void matmul(const ExecContext& ctx, const float* x, int64_t T, const TensorView& w, float* out);

// The transposed product: out[T, K] = dy[T, N] . W[N, K] (the input gradient
// of a linear layer through a frozen weight), for every stored dtype in the
// file layout or repacked to r8, and row-scaled F8_E4M3. W's values are its
// exact f32 dequantization (times the row scale, if any, of the column's group); each out[t, k] is
// an f32 reduction over n = 0..N-1 in order (kernels/matmul_t.cpp), identical
// for any thread count and T, within gamma_N * sum_n |dy[t,n] W[n,k]| of the
// exact sum (u = 2^-24, gamma_N = N u / (1 - N u)); gamma_{N+1} with row
// scales (dy[t,n] * scale[n] is rounded once more).
void matmul_t(const ExecContext& ctx, const float* dy, int64_t T, const TensorView& w, float* out);

// matmul_t's scalar reference: the exact sum in double of the reference
// dequantization (tensor/quant.h), and, when abs_sum is set, sum |dy W| per
// element (the scale of the rounding bound). out, abs_sum: [T, K].
void matmul_t_ref(const float* dy, int64_t T, const TensorView& w, double* out, double* abs_sum);

// The same two products with both operands rounded to bf16 (base/half.h
// f32_to_bf16 of the weight's exact f32 value and of x or dy; with row scales,
// of fl(dy[t, n] s[n]) in matmul_t) and the products summed in f32 by the
// table's gemm_bf16_pairs: within gamma_K (forward) or gamma_N (transposed)
// times the sum of |products| of the bf16 specification, the same bits for
// any thread count and T. matmul and matmul_t call them under
// ExecContext::bf16_products; weights with column-group scales or dynamic FP8
// activations keep the exact f32 path.
void matmul_bf16_products(const ExecContext& ctx, const float* x, int64_t T, const TensorView& w, float* out);
void matmul_t_bf16_products(const ExecContext& ctx, const float* dy, int64_t T, const TensorView& w, float* out);
// Their specification in double: out [T, N] = x . W^T (transposed: x is dy
// [T, N] and out [T, K] = dy . W) from the bf16-rounded operands, and when
// abs_sum is set the sum of |products| per element.
void matmul_bf16_products_ref(const float* x, int64_t T, const TensorView& w, double* out, double* abs_sum,
                              bool transposed);

// Which of matmul's paths (above) a weight takes with a kernel table: the one
// place that decides it, read by matmul_shared_input and reported by `herd run`
// (--taps-out DIR/run.json) so that tests learn the arithmetic from herd
// instead of inferring it from an ISA name.
enum class MatmulPath {
  kBf16,   // x and W rounded to bf16 (FP8 W: exact), f32 sums (TileDotBf16Fn)
  kF32R8,  // f32 x, W repacked to r8 (TileDotF32R8Fn)
  kQ8R8,   // x quantized to Q8 blocks, W repacked to r8 (TileDotQ8R8Fn)
  kQ8,     // x quantized to Q8 blocks, W in the file layout (TileDotQ8Fn)
  kF32,    // f32 x, W in the file layout: tile_f32 where set, else the row dots
};
MatmulPath matmul_path(const KernelTable& table, const TensorView& w);
const char* matmul_path_name(MatmulPath p);  // "bf16", "f32_r8", "q8_r8", "q8", "f32"

// Several matmuls of one input (wq/wk/wv; gate/up): out_i[T, N_i] = x[T, K] . W_i^T,
// each W_i with K columns. x is quantized to BlockQ8 once, on the first q8-path
// weight, and reused by the others; each output is exactly what matmul() gives.
struct MatmulOut {
  const TensorView* w;
  float* out;
};
void matmul_shared_input(const ExecContext& ctx, const float* x, int64_t T, std::initializer_list<MatmulOut> outs);

// y[T, D] = x / sqrt(mean(x^2) + eps) * weight[D]; sum of squares in double.
// y may alias x.
void rms_norm(const float* x, const float* weight, float eps, int64_t T, int64_t D, float* y);

// Row r of an embedding table (any dtype) into dst[D].
void embedding_row(const ExecContext& ctx, const TensorView& table, int64_t r, float* dst);

enum class RopeStyle {
  kInterleaved,  // Meta / GGUF order: pairs (x[2i], x[2i+1])
  kHalves,       // HF order ("rotate_half"): pairs (x[i], x[i + hd/2])
};

// Rotates x[T, n_heads, hd] in place; token t is at position pos[t].
// inv_freq[hd/2] are the (already llama3-scaled) inverse frequencies. Angles
// are formed in double (pos * inv_freq) so large positions lose no precision.
void rope(float* x, int64_t T, int64_t n_heads, int64_t hd, const int64_t* pos,
          const double* inv_freq, RopeStyle style);

// g[T, F] = silu(g) * u, silu(z) = z / (1 + exp(-z)) (ctx.table->silu_mul),
// split over ctx.pool; elementwise, so identical for any thread count and T.
void silu_mul(const ExecContext& ctx, float* g, const float* u, int64_t n);

// KV cache element types: kF32 (exact), kF16 (IEEE binary16, rounded to
// nearest even when stored; halves the cache's memory and the bytes attention
// reads) or kQ8_0 (ggml's Q8_0 blocks of 32 elements: an f16 scale d =
// max|x| / 127 and 32 int8 q = round(x / d), half away from zero; 34 bytes
// per 32 elements, 0.53 of f16). Attention computes with the stored values
// exactly (f16 -> f32 and fl(d) * q are exact in f32), so the cache type
// changes only what is stored, not the arithmetic. q8_0 rows need
// kv_type_fits: every head's elements a whole number of blocks.
inline bool is_kv_type(DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kQ8_0; }
inline bool kv_type_fits(DType t, int64_t head_dim) { return t != DType::kQ8_0 || head_dim % 32 == 0; }
// Bytes of n consecutive cache elements of type t (q8_0: n a multiple of 32).
inline int64_t kv_row_bytes(DType t, int64_t n) { return row_bytes(t, n); }

// Stores n f32 values into a cache row of type t at dst (f32: copied; f16:
// ctx.table->f32_to_f16; q8_0: quantize_row_ref, n a multiple of 32).
void kv_store(const ExecContext& ctx, DType t, const float* src, void* dst, int64_t n);

// Tokens per attention task in prefill where the table has attn_tokens: the
// keys and values of a block are read once per tile of this many tokens.
constexpr int64_t kAttnTokenTile = 8;

// Floats of attention scratch one worker needs for a GQA group of g query
// rows over up to n keys of head_dim hd: the scores of a tile of tokens
// (kAttnTokenTile * g * n) and one row of f16 or q8_0 keys or values
// converted to f32 (hd), for the generic path.
inline int64_t attention_scratch_floats(int64_t g, int64_t n, int64_t hd) { return kAttnTokenTile * g * n + hd; }

// The token of attention task slot p of T: 0, T-1, 1, T-2, ... Under a causal
// mask token t attends to n_past + t + 1 keys, so consecutive tokens cost more
// and more; the pool's static split into contiguous ranges would give the
// last thread the most expensive tokens (at T = 512 from an empty cache, one
// of two threads got 3/4 of the work). Pairing cheap with dear tokens evens
// the ranges out (tiles of tokens are ordered the same way).
inline int64_t balanced_token(int64_t p, int64_t T) { return p % 2 == 0 ? p / 2 : T - 1 - p / 2; }

// Where the keys and values of T new tokens live (one layer): rows of kt / vt
// elements at k and v, KV * hd elements each. Token t belongs to the sequence
// whose block table is tables[t] (null: a contiguous cache, row = cache
// index; else row = tables[t][p / block_rows] * block_rows + p % block_rows)
// and sits at cache index idx[t], its own key and value already stored.
struct AttnCache {
  const void* k = nullptr;
  const void* v = nullptr;
  DType kt = DType::kF32, vt = DType::kF32;
  int64_t block_rows = 0;
  const int64_t* idx = nullptr;              // [T]
  const int32_t* const* tables = nullptr;    // [T]
};

// Causal grouped-query attention of T new tokens, each against its own
// sequence's cache (continuous batching, or one sequence): token t's query
// heads q[t, H, hd] see cache indices 0..idx[t] (inclusive); query head h uses
// KV head h / (H / KV); out[T, H * hd]. Consecutive tokens of one sequence go
// in tiles of up to kAttnTokenTile (attention_tokens: keys read once per
// tile), ordered by balanced_token. Every (token, KV head) gets
// attention_rows' arithmetic, so a token's output does not depend on what else
// is in the call. tiles: [T + 1] scratch; scratch: ctx.pool->size() buffers of
// attention_scratch_floats(H / KV, max idx + 1, hd) floats.
void attention_seqs(const ExecContext& ctx, const float* q, int64_t T, int64_t H, int64_t KV, int64_t hd,
                    const AttnCache& cache, int64_t* tiles, float* const* scratch, float* out);

// Causal grouped-query attention of T new queries against a cache.
//   q[T, H, hd]; k_cache/v_cache rows [n_keys_max, KV * hd] of kt / vt
//   elements (is_kv_type; kv_type_fits(t, hd)) hold post-RoPE keys and values for positions 0..;
//   query t sees keys 0..n_past + t (inclusive). Query head h uses KV head
//   h / (H / KV). out[T, H * hd].
// scratch: ctx.pool->size() buffers of at least
// attention_scratch_floats(H / KV, n_past + T, hd) floats each.
// attention_seqs for one contiguous sequence (allocates its index arrays:
// tests and benchmarks; the forward pass calls attention_seqs).
void attention(const ExecContext& ctx, const float* q, int64_t T, int64_t H, int64_t KV, int64_t hd,
               const void* k_cache, const void* v_cache, DType kt, DType vt, int64_t n_past, float* const* scratch,
               float* out);

// Attention's score scale, 1 / sqrt(hd) rounded to f32 (every attention path).
inline float attention_scale(int64_t hd) { return static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd))); }

// The attention of g query rows q[g][hd] sharing one KV head over keys
// 0..n-1 (kv: where they live, f32, f16 or q8_0), on the calling thread:
//   s_rj = fl(dot(q_r, k_j)) * scale (f32), m_r = max_j s_rj,
//   e_rj = exp(s_rj - m_r) (f32), sum_r = sum_j e_rj (in double),
//   out_r = sum_j fl(e_rj * fl(1 / sum_r)) v_j  (f32, in key order),
// with k_j, v_j the stored rows' exact f32 values.
// The same arithmetic for a row whatever g and whichever call it is in, so
// prefill and decode, contiguous and paged caches agree bitwise.
// scratch: attention_scratch_floats(g, n, hd) floats.
void attention_rows(const ExecContext& ctx, const float* q, int64_t g, int64_t hd, const KvRows& kv, int64_t n,
                    float* scratch, float* out);

// attention_rows for B consecutive tokens of one sequence (AttnTokensFn in
// kernel_table.h: token i's g rows at q + i * q_stride see keys 0..n0 + i - 1
// and go to out + i * out_stride), the same bits as B attention_rows calls:
// through the table's attn_tokens where it has one and the shape suits it,
// else one attention_rows call per token. scratch:
// attention_scratch_floats(g, n0 + B - 1, hd) floats, B <= kAttnTokenTile.
void attention_tokens(const ExecContext& ctx, const float* q, int64_t q_stride, int64_t B, int64_t g, int64_t hd,
                      const KvRows& kv, int64_t n0, float* scratch, float* out, int64_t out_stride);

}  // namespace herd::kernels
