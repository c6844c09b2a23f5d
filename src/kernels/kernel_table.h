// KernelTable: one struct of function pointers, filled once at start-up from
// the CPU's features (Highway's "dispatch once, high up").
//
// Every ISA path lives in the same binary: *_ref.cpp (scalar, the
// specification), *_avx2.cpp, *_avx512.cpp. select_kernels() picks the best
// the CPU supports unless HERD_ISA=ref|avx2|avx512 (or the `isa` argument)
// forces one; tests run every path the host supports against the reference.
//
// Row dot products: dot(W row, x) for a weight row of K elements stored in
// dtype t. Each output element is one call that reduces in a fixed order, so
// a result does not depend on the thread count or on the batch size (prefill
// and decode call the same function on the same row: identical floats).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "tensor/dtype.h"

namespace herd::kernels {

// Returns dot(w_row[0..K), x[0..K)); w_row holds row_bytes(t, K) bytes.
using RowDotFn = float (*)(const void* w_row, const float* x, int64_t K);
// Converts one row of dtype t to f32 (embedding lookup, norms).
using RowToF32Fn = void (*)(const void* src, float* dst, int64_t K);
// The same row's exact f32 values rounded to bf16 (base/half.h f32_to_bf16)
// in one pass: the weights of the bf16 products of training
// (kernels/matmul_bf16_products.cpp). Set only where a fused conversion
// exists (row_to_bf16_avx512bf16.cpp); elsewhere the caller rounds
// row_to_f32's output (the same bits).
using RowToBf16Fn = void (*)(const void* src, uint16_t* dst, int64_t K);
// g[i] = silu(g[i]) * u[i], silu(z) = z / (1 + exp(-z)) (the SwiGLU gate),
// elementwise: each element's result depends only on g[i] and u[i], never on
// n or its place, so callers may split the array freely.
using SiluMulFn = void (*)(float* g, const float* u, int64_t n);
// One softmax row in place: s[j] = fl(exp(s[j] - max) * fl(1 / sum)), the
// exponentials summed in double. A row depends on nothing else, so callers may
// split rows across threads freely (the encoder's attention, encoder_ops.h).
using SoftmaxRowFn = void (*)(float* s, int64_t n);
// x[i] = x * (1 + erf(x / sqrt 2)) / 2 in place (the exact GELU), each
// element depending only on itself (callers split the array freely). The
// reference is libm's erff per element; the vector form (gelu_avx2.cpp) has
// its own erf, within 3.5 u |x| of the exact value as derived there.
using GeluFn = void (*)(float* x, int64_t n);
// AdamW's f32 update of n elements (kernels/adamw.h adamw_f32_ref, bit for
// bit), each element on its own: callers split the array freely.
struct AdamWConsts;
using AdamWF32Fn = void (*)(const AdamWConsts& c, float* p, const float* g, float* m, float* v, int64_t n);
// One block (n <= kMomentBlock) of AdamW with 8-bit moments (adamw.h
// adamw_8bit_block_ref, bit for bit): codes qm, qv and scales *am, *av updated.
using AdamW8bitBlockFn = void (*)(const AdamWConsts& c, float* p, const float* g, uint8_t* qm, float* am, uint8_t* qv,
                                  float* av, int64_t n);
// C = A B for row-major f32 A [M, K] (row stride lda), B [K, N] (ldb) and C
// [M, N] (ldc), every C[i, j] the chain c = fma(A[i, k], B[k, j], c) over
// k = 0..K-1 from c = 0 (fused, rounded once per step): the same bits on every
// ISA and for any split of M or N. Single-threaded; small products with a
// short K (the encoder's per-head attention, hd = 64), where a row dot's
// horizontal sum would cost as much as the dot.
using GemmNnF32Fn = void (*)(const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc,
                             int64_t M, int64_t N, int64_t K);
// C [M, N] = A B with A [M, Kp] in bf16 (row stride lda elements) and B in
// the pair form that tdpbf16ps and vdpbf16ps read: word (p, n) holds
// B[2p][n] in its low half and B[2p + 1][n] in its high half and lies at
// b[p * ldb + (n / 16) * b_panel + n % 16], so B is Kp / 2 rows of ldb
// words when b_panel is 16, or panels of 16 columns b_panel words apart,
// each Kp / 2 rows of 16 words when ldb is 16 (the panel form: every 16 x 16
// tile of B one contiguous kilobyte; AMX's tile loads of B rows far apart ran
// about a third slower on an Intel AMX host); C f32 (row stride ldc), overwritten, or added to when
// `accumulate` (C = C + A B; in the hardware kernels, whose f32 accumulator
// is stored and reloaded exactly, a reduction cut in blocks gives the same
// bits as one call; the specification rounds each call's sum once). Kp is a
// multiple of 32 (callers zero-pad); A must be readable for M rounded up to
// 16 rows and B for N rounded up to 16 columns (what lies there feeds only
// outputs that are not written). The products of bf16 are exact, their sum
// is f32 in an order the hardware does not specify: |C - spec| <= gamma_Kp
// sum_k |a_k b_k| (spec: gemm_bf16_pairs_ref), and each C[i, j] depends only
// on row i of A and column j of B: any split of M or N gives the same bits.
// Single-threaded. The frozen products of training with --bf16
// (kernels/matmul_bf16_products.cpp) and gemm_nn_bf16 run on it.
using GemmBf16PairsFn = void (*)(const uint16_t* a, int64_t lda, const uint32_t* b, int64_t ldb, int64_t b_panel,
                                 float* c, int64_t ldc, int64_t M, int64_t N, int64_t Kp, bool accumulate);
// Dot of two f32 vectors (attention scores).
using DotF32Fn = float (*)(const float* a, const float* b, int64_t n);
// y[i] += a * x[i] (attention value accumulation).
using AxpyF32Fn = void (*)(float a, const float* x, float* y, int64_t n);
// y[i] += a[0] x0[i], then a[1] x1[i], ... a[rows - 1] x_{rows-1}[i] (x_r = x +
// r * x_stride): bit for bit `rows` successive axpy_f32 calls of the same
// table, with y loaded and stored once per vector instead of once per row
// (the transposed product of training, kernels/matmul_t.cpp).
using AxpyRowsF32Fn = void (*)(const float* a, int64_t rows, const float* x, int64_t x_stride, float* y, int64_t n);
// axpy_rows_f32 for n_tok outputs at once: for each t < n_tok,
//   y_t = out + t * out_stride,  y_t += a_t[0] x_0 + ... (a_t = a + t * a_stride)
// bit for bit the per-token calls, with each x vector loaded once for
// several tokens (the transposed product's token tile).
using AxpyRowsTokensF32Fn = void (*)(const float* a, int64_t a_stride, int64_t rows, const float* x, int64_t x_stride,
                                     int64_t n_tok, float* out, int64_t out_stride, int64_t n);

constexpr int kMaxDTypeId = kDTypeCount;  // DType is dense (tensor/dtype.h): tables index by it

// Where the key and value rows of one KV head live: row j at
// k + j * k_stride bytes (contiguous cache), or, paged (blocks set), in block
// blocks[j / block_rows] at row j % block_rows: physical row
// blocks[j / block_rows] * block_rows + j % block_rows. k and v already point
// at the head. Elements are f32, f16 or q8_0 blocks (kt, vt: kernels/ops.h
// is_kv_type; kv_store writes them), read exactly as their f32 values.
struct KvRows {
  const void* k = nullptr;
  const void* v = nullptr;
  int64_t k_stride = 0;  // bytes from one K row to the next
  int64_t v_stride = 0;  // bytes from one V row to the next
  const int32_t* blocks = nullptr;
  int64_t block_rows = 0;
  DType kt = DType::kF32;
  DType vt = DType::kF32;
  int64_t row(int64_t j) const {
    return blocks == nullptr ? j : static_cast<int64_t>(blocks[j / block_rows]) * block_rows + j % block_rows;
  }
  const uint8_t* k_row(int64_t j) const { return static_cast<const uint8_t*>(k) + row(j) * k_stride; }
  const uint8_t* v_row(int64_t j) const { return static_cast<const uint8_t*>(v) + row(j) * v_stride; }
};

// Prefetches `rows` rows of `bytes` bytes, `stride` bytes apart, one prefetch
// per 64-byte line (the attention kernels: one KV head's rows are strided,
// too irregular for the hardware prefetcher at long context).
inline void prefetch_rows(const uint8_t* p, int64_t stride, int64_t rows, int64_t bytes) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < bytes; c += 64) __builtin_prefetch(p + r * stride + c, 0, 3);
}

