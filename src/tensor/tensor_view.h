// TensorView: a non-owning view of a tensor's bytes, its dtype and shape.
//
// Shapes are outermost first, last dimension contiguous ([rows, cols] for a
// weight [out_features, in_features]); never ggml's reversed ne[] order.
// Rows are packed: row r of a 2-D view starts at data + r * row_bytes(dtype, cols),
// unless the view is in a row-interleaved layout (set when a weight is
// repacked at load): interleave == 8, tensor/repack_r8.h, rows in groups of 8,
// group g at data + g * r8_group_bytes(dtype, cols); interleave == 16,
// tensor/repack_r16.h, groups of 16 at data + g * r16_group_bytes(cols). Then
// row()/row_stride() must not be used: file_row() reads a row in either layout.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace herd {

struct TensorView {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;  // outermost first
  const uint8_t* data = nullptr;
  int interleave = 1;  // 1: the file's row layout; 8: repack_r8.h's; 16: repack_r16.h's
  // [rows, scale_groups] f32 scales of a row-scaled dtype (dtype_info(dtype).row_scaled:
  // F8_E4M3); null otherwise. With scale_groups G > 1 a row's columns fall into G
  // equal groups, group g scaled by row_scale[n * G + g]: Meta's native FP8 checkpoint
  // merged from model-parallel ranks that each quantized their own columns (w2).
  const float* row_scale = nullptr;
  int64_t scale_groups = 1;
  // > 0 on a row-scaled weight: its matmuls quantize each activation row to
  // FP8 first, as Meta's fc_dynamic does, with this bound on the row's max
  // (quantize_activation_row_fp8); 0: activations stay f32 (weight-only).
  float act_scale_ub = 0.0f;
  // Set by the load-time repacking (model/repack_weights.cpp) when F16 rows
  // were rounded to BF16 there, the bf16 path's rounding done once: dtype is
  // then kBF16 and file_dtype() kF16, what the file holds (model names, the
  // rounding a reference comparison budgets for).
  bool rounded_from_f16 = false;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  DType file_dtype() const { return rounded_from_f16 ? DType::kF16 : dtype; }
  int64_t cols() const { return shape.empty() ? 1 : shape.back(); }
  int64_t rows() const { return shape.empty() ? 1 : cols() == 0 ? 0 : numel() / cols(); }
  int64_t row_stride() const { return row_bytes(dtype, cols()); }
  int64_t nbytes() const;  // layout-aware
  // What the weight takes in memory: nbytes() and, if row-scaled, its f32 row scales.
  int64_t held_bytes() const { return nbytes() + (row_scale ? rows() * scale_groups * 4 : 0); }
  const uint8_t* row(int64_t r) const { return data + r * row_stride(); }
  // Rows r0 .. r0 + n - 1 of a 2-D view as a view of their own (either
  // layout: r0 and n multiples of the interleave), row scales included.
  TensorView rows_view(int64_t r0, int64_t n) const;
  // Columns [k0, k0 + n) of row r in the file's byte layout: a pointer into
  // data (interleave 1), or the row unpacked into buf (row_bytes(dtype, n)
  // bytes), which is returned. For a repacked view k0 must start a unit of its
  // layout (a multiple of the block size; even for r16).
  const uint8_t* file_row(int64_t r, int64_t k0, int64_t n, uint8_t* buf) const;
};

// "[4096, 14336]"
std::string shape_string(const std::vector<int64_t>& shape);

}  // namespace herd
