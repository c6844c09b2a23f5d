// Backward passes of the Llama 3.1 forward ops (fine-tuning, issue 19), each
// beside its scalar reference (*_ref: the same formulas in double, the
// specification the f32 versions are tested against; tests also check that
// each reference is the gradient, by directional derivatives in double, and
// tests/reference/grad_ops.py checks the f32 results against PyTorch autograd).
//
// Shapes as in ops.h, outermost first. The linear layers' backward (dY . W
// through a frozen weight, adapter gradients) is kernels::matmul_t and
// model/linear.h; the forward ops are in ops.h. Every f32 result is a fixed-
// order reduction, the same for any thread count.
#pragma once

#include <cstdint>

#include "kernels/exec_context.h"
#include "kernels/ops.h"
#include "tensor/tensor_view.h"

namespace herd::kernels {

// y[t] = x[t] * r_t * w, r_t = 1 / sqrt(mean(x[t]^2) + eps) (ops.h rms_norm).
// Given dy[T, D]: dx[T, D] = r w dy - x r^3 / D * sum_j(w_j dy_j x_j)
// (overwritten; may not alias), and, when dw is set, dw[D] += sum_t dy x r.
// Sums over D in double (as the forward's sum of squares).
void rms_norm_backward(const float* x, const float* w, float eps, const float* dy, int64_t T, int64_t D, float* dx,
                       float* dw);
void rms_norm_backward_ref(const float* x, const float* w, float eps, const float* dy, int64_t T, int64_t D,
                           double* dx, double* dw);

// The transpose of ops.h rope (an orthogonal rotation per pair): dy[T,
// n_heads, hd] rotated back in place by the same angles.
void rope_backward(float* dy, int64_t T, int64_t n_heads, int64_t hd, const int64_t* pos, const double* inv_freq,
                   RopeStyle style);

// h = silu(g) * u (ops.h silu_mul), s = sigmoid(g): given dh[n],
//   dg = dh * u * s * (1 + g (1 - s)),   du = dh * g * s.
// g and u are the forward's inputs (before silu_mul overwrote g).
void silu_mul_backward(const ExecContext& ctx, const float* g, const float* u, const float* dh, int64_t n, float* dg,
                       float* du);
void silu_mul_backward_ref(const float* g, const float* u, const float* dh, int64_t n, double* dg, double* du);

// Causal grouped-query attention of one packed batch of T tokens with f32
// q[T, H, hd], k and v [T, KV, hd] (after RoPE): token t's query head h sees
// keys first[t] .. t of KV head h / (H / KV) (first: null for 0, else the
// start of t's sequence, so packed sequences never see each other), with
// s_j = scale q.k_j (scale = attention_scale(hd)), p = softmax(s),
// out_t = sum_j p_j v_j.
struct AttnTrainShape {
  int64_t T = 0, H = 0, KV = 0, hd = 0;
  const int32_t* first = nullptr;  // [T] or null
};
// The forward: out[T, H * hd] by attention_rows (ops.h) over f32 keys and
// values, so the same arithmetic as inference with an f32 cache; lse[T, H] =
// m + log sum_j exp(s_j - m) (the sum in double), kept for the backward.
void attention_train(const ExecContext& ctx, const AttnTrainShape& s, const float* q, const float* k, const float* v,
                     float* out, float* lse);
// Given dout[T, H * hd], out and lse from attention_train: with
// D_t = dout_t . out_t, p_j = exp(s_j - lse_t), ds_j = p_j (dout_t . v_j - D_t):
//   dq_t = scale sum_j ds_j k_j, dk_j = scale sum_t ds_tj q_t, dv_j = sum_t p_tj dout_t
// (dq [T, H, hd], dk and dv [T, KV, hd], overwritten). Split over KV heads,
// each summing in token order: the same bits for any thread count. Each
// token's group of query rows goes through the table's attn_backward_rows
// where it has one (AVX-512, hd 64 or 128: 16 keys' dots at a time, each key's
// dk and dv rows updated in registers by the whole group), else dot_f32 /
// axpy_f32 per key. Memory: one row of T scores per worker.
void attention_train_backward(const ExecContext& ctx, const AttnTrainShape& s, const float* q, const float* k,
                              const float* v, const float* out, const float* lse, const float* dout, float* dq,
                              float* dk, float* dv);
// Both in double: out, lse (may be null) and, when dout is set, dq, dk, dv.
void attention_train_ref(const AttnTrainShape& s, const float* q, const float* k, const float* v, double* out,
                         double* lse, const float* dout, double* dq, double* dk, double* dv);

// Cross-entropy of the logits h[T, D] . W^T over a vocabulary of V = W.rows()
// with labels[T] (< 0: not counted), fused with its gradient and computed in
// chunks of rows of W, so no [T, V] matrix exists (two passes over W: the
// log-sum-exp, then the gradient):
//   loss_sum = sum over counted t of (lse_t - logit_t[label_t])   (double)
//   dh[T, D] = sum_v g_tv W_v, g_tv = grad_scale (softmax_tv - [v == label_t])
// for counted t, 0 rows for the others (overwritten). grad_scale is
// d(total loss)/d(loss_sum): 1 / (counted tokens) for a mean. The logits go
// through kernels::matmul (use ctx.exact_f32 for exact training products),
// dh through matmul_t; dh null: the loss only (one pass). scratch:
// ce_scratch_floats(T, D) floats.
struct CeResult {
  double loss_sum = 0;
  int64_t counted = 0;
};
constexpr int64_t kCeChunk = 2048;  // rows of W per chunk (a multiple of 8: r8 groups)
inline int64_t ce_scratch_floats(int64_t T, int64_t D) { return T * kCeChunk + T * D + 2 * T; }
CeResult cross_entropy_backward(const ExecContext& ctx, const float* h, int64_t T, const TensorView& w,
                                const int32_t* labels, float grad_scale, float* dh, float* scratch);
// The same in two halves, for losses built on the per-token log-probs (DPO
// sums them per sequence): cross_entropy_loss is the first pass, writing
// lse[T] and nll[T] (lse_t - logit_t[label_t]; 0 for tokens not counted);
// cross_entropy_grad the second, with a factor per token: g_tv =
// token_scale[t] (softmax_tv - [v == label_t]). cross_entropy_backward is the
// two with every token_scale = grad_scale (the same bits).
// With keep_logits ([T, V] floats, logits_keep_floats), the loss pass keeps
// every chunk's logits there and the gradient pass, given them as
// kept_logits, reads (and overwrites) them instead of computing them again:
// the same bits, a third less of the head's work, T V floats of memory.
inline int64_t logits_keep_floats(int64_t T, int64_t V) { return T * V; }
CeResult cross_entropy_loss(const ExecContext& ctx, const float* h, int64_t T, const TensorView& w,
                            const int32_t* labels, double* lse, double* nll, float* scratch,
                            float* keep_logits = nullptr);
// With dw (a [V, D] f32 buffer, full fine-tuning of the head), dw += g^T h
// too (weight_grad, a chunk of rows at a time).
void cross_entropy_grad(const ExecContext& ctx, const float* h, int64_t T, const TensorView& w, const int32_t* labels,
                        const double* lse, const float* token_scale, float* dh, float* scratch, float* dw = nullptr,
                        float* kept_logits = nullptr);
// In double from the reference dequantization of W; dh may be null. With
// token_scale, token t's factor is token_scale[t] instead of grad_scale; with
// nll, each token's loss is written there (0: not counted).
// With dw ([V, D], added to): the head weight's gradient.
CeResult cross_entropy_ref(const float* h, int64_t T, const TensorView& w, const int32_t* labels, double grad_scale,
                           double* dh, const double* token_scale = nullptr, double* nll = nullptr,
                           double* dw = nullptr);

// Embedding rows: dtable[tokens[t]] += dx[t] (row length D), in token order.
void embedding_backward(const int32_t* tokens, int64_t T, const float* dx, int64_t D, float* dtable);

// The gradient of a linear layer's own weight, y[T, N] = x[T, K] . W^T (full
// fine-tuning; LoRA's A and B are the same product): dw[N, K] += scale dy^T x,
// each element accumulated onto what dw holds over t = 0 .. T-1 in order
// (dw[n] += fl(scale dy[t, n]) x[t] with the table's axpy, a run of
// consecutive tokens in one axpy_rows_f32 call: the same bits; a token whose
// dy[t, n] is 0 adds nothing, so rows of untrained tokens cost nothing), rows
// of dw split over the pool: the same bits for any thread count. Tokens are
// taken kWeightGradTile at a time so a tile of x stays in L2 while every row
// of dw passes it.
constexpr int64_t kWeightGradTile = 64;
void weight_grad(const ExecContext& ctx, const float* dy, const float* x, int64_t T, int64_t N, int64_t K, float* dw,
                 float scale = 1.0f);
void weight_grad_ref(const float* dy, const float* x, int64_t T, int64_t N, int64_t K, double* dw);
// Under ExecContext::bf16_products (herd finetune --full --bf16) weight_grad
// runs this instead: dw[N, K] += bf16(fl(scale dy))^T bf16(x), the products
// exact, each element's sum over the tokens in f32 by the table's
// gemm_bf16_pairs onto what dw holds (kernels/matmul_bf16_products.cpp):
// within gamma_{Tp + 1} (|dw| + sum_t |products|), Tp = T rounded up to 32,
// the same bits for any thread count. Adapters' gradients stay f32
// (model/linear.cpp clears the flag for them).
void weight_grad_bf16_products(const ExecContext& ctx, const float* dy, const float* x, int64_t T, int64_t N,
                               int64_t K, float* dw, float scale = 1.0f);

}  // namespace herd::kernels
