// Reading and checking FP8 row scales (model/fp8_scales.h).
#include "model/fp8_scales.h"

#include <cmath>

#include "tensor/quant.h"

namespace herd::model {

Result<std::vector<float>> read_row_scales(const TensorView& scale, int64_t rows, const std::string& name) {
  if (dtype_info(scale.dtype).quantized || scale.numel() != rows || scale.shape.size() > 2 ||
      (scale.shape.size() == 2 && scale.shape[1] != 1))
    return err(ErrorCode::kCorrupt, "FP8 scales '%s' are %s %s; the weight needs [%lld] or [%lld, 1] in F32, BF16 or F16",
               name.c_str(), dtype_name(scale.dtype), shape_string(scale.shape).c_str(), static_cast<long long>(rows),
               static_cast<long long>(rows));
  std::vector<float> f(static_cast<size_t>(rows));
  dequantize_row_ref(scale.dtype, scale.data, f.data(), rows);
  for (int64_t r = 0; r < rows; ++r)
    if (!(std::isfinite(f[static_cast<size_t>(r)]) && f[static_cast<size_t>(r)] >= 0))
      return err(ErrorCode::kCorrupt, "'%s' row %lld is %g, not a finite non-negative scale", name.c_str(),
                 static_cast<long long>(r), static_cast<double>(f[static_cast<size_t>(r)]));
  return f;
}

}  // namespace herd::model
