// AMX-BF16 tile for the bf16 path's r16 layout (TileDotBf16R16Fn in
// kernel_table.h, tensor/repack_r16.h), ISA amx: BF16 weights (and every F16
// matrix, converted to BF16 at load) against bf16 activations with
// tdpbf16ps.
//
// The r16 layout is already the tile operand B: a 64-byte vector holds
// elements 2p and 2p + 1 of a group's 16 rows, so 16 consecutive vectors (1
// KB, 32 elements of K) are one B tile, loaded in place. A is 16 tokens' 32
// bf16 activations (row stride x_stride), C 16 tokens x 16 rows of f32.
//
// Order (this ISA's contract; not the avx512bf16 tile's, whose vdpbf16ps
// chain rounds differently: a probe on this file's host found 163-176 of
// 256 outputs of one 256-element block differing in the last bits): each
// output is one C element from zero, fed by one tdpbf16ps per 32 elements of
// K in order, and stored once. Each row of C depends only on its own row of A
// and on B, so the tile gives the same bits for any number of tokens per tile
// (prefill == decode) and any split of the groups (kernels/tile_bf16_r16_test.cpp
// checks both). The products of two bf16 are exact in f32; the hardware sums
// them in an order Intel does not specify, so the error bound is the general
// one of K - 1 additions: |tile - exact| <= gamma_K sum|p|.
//
// F16 weights in r16 (only a tied output table keeps its F16 bits: it is
// also the embedding table) keep the avx512bf16 tile, which converts in
// registers, in prefill and decode alike: staged as bf16 for this tile, its
// decode ran at 17-19 GFLOP/s against that tile's 29-30 (kernels_bench
// 8192 x 2048, T 1, 2 threads), and a tied table serves decode's logits
// every token but prefill's for one. K not a multiple of 32 (no Llama shape)
// takes the avx512bf16 tile too, for every token count.
//
// Walk: groups in sets whose weights fit about 1 MB of L2; per set, tiles of
// 2 x 16 tokens x 2 groups (C 0-3, A 4-5, B 6-7: each A and B load feeds two
// products), the full K per tile, C stored straight into the output. A last
// partial token tile (decode) runs with the tiles configured for its rows, 4
// groups at a time.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/amx_tile_config.h"
#include "kernels/kernel_table.h"
#include "tensor/repack_r16.h"