// f32 -> f16 (IEEE binary16), round to nearest even, as base/half.h
// f32_to_f16 (NaN stays NaN, overflow gives infinity): dst[i] = f16(src[i]).
using F32ToF16Fn = void (*)(const float* src, uint16_t* dst, int64_t n);

// Attention of g query rows sharing one KV head (the GQA group of one token)
// over keys 0..n-1 (kernels/ops.h attention_rows gives the arithmetic):
// q[g][hd] -> out[g][hd]; scratch holds g * n floats.
using AttnRowsFn = void (*)(const float* q, int64_t g, int64_t hd, const KvRows& kv, int64_t n, float scale,
                            float* scratch, float* out);

// The same for B consecutive tokens of one sequence on one KV head (prefill):
// token i (0 <= i < B) has g query rows at q + i * q_stride, sees keys
// 0..n0 + i - 1 and writes out + i * out_stride. Each token's rows get exactly
// AttnRowsFn's arithmetic (the same bits as B separate calls); the key and
// value rows of a block are loaded (and widened to f32) once for all B
// tokens instead of once per token. scratch holds B * g * (n0 + B - 1) + hd
// floats.
using AttnTokensFn = void (*)(const float* q, int64_t q_stride, int64_t B, int64_t g, int64_t hd, const KvRows& kv,
                              int64_t n0, float scale, float* scratch, float* out, int64_t out_stride);

