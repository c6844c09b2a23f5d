// The training step of a Llama 3.x model: the loss of a packed batch and
// its gradients with respect to the attached LoRA adapters (model/linear.h),
// for full fine-tuning every weight of the model (embedding, norms, the
// seven matrices of each layer, the head), and the model's input (the hidden
// states entering the first layer), by backpropagation with per-layer
// checkpointing (or, as an option, every layer's intermediates kept). A matrix's own gradient is kernels::weight_grad of its
// output gradient and its input (dW = dY^T X), a norm's comes with
// rms_norm_backward, the embedding's is the input gradient's rows added at
// the batch's token ids (on top of the head's, when tied).
//
// Forward: the layer computation of llama_forward.cpp (same ops, same order,
// every matmul on the exact f32 path: ExecContext::exact_f32), except that
// attention reads the f32 keys and values of the batch itself with
// kernels::attention_train (packed sequences never see each other) instead of
// a KV cache; with an f32 cache and exact_f32 the logits equal
// llama_forward's bitwise (llama_train_test). The residual stream entering
// each layer is kept; the backward walks the layers last to first,
// recomputing each one's intermediates from its input (memory: (layers + 1)
// x T x d_model floats for the inputs plus one layer's intermediates).
// The loss is the cross-entropy of each counted position's next-token label
// (kernels::cross_entropy_backward: the vocabulary in chunks).
//
// Thread safety: one thread drives a TrainStep; kernels fan out on the pool.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "base/result.h"
#include "kernels/backward.h"
#include "kernels/exec_context.h"
#include "model/llama_model.h"

namespace herd::model {

// T tokens of one or more sequences packed one after another.
struct TrainBatch {
  std::vector<int32_t> tokens;  // [T]
  std::vector<int32_t> labels;  // [T]: the id to predict after token t; < 0: not in the loss
  std::vector<int64_t> pos;     // [T]: RoPE position within its sequence
  std::vector<int32_t> first;   // [T]: index in the batch of its sequence's first token
  // Appends one sequence whose every next token is a label (the last token
  // has none) unless mask[i] is false for token i + 1 (mask: empty = all).
  void add_sequence(const std::vector<int32_t>& ids, const std::vector<bool>& mask = {});
};

// Gradient buffers of one adapter (the trained adapter 0 of a Linear):
// da [rank, K] and db [N, rank], added to by a step. Null: not trained.
struct LoraGrad {
  float* da = nullptr;
  float* db = nullptr;
};
// What a step's backward adds to in one layer: per matrix, in
// for_each_layer_linear order (wq, wk, wv, wo, w_gate, w_up, w_down), its
// adapter's gradients and, for full fine-tuning, the matrix's own dW [N, K];
// and the two norms' weights [d_model]. Null: not trained.
struct LayerGrads {
  std::array<LoraGrad, 7> lora{};
  std::array<float*, 7> weight{};
  float* attn_norm = nullptr;
  float* ffn_norm = nullptr;
};
// Everything a step can train: one LayerGrads per layer (or none: nothing in
// the layers), and the tensors outside them (full fine-tuning; null: frozen).
struct TrainGrads {
  std::vector<LayerGrads> layers;
  float* tok_embd = nullptr;     // [vocab, d_model]: the rows of the batch's tokens
  float* output_norm = nullptr;  // [d_model]
  float* output = nullptr;       // [vocab, d_model]; a tied model: the tok_embd buffer
};

class TrainStep {
 public:
  // A step over up to max_tokens tokens of `model` (which must hold all its
  // layers, in the file layout: not repacked).
  TrainStep(const LlamaModel& model, int64_t max_tokens);

  // The loss of `batch`: returns the sum over counted positions of
  // -log p(label) and their count. With grads, adds grad_scale times the
  // gradient of that sum with respect to everything grads names (adapters'
  // A and B, and for full fine-tuning the weights themselves); with d_input
  // (a [T, d_model] buffer), writes the gradient with respect to the hidden
  // states entering layer 0.
  // exec's exact_f32 is set for the step. Errors: a batch too long, ids
  // outside the vocabulary, inconsistent batch fields, a model it cannot train.
  Result<kernels::CeResult> run(kernels::ExecContext exec, const TrainBatch& batch, float grad_scale,
                                TrainGrads* grads, float* d_input = nullptr);

  // The general form of run: after the forward, `weigh` gets each
  // position's loss, -log p(label) (0 where not counted), and sets scale[t],
  // the gradient's factor for position t (d(total loss)/d(loss_t); a loss
  // built on per-sequence log-prob sums, such as DPO's, sets it per
  // sequence); the backward then runs with those factors. weigh runs without
  // grads and d_input too (the way to read per-token log-probs). run(scale)
  // is run_weighted with every factor = scale.
  using TokenWeigher = std::function<void(std::span<const double> nll, std::span<float> scale)>;
  Result<kernels::CeResult> run_weighted(kernels::ExecContext exec, const TrainBatch& batch, const TokenWeigher& weigh,
                                         TrainGrads* grads, float* d_input = nullptr);

