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
};

void add_train_options(ArgParser& p, const TrainDefaults& d);

struct TrainSetup {
  train::FinetuneOptions fo;
  train::LoraSpec spec;
  int64_t seq_len = 2048;
  std::string lora_init;  // --lora-init: the adapter to start from ("": a new one)
  std::string model_path;
  std::unique_ptr<model::Runtime> rt;
};

// Reads the shared options and opens the model (file layout, for training).
// On failure prints the error and returns the exit code through *code.
std::unique_ptr<TrainSetup> open_training(const char* command, const ArgParser& p, const TrainDefaults& d, int* code);

// The adapter the run trains: --lora-init's (read for this model) or a new one.
Result<train::LoraSet> training_adapter(const TrainSetup& s);

// Runs the training loop with the progress line and --log-jsonl, then writes
// the adapter (PEFT directory + adapter.gguf in --output). Returns the exit code.
int run_training(const char* command, const ArgParser& p, TrainSetup& s, train::LoraSet& lora,
                 train::Objective& objective);

}  // namespace herd::cli
