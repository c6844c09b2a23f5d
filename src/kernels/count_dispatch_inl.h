// dispatch_count<N>(n, f): calls f(std::integral_constant<int, n>{}) for a run-time n in 1..N,
// so a register-tile kernel instantiated for each row count can be chosen at run time for a
// tile's remainder (gemm_nn_f32_avx2.cpp, gemm_nn_f32_avx512.cpp). n outside 1..N calls nothing.
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

namespace herd::kernels {

template <int N, class F>
inline void dispatch_count(int64_t n, F&& f) {
  if constexpr (N >= 1) {
    if (n == N)
      f(std::integral_constant<int, N>{});
    else
      dispatch_count<N - 1>(n, std::forward<F>(f));
  }
}

}  // namespace herd::kernels
