// Runtime: the one startup path of every command that computes with a model
// (run, chat, bench, serve): pick the kernel table, load the model, start the
// thread pool, repack the weights for that same table, in that order. What it
// returns is what the forward pass then uses, so a repacked layout and the
// kernels that read it can never come from two different tables (serve used
// to repack with a table of its own and trust the engine to pick the same).
//
// Thread safety: the pool takes work from one thread at a time (the command's
// main thread, or the engine's thread once an engine is made from it).
#pragma once

#include <memory>
#include <string>

#include "base/result.h"
#include "base/thread_pool.h"
#include "kernels/exec_context.h"
#include "kernels/kernel_table.h"
#include "model/llama_model.h"

namespace herd::model {

struct RuntimeOptions {
  std::string model_path;
  std::string isa = "auto";  // kernels::select_kernels
  int threads = 1;
  // A progress line for the load (base/progress.h) goes here when non-null.
  FILE* progress = nullptr;
  // false: keep the file layout (training reads weights as stored: TrainStep).
  bool repack = true;
  // FP8 models: Meta's dynamic FP8 activations (LlamaModel::use_fp8_dynamic_activations).
  bool fp8_dynamic_activations = false;
};

class Runtime {
 public:
  // Errors: an unknown or unsupported ISA, the model's load errors.
  static Result<std::unique_ptr<Runtime>> open(const RuntimeOptions& options);

  LlamaModel& model() { return model_; }
  const LlamaModel& model() const { return model_; }
  const kernels::KernelTable& table() const { return table_; }
  ThreadPool& pool() { return *pool_; }
  // The pool and the table; callers attach their own scratch and timers.
  kernels::ExecContext exec() { return kernels::ExecContext{pool_.get(), &table_}; }
  // Seconds from open() start to ready (load + repack).
  double startup_s() const { return startup_s_; }

 private:
  Runtime() = default;
  kernels::KernelTable table_;
  LlamaModel model_;
  std::unique_ptr<ThreadPool> pool_;
  double startup_s_ = 0;
};

}  // namespace herd::model
