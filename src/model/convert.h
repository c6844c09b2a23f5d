// herd convert: a Llama model written in another format or type, through the
// writers (model/model_writer.h); OUT ending in ".gguf" is a GGUF file, any
// other OUT a new Hugging Face directory:
//   - a Hugging Face directory -> a GGUF file with the metadata keys, tensor
//     names, Meta q/k row order, rope_freqs divisors and chat template that
//     llama.cpp's convert_hf_to_gguf.py writes, in any file type herd makes
//     (llama-quantize's tensor mix for the quantized ones);
//   - a GGUF file or an HF directory -> a Hugging Face directory (config.json,
//     generation_config.json, tokenizer.json, tokenizer_config.json with the
//     model's chat template, safetensors shards in HF's q/k row order), f32,
//     f16, bf16, or fp8 (Meta's fp8_mixed: the FFN matrices of layers 1..L-2 in
//     F8_E4M3 with row scales, the rest bf16, quantization_config fbgemm_fp8).
// Every value is read as exact f32 (dequantized) and written with the reference
// quantizer of its new dtype, so a conversion between float types that can hold
// the values (bf16 -> bf16, f16 -> f32, ...) is exact, and HF -> GGUF -> HF gives
// back the same tensors.
//
// What the writers can express is what converts: Llama 3.x shapes with llama3
// RoPE scaling (low 1, high 4, original context 8192; any factor, or none) or
// none; anything else is refused with the reason.
#pragma once

#include <string>

#include "base/progress.h"
#include "base/result.h"
#include "base/thread_pool.h"
#include "model/llama_model.h"

namespace herd::model {

struct ConvertOptions {
  std::string in;   // GGUF file or HF directory
  std::string out;  // "*.gguf": a GGUF file; otherwise a new HF directory
  // A file type (model/file_types.h). Empty: the source's own float dtype (f32,
  // f16 or bf16); f32 for a quantized GGUF (its values are exact in f32 only).
  std::string type;
  uint64_t max_shard_bytes = 5ull << 30;  // HF output
};

Status convert_model(const ConvertOptions& o, ThreadPool& pool, Progress* progress);

// The same from a loaded model, its weights as they are now (herd finetune
// --full writes its trained f32 weights this way); o.in names the source
// (general.name of an HF or Meta source, the tokenizer's chat template is
// the model's). An empty o.type takes the model's current matrix dtype.
Status write_converted(const LlamaModel& m, const ConvertOptions& o, ThreadPool& pool, Progress* progress);

}  // namespace herd::model
