// The writers of a Llama model: a plan (hyperparameters, which tensors in
// which dtype, in file order) and a source of tensor rows in; a GGUF file or
// a Hugging Face directory (safetensors shards + config.json +
// generation_config.json + tokenizer.json + tokenizer_config.json) out, with
// the metadata keys, tensor names (model/llama_tensors.h), llama3
// rope_freqs divisors and HF q/k row permutation of the real releases.
// `make-model` is "random rows -> writer"; quantize, convert and adapter
// export reuse the same writers with other row sources.
//
// Rows are asked for in Meta's order (the GGUF order): the HF writer maps
// each stored row of q_proj/k_proj to the Meta row it holds. Each row is
// converted from f32 with the reference quantizer of the planned dtype, rows
// in parallel on the pool; the source must be thread-safe.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "base/progress.h"
#include "base/result.h"
#include "base/thread_pool.h"
#include "model/file_types.h"
#include "model/llama_tensors.h"
#include "tensor/dtype.h"
#include "tokenizer/vocab.h"

namespace herd::model {

struct ModelShape {
  std::string name;  // "8b", "3.2-1b", "tiny", "custom"
  int64_t d_model = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, d_ff = 0, head_dim = 0;
  bool tied = false;
  double rope_factor = 8.0;
  int64_t n_ctx_train = 131072;
  // Llama 3.1's values; tests set others (rms_eps=, rope_theta=) so that a reader
  // ignoring the file's value and using the usual one is caught.
  double rms_eps = 1e-5;
  double rope_theta = 500000.0;
};

struct TensorPlan {
  LlamaTensor id;
  int64_t layer = -1;            // -1 outside the layers
  std::vector<int64_t> shape;    // outermost first
  DType dtype = DType::kF32;     // as written: GGUF any type with a ggml id; HF F32, F16 or BF16
};

struct ModelPlan {
  ModelShape shape;
  int64_t vocab_size = 128256;
  std::string name;              // general.name
  uint32_t gguf_ftype = 1;       // general.file_type (llama_ftype)
  bool instruct = true;          // eos <|eot_id|> (instruct) or <|end_of_text|> (base)
  std::string chat_template;     // written when not empty (GGUF tokenizer.chat_template, HF tokenizer_config.json)
  std::vector<TensorPlan> tensors;  // file order (for_each_file_tensor)
};

// Writes f32 values of row `meta_row` (Meta order) of tensor `p` into dst[cols].
using RowSource = std::function<void(const TensorPlan& p, int64_t meta_row, float* dst)>;

// The plan of an n_layers model of `shape` with every tensor in `dtype`
// (file order; no output tensor when tied); callers then adjust dtypes.
ModelPlan plan_llama(const ModelShape& shape, DType dtype);

// The plan of file type ft: for GGUF each tensor's dtype as llama-quantize
// chooses it (model/quant_mix.h; norms f32); for HF (hf) every tensor, norms
// included, in ft's dtype (f32, f16 or bf16).
Result<ModelPlan> plan_file_type(const ModelShape& shape, const FileType& ft, bool hf);

// `progress` (nullable) counts the tensor bytes written; a Ctrl-C caught by
// catch_interrupts() (base/progress.h) stops the write between tensors with
// kCancelled, and no partial file is left (writes go to *.tmp, renamed at the end).
Status write_gguf_model(const ModelPlan& plan, const RowSource& rows, const tokenizer::Vocab& vocab, ThreadPool& pool,
                        const std::string& path, Progress* progress);
Status write_hf_model(const ModelPlan& plan, const RowSource& rows, const tokenizer::Vocab& vocab, ThreadPool& pool,
                      const std::string& dir, uint64_t max_shard_bytes, Progress* progress);

}  // namespace herd::model
