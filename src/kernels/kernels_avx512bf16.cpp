// AVX-512 BF16 tile kernels for F16, BF16 and FP8 e4m3 weights: the bf16
// path of kernel_table.h (TileDotBf16Fn), built on 512-bit vdpbf16ps (32 bf16
// pairs, two exact products added into each of 16 f32 lanes per instruction).
//
//   BF16 weights: one 64-byte load is one operand (32 elements).
//   F16 weights:  two vcvtph2ps (exact) and one vcvtne2ps2bf16 (RNE) make the
//                 operand, once per weight vector for the TT tokens of the
//                 register tile. F16 values are f32-normal, so the
//                 instruction's DAZ does not apply: the result is f32_to_bf16
//                 of the exact value, the reference's rounding.
//   FP8 weights:  32 codes widened to 16 bits and rebuilt as bf16 in integer
//                 arithmetic (LoadF8E4M3): exact, every e4m3 value being a
//                 bf16 normal (the row scale is applied by the caller), so
//                 DAZ does not apply either.
//   Activations:  rounded once per matmul by round_bf16, in integer arithmetic
//                 (vcvtneps2bf16 would flush f32 subnormals; base/half.h
//                 rounds them), so it equals the reference bit for bit.
//
// Each output (row r, token t) has its own accumulator, fed by the same
// sequence of vdpbf16ps whatever the tile shape (32-element steps in order;
// the K % 32 tail as one more step with masked, zero-filled loads, whose zero
// products leave the lanes unchanged), then one fixed horizontal sum: prefill
// and decode, 1 and N threads, give bit-identical results.
// vdpbf16ps treats bf16 subnormal inputs (|x| < 2^-126) as zero and flushes
// subnormal sums to zero: at most 2^-126 |w| per product away from the
// specification, which uses them exactly (the unit tests' data stay clear).
//
// Prefill uses register tiles of 4 rows x 6 tokens inside a cache blocking
// (tile() below); decode reads the weights row by row in address order with
// a software prefetch of the next row (the 3.2-1B F16 model streams 2.5 GB
// per token).
//
// Compiled with the AVX-512 + VNNI flags plus -mavx512bf16; select_kernels()
// uses it only when the CPU reports AVX512_BF16.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <type_traits>

#include "kernels/bf16_operands_avx512bf16_inl.h"
#include "kernels/kernel_table.h"

namespace herd::kernels::avx512bf16 {
namespace {

void round_bf16(const float* x, uint16_t* y, int64_t K) {
  int64_t j = 0;
  for (; j + 16 <= K; j += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + j), round16(_mm512_loadu_ps(x + j)));
  if (j < K) {
    const __mmask16 m = static_cast<__mmask16>((1u << (K - j)) - 1);
    _mm256_mask_storeu_epi16(y + j, m, round16(_mm512_maskz_loadu_ps(m, x + j)));
  }
}

// e4m3 (bias 7, no infinities, 0x7f/0xff NaN) -> bf16 (bias 127), one code
// per 16-bit lane, sign-extended (bits 15..7 = the sign): a normal code's 7
// magnitude bits shifted into place with the bias difference 120 << 7 added;
// the codes whose exponent field is 0 (m * 2^-9, m < 8) and the NaN codes from
// a table indexed by (magnitude + 1) mod 128 (NaN -> entry 0, the quiet NaN
// 0x7fc0; 1..8 -> m * 2^-9); then the sign into bit 15. 7 instructions per 32
// codes after the load. The reference's
// f32_to_bf16(f8_e4m3_to_f32) for every one of the 256 codes
// (row_scale_test.cpp, kernels_bf16_test.cpp).
struct LoadF8E4M3 {
  static constexpr int64_t kBytes = 1;
  static __m512i convert(__m512i code) {
    const __m512i special = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                             0x3c60, 0x3c40, 0x3c20, 0x3c00, 0x3bc0, 0x3b80, 0x3b00, 0, 0x7fc0);
    // idx = (magnitude + 1) mod 128: 1..8 for exponent field 0, 0 for NaN, and
    // magnitude + 1 for every normal code (at most 127).
    const __m512i idx = _mm512_and_si512(_mm512_add_epi16(code, _mm512_set1_epi16(1)), _mm512_set1_epi16(0x7f));
    __m512i v = _mm512_add_epi16(_mm512_slli_epi16(idx, 4), _mm512_set1_epi16((120 << 7) - (1 << 4)));
    v = _mm512_mask_permutexvar_epi16(v, _mm512_cmplt_epu16_mask(idx, _mm512_set1_epi16(9)), idx, special);
    // v | (code & 0x8000)
    return _mm512_ternarylogic_epi32(v, code, _mm512_set1_epi16(static_cast<int16_t>(0x8000)), 0xf8);
  }
  static __m512bh full(const uint8_t* p) {
    return as_bh(convert(_mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)))));
  }
  static __m512bh part(const uint8_t* p, __mmask32 m) {
    return as_bh(convert(_mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, p))));  // code 0 is +0
  }
};

