// KvView: the forward pass's window onto KV memory, with a write side (store
// the new tokens' keys and values) and a read side (the rows attention reads),
// whoever owns the memory: a single sequence's contiguous kv::KvCache or the
// engine's paged kv::BlockPool. Non-owning; copied by value.
//
// Layout (docs/formats/kv-layout.md): layer l's keys are rows of kv_dim
// elements of kt at k(l), its values rows of vt at v(l). A token's cache index
// p maps to a row through its sequence's block table (row = table[p / block_rows]
// * block_rows + p % block_rows); a null table (the contiguous cache) maps p to
// row p. That is kernels::KvRows' mapping, so attention reads either the same way.
//
// A training step or an MPI rank holding a layer range uses the same view: the
// layer function only ever asks for layer il's rows.
#pragma once

#include <cstdint>

#include "tensor/dtype.h"

namespace herd::kv {

struct KvView {
  uint8_t* base = nullptr;    // layer 0's K rows
  int64_t layer_bytes = 0;    // from one layer's K rows to the next's
  int64_t k_bytes = 0;        // from a layer's K rows to its V rows
  int64_t kv_dim = 0;         // n_kv_heads * head_dim
  int64_t block_rows = 0;     // rows per block of a block table; 0: contiguous only
  DType kt = DType::kF32, vt = DType::kF32;

  uint8_t* k(int64_t layer) const { return base + layer * layer_bytes; }
  uint8_t* v(int64_t layer) const { return base + layer * layer_bytes + k_bytes; }
  // The row holding cache index p of a sequence with block table `table`
  // (null: the contiguous cache).
  int64_t row(const int32_t* table, int64_t p) const {
    return table == nullptr ? p : static_cast<int64_t>(table[p / block_rows]) * block_rows + p % block_rows;
  }
};

}  // namespace herd::kv
