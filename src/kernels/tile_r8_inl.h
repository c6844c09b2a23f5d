// The r8 tile kernels' body, shared by the ISAs that run them
// (kernels_r8_avx512vnni.cpp, kernels_r8_avx2.cpp): the per-format block
// unpacking (tensor/repack_r8.h layouts) and the loop over groups and token
// tiles. No include guard, on purpose: each ISA file includes it INSIDE its
// own namespace (herd::kernels::<isa>), after defining
//   template <int kMaxQ, int N, int kChains> __m256i dot_groups(__m256i a, const __m256i* q, const int8_t* xq)
//       a + per 32-bit lane the exact sum over i < N of the 4 products of
//       q[i]'s u8 bytes (each <= kMaxQ) with the activation bytes xq[4i..4i+3];
//       kChains (kDotChains<TT>) lets the ISA split the sum in independent
//       chains for decode tiles, where one token leaves nothing to overlap;
//   void q8_0_prepare(const uint8_t* qs, __m256i* q)
//       a Q8_0 block's 8 weight registers from its signed qs, in the form
//       that ISA's q8_0_isum takes;
//   template <int kChains> __m256i q8_0_isum(const __m256i* q, const uint8_t* qs, const BlockQ8& xb)
//       per row lane the exact integer sum of that block (qs: its signed
//       bytes, 8 chunks of 32) with xb;
//   constexpr int kTT: tokens per register tile (<= 8);
//   constexpr int kTTHalfBlock: the same for formats whose block kernel keeps
//       only half a block's operands live (Q6_K);
// so every function here is compiled with that file's flags under a distinct
// name (no ODR mixing of ISAs, as Highway's per-target namespaces do).
//
// A 256-bit register holds 4 elements of each of 8 rows, one 32-bit lane per
// row. For a 32-element block, 8 such registers (element groups 4i..4i+3)
// meet the 8 matching broadcast groups of 4 activation bytes in 8 four-byte
// dot products (dot_groups), and lane j ends holding row j's exact integer sum over the block. One
// conversion and one FMA with the 8 rows' scale products (d_w * d_x) then add
// the block to the f32 accumulator of that token: 8 rows per FMA instead of
// the file layout's one row per FMA plus a final horizontal sum, and the
// output of 8 rows is one 8-float store. The weights of a block are unpacked
// once and used for every token of the register tile.
//
// Offsets (q - 8 for Q4_0, q - 16 for Q5_0, q - 32 of Q6_K) are folded into the integer start
// value; Q4_K's and Q5_K's min term is a second FMA with the block's
// activation sum s.
// Every output is the same sequence of operations whatever the tile shape, so
// prefill and decode are bit-identical, and since the integer sums are exact
// every ISA gives the same bits.

__attribute__((always_inline)) inline __m256i bcast4(const int8_t* p) {  // 4 activation bytes into every lane
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

inline __m256i load(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

inline __m256 f16x8(const uint8_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// 8 u8 or i8 values (one per row) as 8 f32.
inline __m256 u8x8(const uint8_t* p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}
inline __m256 i8x8(const uint8_t* p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

// Sum of the first 16 quantized activations of a block (s - this: the other 16).
inline int32_t half_sum(const int8_t* qs) {
  const __m128i v = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)), _mm_set1_epi8(-128));
  const __m128i s = _mm_sad_epu8(v, _mm_setzero_si128());  // sums of q + 128 in two 64-bit halves
  return _mm_cvtsi128_si32(s) + _mm_extract_epi16(s, 4) - 16 * 128;
}

// Dependency chains per integer block sum for a tile of TT tokens: 2 for decode
// (1-2 tokens), 1 when the tile's other tokens give the core independent work.
template <int TT>
inline constexpr int kDotChains = TT <= 2 ? 2 : 1;

// Per format: Unit bytes/elements, and block(p, b, q, ...) unpacks block b.

// Byte n of each 32-bit lane, copied to all four bytes of the lane
// (vpshufb indices; vpshufb works within each 128-bit half).
inline __m256i lane_byte_index(int n) {
  return _mm256_add_epi8(_mm256_set1_epi8(static_cast<char>(n)),
                         _mm256_setr_epi32(0, 0x04040404, 0x08080808, 0x0c0c0c0c, 0, 0x04040404, 0x08080808, 0x0c0c0c0c));
}

// The 32-element formats with 4-bit nibbles: Q4_0 (q - 8), Q4_1 (d q + m),
// Q5_0 (q - 16 with a fifth bit) and Q5_1 (d q + m with a fifth bit). Unit:
// f16 d[8], f16 m[8] (kMin), u32 qh[8] (kFifth: bit j is element j's fifth
// bit), 4 chunks of qs.
template <bool kMin, bool kFifth>
struct Q32 {
  static constexpr int64_t kQh = 16 + (kMin ? 16 : 0), kQs = kQh + (kFifth ? 32 : 0);
  static constexpr int64_t kUnitElems = 32, kUnitBytes = kQs + 128;
  static constexpr int kOffset = kMin ? 0 : kFifth ? 16 : 8;
  template <int TT>
  __attribute__((always_inline)) static void block(const uint8_t* gp, int64_t b, const BlockQ8* x, int64_t xs, __m256* acc) {
    const uint8_t* p = gp + b * kUnitBytes;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256i q[8];
    #pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      const __m256i v = load(p + kQs + 32 * c);
      q[c] = _mm256_and_si256(v, m4);
      q[c + 4] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
    }
    if constexpr (kFifth) {
      // Chunk c's bytes are elements 4c..4c+3 (low nibbles) and 16+4c..
      // (high): their fifth bits are nibble c & 1 of qh bytes c / 2 and
      // 2 + c / 2. Each selected byte goes to all four bytes of its lane, and
      // byte e keeps bit e of the nibble, as 0x10.
      const __m256i qh = load(p + kQh);
      #pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) {
        const __m256i bit = _mm256_set1_epi32(static_cast<int>(0x08040201u << (4 * (c & 1))));
        const __m256i lo = _mm256_shuffle_epi8(qh, lane_byte_index(c >> 1));
        const __m256i hi = _mm256_shuffle_epi8(qh, lane_byte_index(2 + (c >> 1)));
        const __m256i h16 = _mm256_set1_epi8(0x10);
        q[c] = _mm256_or_si256(q[c], _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(lo, bit), bit), h16));
        q[c + 4] = _mm256_or_si256(q[c + 4], _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hi, bit), bit), h16));
      }
    }
    const __m256 dw = f16x8(p);
    #pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) {
      const BlockQ8& xb = x[t * xs + b];
      const __m256i isum = dot_groups<kFifth ? 31 : 15, 8, kDotChains<TT>>(_mm256_set1_epi32(-kOffset * xb.s), q, xb.qs);
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(dw, _mm256_set1_ps(xb.d)), acc[t]);
      if constexpr (kMin) {
        const __m256 dm = _mm256_mul_ps(f16x8(p + 16), _mm256_set1_ps(xb.d));
        acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(static_cast<float>(xb.s)), dm, acc[t]);
      }
    }
  }
};
using Q4_0 = Q32<false, false>;
using Q4_1 = Q32<true, false>;
using Q5_0 = Q32<false, true>;
using Q5_1 = Q32<true, true>;