// The 16 lanes of each of a0..a3 summed in one fixed tree -- lanes i and i+8,
// then i and i+4, then i and i+2, then 0 and 1 (the tree of GCC's
// _mm512_reduce_add_ps) -- returned as 4 floats. Each sum involves only its
// own accumulator's lanes, so it does not depend on the other three.
inline __m128 reduce4(__m512 a0, __m512 a1, __m512 a2, __m512 a3) {
  // [a0 h1 | a1 h1], h1[i] = a[i] + a[i + 8] (i < 8), and likewise a2, a3.
  const __m512 b01 = _mm512_add_ps(_mm512_shuffle_f32x4(a0, a1, _MM_SHUFFLE(1, 0, 1, 0)),
                                   _mm512_shuffle_f32x4(a0, a1, _MM_SHUFFLE(3, 2, 3, 2)));
  const __m512 b23 = _mm512_add_ps(_mm512_shuffle_f32x4(a2, a3, _MM_SHUFFLE(1, 0, 1, 0)),
                                   _mm512_shuffle_f32x4(a2, a3, _MM_SHUFFLE(3, 2, 3, 2)));
  // Quarter j: h2 of a_j, h2[i] = h1[i] + h1[i + 4] (i < 4).
  const __m512 c = _mm512_add_ps(_mm512_shuffle_f32x4(b01, b23, _MM_SHUFFLE(2, 0, 2, 0)),
                                 _mm512_shuffle_f32x4(b01, b23, _MM_SHUFFLE(3, 1, 3, 1)));
  const __m512 d = _mm512_add_ps(c, _mm512_permute_ps(c, _MM_SHUFFLE(1, 0, 3, 2)));  // h2[i] + h2[i + 2]
  const __m512 e = _mm512_add_ps(d, _mm512_permute_ps(d, _MM_SHUFFLE(2, 3, 0, 1)));  // + the neighbour
  return _mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 8, 4, 0), e));
}

// Where a micro-kernel call's accumulators start and end. With K split into
// blocks, the 16-lane partial sums of each (row, token) are carried from one
// block to the next through a buffer: storing and reloading a register does
// not change a lane's sequence of additions, so the result is the same as in
// one pass.
struct Carry {
  const float* in = nullptr;  // null: start from zero; else acc[r][t] = in[(r * row + t) * 16 ..]
  float* out = nullptr;       // null: reduce into the output; else store like `in`
  int64_t row = 0;            // tokens per buffer row
};

