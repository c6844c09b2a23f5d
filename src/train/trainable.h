// Trainable: what a training run changes, for the one training loop
// (train/finetune.h): LoRA adapters over a frozen base (train/lora_set.h) or,
// for full fine-tuning, the model's own weights as f32 master values
// (train/full_weights.h). Either gives the loop the same things: the
// optimizer's parameters (values with their gradients), the gradient
// buffers the training step adds to (model::TrainGrads), every value in a
// fixed order for checkpoints, and a fingerprint of what shapes it (a
// checkpoint resumes only under the same).
//
// Thread safety: one thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "model/llama_model.h"
#include "model/llama_train.h"
#include "train/optimizer.h"

namespace herd::train {

class Trainable {
 public:
  virtual ~Trainable() = default;
  // Makes `model`'s forward pass use the trained values (attaches the
  // adapters; points the weights at the master copy).
  virtual Status prepare(model::LlamaModel& model) = 0;
  virtual std::vector<Param> params() = 0;
  virtual model::TrainGrads& grads() = 0;
  virtual void zero_grads() = 0;
  virtual int64_t n_params() const = 0;
  // Every value, in a fixed order (checkpoints).
  virtual std::vector<std::span<float>> values() = 0;
  virtual std::string fingerprint() const = 0;
  // After the last step: gives the gradients' memory back (the values stay,
  // for saving). grads() must not be used after it.
  virtual void release_gradients() {}
  // LoRA dropout's probability (model::TrainStep::set_lora_dropout); 0: none.
  virtual double lora_dropout() const { return 0.0; }
};

}  // namespace herd::train
