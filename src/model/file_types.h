// The whole-file types a Llama GGUF is made in (llama.cpp's llama_ftype): the name
// a user types (herd's lower-case "q4_k_m" or llama-quantize's "Q4_K_M"), the base
// dtype of the layer matrices, the general.file_type id, whether it is a K-quant
// "_M" mix, and the name llama.cpp and Ollama show ("Q4_K_M"). One table for
// make-model, the server's model listing and the coming quantize.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "tensor/dtype.h"

namespace herd::model {

// The gguf_ftype of a type GGUF cannot hold (FP8).
inline constexpr uint32_t kNoGgufFtype = 0xffffffffu;

struct FileType {
  const char* name;      // herd's spelling: "q4_k_m"
  DType base;            // the dtype of most layer matrices
  uint32_t gguf_ftype;   // general.file_type (llama_ftype)
  bool k_m;              // Q4_K_M / Q5_K_M: some layers one step up (use_more_bits)
  const char* display;   // llama.cpp's and Ollama's spelling: "Q4_K_M"
};

std::span<const FileType> file_types();
// By name, case-insensitively (so "Q4_K_M" and "q4_k_m" both work), with
// llama-quantize's aliases ("Q4_K" = Q4_K_M, "Q5_K" = Q5_K_M); nullptr if none.
const FileType* file_type_by_name(std::string_view name);
// By general.file_type; nullptr if herd does not make that type.
const FileType* file_type_by_gguf(uint32_t ftype);
// "f32, f16, bf16, ..." for error messages.
std::string file_type_names();

}  // namespace herd::model