// Training's attention backward for the G query rows of one token that share
// a KV head (kernels/backward.cpp attention_train_backward gives the
// arithmetic) over keys j = 0..n-1, rows k + j * stride, v + j * stride (f32,
// hd elements; dk and dv rows at the same offsets). Row h < G of q, go, dq
// (hd apart) has d[h] = go_h . out_h and l[h] its log-sum-exp: s_j = fl(q_h .
// k_j) scale, p_j = (float) exp((double) s_j - l[h]), ds_j = p_j (fl(go_h .
// v_j) - d[h]); dq_h = sum_j (scale ds_j) k_j in key order (overwritten), and
// for each key, rows h in order, dk_j += (scale ds_j) q_h, dv_j += p_j go_h,
// each a fused multiply-add per element: so dk_j and dv_j are read and written
// once per token, not once per row. The dots' order is the ISA's own. For hd
// 64 and 128 (the Llama heads); callers take the generic loop of dot_f32 /
// axpy_f32 calls for other hd and where the entry is null.
using AttnBackwardRowsFn = void (*)(const float* q, const float* go, const float* d, const double* l, int64_t G,
                                    float scale, const float* k, const float* v, int64_t stride, int64_t n, int64_t hd,
                                    float* dq, float* dk, float* dv);

// Integer dot products (the "q8" path). An activation row x[K] (K % 32 == 0)
// is quantized once per matmul to K/32 blocks of 32 int8, as ggml's Q8_0:
//   d = max|x_j| / 127 (f32), q_j = round_half_even(x_j * (1/d)) in [-127, 127]
//   (q = 0 when d == 0), s = sum_j q_j (so offset-encoded weights can be
//   corrected exactly: sum (w+c) q = sum w q + c s), ds = fl(d * s) (the
//   block's sum in activation units, for the formats with a min term: stored
//   so a tile takes it with one broadcast instead of a conversion and a
//   product per token and block).
// A weight row of a dtype with a q8 kernel is then dotted block by block in
// exact int32 arithmetic:
//   dot = sum_b (d_w[b] * d_x[b]) * isum_b,   isum_b = sum_j qw_j * q_j,
// the scale product rounded to f32 (K-quants: Q6_K has one scale per 16-element
// half, fl(d sc_h d_x) * isum_h; Q4_K's r8 tiles subtract (dmin m) * ds; see
// kernels_ref.cpp), the sum over blocks in f32 (SIMD: in 8
// lanes, each lane taking one quarter-group of 4 elements of every block, then
// one fixed horizontal sum; reference: in double). The error against the
// f32-activation dot is the activation quantization error (<= d_x/2 per
// element), see docs/kernels.md.
struct BlockQ8 {
  float d;           // scale
  int32_t s;         // sum of qs
  int8_t qs[32];     // quantized values
  float ds;          // fl(d * s)
};
static_assert(sizeof(BlockQ8) == 44);

