// AMX prefill tile for the r8 weight layouts (TileDotQ8R8Fn in
// kernel_table.h; tensor/repack_r8.h): the block's integer dot of 16 tokens
// x 16 rows in one tile product (tdpbssd), instead of 8 vpdpbusd per token
// and row pair. Formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, and Q6_K,
// whose two 16-element halves per block (each with its own scale) are two
// products of K = 16. Calls with fewer than 16 tokens (decode) keep the VNNI
// tile.
//
// Same bits as the avx512vnni tile, by construction: AMX-INT8 sums int8
// products exactly in int32, so each 32-block's integer dot is the same
// integer the VNNI tile computes, and the block is then added to the f32
// accumulator by the same format code (tile_r8_inl.h's scales/add, with the
// VNNI file's two-group unit V16: lane n = row n of the pair of groups), in
// the same block order. Prefill == decode and any thread split keep holding
// (kernels/tile_r8_amx_test.cpp checks the tile against the avx512vnni
// table's bit for bit).
//
// Walk, per call (a task's groups x a chunk of at most 256 tokens, ops.cpp):
// for each pair of groups (16 rows), its weights are unpacked once into a
// per-thread buffer as the tile operand B (per block: 8 rows of 64 bytes,
// row i = elements 4i..4i+3 of the 16 rows, as signed bytes q - offset) with
// the block's scales (at K = 8192, 128 KB + 16-32 KB: in L2), then every
// 16-token tile runs along K: per block (per part: Q6_K's halves), tile A =
// the 16 tokens' quantized activations, read in place from the BlockQ8 rows
// (stride 40 bytes), one tdpbssd into a zeroed C, C stored (1 KB, L1) and its
// 16 rows added to the 16 token accumulators (zmm: the 16 rows of one token)
// by the format's add.
// Two tile sets alternate and the products run two blocks ahead of the adds
// (three C buffers in memory), so the tile unit works while the adds run.
// The tokens past the last full 16 and an odd last group take the VNNI tile.
#include <immintrin.h>

#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels/amx_tile_config.h"
#include "kernels/kernel_table.h"
#include "tensor/repack_r8.h"

