// The loop nest shared by every ISA's q8 tile kernel (TileDotQ8Fn): it walks a
// [n_rows x n_tok] output tile in register tiles of R rows x TT tokens and
// sends the remainders to the 1-row / 1-token instantiations of the same
// micro-kernel. ISA-neutral (no intrinsics): each *_avx2.cpp / *_avx512vnni.cpp
// file instantiates it with its own micro-kernel, so the instructions come
// from that file's flags.
//
// Micro::run<R, TT>(w, w_stride, x, x_stride, nb, out, out_stride) computes
// out[t * out_stride + r] for r < R, t < TT over nb blocks. A micro-kernel
// must give every output the same arithmetic whatever R and TT (independent
// accumulators, same per-block steps, same final horizontal sum): this is
// what makes prefill and decode bit-identical.
#pragma once

#include <cstdint>
#include <type_traits>

#include "kernels/kernel_table.h"

namespace herd::kernels {

template <class Micro, int R, int TT>
inline void tile_q8_drive(const uint8_t* w, int64_t w_stride, int64_t n_rows, const BlockQ8* x, int64_t x_stride,
                          int64_t n_tok, int64_t K, float* out, int64_t out_stride) {
  const int64_t nb = K / 32;
  auto tokens = [&](auto rows_tag, const uint8_t* wr, float* o) {
    constexpr int RR = decltype(rows_tag)::value;
    int64_t t = 0;
    for (; t + TT <= n_tok; t += TT)
      Micro::template run<RR, TT>(wr, w_stride, x + t * x_stride, x_stride, nb, o + t * out_stride, out_stride);
    for (; t < n_tok; ++t)
      Micro::template run<RR, 1>(wr, w_stride, x + t * x_stride, x_stride, nb, o + t * out_stride, out_stride);
  };
  int64_t r = 0;
  for (; r + R <= n_rows; r += R) tokens(std::integral_constant<int, R>{}, w + r * w_stride, out + r);
  for (; r < n_rows; ++r) tokens(std::integral_constant<int, 1>{}, w + r * w_stride, out + r);
}

}  // namespace herd::kernels
