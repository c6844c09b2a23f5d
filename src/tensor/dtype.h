// DType: the element and block formats herd stores tensors in.
//
// herd's own dense numbering (0 .. kDTypeCount - 1, so kernel tables are
// arrays indexed by it); ggml's type ids (GGUF tensor_info.type) are mapped
// to and from it inside formats/gguf only (formats::dtype_from_ggml). Types
// without a ggml id (F8_E4M3) live here like any other.
// Block formats quantize runs of `block_elems` consecutive elements of a row
// (the last, contiguous dimension) into `block_bytes` bytes; a row of n
// elements takes n / block_elems * block_bytes bytes and n must be a multiple
// of block_elems. Byte layouts are documented in docs/formats/quant-blocks.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace herd {

enum class DType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kQ4_0,
  kQ4_1,
  kQ5_0,
  kQ5_1,
  kQ8_0,
  kQ4_K,
  kQ5_K,
  kQ6_K,
  // FP8 e4m3 (1 sign, 4 exponent bits of bias 7, 3 mantissa bits; no
  // infinities, max 448) with one f32 scale per row held beside the data
  // (TensorView::row_scale): Meta's "fp8_mixed" 405B feed-forward weights
  // (spec §7.1). A row's values are e4m3(b) * scale[row]; the bytes are the
  // e4m3 values (tensor/quant.h), the scale is TensorView::row_scale.
  kF8_E4M3,
};
constexpr int kDTypeCount = static_cast<int>(DType::kF8_E4M3) + 1;

struct DTypeInfo {
  DType dtype;
  const char* name;       // "f32", "q4_k", ... (lower case, as on the command line)
  int64_t block_elems;    // elements per block (1 for plain types)
  int64_t block_bytes;    // bytes per block
  bool quantized;
  bool row_scaled;        // each row carries an f32 scale outside the blocks (F8_E4M3)
};

// Every DType herd knows, in enum order (kDTypeCount entries).
const DTypeInfo* all_dtypes(int* count);
const DTypeInfo& dtype_info(DType t);
inline const char* dtype_name(DType t) { return dtype_info(t).name; }

// Parses "q4_0", "Q4_K", "bf16", ... (case-insensitive).
std::optional<DType> parse_dtype(std::string_view name);

// Bytes of one row of n elements; n must be a multiple of block_elems
// (callers validate that first with row_size_ok).
inline bool row_size_ok(DType t, int64_t n) { return n >= 0 && n % dtype_info(t).block_elems == 0; }
inline int64_t row_bytes(DType t, int64_t n) {
  const DTypeInfo& i = dtype_info(t);
  return n / i.block_elems * i.block_bytes;
}

}  // namespace herd
