// The q/k row permutation between Meta (and GGUF) order and HF order.
//
// Meta rotates adjacent pairs (x[2j], x[2j+1]) of each head; HF rotates
// (x[j], x[j + hd/2]). HF's converter therefore reorders the rows of Wq and
// Wk within each head (llama31.md section 2.4):
//
//   HF row c*(hd/2) + j  holds  Meta row 2j + c      (c in {0,1}, j < hd/2)
//
// i.e. each head's even Meta rows come first, then its odd rows. GGUF
// (general.architecture = llama) is in Meta order. Wq uses n_heads heads,
// Wk uses n_kv_heads; Wv, Wo and biases are not permuted.
//
// The functions move whole rows, so they work for any dtype whose rows are
// contiguous byte runs: plain types (row_bytes = cols * element size) and
// block-quantized ones (row_bytes = row_bytes(dtype, cols)) alike. The matrix
// is row-major [n_heads * head_dim, cols]. src and dst must not overlap.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>

#include "base/result.h"

namespace herd::formats {

enum class QkOrder {
  kMetaToHf,  // interleaved pairs -> rotate-half (safetensors export)
  kHfToMeta,  // rotate-half -> interleaved pairs (safetensors import, GGUF export)
};

// Row index inside one head: where Meta row `meta_row` lands in HF order,
// and the inverse. head_dim must be even; rows are in [0, head_dim).
inline int64_t hf_row_of_meta_row(int64_t meta_row, int64_t head_dim) {
  return (meta_row % 2) * (head_dim / 2) + meta_row / 2;
}
inline int64_t meta_row_of_hf_row(int64_t hf_row, int64_t head_dim) {
  const int64_t half = head_dim / 2;
  return 2 * (hf_row % half) + hf_row / half;
}

// Permutes n_rows rows of row_bytes bytes each from src into dst. Errors
// (kInvalidArgument): n_heads <= 0, n_rows not a positive multiple of
// n_heads, odd head_dim, overlapping src/dst, or a byte size overflow.
Status permute_qk_rows(QkOrder order, const uint8_t* src, uint8_t* dst, int64_t n_rows,
                       int64_t n_heads, uint64_t row_bytes);

}  // namespace herd::formats