namespace herd::kernels::amx {
namespace {

#include "kernels/r8_avx512vnni_inl.h"

constexpr int kTileTok = 16;  // tokens per tile (rows of A and C)

// Two tile sets (even and odd steps): C in 0 and 1 (16 tokens x 16 int32),
// A in 2 and 3 (16 tokens x 32 / parts bytes), B in 4 and 5 (8 / parts rows x
// 64 bytes).
void configure_tiles(int parts) {
  AmxTileConfig c;
  for (int i = 0; i < 2; ++i) {
    c.colsb[i] = 64;
    c.rows[i] = kTileTok;
    c.colsb[2 + i] = static_cast<uint16_t>(32 / parts);
    c.rows[2 + i] = kTileTok;
    c.colsb[4 + i] = 64;
    c.rows[4 + i] = static_cast<uint8_t>(8 / parts);
  }
  load_tile_config(c);
}

// The signed operand offset: the VNNI operand is element + kOffset; Q8_0's
// (q8_0_prepare in r8_avx512vnni_inl.h) is q + 128.
template <class F>
constexpr int operand_offset() {
  if constexpr (std::is_same_v<F, Q8_0>) {
    return 128;
  } else {
    return F::kOffset;
  }
}

template <class F>
using Scales = typename F::template Scales<V16>;

// Parts of a 32-block with their own scale: Q6_K's two halves, else one.
template <class F>
constexpr int parts() {
  if constexpr (requires { F::kParts; }) {
    return F::kParts;
  } else {
    return 1;
  }
}

// One row of a B tile: elements 4i..4i+3 of the 16 rows.
struct alignas(64) BRow {
  int8_t bytes[64];
};

// The per-thread buffers of one pair of groups: B of every block (8 rows)
// and the blocks' scales. Grown to the longest K seen, never shrunk.
inline std::vector<BRow>& b_buffer(int64_t nb) {
  thread_local std::vector<BRow> v;
  if (v.size() < static_cast<size_t>(8 * nb)) v.resize(static_cast<size_t>(8 * nb));
  return v;
}
template <class F>
std::vector<Scales<F>>& scales_buffer(int64_t steps) {
  thread_local std::vector<Scales<F>> v;
  if (v.size() < static_cast<size_t>(steps)) v.resize(static_cast<size_t>(steps));
  return v;
}

// Unpacks the pair of groups at gp (the second gb bytes further) for nb
// blocks: step s = b * parts + h is part h of block b, its B rows from
// 8 / parts * s on, its scales at s.
template <class F>
void pack_pair(const uint8_t* gp, int64_t gb, int64_t nb, BRow* b_tiles, Scales<F>* scales) {
  const __m512i off = _mm512_set1_epi8(static_cast<char>(operand_offset<F>()));
  for (int64_t b = 0; b < nb; ++b) {
    __m512i q[8];
    if constexpr (parts<F>() == 1) {
      F::template weights<V16>(gp, gb, b, q);
      scales[b] = F::template scales<V16>(gp, gb, b);
    } else {
      for (int h = 0; h < parts<F>(); ++h) {
        F::template weights<V16>(gp, gb, b, h, q + h * 8 / parts<F>());
        scales[b * parts<F>() + h] = F::template scales<V16>(gp, gb, b, h);
      }
    }
    #pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) _mm512_store_si512(b_tiles[8 * b + i].bytes, _mm512_sub_epi8(q[i], off));
  }
}

// 16 tokens (x, stride xs blocks) x the packed pair over nb blocks -> out
// (16 floats per token, stride os).
template <class F>
void token_tile(const BRow* b_tiles, const Scales<F>* scales, const BlockQ8* x, int64_t xs, int64_t nb, float* out,
                int64_t os) {
  alignas(64) int32_t c[3][kTileTok][16];
  __m512 acc[kTileTok];
  #pragma GCC unroll 16
  for (int t = 0; t < kTileTok; ++t) acc[t] = _mm512_setzero_ps();
  const int64_t a_stride = xs * static_cast<int64_t>(sizeof(BlockQ8));
  constexpr int P = parts<F>(), kPartElems = 32 / P, kPartRows = 8 / P;
  const int64_t steps = nb * P;
  auto product = [&](int64_t st) {  // step st's integer dots into c[st % 3], with tile set st & 1
    const int8_t* a = x[st / P].qs + kPartElems * (st % P);
    const BRow* bt = b_tiles + kPartRows * st;
    if (st & 1) {
      _tile_loadd(3, a, a_stride);
      _tile_loadd(5, bt, 64);
      _tile_zero(1);
      _tile_dpbssd(1, 3, 5);
      _tile_stored(1, c[st % 3], 64);
    } else {
      _tile_loadd(2, a, a_stride);
      _tile_loadd(4, bt, 64);
      _tile_zero(0);
      _tile_dpbssd(0, 2, 4);
      _tile_stored(0, c[st % 3], 64);
    }
  };
  product(0);
  if (steps > 1) product(1);
  for (int64_t st = 0; st < steps; ++st) {
    if (st + 2 < steps) product(st + 2);
    const Scales<F> s = scales[st];
    const int32_t(*cb)[16] = c[st % 3];
    const BlockQ8* xb = x + st / P;
    #pragma GCC unroll 16
    for (int t = 0; t < kTileTok; ++t) acc[t] = F::template add<V16>(s, _mm512_load_si512(cb[t]), xb[t * xs], acc[t]);
  }
  #pragma GCC unroll 16
  for (int t = 0; t < kTileTok; ++t) _mm512_storeu_ps(out + t * os, acc[t]);
}

template <class F>
void tile_amx(const uint8_t* w, int64_t n_groups, const BlockQ8* x, int64_t xs, int64_t n_tok, int64_t K, float* out,
              int64_t os) {
  const int64_t amx_tok = n_tok / kTileTok * kTileTok, pairs = n_groups / 2;
  if (amx_tok == 0 || pairs == 0) return tile_r8<F, V16>(w, n_groups, x, xs, n_tok, K, out, os);
  const int64_t nb = K / 32, gb = K / F::kUnitElems * F::kUnitBytes;
  BRow* b_tiles = b_buffer(nb).data();
  Scales<F>* scales = scales_buffer<F>(nb * parts<F>()).data();
  configure_tiles(parts<F>());
  for (int64_t p = 0; p < pairs; ++p) {
    pack_pair<F>(w + 2 * p * gb, gb, nb, b_tiles, scales);
    for (int64_t t = 0; t < amx_tok; t += kTileTok)
      token_tile<F>(b_tiles, scales, x + t * xs, xs, nb, out + t * os + 16 * p, os);
  }
  _tile_release();
  if (amx_tok < n_tok) tile_r8<F, V16>(w, 2 * pairs, x + amx_tok * xs, xs, n_tok - amx_tok, K, out + amx_tok * os, os);
  if (n_groups > 2 * pairs) tile_r8<F, V16>(w + 2 * pairs * gb, 1, x, xs, n_tok, K, out + 16 * pairs, os);
}

}  // namespace

void fill_table_r8(KernelTable* t) {
  t->tile_q8_r8[static_cast<int>(DType::kQ4_0)] = tile_amx<Q4_0>;
  t->tile_q8_r8[static_cast<int>(DType::kQ4_1)] = tile_amx<Q4_1>;
  t->tile_q8_r8[static_cast<int>(DType::kQ5_0)] = tile_amx<Q5_0>;
  t->tile_q8_r8[static_cast<int>(DType::kQ5_1)] = tile_amx<Q5_1>;
  t->tile_q8_r8[static_cast<int>(DType::kQ8_0)] = tile_amx<Q8_0>;
  t->tile_q8_r8[static_cast<int>(DType::kQ4_K)] = tile_amx<Q4_K>;
  t->tile_q8_r8[static_cast<int>(DType::kQ5_K)] = tile_amx<Q5_K>;
  t->tile_q8_r8[static_cast<int>(DType::kQ6_K)] = tile_amx<Q6_K>;
}

}  // namespace herd::kernels::amx
