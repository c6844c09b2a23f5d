// Activations: the buffers of one forward pass over up to max_tokens tokens
// (the residual stream, a sublayer's normed input, q/k/v, attention output,
// feed-forward chunk), the per-token step description (RoPE position, cache
// index, block table, rows whose logits are wanted) and the kernels' scratch
// (quantized or bf16-rounded activations, attention scores per worker).
//
// Everything is sized once in the constructor, so a forward pass allocates
// nothing (decode_alloc_test). Inference reuses the buffers layer after layer;
// a training step keeps what backward needs by recomputing a layer from its
// input (per-layer checkpointing), which needs only the residual stream at
// each layer's input: keep_layer_inputs() makes the forward pass copy it into
// layer_input(il).
//
// Thread safety: one thread drives it; the kernels it feeds fan out on the pool.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/exec_context.h"
#include "kernels/kernel_table.h"
#include "model/llama_model.h"

namespace herd::model {

class Activations {
 public:
  // max_keys: cache indices per sequence at most (attention scratch);
  // table: the kernel table the pass will run with (bf16 scratch sizing).
  Activations(const LlamaModel& model, const kernels::KernelTable& table, int64_t max_tokens, int64_t max_keys,
              int n_workers);

  int64_t max_tokens() const { return max_tokens_; }
  int64_t max_keys() const { return max_keys_; }
  // `exec` with this object's q8 and bf16 scratch attached.
  kernels::ExecContext bind(kernels::ExecContext exec);
  // Bytes of all buffers.
  uint64_t bytes() const;
  // What bytes() is for Activations(model, table, max_tokens, max_keys,
  // n_workers), without allocating (`herd inspect`'s memory plan).
  static uint64_t planned_bytes(const LlamaModel& model, const kernels::KernelTable& table, int64_t max_tokens,
                                int64_t max_keys, int n_workers);

  // Saves the residual stream entering each held layer i (0-based among the
  // model's held layers) and the last one's output as layer_input(n_held) on
  // the next passes; costs (n_held + 1) * max_tokens * d_model floats.
  void keep_layer_inputs(bool on);
  bool keeping_layer_inputs() const { return !layer_inputs_.empty(); }
  const float* layer_input(int64_t il) const { return layer_inputs_[static_cast<size_t>(il)].data(); }
  // Copies x (the residual stream of T tokens) into layer_input(il) when
  // keeping; nothing otherwise.
  void save_layer_input(int64_t il, int64_t T);

  // Per token t of the current pass (filled by the caller before forward()):
  std::vector<int64_t> pos;            // RoPE position
  std::vector<int64_t> idx;            // cache index (where its K/V row goes; it sees 0..idx)
  std::vector<const int32_t*> tables;  // its sequence's block table, null for a contiguous cache
  std::vector<int64_t> out_rows;       // tokens whose logits are wanted, in output order
  std::vector<int32_t> lora_set;       // its adapter set (model/linear.h; 0: the model's own adapters only)
  // [T, lora_n_weights]: its weights of the model's numbered --lora adapters
  // (LlamaModel::lora_weights(); a serve request's "lora" list). The caller
  // fills them when lora_n_weights > 0.
  std::vector<float> lora_weight;
  int32_t lora_n_weights = 0;
  LoraRows lora_rows() const {
    return {lora_set.data(), lora_n_weights > 0 ? lora_weight.data() : nullptr, lora_n_weights};
  }

  // [T, *] buffers; gate and up hold one feed-forward chunk (model/feed_forward.h).
  std::vector<float> x, xn, q, k, v, attn, proj, gate, up;
  std::vector<float> lora;                      // [max_tokens, model's largest adapter rank] (model/linear.h)
  std::vector<int64_t> tiles;                   // [max_tokens + 1] attention tiles
  std::vector<std::vector<float>> scores;       // [workers][attention_scratch_floats(group, max_keys, hd)]
  std::vector<float*> score_ptrs;

 private:
  struct Sizes;  // element counts of every buffer: the one sizing rule
  static Sizes sizes(const LlamaModel& model, const kernels::KernelTable& table, int64_t max_tokens, int64_t max_keys,
                     int n_workers);
  int64_t max_tokens_, max_keys_;
  std::vector<kernels::BlockQ8> xq_;            // matmul's quantized activations
  std::vector<uint16_t> xb_;                    // matmul's bf16 activations (empty when no weight takes that path)
  std::vector<std::vector<float>> layer_inputs_;
  int64_t d_model_, n_layers_;
};

// Elements of the bf16 activation scratch (ExecContext::bf16) that a pass
// over max_tokens tokens needs: max_tokens times the longest K among the
// model's matmul weights that take the bf16 path in `table` (F16/BF16 on
// avx512bf16 or ref; kernels/matmul_bf16.h), 0 when none does.
int64_t bf16_scratch_elems(const LlamaModel& model, const kernels::KernelTable& table, int64_t max_tokens);

// Blocks of the q8 activation scratch (ExecContext::q8) that a pass over
// max_tokens tokens needs: the largest T x K / 32 (+1 a row) among its
// matmul inputs, w_down's input being one feed-forward chunk
// (model/feed_forward.h).
int64_t q8_scratch_blocks(const LlamaConfig& c, int64_t max_tokens);

}  // namespace herd::model