template <class W>
struct Micro {
  static constexpr int64_t kBytes = W::kBytes;  // per weight element
  // out[t * os + r] (r < R, t < TT) = the dot of weight row r (w + r * ws,
  // bytes) and activation row t (x + t * xs, elements) over K elements, or its
  // partial sums per Carry. `prefetch`: fetch, per row and 64-byte step, the
  // same step of the row R rows on (the next row tile), for weights that come
  // from memory; prefill tiles already in L2 are faster without it.
  template <int R, int TT>
  static void run(const uint8_t* w, int64_t ws, const uint16_t* x, int64_t xs, int64_t K, float* out, int64_t os,
                  bool prefetch, const Carry& carry) {
    __m512 acc[R][TT];
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
      #pragma GCC unroll 16
      for (int t = 0; t < TT; ++t)
        acc[r][t] = carry.in ? _mm512_load_ps(carry.in + (r * carry.row + t) * 16) : _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 32 <= K; k += 32) {
      __m512bh wv[R];
      #pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const uint8_t* p = w + r * ws + kBytes * k;
        // One prefetch per 64-byte line (FP8: every other step).
        if (prefetch && (kBytes == 2 || k % 64 == 0)) _mm_prefetch(reinterpret_cast<const char*>(p + R * ws), _MM_HINT_T0);
        wv[r] = W::full(p);
      }
      #pragma GCC unroll 16
      for (int t = 0; t < TT; ++t) {
        const __m512bh xv = as_bh(_mm512_loadu_si512(x + t * xs + k));
        #pragma GCC unroll 16
        for (int r = 0; r < R; ++r) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], wv[r], xv);
      }
    }
    if (k < K) {
      const __mmask32 m = static_cast<__mmask32>((uint64_t{1} << (K - k)) - 1);
      __m512bh wv[R];
      #pragma GCC unroll 16
      for (int r = 0; r < R; ++r) wv[r] = W::part(w + r * ws + kBytes * k, m);
      #pragma GCC unroll 16
      for (int t = 0; t < TT; ++t) {
        const __m512bh xv = as_bh(_mm512_maskz_loadu_epi16(m, x + t * xs + k));
        #pragma GCC unroll 16
        for (int r = 0; r < R; ++r) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], wv[r], xv);
      }
    }
    if (carry.out) {
      #pragma GCC unroll 16
      for (int r = 0; r < R; ++r)
        #pragma GCC unroll 16
        for (int t = 0; t < TT; ++t) _mm512_store_ps(carry.out + (r * carry.row + t) * 16, acc[r][t]);
      return;
    }
    #pragma GCC unroll 16
    for (int t = 0; t < TT; ++t) {
      const __m512 z = _mm512_setzero_ps();
      const __m128 v = reduce4(acc[0][t], R > 1 ? acc[R > 1 ? 1 : 0][t] : z, R > 2 ? acc[R > 2 ? 2 : 0][t] : z,
                               R > 3 ? acc[R > 3 ? 3 : 0][t] : z);
      if constexpr (R == 4) {
        _mm_storeu_ps(out + t * os, v);
      } else {
        // Element stores, not a masked vector store: the R sums may be the
        // last floats of the output, and GCC emits _mm_mask_storeu_ps of a
        // reduced zmm as a masked vextractf32x4 to memory, which on AMD Zen 4
        // (seen under KVM) faults on its masked-out lanes when they cross into
        // an unmapped page, where vmovups{k} does not. Decode (R = 1) stores
        // one float per row and token; the dot before it is K elements long.
        alignas(16) float s[4];
        _mm_store_ps(s, v);
        #pragma GCC unroll 4
        for (int r = 0; r < R; ++r) out[t * os + r] = s[r];
      }
    }
  }
};

// Register tile: 4 rows x 6 tokens (24 accumulators + 4 weight operands + 1
// activation operand + 2 F16 conversion temporaries of 32 zmm; no spill).
// 4 x 6, 5 x 5 and 3 x 8 measured alike; 6 x 4, 8 x 3 and 2 x 12 slower.
constexpr int kRows = 4, kToks = 6;
static_assert(kRows == 4, "reduce4 stores the sums of 4 rows");

// Cache blocking of a prefill tile (tuned on Zen 5: 48 KB L1D, 1 MB L2):
// a token tile's activations for one K block (kToks x kKBlock x 2 B = 24 KB)
// stay in L1 while kRowBlock rows of weights (kRowBlock x kKBlock x 2 B =
// 256 KB) come from L2, each row tile reused by every token tile of a group;
// a group's activations (at most kGroupBytes) stay in L2. Single-thread F16,
// K = 2048: 265 GFLOP/s (rows outer, activations from L2) -> 390 GFLOP/s.
constexpr int64_t kKBlock = 2048;
constexpr int64_t kRowBlock = 64;
constexpr int64_t kGroupBytes = 512 * 1024;
// K > kKBlock carries partial sums between K blocks (Carry) for kRowBlock rows
// x kCarryTokens tokens at a time: 64 x 48 x 64 B = 192 KB, allocated once
// per thread on its first such tile (prefill only: decode never splits K).
// K = 8192 (w_down): 245 GFLOP/s without the split -> 325 GFLOP/s.
constexpr int64_t kCarryTokens = 48;

float* carry_buffer() {
  struct Buffer {
    float* p = nullptr;
    ~Buffer() { std::free(p); }
  };
  thread_local Buffer b;
  if (b.p == nullptr) b.p = static_cast<float*>(std::aligned_alloc(64, sizeof(float) * kRowBlock * kCarryTokens * 16));
  return b.p;
}

// The per-thread bf16 block of a staged F16 prefill (tile() below): rows of
// kKBlock elements, each padded by one cache line so that the 4 rows of a
// register tile do not share L1 sets (a 4 KiB stride would). 64 x 4160 B =
// 260 KB, in L2 beside the group's activations.
constexpr int64_t kStagedStride = 2 * kKBlock + 64;

