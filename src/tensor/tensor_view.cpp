// Shape formatting, the layout-aware byte size of a view, row ranges.
#include "tensor/tensor_view.h"

#include "base/check.h"
#include "tensor/repack_r16.h"
#include "tensor/repack_r8.h"

namespace herd {

int64_t TensorView::nbytes() const {
  if (interleave == 8) return rows() / 8 * r8_group_bytes(dtype, cols());
  if (interleave == 16) return rows() / kR16Rows * r16_group_bytes(cols());
  return rows() * row_stride();
}

TensorView TensorView::rows_view(int64_t r0, int64_t n) const {
  HERD_CHECK(shape.size() == 2 && r0 >= 0 && n >= 0 && r0 + n <= rows(), "rows_view: rows %lld..%lld of %s",
             static_cast<long long>(r0), static_cast<long long>(r0 + n), shape_string(shape).c_str());
  TensorView v = *this;
  v.shape = {n, cols()};
  if (interleave != 1) {
    HERD_CHECK(r0 % interleave == 0 && n % interleave == 0, "rows_view: rows %lld + %lld of an r%d weight",
               static_cast<long long>(r0), static_cast<long long>(n), interleave);
    v.data = data + r0 / interleave * (interleave == 8 ? r8_group_bytes(dtype, cols()) : r16_group_bytes(cols()));
  } else {
    v.data = data + r0 * row_stride();
  }
  if (row_scale != nullptr) v.row_scale = row_scale + r0 * scale_groups;
  return v;
}

const uint8_t* TensorView::file_row(int64_t r, int64_t k0, int64_t n, uint8_t* buf) const {
  if (interleave == 1) return row(r) + row_bytes(dtype, k0);
  const int64_t K = cols();
  if (interleave == 8) {
    unpack_row_r8(dtype, data + r / 8 * r8_group_bytes(dtype, K) + r8_group_bytes(dtype, k0), n, static_cast<int>(r % 8),
                  buf);
  } else {
    HERD_CHECK(interleave == kR16Rows && k0 % 2 == 0, "file_row: interleave %d, column %lld", interleave,
               static_cast<long long>(k0));
    unpack_row_r16(data + r / kR16Rows * r16_group_bytes(K) + r16_group_bytes(k0), n,
                   static_cast<int>(r % kR16Rows), buf);
  }
  return buf;
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
