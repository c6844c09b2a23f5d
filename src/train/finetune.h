// The training loop of `herd finetune` and `herd dpo`: an objective's items
// (objective.h: SFT examples, preference pairs) through the training step
// (model/llama_train.h) with what it trains (trainable.h: LoRA adapters, or
// every weight for full fine-tuning) and AdamW (optimizer.h).
//
// An epoch visits every training item once in an order shuffled from the
// seed; `batch` items are packed into one step (their attention kept apart),
// `grad_accum` steps make one optimizer step, whose loss is the mean over its
// items' denominators (SFT: all its trained tokens, as torchtune normalises by
// the tokens of the whole optimizer step; DPO: its pairs). The learning rate follows the warmup + cosine schedule over
// all optimizer steps; gradients are clipped by global norm. A held-out split
// (val_split of the items, chosen from the seed) is evaluated after every
// epoch. Everything is a function of the seed and the data: two runs give the
// same losses bit for bit.
//
// Checkpoints: with a checkpoint path, the trained values, the optimizer's moments
// and the step count are written (a safetensors file, atomically) every
// save_every optimizer steps and when the run is stopped; resuming from one
// skips the steps it covers (the shuffles and split are the seed's) and
// continues bit-identically: the same losses and adapter as a run that was
// never stopped. A checkpoint records the options that shape the run and
// refuses to resume under different ones.
//
// Thread safety: one thread drives it; kernels fan out on the pool.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "kernels/exec_context.h"
#include "model/llama_model.h"
#include "train/trainable.h"
#include "train/objective.h"
#include "train/optimizer.h"

namespace herd::train {

struct FinetuneOptions {
  int64_t epochs = 1;
  int64_t batch = 2;          // examples per step
  int64_t grad_accum = 1;     // steps per optimizer step
  int64_t max_steps = 0;      // optimizer steps at most (0: the epochs decide)
  int64_t warmup = 100;       // optimizer steps (capped at a tenth of the total)
  double clip = 1.0;          // global gradient norm (0: none)
  double val_split = 0.0;     // share of the examples held out
  uint64_t seed = 0;
  AdamWOptions adamw;
  std::string checkpoint;  // path of the checkpoint file ("" : none)
  int64_t save_every = 0;  // optimizer steps between checkpoints (0: only when stopped)
  bool resume = false;     // continue from `checkpoint`
  // Recompute each layer's intermediates in the backward (memory) or keep
  // them (speed); the same results either way, so not part of a checkpoint's
  // options. Callers decide (use_activation_checkpointing below).
  bool activation_checkpointing = true;
  // --bf16: the model's products in bf16 (kernels::ExecContext::bf16_products);
  // part of a checkpoint's options (it changes every loss).
  bool bf16_products = false;
};

// --activation-checkpointing on | off | auto.
enum class Checkpointing { kAuto, kOn, kOff };
// Whether to checkpoint: kOn / kOff as asked; kAuto keeps the intermediates
// (off) when they take at most a quarter of the memory available
// (kept_bytes: model::TrainStep::kept_intermediate_bytes at the longest step;
// available: host_memory.h), and checkpoints when that is unknown. A 3.2-1B
// LoRA step at sequence 256 then keeps 0.6 GB and runs ~25% faster (a
// quarter less work); an 8B at sequence 2048 (17 GB) checkpoints on 24 GB.
bool use_activation_checkpointing(Checkpointing mode, int64_t kept_bytes, std::optional<int64_t> available_bytes);

// One optimizer step's report (the progress line and --log-jsonl).
struct StepReport {
  int64_t step = 0, total_steps = 0, epoch = 0;
  double loss = 0;        // mean over the step's trained tokens
  double lr = 0, grad_norm = 0;
  int64_t tokens = 0;     // tokens processed (trained or not)
  double seconds = 0;     // wall time of the step
  double eval_loss = -1;  // set on the last step of an epoch when there is a held-out split
  // The objective's metrics (Objective::metric_names(), same order), means
  // like the loss; eval_metrics beside eval_loss.
  std::vector<double> metrics, eval_metrics;
};

struct FinetuneResult {
  int64_t steps = 0;
  int64_t resumed_from = 0;  // steps the checkpoint covered
  double first_loss = 0, last_loss = 0, eval_loss = -1;
  int64_t train_examples = 0, eval_examples = 0;
};

// Trains `trained` (adapters, or the weights themselves; prepared on
// `model` first) on `objective`. on_step runs after every
// optimizer step; returning false stops the run (Ctrl-C) after that step.
Result<FinetuneResult> finetune(kernels::ExecContext exec, model::LlamaModel& model, Trainable& trained,
                                Objective& objective, const FinetuneOptions& o,
                                const std::function<bool(const StepReport&)>& on_step);

}  // namespace herd::train
