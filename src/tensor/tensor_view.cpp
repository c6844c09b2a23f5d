// Shape formatting and the layout-aware byte size of a view.
#include "tensor/tensor_view.h"

#include "tensor/repack_r8.h"

namespace herd {

int64_t TensorView::nbytes() const {
  if (interleave == 8) return rows() / 8 * r8_group_bytes(dtype, cols());
  return rows() * row_stride();
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
