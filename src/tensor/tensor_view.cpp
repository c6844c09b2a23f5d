// Shape formatting, the layout-aware byte size of a view, row ranges.
#include "tensor/tensor_view.h"

#include "base/check.h"
#include "tensor/repack_r8.h"

namespace herd {

int64_t TensorView::nbytes() const {
  if (interleave == 8) return rows() / 8 * r8_group_bytes(dtype, cols());
  return rows() * row_stride();
}

TensorView TensorView::rows_view(int64_t r0, int64_t n) const {
  HERD_CHECK(shape.size() == 2 && r0 >= 0 && n >= 0 && r0 + n <= rows(), "rows_view: rows %lld..%lld of %s",
             static_cast<long long>(r0), static_cast<long long>(r0 + n), shape_string(shape).c_str());
  TensorView v = *this;
  v.shape = {n, cols()};
  if (interleave == 8) {
    HERD_CHECK(r0 % 8 == 0 && n % 8 == 0, "rows_view: rows %lld + %lld of an r8 weight", static_cast<long long>(r0),
               static_cast<long long>(n));
    v.data = data + r0 / 8 * r8_group_bytes(dtype, cols());
  } else {
    v.data = data + r0 * row_stride();
  }
  if (row_scale != nullptr) v.row_scale = row_scale + r0 * scale_groups;
  return v;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

}  // namespace herd