// x[K] -> y[K/32].
using QuantizeQ8Fn = void (*)(const float* x, BlockQ8* y, int64_t K);
// A tile of weight rows times a tile of quantized activation rows:
//   out[t * out_stride + r] = dot(w + r * w_stride, x + t * x_stride)
// for r < n_rows, t < n_tok; w rows hold row_bytes(dtype, K) bytes, x rows K/32
// blocks (x_stride in blocks). Each output is the same fixed-order reduction
// whatever n_rows, n_tok and the output's position in the tile, so prefill
// (many tokens) and decode (one) give bit-identical results. The weight blocks
// are unpacked once per block and used for every token of the register tile.
using TileDotQ8Fn = void (*)(const uint8_t* w, int64_t w_stride, int64_t n_rows, const BlockQ8* x,
                             int64_t x_stride, int64_t n_tok, int64_t K, float* out, int64_t out_stride);

// The row-interleaved q8 path ("r8", kernels/repack_r8.h): weights of a q8
// dtype repacked once at load so that 8 rows' blocks sit side by side, one
// 32-bit lane per row. A tile kernel multiplies n_groups groups of 8 rows
// (w: the repacked bytes of the first group, consecutive groups
// repacked_group_bytes() apart) by n_tok quantized activation rows:
//   out[t * out_stride + 8 g + j] = dot(row 8 g + j, x + t * x_stride).
// Per row and block the integer sum is exact, then one f32 FMA per block with
// the scale product, so every output is the same arithmetic whatever n_tok
// (prefill == decode bitwise) and whatever the group's place in the tile.
using TileDotQ8R8Fn = void (*)(const uint8_t* w, int64_t n_groups, const BlockQ8* x, int64_t x_stride,
                               int64_t n_tok, int64_t K, float* out, int64_t out_stride);

// The bf16 path (AVX512_BF16 vdpbf16ps: two bf16 products per f32 lane).
// An activation row x[K] is rounded once per matmul to bf16, round to nearest
// even (base/half.h f32_to_bf16: NaN stays NaN, f32 subnormals round too):
using RoundBf16Fn = void (*)(const float* x, uint16_t* y, int64_t K);
// A tile of F16 or BF16 weight rows times a tile of bf16 activation rows:
//   out[t * out_stride + r] = sum_j bf16(w[r][j]) * x[t * x_stride + j]
// for r < n_rows, t < n_tok, any K >= 1; w rows are w_stride bytes apart,
// x rows x_stride elements apart. BF16 weights are used as they are; F16
// weights are rounded to bf16 (RNE of the exact f32 value) on the fly, once
// per weight vector for every token of the register tile. Every product
// bf16 * bf16 is exact in f32. The specification (kernels_ref.cpp) sums the
// products in double and rounds once; SIMD sums them in f32, in 16 lanes, each
// lane taking elements 32s + 2i and 32s + 2i + 1 of every 32-element step s,
// then one fixed horizontal sum: |simd - spec| <= (2 ceil(K/32) + 6) u
// sum_j |x_j w_j| (kernels_bf16_test.cpp, docs/kernels.md). Each output is the same fixed-order reduction whatever
// n_rows, n_tok and its position in the tile: prefill and decode give
// bit-identical results.
using TileDotBf16Fn = void (*)(const uint8_t* w, int64_t w_stride, int64_t n_rows, const uint16_t* x,
                               int64_t x_stride, int64_t n_tok, int64_t K, float* out, int64_t out_stride);

