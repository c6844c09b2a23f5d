// See file_types.h.
#include "model/file_types.h"

#include <cctype>

namespace herd::model {
namespace {

// Which tensors of a K-quant mix get a larger type: model/quant_mix.h.
const FileType kFileTypes[] = {
    {"f32", DType::kF32, 0, false, "F32"},         {"f16", DType::kF16, 1, false, "F16"},
    {"bf16", DType::kBF16, 32, false, "BF16"},     {"q4_0", DType::kQ4_0, 2, false, "Q4_0"},
    {"q4_1", DType::kQ4_1, 3, false, "Q4_1"},      {"q8_0", DType::kQ8_0, 7, false, "Q8_0"},
    {"q5_0", DType::kQ5_0, 8, false, "Q5_0"},      {"q5_1", DType::kQ5_1, 9, false, "Q5_1"},
    {"q4_k_s", DType::kQ4_K, 14, false, "Q4_K_S"},   {"q4_k_m", DType::kQ4_K, 15, true, "Q4_K_M"},
    {"q5_k_s", DType::kQ5_K, 16, false, "Q5_K_S"},   {"q5_k_m", DType::kQ5_K, 17, true, "Q5_K_M"},
    {"q6_k", DType::kQ6_K, 18, false, "Q6_K"},
    // Meta's FP8 (llama31.md 7.1): Hugging Face directories only (GGUF has no row scales).
    {"fp8", DType::kF8_E4M3, kNoGgufFtype, false, "FP8"},
};

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

}  // namespace

std::span<const FileType> file_types() { return kFileTypes; }

const FileType* file_type_by_name(std::string_view name) {
  // llama-quantize's aliases: "Q4_K" is Q4_K_M and "Q5_K" is Q5_K_M.
  if (iequal(name, "q4_k")) name = "q4_k_m";
  if (iequal(name, "q5_k")) name = "q5_k_m";
  for (const FileType& f : kFileTypes)
    if (iequal(name, f.name) || iequal(name, f.display)) return &f;
  return nullptr;
}

const FileType* file_type_by_gguf(uint32_t ftype) {
  for (const FileType& f : kFileTypes)
    if (f.gguf_ftype == ftype && ftype != kNoGgufFtype) return &f;
  return nullptr;
}

std::string file_type_names() {
  std::string names;
  for (const FileType& f : kFileTypes) names += std::string(names.empty() ? "" : ", ") + f.name;
  return names;
}

}  // namespace herd::model
