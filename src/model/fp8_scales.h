// FP8 row scales (Meta's fp8_mixed, spec/llama31.md 7.1) as the loaders read
// them: Hugging Face's "<module>.weight_scale" [out, 1] and Meta's native
// fp8_scales_N.pt entries [out] (either shape from either), stored in F32,
// BF16 or F16, converted to f32 and checked: every scale finite and
// non-negative (a negative or NaN scale would flip or poison a whole row).
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "tensor/tensor_view.h"

namespace herd::model {

// The `rows` scales held in `scale` (named `name` in errors) as f32.
Result<std::vector<float>> read_row_scales(const TensorView& scale, int64_t rows, const std::string& name);

}  // namespace herd::model
