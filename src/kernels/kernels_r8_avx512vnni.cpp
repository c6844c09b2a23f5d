// AVX-512 VNNI tile kernels for the row-interleaved r8 weight layouts
// (tensor/repack_r8.h; TileDotQ8R8Fn in kernel_table.h): kernels/tile_r8_inl.h
// with vpdpbusd as the 4-byte dot, as kernels/r8_avx512vnni_inl.h defines it.
#include <immintrin.h>

#include <cstring>
#include <utility>

#include "kernels/kernel_table.h"
#include "tensor/repack_r8.h"

namespace herd::kernels::avx512vnni {
namespace {

#include "kernels/r8_avx512vnni_inl.h"

}  // namespace

void fill_table_r8(KernelTable* t) { fill_r8_entries<V16>(t); }

}  // namespace herd::kernels::avx512vnni