// The bf16 path's outer-product tile for F16 and BF16 weights repacked at
// load to the r16 pair layout (tensor/repack_r16.h): n_groups groups of 16
// rows (w: the first group, the next ones r16_group_bytes(K) bytes apart)
// times n_tok bf16 activation rows (x_stride elements apart), K even:
//   out[t * out_stride + 16 g + j] = sum_k bf16(w[16 g + j][k]) * x[t][k]
// with F16 weights rounded to bf16 (RNE) as TileDotBf16Fn does. Order, the
// same whatever the tile shape (prefill == decode bit for bit): K is cut in
// blocks of kBf16R16Block elements (the last one shorter); within a block
// each output is one f32 lane fed by one vdpbf16ps per pair, in order, from
// +0; the block sums are added in order, s = b_0, s = s + b_i. A product
// passes at most 2 kBf16R16Block / 2 roundings in its block's chain (two per
// vdpbf16ps in Intel's pseudo-code) and ceil(K / kBf16R16Block) - 1 block
// additions, so |simd - exact| <= gamma_n sum_k |x_k w_k| with
// n = kBf16R16Block + ceil(K / kBf16R16Block) (kernels_bf16_test.cpp); at
// K = 2048 that is 264 u, beside the file-layout tile's 134 u. vdpbf16ps's
// DAZ/FTZ caveat (TileDotBf16Fn) applies alike. The scalar specification is
// the file-layout reference (kernels_ref.cpp's tile_bf16) on the unpacked
// rows; the ISA "ref" keeps the file layout.
// ISA amx (tile_bf16_r16_amx.cpp) has its own order for BF16 weights (F16
// matrices converted at load) where K % 32 == 0: each output one tile
// element from 0, one tdpbf16ps per 32 elements of K in order, whose internal
// sums Intel does not specify: |tile - exact| <= gamma_K sum_k |x_k w_k|, the
// same bits for any token count and group split. F16 in r16 (a tied output
// table) and other K keep the avx512bf16 tile and its order.
constexpr int64_t kBf16R16Block = 256;
using TileDotBf16R16Fn = void (*)(const uint8_t* w, int64_t n_groups, const uint16_t* x, int64_t x_stride,
                                  int64_t n_tok, int64_t K, float* out, int64_t out_stride);

// The f32 path's tile (F16, BF16, F32 weights; f32 activations): a tile of
// weight rows (w_stride bytes apart) times a tile of activation rows:
//   out[t * out_stride + r] = row_dot[dtype](w + r * w_stride, x + t * x_stride, K)
// bit for bit, for r < n_rows, t < n_tok, any K >= 1: the same arithmetic as
// the row dots, with each weight vector loaded and converted once for several
// tokens instead of once per token.
using TileDotF32Fn = void (*)(const uint8_t* w, int64_t w_stride, int64_t n_rows, const float* x, int64_t x_stride,
                              int64_t n_tok, int64_t K, float* out, int64_t out_stride);

// The f32 path's r8 tile (F16 and BF16 weights repacked at load to the r8
// layout of tensor/repack_r8.h: element k of 8 rows side by side; f32
// activations): n_groups groups of 8 rows (w: the first group, the next ones
// r8_group_bytes() = 16 K bytes apart) times n_tok activation rows:
//   out[t * out_stride + 8 g + j] = dot(row 8 g + j, x + t * x_stride)
// for K % 8 == 0, in this order, the same whatever the tile shape (prefill and
// decode give the same bits): K is cut in blocks of kF32R8Block elements (the
// last one shorter); within a block one f32 FMA chain from +0 in element order,
// p = fma(w_k, x_k, p); the block sums added in order, s = p_0, s = s + p_b.
// A SIMD register holds one element of 8 rows, so a vector FMA serves 8 rows
// of one token (an outer product: no horizontal sums) and a converted weight
// vector serves every token of the register tile. Error against the exact dot:
// |err| <= gamma_{kF32R8Block + ceil(K / kF32R8Block)} * sum_k |w_k x_k|
// (kernels_test.cpp), below the row dots' 2 K u.
constexpr int64_t kF32R8Block = 64;
using TileDotF32R8Fn = void (*)(const uint8_t* w, int64_t n_groups, const float* x, int64_t x_stride,
                                int64_t n_tok, int64_t K, float* out, int64_t out_stride);
// The scalar specification of TileDotF32R8Fn for F16 and BF16 (std::fma per
// element: the SIMD tiles must equal it bit for bit). Not in ref_kernels():
// ISA "ref" keeps the file layout.
void tile_f32_r8_ref(DType t, const uint8_t* w, int64_t n_groups, const float* x, int64_t x_stride, int64_t n_tok,
                     int64_t K, float* out, int64_t out_stride);

