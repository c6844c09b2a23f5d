// The options and the run of herd's training commands (herd finetune, herd
// dpo): one list of the shared flags (model, data, output, LoRA, schedule,
// batch, checkpoints, threads), one reading of them, and one driver of the
// training loop (train/finetune.h) with its progress line, --log-jsonl,
// Ctrl-C and the adapter written in both formats.
#pragma once

#include <memory>
#include <string>

#include "args.h"
#include "model/runtime.h"
#include "train/finetune.h"
#include "train/lora_set.h"

namespace herd::cli {

// The defaults that differ between commands.
struct TrainDefaults {
  // The flag naming the model trained (herd distill: "-m,--student") and its help.
  std::string model_flag = "-m,--model";
  std::string model_help = "the base model: a .gguf file or a Hugging Face directory (any stored dtype; it stays frozen)";
  int64_t rank = 8;
  double lr = 3e-4;
  double weight_decay = 0.01;
  int64_t batch = 2;
  // Sequences in one --data item (herd dpo: a chosen and a rejected one), each up to --seq-len tokens.
  int64_t sequences_per_item = 1;
};

void add_train_options(ArgParser& p, const TrainDefaults& d);

// rt's pool and table, with the bf16 products when bf16 (--bf16; checked
// against the table by check_bf16 when the run opens).
kernels::ExecContext train_exec(model::Runtime& rt, bool bf16);
// --bf16 needs a bf16 product in the table (AVX512_BF16 or AMX, or ISA ref's
// scalar specification): an error naming the ISA otherwise.
Status check_bf16(const model::Runtime& rt, bool bf16);

struct TrainSetup {
  train::FinetuneOptions fo;
  train::LoraSpec spec;
  int64_t seq_len = 2048;
  std::string lora_init;  // --lora-init: the adapter to start from ("": a new one)
  bool full = false;      // --full: every weight trained (train/full_weights.h)
  std::string save_type;  // --save-type: the trained model's file type ("": the base's float type)
  DType base_dtype = DType::kF32;  // the base's layer matrices as stored
  std::string model_path;
  std::unique_ptr<model::Runtime> rt;
  bool bf16 = false;  // --bf16: the base's products in bf16 (kernels::ExecContext::bf16_products)
  // The runtime's pool and table with --bf16 applied: what every pass of the run uses.
  kernels::ExecContext exec() const { return train_exec(*rt, bf16); }
};

// Reads the shared options and opens the model (file layout, for training).
// On failure prints the error and returns the exit code through *code.
std::unique_ptr<TrainSetup> open_training(const char* command, const ArgParser& p, const TrainDefaults& d, int* code);

// What the run trains: with --full every weight of the model (an f32 master
// copy), else --lora-init's adapter (read for this model) or a new one.
// *what describes it for the command's first line ("LoRA rank 8 alpha 16 on
// q,v: 1234 parameters").
Result<std::unique_ptr<train::Trainable>> training_target(const TrainSetup& s, std::string* what);

// Runs the training loop with the progress line and --log-jsonl, then writes
// the result into --output: the adapter (PEFT directory + adapter.gguf), or
// with --full the model (model.gguf for a GGUF base or a quantized
// --save-type, else a Hugging Face directory `model`). Returns the exit code.
int run_training(const char* command, const ArgParser& p, TrainSetup& s, train::Trainable& trained,
                 train::Objective& objective);

}  // namespace herd::cli
