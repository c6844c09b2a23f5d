// herd quantize: a Llama GGUF in, the same model in another file type out,
// as llama.cpp's llama-quantize writes it.
//
// What is the same as llama-quantize (src/llama-quant.cpp), so that the output
// is the file llama-quantize writes from the same input, byte for byte, where
// llama.cpp's quantizers are deterministic (every type herd writes, with or
// without an importance matrix):
//   - which tensors are quantized: 2-D tensors whose name ends in "weight",
//     except the norms; the rest (norms, rope_freqs) are copied;
//   - the type of each (model/quant_mix.h), --pure, --output-tensor-type and
//     --token-embedding-type;
//   - a tensor already in its new type is copied, not requantized; one in a
//     block-quantized type is refused unless allow_requantize (quality loss);
//   - each row dequantized to f32 exactly (ggml's to_float) and quantized
//     with the reference quantizer (tensor/quant.h: ggml's *_ref order), or,
//     with an importance matrix (imatrix.dat, model/imatrix.h) that has an
//     entry of the tensor's name, with the weighted quantizer
//     (quantize_row_weighted) given the entry's values / ncall, as
//     llama-quantize --imatrix does; an entry whose length is not the row
//     length is an error (token_embd.weight's is ignored, as in llama.cpp);
//   - the metadata: the input's keys in order, with the split keys removed and
//     general.quantization_version (2) and general.file_type appended last;
//   - the tensor order: by layer, then by name (llama_model_loader's
//     weights_map), each at the next 32-byte (or general.alignment) offset.
// The output is written to OUT.tmp and renamed at the end; Ctrl-C (caught by
// catch_interrupts()) stops between tensors and leaves no file.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "base/progress.h"
#include "base/result.h"
#include "base/thread_pool.h"
#include "tensor/dtype.h"

namespace herd::model {

struct QuantizeOptions {
  std::string in;    // a Llama GGUF file
  std::string out;   // the GGUF file to write
  std::string type;  // a file type (model/file_types.h): "q4_k_m", "Q8_0", ...
  bool allow_requantize = false;
  bool pure = false;                          // every matrix in the base type: no mix
  std::optional<DType> output_type;           // the LM head's type, whatever the mix says
  std::optional<DType> token_embedding_type;  // token_embd's type
  std::string imatrix;                        // an imatrix.dat; empty: none
};

struct QuantizeReport {
  int64_t n_tensors = 0, n_converted = 0;
  int64_t n_weighted = 0;  // tensors quantized with the importance matrix
  uint64_t bytes_in = 0, bytes_out = 0;  // tensor data
};

// `log` (nullable) gets one line per tensor ("blk.0.attn_v.weight  f16 -> q6_k");
// `progress` (nullable) counts the output tensor bytes.
Result<QuantizeReport> quantize_gguf(const QuantizeOptions& o, ThreadPool& pool, Progress* progress, FILE* log);

}  // namespace herd::model