namespace herd::kernels::amx {
namespace {

constexpr int kTok = 16;                        // tokens per tile (rows of A and C)
constexpr int64_t kSetBytes = int64_t{1} << 20;  // weights of one set of groups

// C in 0-3 and A in 4-5 with m rows; B in 6-7, 16 pairs x 64 bytes.
void configure(int m) {
  AmxTileConfig c;
  for (int i = 0; i < 6; ++i) {
    c.colsb[i] = 64;
    c.rows[i] = static_cast<uint8_t>(m);
  }
  for (int i = 6; i < 8; ++i) {
    c.colsb[i] = 64;
    c.rows[i] = 16;
  }
  load_tile_config(c);
}

// TM token tiles (x, the second 16 rows further) x GN groups (w, the second
// gb bytes further) over K -> out (row stride os floats).
template <int TM, int GN>
void micro(const uint8_t* w, int64_t gb, const uint16_t* x, int64_t xs, int64_t K, float* out, int64_t os) {
  const int64_t a_stride = xs * 2, o_stride = os * 4;
  _tile_zero(0);
  if constexpr (GN == 2) _tile_zero(1);
  if constexpr (TM == 2) _tile_zero(2);
  if constexpr (TM == 2 && GN == 2) _tile_zero(3);
  for (int64_t k = 0; k < K; k += 32) {
    _tile_loadd(4, x + k, a_stride);
    if constexpr (TM == 2) _tile_loadd(5, x + kTok * xs + k, a_stride);
    _tile_loadd(6, w + 32 * k, 64);
    if constexpr (GN == 2) _tile_loadd(7, w + gb + 32 * k, 64);
    _tile_dpbf16ps(0, 4, 6);
    if constexpr (GN == 2) _tile_dpbf16ps(1, 4, 7);
    if constexpr (TM == 2) _tile_dpbf16ps(2, 5, 6);
    if constexpr (TM == 2 && GN == 2) _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, out, o_stride);
  if constexpr (GN == 2) _tile_stored(1, out + 16, o_stride);
  if constexpr (TM == 2) _tile_stored(2, out + kTok * os, o_stride);
  if constexpr (TM == 2 && GN == 2) _tile_stored(3, out + kTok * os + 16, o_stride);
}

// One partial token tile (x, the rows configured) x 4 groups (w, gb bytes
// apart) over K -> out: the decode walk, four weight streams in flight (1B
// F16 converted at load, tg64, 2 threads: 10.0-10.3 tok/s with 2 groups at a
// time, 10.6-10.7 with 4).
void micro_1x4(const uint8_t* w, int64_t gb, const uint16_t* x, int64_t xs, int64_t K, float* out, int64_t os) {
  const int64_t a_stride = xs * 2, o_stride = os * 4;
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int64_t k = 0; k < K; k += 32) {
    _tile_loadd(4, x + k, a_stride);
    _tile_loadd(6, w + 32 * k, 64);
    _tile_dpbf16ps(0, 4, 6);
    _tile_loadd(7, w + gb + 32 * k, 64);
    _tile_dpbf16ps(1, 4, 7);
    _tile_loadd(6, w + 2 * gb + 32 * k, 64);
    _tile_dpbf16ps(2, 4, 6);
    _tile_loadd(7, w + 3 * gb + 32 * k, 64);
    _tile_dpbf16ps(3, 4, 7);
  }
  _tile_stored(0, out, o_stride);
  _tile_stored(1, out + 16, o_stride);
  _tile_stored(2, out + 32, o_stride);
  _tile_stored(3, out + 48, o_stride);
}

// Groups [g0, g1) (bf16, at w with gb bytes per group) x tokens [t0, t1) in
// tiles of TM x 16 tokens (t1 - t0 a multiple of 16 * TM, or one partial
// tile with TM = 1).
template <int TM>
void tokens_by_groups(const uint8_t* w, int64_t gb, int64_t n_groups, const uint16_t* x, int64_t xs, int64_t t0,
                      int64_t t1, int64_t K, float* out, int64_t os) {
  for (int64_t t = t0; t < t1; t += TM * kTok) {
    int64_t g = 0;
    for (; g + 2 <= n_groups; g += 2)
      micro<TM, 2>(w + g * gb, gb, x + t * xs, xs, K, out + t * os + 16 * g, os);
    if (g < n_groups) micro<TM, 1>(w + g * gb, gb, x + t * xs, xs, K, out + t * os + 16 * g, os);
  }
}

const KernelTable& vdpbf16_tiles() {
  static const KernelTable t = [] {
    KernelTable k;
    avx512bf16::fill_table_r16(&k);
    return k;
  }();
  return t;
}

void tile(const uint8_t* w, int64_t n_groups, const uint16_t* x, int64_t xs, int64_t n_tok, int64_t K, float* out,
          int64_t os) {
  if (K % 32 != 0 || n_tok == 0 || n_groups == 0) {
    vdpbf16_tiles().tile_bf16_r16_for(DType::kBF16)(w, n_groups, x, xs, n_tok, K, out, os);
    return;
  }
  const int64_t gb = r16_group_bytes(K);
  const int64_t set = std::max<int64_t>(2, kSetBytes / gb / 2 * 2);
  const int64_t full = n_tok / (2 * kTok) * (2 * kTok), mid = n_tok / kTok * kTok;
  if (mid > 0) {
    configure(kTok);
    for (int64_t g = 0; g < n_groups; g += set) {
      const int64_t n = std::min(set, n_groups - g);
      tokens_by_groups<2>(w + g * gb, gb, n, x, xs, 0, full, K, out + 16 * g, os);
      if (mid > full) tokens_by_groups<1>(w + g * gb, gb, n, x, xs, full, mid, K, out + 16 * g, os);
    }
  }
  if (n_tok > mid) {  // decode, or prefill's last partial tile
    configure(static_cast<int>(n_tok - mid));
    int64_t g = 0;
    for (; g + 4 <= n_groups; g += 4) micro_1x4(w + g * gb, gb, x + mid * xs, xs, K, out + mid * os + 16 * g, os);
    if (g < n_groups) tokens_by_groups<1>(w + g * gb, gb, n_groups - g, x, xs, mid, n_tok, K, out + 16 * g, os);
  }
  _tile_release();
}

}  // namespace

void fill_table_r16(KernelTable* t) { t->tile_bf16_r16[static_cast<int>(DType::kBF16)] = tile; }

}  // namespace herd::kernels::amx
