// repack_matrix: the load-time conversion of one matmul weight to the layout
// the kernel table streams, for every model that owns matmul weights (the
// Llama model's repack_weights, the DeBERTa encoder's linear layers):
//
// - r16 for the bf16 path's F16/BF16 outer-product tiles (tensor/repack_r16.h;
//   kernels/tile_bf16_r16_avx512bf16.cpp, tile_bf16_r16_amx.cpp); F16 becomes
//   BF16 there unless its rows must stay exact (keep_bits: a tied output table
//   also read as the embedding);
// - r8 for the integer kernels and the f32 path's F16/BF16 tile
//   (tensor/repack_r8.h, kernels/tile_r8_inl.h, kernels/tile_f32_r8_avx2.cpp);
// - a byte-for-byte copy into huge-page memory for weights the bf16 path
//   reads in the file layout (FP8; F16/BF16 whose shape has no r16 layout).
//
// Memory: each tensor is rearranged into its own heap buffer in slices of
// about 16 MiB, and the file's pages under each slice are dropped with
// MADV_DONTNEED as soon as it is copied (the mapping is read-only and
// MAP_PRIVATE, so the pages simply leave this process): peak resident memory
// is the file plus one slice, not twice the file.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/kernel_table.h"
#include "tensor/tensor_view.h"

namespace herd::model {

// The buffers repacked weights live in; their TensorViews point into them.
using PackedBuffers = std::vector<std::unique_ptr<uint8_t[]>>;

// HERD_REPACK=0: weights stay in the file's layout and pages.
bool repack_disabled();

// Rearranges *t (file layout, interleave 1) for `table`, the new bytes
// appended to *owned; returns whether it moved. A weight the table has no
// layout for, or whose shape does not fit one, is left as it is.
// f32_to_bf16: an F32 weight is rounded to BF16 in the r16 layout where the
// table has that tile (the model's owner asked for bf16 products; otherwise
// F32 keeps the exact f32 path).
bool repack_matrix(TensorView* t, const kernels::KernelTable& table, ThreadPool& pool, bool keep_bits,
                   PackedBuffers* owned, bool f32_to_bf16 = false);

// *t's bytes unchanged (its layout kept) in memory advised for huge pages, the
// file's pages under it released slice by slice; the buffer appended to
// *owned. What repack_matrix does for weights the kernels read as stored, and
// what training does with every weight (LlamaModel::move_weights_to_huge_pages).
void copy_to_huge_pages(TensorView* t, ThreadPool& pool, PackedBuffers* owned);

}  // namespace herd::model
