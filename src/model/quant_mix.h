// Which dtype each tensor of a Llama model gets in a given file type: the
// rules of llama.cpp's llama-quantize (src/llama-quant.cpp,
// llama_tensor_get_type) for the file types herd makes, written once for
// `herd quantize` and `herd make-model`, so a file herd writes has the tensor
// types of the file llama-quantize writes from the same input.
//
// For a quantized file type (the plain float types put every matrix in that type):
//   - the LM head (output.weight, or token_embd.weight when the model has no
//     output tensor, i.e. tied embeddings) is Q6_K unless the type is Q8_0;
//   - attn_v: Q4_K_M / Q5_K_M give Q6_K in the use_more_bits layers (the
//     first and last eighth and every third layer between), Q4_K_S gives Q5_K
//     in layers 0-3; a 70B (80 layers, grouped-query attention) raises a
//     Q4_K attn_v to Q5_K;
//   - ffn_down: Q4_K_M / Q5_K_M give Q6_K in the use_more_bits layers, Q4_K_S
//     gives Q5_K in the first eighth of the layers; with an importance matrix,
//     Q4_0 / Q5_0 give Q4_1 / Q5_1 in the first eighth;
//   - a row length the chosen type's block does not divide falls back as
//     llama.cpp does (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, then F16);
//     for the legacy types it is an error, as in llama.cpp.
// Norm vectors are not quantized (the caller keeps them in f32).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>

#include "base/result.h"
#include "model/file_types.h"
#include "model/llama_tensors.h"
#include "tensor/dtype.h"

namespace herd::model {

struct QuantMixModel {
  int64_t n_layers = 0;
  int64_t n_heads = 0, n_kv_heads = 0;
  bool has_output = true;  // false: tied embeddings (token_embd serves as the LM head)
  bool has_imatrix = false;  // quantizing with an importance matrix (changes Q4_0/Q5_0's ffn_down)
};

// llama.cpp's use_more_bits(i, n).
bool use_more_bits(int64_t layer, int64_t n_layers);

// The dtype of matrix `t` of layer `layer` (-1 outside the layers) with rows
// of `cols` elements. kInvalidArgument when no type of the family can hold a
// row of that length.
Result<DType> quant_mix_dtype(const FileType& ft, LlamaTensor t, int64_t layer, int64_t cols, const QuantMixModel& m);

}  // namespace herd::model