uint8_t* staged_buffer() {
  struct Buffer {
    uint8_t* p = nullptr;
    ~Buffer() { std::free(p); }
  };
  thread_local Buffer b;
  if (b.p == nullptr) b.p = static_cast<uint8_t*>(std::aligned_alloc(64, kRowBlock * kStagedStride));
  return b.p;
}

// One row piece of n <= kKBlock elements of L's dtype -> bf16 at dst, by L's
// own conversion (the tail zero-filled to the 32-element step, as L::part
// gives it). kWhenSplit: also for K > kKBlock, where a block serves one
// carried group of kCarryTokens; converting it first, from memory and not
// overlapped with any product, measured slower there for F16 than converting
// in the tile (kernels_bench F16 2048x8192, T 128, 2 threads: 406 against 470
// GFLOP/s; K = 2048: 572 against 533), while FP8's conversion (10
// instructions per 32 weights against F16's 3) gains: FP8 2048x8192, 2
// threads, 438 against 397 GFLOP/s at T 128, 475 against 390 at T 512.
template <class L, bool WhenSplit>
struct Stage {
  static constexpr bool kWhenSplit = WhenSplit;
  static void convert(const uint8_t* src, int64_t n, uint8_t* dst) {
    int64_t k = 0;
    for (; k + 32 <= n; k += 32) _mm512_store_si512(dst + 2 * k, as_si(L::full(src + L::kBytes * k)));
    if (k < n) {
      const __mmask32 m = static_cast<__mmask32>((uint64_t{1} << (n - k)) - 1);
      _mm512_store_si512(dst + 2 * k, as_si(L::part(src + L::kBytes * k, m)));
    }
  }
};

// run<RR, n> for a run-time n in 1..TT (the remainder of a token loop).
template <class M, int RR, int TT>
inline void run_n(int64_t n, const uint8_t* w, int64_t ws, const uint16_t* x, int64_t xs, int64_t K, float* out,
                  int64_t os, bool pf, const Carry& c) {
  if constexpr (TT >= 1) {
    if (n == TT)
      M::template run<RR, TT>(w, ws, x, xs, K, out, os, pf, c);
    else
      run_n<M, RR, TT - 1>(n, w, ws, x, xs, K, out, os, pf, c);
  }
}

// run<rr, n> for run-time rr in 1..RR, n in 1..kToks.
template <class M, int RR>
inline void run_rn(int64_t rr, int64_t n, const uint8_t* w, int64_t ws, const uint16_t* x, int64_t xs, int64_t K,
                   float* out, int64_t os, bool pf, const Carry& c) {
  if constexpr (RR >= 1) {
    if (rr == RR)
      run_n<M, RR, kToks>(n, w, ws, x, xs, K, out, os, pf, c);
    else
      run_rn<M, RR - 1>(rr, n, w, ws, x, xs, K, out, os, pf, c);
  }
}