// gemm_nn_bf16's specification: C = A B with every element of A and B first
// rounded to bf16 (base/half.h f32_to_bf16), the products (exact in f32)
// summed in double and rounded once to f32. Not in ref_kernels(): an ISA
// without a bf16 tile product keeps gemm_nn_f32 (kernel_table.h
// gemm_nn_bf16).
void gemm_nn_bf16_ref(const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t M,
                      int64_t N, int64_t K);

// gemm_bf16_pairs's specification: each C[i, j] (plus C's value when
// accumulating) the exact products summed in double, rounded once to f32.
// In ref_kernels() (ISA ref runs it: the bf16 products of training anywhere,
// slowly); the AVX2 and AVX-512 tables without BF16 clear it.
void gemm_bf16_pairs_ref(const uint16_t* a, int64_t lda, const uint32_t* b, int64_t ldb, int64_t b_panel, float* c,
                         int64_t ldc, int64_t M, int64_t N, int64_t Kp, bool accumulate);

struct KernelTable {
  const char* isa = "ref";
  RowDotFn row_dot[kMaxDTypeId] = {};
  RowToF32Fn row_to_f32[kMaxDTypeId] = {};
  RowToBf16Fn row_to_bf16[kMaxDTypeId] = {};  // null: row_to_f32, then round
  DotF32Fn dot_f32 = nullptr;
  AxpyF32Fn axpy_f32 = nullptr;
  AxpyRowsF32Fn axpy_rows_f32 = nullptr;
  AxpyRowsTokensF32Fn axpy_rows_tokens_f32 = nullptr;
  SiluMulFn silu_mul = nullptr;
  SoftmaxRowFn softmax_row = nullptr;
  GeluFn gelu = nullptr;
  AdamWF32Fn adamw_f32 = nullptr;            // ref: adamw.cpp; avx2 and up: adamw_avx2.cpp
  AdamW8bitBlockFn adamw_8bit_block = nullptr;
  GemmNnF32Fn gemm_nn_f32 = nullptr;
  // The same product with A and B rounded to bf16 first (gemm_nn_bf16_ref),
  // for a model that runs in bf16 (the encoder's attention when its linear
  // layers are bf16): the products are exact, their f32 sum is in an order the
  // hardware does not specify, so |C - spec| <= gamma_K sum_k |a_k b_k| (of the
  // rounded operands). Each C[i, j] depends only on row i of A and column j of
  // B: the same bits for any split of M or N. avx512bf16 (vdpbf16ps,
  // gemm_nn_bf16_avx512bf16.cpp) and amx (tdpbf16ps, gemm_nn_bf16_amx.cpp);
  // null where the ISA has no bf16 product.
  GemmNnF32Fn gemm_nn_bf16 = nullptr;
  // bf16 products with f32 sums on the pair form (GemmBf16PairsFn): ref (the
  // specification), avx512bf16 (vdpbf16ps), amx (tdpbf16ps); null on avx2,
  // avx512 and avx512vnni, whose CPUs have no bf16 product.
  GemmBf16PairsFn gemm_bf16_pairs = nullptr;
  F32ToF16Fn f32_to_f16 = nullptr;  // KV cache stores (f16 rows)
  // A faster attention_rows for hd % attn_hd_multiple == 0 and paged blocks
  // of a multiple of attn_block_multiple rows (attention_avx2.cpp: 32 and 8;
  // attention_avx512.cpp: 64 and 16); null: the generic one.
  AttnRowsFn attn_rows = nullptr;
  AttnBackwardRowsFn attn_backward_rows = nullptr;  // attention_avx512.cpp; null: dot_f32 / axpy_f32 per key
  // attn_rows' multi-token form, from the same ISA file (prefill tiles of
  // tokens; kernels/ops.h attention); null: one attn_rows call per token.
  AttnTokensFn attn_tokens = nullptr;
  int64_t attn_hd_multiple = 1;
  int64_t attn_block_multiple = 1;
  // The q8 path: a dtype with tile_q8 set is multiplied through quantized
  // activations (matmul); row_dot stays for f32 callers.
  QuantizeQ8Fn quantize_q8 = nullptr;
  TileDotQ8Fn tile_q8[kMaxDTypeId] = {};
  // Set where this ISA has a kernel for the r8 layout of the dtype; weights
  // are repacked at load only then (so HERD_ISA=ref keeps the file layout).
  TileDotQ8R8Fn tile_q8_r8[kMaxDTypeId] = {};
  // The bf16 path (F16, BF16 weights): set in ref (the specification) and in
  // avx512bf16; select_kernels clears it for ISAs without AVX512_BF16, whose
  // F16/BF16 matmuls then keep the f32 row dots.
  RoundBf16Fn round_bf16 = nullptr;
  TileDotBf16Fn tile_bf16[kMaxDTypeId] = {};
  // Set where this ISA has the r16 outer-product tile of the dtype (F16,
  // BF16 on avx512bf16); those weights are then repacked at load.
  TileDotBf16R16Fn tile_bf16_r16[kMaxDTypeId] = {};
  // Where set, matmul's f32 path uses it instead of one row dot per output
  // (kernels_avx2.cpp: F32, F16, BF16). Null in ref: the row dots are the spec.
  TileDotF32Fn tile_f32[kMaxDTypeId] = {};
  // Set where this ISA has an outer-product tile for the r8 layout of F16 /
  // BF16 (kernels/tile_f32_r8_avx2.cpp); those weights are then repacked at
  // load. Cleared on avx512bf16, whose bf16 path takes them (r16 layout).
  TileDotF32R8Fn tile_f32_r8[kMaxDTypeId] = {};