struct Q8_0 {
  static constexpr int64_t kUnitElems = 32, kUnitBytes = 272;
  template <int TT>
  __attribute__((always_inline)) static void block(const uint8_t* gp, int64_t b, const BlockQ8* x, int64_t xs, __m256* acc) {
    const uint8_t* p = gp + b * kUnitBytes;
    __m256i q[8];
    q8_0_prepare(p + 16, q);
    const __m256 dw = f16x8(p);
    #pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) {
      const BlockQ8& xb = x[t * xs + b];
      const __m256i isum = q8_0_isum<kDotChains<TT>>(q, p + 16, xb);
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(dw, _mm256_set1_ps(xb.d)), acc[t]);
    }
  }
};

// Q4_K, and Q5_K (kFifthBit): the nibble, for Q5_K with bit k of the qh
// chunk as its fifth bit; scale and min per row and 32-block.
template <bool kFifthBit>
struct Q45_K {
  static constexpr int64_t kUnitElems = 256, kUnitBytes = kFifthBit ? 1440 : 1184;
  template <int TT>
  __attribute__((always_inline)) static void block(const uint8_t* gp, int64_t b, const BlockQ8* x, int64_t xs, __m256* acc) {
    const uint8_t* p = gp + (b >> 3) * kUnitBytes;
    const int k = static_cast<int>(b & 7);
    const __m128i shift = _mm_cvtsi32_si128(4 * (k & 1));
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    const uint8_t* qs = p + 160 + 32 * 8 * (k >> 1);
    __m256i q[8];
    #pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) q[i] = _mm256_and_si256(_mm256_srl_epi16(load(qs + 32 * i), shift), m4);
    if constexpr (kFifthBit) {
      const __m128i hshift = _mm_cvtsi32_si128(k);
      const __m256i m1 = _mm256_set1_epi8(1);
      #pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) {
        const __m256i h = _mm256_and_si256(_mm256_srl_epi16(load(p + 1184 + 32 * i), hshift), m1);
        q[i] = _mm256_or_si256(q[i], _mm256_slli_epi16(h, 4));
      }
    }
    // Exact f32 products: 11-bit d times a 6-bit scale.
    const __m256 dsc = _mm256_mul_ps(f16x8(p), u8x8(p + 32 + 8 * k));
    const __m256 dmn = _mm256_mul_ps(f16x8(p + 16), u8x8(p + 96 + 8 * k));
    #pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) {
      const BlockQ8& xb = x[t * xs + b];
      const __m256 dx = _mm256_set1_ps(xb.d);
      const __m256i isum = dot_groups<kFifthBit ? 31 : 15, 8, kDotChains<TT>>(_mm256_setzero_si256(), q, xb.qs);
      const __m256 a = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(dsc, dx), acc[t]);
      acc[t] = _mm256_fnmadd_ps(_mm256_set1_ps(static_cast<float>(xb.s)), _mm256_mul_ps(dmn, dx), a);
    }
  }
};
using Q4_K = Q45_K<false>;
using Q5_K = Q45_K<true>;

