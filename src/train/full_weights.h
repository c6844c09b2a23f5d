// FullWeights: full fine-tuning (train/trainable.h). Every weight of a Llama
// model (the embedding table, each layer's two norms and seven matrices, the
// final norm, the LM head unless tied to the embedding) becomes an f32
// master copy with an f32 gradient, read as the exact values the model
// stores (LlamaModel::read_row_f32: dequantized, FP8 times its row scales);
// prepare() points the model's forward pass at the copies
// (LlamaModel::use_f32_weights), so the training step reads and AdamW
// updates the same memory. Every tensor is trained, norms and embedding
// included, as torchtune's full fine-tuning recipes pass all of
// model.parameters() to AdamW (weight decay on all of them).
//
// Memory: 16 bytes per parameter (value, gradient, two AdamW moments), the
// same as PyTorch's f32 AdamW, or about 10 with 8-bit moments (`--optimizer
// adamw8bit`, train/optimizer.h); `herd finetune --full` says how much before
// it starts. The model's file pages, read once for the copies, are given back. A tied model trains one tensor for the embedding and the head:
// both gradients add into it.
//
// The trained model is saved by herd convert's writer from the prepared
// model (model::write_converted): a GGUF file or a Hugging Face directory
// with the base's metadata, tokenizer and chat template, in any file type
// convert makes.
//
// Thread safety: one thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "model/llama_model.h"
#include "train/trainable.h"

namespace herd::train {

class FullWeights final : public Trainable {
 public:
  // The master copy of every weight of `model` (which must hold all its
  // layers, in the file layout, without adapters).
  static Result<FullWeights> create(const model::LlamaModel& model, ThreadPool& pool);
  // The bytes create() and the optimizer would take for `model` (values,
  // gradients, AdamW's moments: f32 or, moments_8bit, blockwise 8-bit).
  static uint64_t bytes_needed(const model::LlamaModel& model, bool moments_8bit = false);

  Status prepare(model::LlamaModel& model) override;
  model::TrainGrads& grads() override { return grads_; }
  std::vector<Param> params() override;
  void zero_grads() override;
  // Full fine-tuning's gradients are as large as the weights: freed before the model is written.
  void release_gradients() override;
  int64_t n_params() const override;
  std::vector<std::span<float>> values() override;
  std::string fingerprint() const override { return "full"; }

 private:
  struct Tensor {
    model::LlamaTensor id;
    int64_t layer = -1;
    std::vector<float> value, grad;
  };
  float* find(model::LlamaTensor id, int64_t layer, bool grad);
  std::vector<Tensor> tensors_;
  model::TrainGrads grads_;
};

}  // namespace herd::train
