// DebertaClassifier: a DeBERTa-v2/v3 sequence classifier (Prompt Guard and
// Prompt Guard 2) loaded from its Hugging Face directory as released
// (config.json, model.safetensors, tokenizer.json), with its own forward pass:
// it is an encoder, not a Llama, so it shares the kernels and nothing else.
//
// The forward follows transformers' DebertaV2ForSequenceClassification:
// word embeddings (+ absolute positions when position_biased_input, + the
// token-type row 0 when type_vocab_size > 0, through embed_proj when
// embedding_size differs) -> LayerNorm; each layer: disentangled attention
// (docs/guard.md, Prompt Guard) -> dense -> LayerNorm(+ residual) -> dense ->
// GELU -> dense -> LayerNorm(+ residual); the pooler (token 0 -> dense -> GELU)
// and the classifier. Attention of query i to key j:
//   softmax_j((q_i.k_j + q_i.pk[r] + k_j.pq[r]) / sqrt(hd * (1 + c2p + p2c)))
// with r = clamp(bucket(i - j) + span, 0, 2 span - 1), pk / pq the
// (LayerNorm-ed) relative embeddings through the layer's key / query
// projection (or its pos_key_proj / pos_query_proj when share_att_key is
// off). Every sequence is one window attended alone (no padding), so a
// window's logits do not depend on what else is in the batch.
//
// Weights stay where the file maps them (F32, F16 or BF16; matmul reads each
// dtype); biases and norms are copied to f32. Every tensor's presence, dtype
// and shape is checked at load, errors naming the tensor.
//
// Thread safety: immutable after load; classify() may run from one thread at
// a time per ExecContext (its pool).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "formats/hf_checkpoint.h"
#include "kernels/exec_context.h"
#include "kernels/kernel_table.h"
#include "model/deberta/deberta_config.h"
#include "tensor/tensor_view.h"
#include "tokenizer/unigram.h"

namespace herd::model::deberta {

struct DebLinear {
  TensorView w;          // [out, in]
  std::vector<float> b;  // [out]; empty: no bias
};
struct DebNorm {
  std::vector<float> w, b;
};
struct DebLayer {
  DebLinear q, k, v, pos_k, pos_q, attn_out, inter, out;
  DebNorm attn_ln, out_ln;
};

class DebertaClassifier {
 public:
  // Windows per forward pass in classify(): their linear layers run as one
  // matmul of every window's rows.
  static constexpr int64_t kBatchWindows = 8;

  static Result<DebertaClassifier> load(const std::string& dir);

  // The linear layers' weights rearranged for `table` (model/repack_matrix.h:
  // BF16/F16 to the r16 layout the bf16 path's tiles stream, AMX's included;
  // with f32_to_bf16, F32 too, rounded to bf16); the model then runs only
  // with that table. Returns how many moved.
  int repack_weights(const kernels::KernelTable& table, ThreadPool& pool, bool f32_to_bf16 = false);

  DebertaClassifier() = default;
  DebertaClassifier(DebertaClassifier&&) noexcept = default;
  DebertaClassifier& operator=(DebertaClassifier&&) noexcept = default;

  const DebertaConfig& config() const { return config_; }
  const tokenizer::UnigramTokenizer& tokenizer() const { return tok_; }
  int64_t max_window() const { return config_.max_position_embeddings; }
  // The first layer's query weight, as loaded and repacked (what the linear
  // layers' dtype and path are, for reports).
  const TensorView& first_linear() const { return layers_.front().q.w; }
  // Whether repack_weights made the relative-position projections (forward
  // then does not).
  bool relative_projections_cached() const { return !rel_pkt_.empty(); }

  // The text's pieces in windows of at most max_window() - 2, each wrapped in
  // the tokenizer's template ([CLS] ... [SEP]); one window for empty text.
  std::vector<std::vector<int32_t>> windows(std::string_view text) const;

  // Logits [num_labels] of each window (ids in range, 1..max_window() each).
  Result<std::vector<std::vector<float>>> classify(const kernels::ExecContext& ctx,
                                                   const std::vector<std::vector<int32_t>>& windows) const;

 private:
  // One batch of windows through the encoder and the head.
  void forward(const kernels::ExecContext& ctx, const std::vector<const std::vector<int32_t>*>& batch,
               std::vector<std::vector<float>>* logits) const;
  // Layer L's relative-position projections of `rows` rows of relative
  // embeddings (rel: the first of them) per head, transposed: pkt and pqt
  // [H, rows] (row h * hd + d; the right operands of Q Krᵀ and K Qrᵀ), zero
  // where the model has no c2p / p2c term. pk, pq: [rows, H] scratch.
  void relative_projections(const kernels::ExecContext& ctx, const DebLayer& L, const float* rel, int64_t rows,
                            float* pk, float* pq, float* pkt, float* pqt) const;

  DebertaConfig config_;
  formats::HfCheckpoint ckpt_;
  tokenizer::UnigramTokenizer tok_;
  TensorView word_, pos_, type_;
  DebLinear embed_proj_;
  DebNorm emb_ln_;
  std::vector<float> rel_;  // [2 span, hidden]: rel_embeddings, LayerNorm-ed when norm_rel_ebd
  std::vector<DebLayer> layers_;
  DebLinear pooler_, classifier_;
  std::vector<std::unique_ptr<uint8_t[]>> packed_;  // repack_weights' buffers
  // Per layer, relative_projections of all 2 span relative embeddings, made by
  // repack_weights with its table (they do not depend on the input); empty:
  // forward() computes the rows it needs.
  std::vector<std::vector<float>> rel_pkt_, rel_pqt_;
};

}  // namespace herd::model::deberta
