// The DType table.
#include "tensor/dtype.h"

#include <cctype>
#include <string>

#include "base/check.h"

namespace herd {

static const DTypeInfo kDTypes[] = {
    {DType::kF32, "f32", 1, 4, false, false},       {DType::kF16, "f16", 1, 2, false, false},
    {DType::kBF16, "bf16", 1, 2, false, false},     {DType::kQ4_0, "q4_0", 32, 18, true, false},
    {DType::kQ4_1, "q4_1", 32, 20, true, false},    {DType::kQ5_0, "q5_0", 32, 22, true, false},
    {DType::kQ5_1, "q5_1", 32, 24, true, false},    {DType::kQ8_0, "q8_0", 32, 34, true, false},
    {DType::kQ4_K, "q4_k", 256, 144, true, false},  {DType::kQ5_K, "q5_k", 256, 176, true, false},
    {DType::kQ6_K, "q6_k", 256, 210, true, false},  {DType::kF8_E4M3, "f8_e4m3", 1, 1, true, true},
};
static_assert(sizeof kDTypes / sizeof kDTypes[0] == kDTypeCount, "one DTypeInfo per DType");

const DTypeInfo* all_dtypes(int* count) {
  *count = kDTypeCount;
  return kDTypes;
}

const DTypeInfo& dtype_info(DType t) {
  const auto i = static_cast<unsigned>(t);
  HERD_CHECK(i < static_cast<unsigned>(kDTypeCount) && kDTypes[i].dtype == t, "dtype_info: unknown dtype %u", i);
  return kDTypes[i];
}

std::optional<DType> parse_dtype(std::string_view name) {
  std::string lower;
  for (char c : name) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  for (const auto& i : kDTypes)
    if (lower == i.name) return i.dtype;
  return std::nullopt;
}

}  // namespace herd
