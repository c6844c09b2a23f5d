// The DType table.
#include "tensor/dtype.h"

#include <cctype>
#include <string>

#include "base/check.h"

namespace herd {

static const DTypeInfo kDTypes[] = {
    {DType::kF32, "f32", 1, 4, false},      {DType::kF16, "f16", 1, 2, false},
    {DType::kQ4_0, "q4_0", 32, 18, true},   {DType::kQ4_1, "q4_1", 32, 20, true},
    {DType::kQ5_0, "q5_0", 32, 22, true},   {DType::kQ5_1, "q5_1", 32, 24, true},
    {DType::kQ8_0, "q8_0", 32, 34, true},   {DType::kQ4_K, "q4_k", 256, 144, true},
    {DType::kQ5_K, "q5_k", 256, 176, true}, {DType::kQ6_K, "q6_k", 256, 210, true},
    {DType::kBF16, "bf16", 1, 2, false},
};

const DTypeInfo* all_dtypes(int* count) {
  *count = static_cast<int>(sizeof kDTypes / sizeof kDTypes[0]);
  return kDTypes;
}

bool is_known_dtype(uint32_t ggml_type) {
  for (const auto& i : kDTypes)
    if (static_cast<uint32_t>(i.dtype) == ggml_type) return true;
  return false;
}

const DTypeInfo& dtype_info(DType t) {
  for (const auto& i : kDTypes)
    if (i.dtype == t) return i;
  HERD_CHECK(false, "dtype_info: unknown dtype %u", static_cast<unsigned>(t));
}

std::optional<DType> parse_dtype(std::string_view name) {
  std::string lower;
  for (char c : name) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  for (const auto& i : kDTypes)
    if (lower == i.name) return i.dtype;
  return std::nullopt;
}

}  // namespace herd
