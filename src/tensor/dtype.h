// DType: the element and block formats herd stores tensors in.
//
// The values are ggml's type ids (GGUF tensor_info.type), so a GGUF type maps
// to a DType by value after is_known_dtype() says the id is one herd handles.
// Block formats quantize runs of `block_elems` consecutive elements of a row
// (the last, contiguous dimension) into `block_bytes` bytes; a row of n
// elements takes n / block_elems * block_bytes bytes and n must be a multiple
// of block_elems. Byte layouts are documented in docs/formats/quant-blocks.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace herd {

enum class DType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kBF16 = 30,
};

struct DTypeInfo {
  DType dtype;
  const char* name;       // "f32", "q4_k", ... (lower case, as on the command line)
  int64_t block_elems;    // elements per block (1 for plain types)
  int64_t block_bytes;    // bytes per block
  bool quantized;
};

// Every DType herd supports, in enum order.
const DTypeInfo* all_dtypes(int* count);
const DTypeInfo& dtype_info(DType t);
inline const char* dtype_name(DType t) { return dtype_info(t).name; }

// True when `ggml_type` is one herd reads; unknown ids are rejected by parsers.
bool is_known_dtype(uint32_t ggml_type);
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