  RowDotFn dot_for(DType t) const { return row_dot[static_cast<int>(t)]; }
  RowToF32Fn to_f32_for(DType t) const { return row_to_f32[static_cast<int>(t)]; }
  RowToBf16Fn to_bf16_for(DType t) const { return row_to_bf16[static_cast<int>(t)]; }
  TileDotQ8Fn tile_q8_for(DType t) const { return tile_q8[static_cast<int>(t)]; }
  TileDotQ8R8Fn tile_q8_r8_for(DType t) const { return tile_q8_r8[static_cast<int>(t)]; }
  TileDotBf16Fn tile_bf16_for(DType t) const { return tile_bf16[static_cast<int>(t)]; }
  TileDotBf16R16Fn tile_bf16_r16_for(DType t) const { return tile_bf16_r16[static_cast<int>(t)]; }
  TileDotF32Fn tile_f32_for(DType t) const { return tile_f32[static_cast<int>(t)]; }
  TileDotF32R8Fn tile_f32_r8_for(DType t) const { return tile_f32_r8[static_cast<int>(t)]; }
  // True when weights of dtype t are repacked to its r8 layout at load for this table.
  bool repacks(DType t) const { return tile_q8_r8_for(t) != nullptr || tile_f32_r8_for(t) != nullptr; }
  // True when they are repacked to the r16 layout (the bf16 path's outer-product tile).
  bool repacks_r16(DType t) const { return tile_bf16_r16_for(t) != nullptr; }
};

// The scalar reference table (always available).
KernelTable ref_kernels();

// "ref", "avx2", "avx512", "avx512vnni", "avx512bf16", "amx" or "auto" (best
// supported; HERD_ISA overrides auto). avx512vnni = avx512 plus the VNNI
// integer dots; it needs AVX512_VNNI, checked separately. avx512bf16 =
// avx512vnni plus the bf16 path for F16/BF16 weights (AVX512_BF16). amx =
// avx512bf16 plus AMX tiles (AMX-TILE, AMX-INT8, AMX-BF16 and the kernel's
// grant of the tile state): int8 tile products for the r8 prefill tiles (the
// same bits) and bf16 tile products for the r16 tile (its own order, below).
// Errors name the ISA the CPU lacks.
Result<KernelTable> select_kernels(const std::string& isa = "auto");

// How far ahead (bytes) the r8 tiles prefetch a group's weight stream
// (kernels/tile_r8_inl.h): 4096 on AMD, 768 on Intel, where 4096 kept the
// decode 30% slower (docs/kernels.md, "r8 prefetch distance");
// HERD_R8_PREFETCH=N overrides it (0: none). Read once per process.
int64_t r8_prefetch_bytes();

