// The prefill tile walk the SIMD attention kernels share (AttnTokensFn:
// attention_avx2.cpp, attention_avx512.cpp): B consecutive tokens, token i's
// g query rows at q + i qs, its keys 0..n0 + i - 1, its scores at scratch +
// (i g + r) nmax. Key blocks of K::kBlock outermost, tokens inside: a block's
// rows (and, where widened, their f32 copy in buf) serve every token that
// sees them. Every key block starts at a multiple of kBlock for every token
// and a token's last, partial block scores its keys as a full one would, and
// the value chains continue through out block by block (out starts at +0),
// so each token gets its one-token kernel's bits.
//
// K, the ISA's kernels (each file's own arithmetic):
//   K::kBlock                                       keys per block
//   K::F32, K::F16, K::Q8                           the row loaders (f32: also a widened block)
//   K::template widen<L>(rows, stride, nk, hd, buf) nk rows as f32 into buf[nk][hd]
//   K::template score<KL>(q, hd, k0, stride, nk, scale, s)  one row's scores of a block
//   K::softmax(s, n)                                one row's weights
//   K::template values<VL>(p, ps, j0, v0, stride, nk, g, out, hd)  the g rows' value
//                                                   chains over one block
// Included only by the attention_*.cpp files, each compiled with its ISA's flags.
#pragma once

#include <cstdint>

#include "kernels/kernel_table.h"

namespace herd::kernels {

template <class K, class KL, class VL>
void attn_tokens_walk(const float* q, int64_t qs, int64_t B, int64_t g, int64_t hd, const KvRows& kv, int64_t n0,
                      float scale, float* scratch, float* out, int64_t os, bool widen_k, bool widen_v, float* buf) {
  constexpr int64_t kB = K::kBlock;
  const int64_t nmax = n0 + B - 1;
  const auto wbuf = reinterpret_cast<const uint8_t*>(buf);
  // Up to kB rows from key j (the rest of the run), for the prefetch.
  auto rows_from = [&](int64_t j) { return static_cast<int>(nmax - j < kB ? nmax - j : kB); };
  for (int64_t j0 = 0; j0 < nmax; j0 += kB) {
    const uint8_t* k0 = kv.k_row(j0);
    // The rows of one KV head are strided (every KV head's row in between):
    // the next block's rows are prefetched while this one is scored.
    if (j0 + kB < nmax) prefetch_rows(kv.k_row(j0 + kB), kv.k_stride, rows_from(j0 + kB), KL::bytes(hd));
    if (widen_k) K::template widen<KL>(k0, kv.k_stride, rows_from(j0), hd, buf);
    for (int64_t i = j0 < n0 ? 0 : j0 - n0 + 1; i < B; ++i) {  // the tokens that see key j0
      const int nk = static_cast<int>(n0 + i - j0 < kB ? n0 + i - j0 : kB);
      for (int64_t r = 0; r < g; ++r) {
        float* s = scratch + (i * g + r) * nmax + j0;
        if (widen_k)
          K::template score<typename K::F32>(q + i * qs + r * hd, hd, wbuf, 4 * hd, nk, scale, s);
        else
          K::template score<KL>(q + i * qs + r * hd, hd, k0, kv.k_stride, nk, scale, s);
      }
    }
  }
  for (int64_t i = 0; i < B; ++i)
    for (int64_t r = 0; r < g; ++r) K::softmax(scratch + (i * g + r) * nmax, n0 + i);
  for (int64_t i = 0; i < B; ++i)
    for (int64_t e = 0; e < g * hd; ++e) out[i * os + e] = 0.0f;
  for (int64_t j0 = 0; j0 < nmax; j0 += kB) {
    const uint8_t* v0 = kv.v_row(j0);
    if (j0 + kB < nmax) prefetch_rows(kv.v_row(j0 + kB), kv.v_stride, rows_from(j0 + kB), VL::bytes(hd));
    if (widen_v) K::template widen<VL>(v0, kv.v_stride, rows_from(j0), hd, buf);
    for (int64_t i = j0 < n0 ? 0 : j0 - n0 + 1; i < B; ++i) {
      const int nk = static_cast<int>(n0 + i - j0 < kB ? n0 + i - j0 : kB);
      const float* p = scratch + i * g * nmax;
      if (widen_v)
        K::template values<typename K::F32>(p, nmax, j0, wbuf, 4 * hd, nk, g, out + i * os, hd);
      else
        K::template values<VL>(p, nmax, j0, v0, kv.v_stride, nk, g, out + i * os, hd);
    }
  }
}

// f(KL{}, VL{}) with K's row loaders for the cache's key and value types.
template <class K, class F>
void with_kv_loaders(DType kt, DType vt, F&& f) {
  auto with_v = [&](auto kl) {
    switch (vt) {
      case DType::kF16: return f(kl, typename K::F16{});
      case DType::kQ8_0: return f(kl, typename K::Q8{});
      default: return f(kl, typename K::F32{});
    }
  };
  switch (kt) {
    case DType::kF16: return with_v(typename K::F16{});
    case DType::kQ8_0: return with_v(typename K::Q8{});
    default: return with_v(typename K::F32{});
  }
}

}  // namespace herd::kernels
