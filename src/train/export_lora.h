// herd export-lora: a base model with LoRA adapters merged into its weights,
// written as a model of the base's format (llama.cpp's llama-export-lora for
// GGUF; PEFT's merge_and_unload + save_pretrained for a Hugging Face directory).
//
// Each adapted matrix becomes W + sum_i weight_i * scale_i * B_i A_i, computed
// from W's exact f32 values (dequantized) with double accumulation, then stored:
//   - GGUF base: F32 if W is F32, else F16 (as llama-export-lora does; a
//     quantized base is not re-quantized: run `herd quantize` on the result),
//     general.file_type F16; every other tensor and all metadata copied;
//   - HF directory: in W's dtype (F32, F16 or BF16), the same shard files and
//     tensor names; config.json, tokenizer files and the index copied.
// Adapters in either file format (train/lora_set.h), each checked against the
// base's shapes. The output is written to a temporary name and renamed at the
// end; Ctrl-C (catch_interrupts()) stops between tensors and leaves nothing.
#pragma once

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "base/progress.h"
#include "base/result.h"
#include "base/thread_pool.h"

namespace herd::train {

struct ExportLoraOptions {
  std::string base;                                   // GGUF file or HF directory
  std::vector<std::pair<std::string, float>> adapters;  // path, weight
  std::string out;                                    // GGUF file or HF directory (as the base)
};

struct ExportLoraReport {
  int64_t n_tensors = 0, n_merged = 0;
};

Result<ExportLoraReport> export_lora(const ExportLoraOptions& o, ThreadPool& pool, Progress* progress, FILE* log);

}  // namespace herd::train