// Whether the r8 tiles run decode tiles (1-2 tokens) in the ISA's two-group
// unit (kernels/tile_r8_inl.h tile_r8) as well as prefill tiles: on Intel,
// where a zmm operation is one full-width issue; not on AMD, where it is two
// halves and the one-group unit measured faster. HERD_R8_WIDE_DECODE=0|1
// overrides it (read once per process); set_r8_wide_decode switches it, for
// the tests that run both. Either way every output has the same bits (each
// lane does the same operations in either unit).
bool r8_wide_decode();
void set_r8_wide_decode(bool wide);

// Names of the ISAs this host can run, best last ("ref", "avx2", ...).
std::vector<std::string> supported_isas();
// Every ISA compiled into herd, in the same order (what tests iterate over, so an
// ISA the host lacks is reported as skipped, not silently absent).
std::vector<std::string> all_isas();

namespace avx2 {
void fill_table(KernelTable* t);     // overrides the entries it accelerates
void fill_table_q8(KernelTable* t);  // kernels_q8_avx2.cpp
void fill_table_attention(KernelTable* t);     // attention_avx2.cpp
void fill_table_r8(KernelTable* t);            // kernels_r8_avx2.cpp
void fill_table_f32_r8(KernelTable* t);        // tile_f32_r8_avx2.cpp
void fill_table_silu(KernelTable* t);          // silu_avx2.cpp
void fill_table_gemm_nn(KernelTable* t);       // gemm_nn_f32_avx2.cpp
void fill_table_gelu(KernelTable* t);          // gelu_avx2.cpp
void fill_table_adamw(KernelTable* t);         // adamw_avx2.cpp
void fill_table_row_to_f32(KernelTable* t);    // row_to_f32_avx2.cpp
void exp8_for_test(const float* x, float* y);  // its vector exp, for kernels_test's bound check
// Its axpy_rows_f32 (the AVX-512 token tile's last elements take exactly its arithmetic).
void axpy_rows(const float* a, int64_t rows, const float* x, int64_t x_stride, float* y, int64_t n);
}
namespace avx512 {
void fill_table(KernelTable* t);
void fill_table_attention(KernelTable* t);  // attention_avx512.cpp
void fill_table_gemm_nn(KernelTable* t);    // gemm_nn_f32_avx512.cpp
void exp16_for_test(const float* x, float* y);  // its vector exp, for kernels_test's bound check
}
namespace avx512vnni {
void fill_table(KernelTable* t);     // kernels_avx512vnni.cpp
void fill_table_r8(KernelTable* t);  // kernels_r8_avx512vnni.cpp
}
namespace avx512bf16 {
void fill_table(KernelTable* t);      // kernels_avx512bf16.cpp
void fill_table_r16(KernelTable* t);  // tile_bf16_r16_avx512bf16.cpp
void fill_table_gemm_bf16_pairs(KernelTable* t);  // gemm_bf16_pairs_avx512bf16.cpp
void fill_table_row_to_bf16(KernelTable* t);      // row_to_bf16_avx512bf16.cpp
void fill_table_gemm_nn_bf16(KernelTable* t);     // gemm_nn_bf16_avx512bf16.cpp
// The pair-form product (vdpbf16ps) and gemm_nn_bf16's packing around a given
// pair-form product (this ISA's, or amx's tiles).
void gemm_bf16_pairs(const uint16_t* a, int64_t lda, const uint32_t* b, int64_t ldb, int64_t b_panel, float* c,
                     int64_t ldc, int64_t M, int64_t N, int64_t Kp, bool accumulate);
void gemm_nn_bf16_packed(GemmBf16PairsFn pairs, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                         int64_t ldc, int64_t M, int64_t N, int64_t K);
}
namespace amx {
void fill_table_r8(KernelTable* t);   // tile_r8_amx.cpp
void fill_table_r16(KernelTable* t);  // tile_bf16_r16_amx.cpp
void fill_table_gemm_nn_bf16(KernelTable* t);  // gemm_nn_bf16_amx.cpp
void fill_table_gemm_bf16_pairs(KernelTable* t);  // gemm_bf16_pairs_amx.cpp
// The pair-form tile product itself (gemm_nn_bf16 packs its operands for it).
void gemm_bf16_pairs(const uint16_t* a, int64_t lda, const uint32_t* b, int64_t ldb, int64_t b_panel, float* c,
                     int64_t ldc, int64_t M, int64_t N, int64_t Kp, bool accumulate);
}

}  // namespace herd::kernels