  // The most general form: after the forward, `head` gets the final normed
  // hidden states xn [T, D] and the output weight, returns the loss and, when
  // dxn is set (a backward: grads or d_input given), writes d(loss)/d(xn)
  // [T, D] there and, when dw is set too (the head is trained), adds
  // d(loss)/d(output) [vocab, D] to dw; the backward then runs from dxn.
  // scratch holds kernels::ce_scratch_floats(T, D) floats. run_weighted is
  // run_head with the cross-entropy head; distillation's head is a
  // soft-target one.
  using Head = std::function<Result<kernels::CeResult>(const kernels::ExecContext& exec, const float* xn, int64_t T,
                                                       const TensorView& output, float* dxn, float* dw,
                                                       float* scratch)>;
  Result<kernels::CeResult> run_head(kernels::ExecContext exec, const TrainBatch& batch, const Head& head,
                                     TrainGrads* grads, float* d_input = nullptr);

  // Activation checkpointing (on by default): the forward keeps only each
  // layer's input and the backward recomputes the layer's intermediates
  // from it. Off: every layer's intermediates are kept from the forward
  // (no recomputation, about a quarter less work; memory: per layer about
  // T x (3 d_model + 2 q + 2 kv + 3 d_ff + n_heads) floats). The results are the same
  // bits either way.
  void set_activation_checkpointing(bool on);
  // The memory that turning checkpointing off adds for steps of `tokens`
  // tokens: every layer's kept intermediates, and the head's logits (run and
  // run_weighted keep them between the loss and the gradient pass when they
  // take at most kKeptLogitsBytes: a third less of the head's work, the same
  // bits), in bytes.
  static constexpr int64_t kKeptLogitsBytes = int64_t{512} << 20;
  static int64_t kept_intermediate_bytes(const LlamaConfig& c, int64_t tokens);

  // LoRA dropout (PEFT's lora_dropout): in a pass with a backward, each
  // attached set-0 adapter sees its input x * factor, factor 0 with
  // probability p and 1 / (1 - p) otherwise, drawn per (layer, matrix,
  // token, feature) from a counter-based stream of (seed, salt): the same
  // mask in the forward, its recomputation and the backward, and the same for
  // the same salt in another process (the training loop passes the micro-step
  // number, so a resumed run draws what an unstopped one did). Passes without
  // a backward (evaluation, reference log-probs, logits) see no dropout.
  void set_lora_dropout(double p, uint64_t seed);
  void set_dropout_salt(uint64_t salt) { dropout_salt_ = salt; }
  // The factors of (layer, slot) for T tokens of K features (tests and the
  // gradient reference dump them).
  void dropout_factors(size_t layer, int slot, int64_t T, int64_t K, float* out) const;

  // The training forward's logits of every position ([T, vocab], tests:
  // they equal the inference forward's) .
  Status logits(kernels::ExecContext exec, const TrainBatch& batch, std::vector<float>* out);

 private:
  Status check(const TrainBatch& b) const;
  void embed(const kernels::ExecContext& exec, const TrainBatch& b);
  void layer_forward(const kernels::ExecContext& exec, const TrainBatch& b, size_t il, const float* x_in,
                     float* x_out);
  void layer_backward(const kernels::ExecContext& exec, const TrainBatch& b, size_t il, const float* x_in,
                      float* dx, LayerGrads* g);

  // The adapters' input of matrix `slot` of layer il: x itself, or with
  // dropout active x * factors (written to drop_x_, the factors to drop_f_).
  const float* lora_input(size_t il, int slot, const Linear& lin, const float* x, int64_t T, int64_t K);
  const float* lora_factor(const Linear& lin) const;

  const LlamaModel& model_;
  int64_t max_tokens_;
  double dropout_ = 0;
  uint64_t dropout_seed_ = 0, dropout_salt_ = 0;
  bool dropout_active_ = false;  // set for the passes of a step with a backward
  std::vector<float> drop_x_, drop_f_;
  int64_t max_rank_;
  std::vector<std::vector<float>> inputs_;  // [n_layers + 1][T, D]
  // One layer's intermediates: one set, recomputed in the backward
  // (checkpointing, the default), or one per layer, kept from the forward.
  struct LayerActs {
    std::vector<float> xn1, q, k, v, attn, lse, xmid, xn2, gate, up, h;
  };
  void size_acts(LayerActs& a) const;
  LayerActs& acts(size_t il) { return acts_[acts_.size() == 1 ? 0 : il]; }
  std::vector<LayerActs> acts_;
  std::vector<float> xf_, proj_;  // the final norm's output; a projection's output
  // Gradients' scratch.
  std::vector<float> dxn_, dq_, dk_, dv_, dattn_, dh_, dg_, du_, tmp_, lora_, ce_;
  std::vector<float> kept_logits_;  // run_weighted's logits between its two passes (intermediates kept)
};

}  // namespace herd::model