struct Q6_K {
  static constexpr int64_t kUnitElems = 256, kUnitBytes = 1680;
  static constexpr int kTileTokens = kTTHalfBlock;  // 4 operand registers live, not 8
  template <int TT>
  __attribute__((always_inline)) static void block(const uint8_t* gp, int64_t b, const BlockQ8* x, int64_t xs, __m256* acc) {
    const uint8_t* p = gp + (b >> 3) * kUnitBytes;
    const int k = static_cast<int>(b & 7), n = k >> 2, g = k & 3;
    const __m128i lo_shift = _mm_cvtsi32_si128(4 * (g >> 1)), hi_shift = _mm_cvtsi32_si128(2 * g);
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(3);
    const uint8_t* ql = p + 144 + 32 * (16 * n + 8 * (g & 1));
    const uint8_t* qh = p + 144 + 1024 + 32 * (8 * n);
    const __m256 d = f16x8(p);
    // Halves of 16 elements (groups 0-3, 4-7), each with its own scale, one
    // after the other: 4 operand registers live.
    #pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      __m256i q[4];
      #pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) {
        const __m256i lo = _mm256_and_si256(_mm256_srl_epi16(load(ql + 32 * (4 * h + i)), lo_shift), m4);
        const __m256i hi = _mm256_and_si256(_mm256_srl_epi16(load(qh + 32 * (4 * h + i)), hi_shift), m2);
        q[i] = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
      }
      const __m256 dsc = _mm256_mul_ps(d, i8x8(p + 16 + 8 * (8 * n + 2 * g + h)));  // exact: 11 x 8 bits
      #pragma GCC unroll 8
      for (int t = 0; t < TT; ++t) {
        const BlockQ8& xb = x[t * xs + b];
        const int32_t s0 = half_sum(xb.qs);
        const int32_t sh = h == 0 ? s0 : xb.s - s0;
        const __m256i isum = dot_groups<63, 4, kDotChains<TT>>(_mm256_set1_epi32(-32 * sh), q, xb.qs + 16 * h);
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(dsc, _mm256_set1_ps(xb.d)), acc[t]);
      }
    }
  }
};

// 4 KB ahead: of 576 B, 2, 4 and 8 KB, the best decode figures on the
// development host (1B Q4_0, 1 and 2 threads; noisy, docs/kernels.md).
constexpr int64_t kPrefetchBytes = 4096;

// One group of 8 rows times TT tokens over all nb blocks.
template <class F, int TT>
void group_tile(const uint8_t* gp, const BlockQ8* x, int64_t xs, int64_t nb, float* out, int64_t os) {
  __m256 acc[TT];
  #pragma GCC unroll 8
  for (int t = 0; t < TT; ++t) acc[t] = _mm256_setzero_ps();
  const int64_t blocks_per_unit = F::kUnitElems / 32;
  for (int64_t b = 0; b < nb; ++b) {
    // The stream of one group is contiguous: every cache line of the unit
    // kPrefetchBytes ahead is prefetched, so decode keeps enough reads in
    // flight to cover DRAM latency (docs/kernels.md).
    if (b % blocks_per_unit == 0) {
      const uint8_t* ahead = gp + (b / blocks_per_unit) * F::kUnitBytes + kPrefetchBytes;
      for (int64_t o = 0; o < F::kUnitBytes; o += 64) _mm_prefetch(reinterpret_cast<const char*>(ahead + o), _MM_HINT_T0);
    }
    F::template block<TT>(gp, b, x, xs, acc);
  }
  #pragma GCC unroll 8
  for (int t = 0; t < TT; ++t) _mm256_storeu_ps(out + t * os, acc[t]);
}

// Tokens per register tile for format F: kTT, or the format's own.
template <class F>
constexpr int tile_tokens() {
  if constexpr (requires { F::kTileTokens; }) {
    return F::kTileTokens;
  } else {
    return kTT;
  }
}

template <class F>
void tile_r8(const uint8_t* w, int64_t n_groups, const BlockQ8* x, int64_t xs, int64_t n_tok, int64_t K, float* out,
             int64_t os) {
  const int64_t nb = K / 32, gb = K / F::kUnitElems * F::kUnitBytes;
  for (int64_t g = 0; g < n_groups; ++g) {
    const uint8_t* gp = w + g * gb;
    float* o = out + 8 * g;
    int64_t t = 0;
    constexpr int kTile = tile_tokens<F>();
    for (; t + kTile <= n_tok; t += kTile) group_tile<F, kTile>(gp, x + t * xs, xs, nb, o + t * os, os);
    const BlockQ8* xt = x + t * xs;
    float* ot = o + t * os;
    // The 1 .. kTile - 1 tokens left: the tile of exactly that many.
    const int64_t rem = n_tok - t;
    [&]<int... I>(std::integer_sequence<int, I...>) {
      ((rem == I + 1 ? group_tile<F, I + 1>(gp, xt, xs, nb, ot, os) : void()), ...);
    }(std::make_integer_sequence<int, kTile - 1>{});
  }
}