// Walks an [n_rows x n_tok] tile in register tiles of kRows x kToks (the
// remainders use the smaller instantiations of the same micro-kernel).
//  * Few tokens (decode): one row at a time against every token, so a
//    thread reads its rows strictly in address order, prefetching the next
//    row (2 threads, 268 MB of F16: 36-37 GB/s with 4 interleaved rows per
//    tile, 43-47 GB/s row by row; the chain of one row's 64 dependent
//    vdpbf16ps at K = 2048 is still far from limiting).
//  * Prefill: row blocks x K blocks x token tiles x row tiles (above), with
//    prefetch only on a block's first token tile, whose weights come from
//    memory. Every output still gets the same per-lane additions, in the same
//    order (carried across K blocks), and the same final tree: identical to
//    the decode walk's, bit for bit.
//
// F16 and FP8 weights in prefill: each block of kRowBlock rows x kKBlock
// columns is first converted to bf16 into a per-thread buffer (Staged below),
// with the same conversion their loader makes, and every token tile of the
// group then reads it as BF16 weights. The operands are the same bf16 values
// in the same order, so the results are the bits of the direct walk, while
// the conversion runs once per group instead of once per token tile: prefill
// at the BF16 tile's speed, with no second copy of the weights.
template <class M, class Staged = void>
void tile(const uint8_t* w, int64_t ws, int64_t n_rows, const uint16_t* x, int64_t xs, int64_t n_tok, int64_t K,
          float* out, int64_t os) {
  if (n_tok < kToks) {
    for (int64_t r = 0; r < n_rows; ++r) run_n<M, 1, kToks - 1>(n_tok, w + r * ws, ws, x, xs, K, out + r, os, true, {});
    return;
  }
  const bool split = K > kKBlock;
  float* carry = split ? carry_buffer() : nullptr;
  // Token groups of at most kGroupBytes of activations (kCarryTokens with a
  // split K), of even sizes: 128 tokens (the feed-forward's chunk) at K = 2048
  // are 2 groups of 66 + 62, not 126 + a 2-token group of half-empty tiles.
  const int64_t most = split ? kCarryTokens : std::max<int64_t>(kToks, kGroupBytes / (2 * K) / kToks * kToks);
  const int64_t n_groups = (n_tok + most - 1) / most;
  const int64_t group = ((n_tok + n_groups - 1) / n_groups + kToks - 1) / kToks * kToks;
  bool staged = false;
  if constexpr (!std::is_void_v<Staged>) staged = Staged::kWhenSplit || !split;
  for (int64_t g0 = 0; g0 < n_tok; g0 += group) {
    const int64_t gn = std::min(group, n_tok - g0);
    for (int64_t r0 = 0; r0 < n_rows; r0 += kRowBlock) {
      const int64_t rn = std::min(kRowBlock, n_rows - r0);
      for (int64_t k0 = 0; k0 < K; k0 += kKBlock) {
        const int64_t kn = std::min(kKBlock, K - k0);
        // This block as bf16 rows, then the BF16 walk over it.
        uint8_t* b = nullptr;
        if constexpr (!std::is_void_v<Staged>) {
          if (staged) {
            b = staged_buffer();
            for (int64_t r = 0; r < rn; ++r)
              Staged::convert(w + (r0 + r) * ws + M::kBytes * k0, kn, b + r * kStagedStride);
          }
        }
        for (int64_t t = 0; t < gn; t += kToks) {
          const int64_t tn = std::min<int64_t>(kToks, gn - t);
          for (int64_t r = 0; r < rn; r += kRows) {
            Carry c;
            if (split) {
              c.row = gn;
              if (k0 > 0) c.in = carry + (r * gn + t) * 16;
              if (k0 + kn < K) c.out = carry + (r * gn + t) * 16;
            }
            const int64_t row = r0 + r, tok = g0 + t, rr = std::min<int64_t>(kRows, rn - r);
            if (b != nullptr)
              run_rn<Micro<LoadBF16>, kRows>(rr, tn, b + r * kStagedStride, kStagedStride, x + tok * xs + k0, xs, kn,
                                             out + tok * os + row, os, false, c);
            else
              run_rn<M, kRows>(rr, tn, w + row * ws + M::kBytes * k0, ws, x + tok * xs + k0, xs, kn,
                               out + tok * os + row, os, t == 0, c);
          }
        }
      }
    }
  }
}

void tile_bf16(const uint8_t* w, int64_t ws, int64_t n_rows, const uint16_t* x, int64_t xs, int64_t n_tok,
               int64_t K, float* out, int64_t os) {
  tile<Micro<LoadBF16>>(w, ws, n_rows, x, xs, n_tok, K, out, os);
}
void tile_f16(const uint8_t* w, int64_t ws, int64_t n_rows, const uint16_t* x, int64_t xs, int64_t n_tok,
              int64_t K, float* out, int64_t os) {
  tile<Micro<LoadF16>, Stage<LoadF16, false>>(w, ws, n_rows, x, xs, n_tok, K, out, os);
}
void tile_f8_e4m3(const uint8_t* w, int64_t ws, int64_t n_rows, const uint16_t* x, int64_t xs, int64_t n_tok,
                  int64_t K, float* out, int64_t os) {
  tile<Micro<LoadF8E4M3>, Stage<LoadF8E4M3, true>>(w, ws, n_rows, x, xs, n_tok, K, out, os);
}

}  // namespace

void fill_table(KernelTable* t) {
  t->round_bf16 = round_bf16;
  t->tile_bf16[static_cast<int>(DType::kBF16)] = tile_bf16;
  t->tile_bf16[static_cast<int>(DType::kF16)] = tile_f16;
  t->tile_bf16[static_cast<int>(DType::kF8_E4M3)] = tile_f8_e4m3;
}

}  // namespace herd::kernels::avx512bf16
