// The r8 tile kernels' body, shared by the ISAs that run them
// (kernels_r8_avx512vnni.cpp, kernels_r8_avx2.cpp): the per-format block
// unpacking (tensor/repack_r8.h layouts) and the loop over groups and token
// tiles. No include guard, on purpose: each ISA file includes it INSIDE its
// own namespace (herd::kernels::<isa>), so every function here is compiled
// with that file's flags under a distinct name (no ODR mixing of ISAs, as
// Highway's per-target namespaces do).
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
// value; Q4_K's and Q5_K's min term (Q4_1's, Q5_1's m) is a second FMA with
// the block's stored fl(d_x * s) (BlockQ8::ds: one broadcast, where
// fl(dmin * d_x) * s took a conversion, a broadcast and a product per token:
// kernels_bench q4_k r8 2048x2048 T:128, 1 thread, 230 -> 254 GFLOP/s on Zen 4).
// Every output is the same sequence of operations whatever the tile shape, so
// prefill and decode are bit-identical, and since the integer sums are exact
// every ISA gives the same bits.

// The 8-row unit V8 below is what every ISA runs; an ISA with wider registers
// may also define, after including this file, a unit of two groups with the
// same operations (kernels_r8_avx512vnni.cpp's V16: a zmm holds the same 4
// elements of group g in its low half and of group g + 1 in its high half,
// gb bytes further in memory).
// The format block functions are written once over the unit's operations, so
// each lane does the same arithmetic whichever unit runs it (the bits are the
// same; tile_r8 uses the wide unit for prefill tiles only, see there).
//
// The ISA file defines, after including this file (declared below),
//   template <class V, int kMaxQ, int N, int kChains>
//   typename V::I dot_groups(typename V::I a, const typename V::I* q, const int8_t* xq)
//       a + per 32-bit lane the exact sum over i < N of the 4 products of
//       q[i]'s u8 bytes (each <= kMaxQ) with the activation bytes xq[4i..4i+3];
//       kChains (kDotChains<TT>) lets the ISA split the sum in independent
//       chains for decode tiles, where one token leaves nothing to overlap;
//   template <class V> void q8_0_prepare(const uint8_t* qs, int64_t gb, typename V::I* q)
//       a Q8_0 block's 8 weight registers from its signed qs, in the form
//       that ISA's q8_0_isum takes;
//   template <class V, int kChains> typename V::I q8_0_isum(const typename V::I* q, const uint8_t* qs, const BlockQ8& xb)
//       per row lane the exact integer sum of that block (qs: its signed
//       bytes, 8 chunks of 32) with xb;
// and before it
//   constexpr int kTT: tokens per register tile (<= 8);
//   constexpr int kTTHalfBlock: the same for formats whose block kernel keeps
//       only half a block's operands live (Q6_K);
// and after it fills the table with fill_r8_entries<Wide>, Wide being V8 or
// the ISA's two-group unit. dot_groups reaches the unit's registers through
// V::broadcast4 and V::add32 and its own 4-byte dot.

// The ISA file's part (see above), declared here, defined after the include.
template <class V, int kMaxQ, int N, int kChains>
typename V::I dot_groups(typename V::I a, const typename V::I* q, const int8_t* xq);
template <class V>
void q8_0_prepare(const uint8_t* qs, int64_t gb, typename V::I* q);
template <class V, int kChains>
typename V::I q8_0_isum(const typename V::I* q, const uint8_t* qs, const BlockQ8& xb);

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

// Byte n of each 32-bit lane, copied to all four bytes of the lane
// (vpshufb indices; vpshufb works within each 128-bit half).
inline __m256i lane_byte_index(int n) {
  return _mm256_add_epi8(_mm256_set1_epi8(static_cast<char>(n)),
                         _mm256_setr_epi32(0, 0x04040404, 0x08080808, 0x0c0c0c0c, 0, 0x04040404, 0x08080808, 0x0c0c0c0c));
}

// One group of 8 rows in a ymm register: the unit every ISA has. gb (the
// distance to the next group) is unused.
struct V8 {
  using I = __m256i;
  using F = __m256;
  static constexpr int kGroups = 1;
  [[gnu::always_inline]] static I ld(const uint8_t* p, int64_t) { return load(p); }
  [[gnu::always_inline]] static F f16(const uint8_t* p, int64_t) { return f16x8(p); }
  [[gnu::always_inline]] static F u8(const uint8_t* p, int64_t) { return u8x8(p); }
  [[gnu::always_inline]] static F i8(const uint8_t* p, int64_t) { return i8x8(p); }
  [[gnu::always_inline]] static I and_(I a, I b) { return _mm256_and_si256(a, b); }
  [[gnu::always_inline]] static I or_(I a, I b) { return _mm256_or_si256(a, b); }
  [[gnu::always_inline]] static I xor_(I a, I b) { return _mm256_xor_si256(a, b); }
  [[gnu::always_inline]] static I srli16_4(I a) { return _mm256_srli_epi16(a, 4); }
  [[gnu::always_inline]] static I slli16_4(I a) { return _mm256_slli_epi16(a, 4); }
  [[gnu::always_inline]] static I srl16(I a, __m128i n) { return _mm256_srl_epi16(a, n); }
  [[gnu::always_inline]] static I set1_8(char v) { return _mm256_set1_epi8(v); }
  [[gnu::always_inline]] static I set1_32(int32_t v) { return _mm256_set1_epi32(v); }
  [[gnu::always_inline]] static I zero() { return _mm256_setzero_si256(); }
  [[gnu::always_inline]] static I add32(I a, I b) { return _mm256_add_epi32(a, b); }
  [[gnu::always_inline]] static I broadcast4(const int8_t* p) { return bcast4(p); }
  [[gnu::always_inline]] static I byte_of_lane(I v, int n) { return _mm256_shuffle_epi8(v, lane_byte_index(n)); }
  // val where v has every bit of bit set, else 0 (per byte).
  [[gnu::always_inline]] static I if_bits(I v, I bit, I val) { return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit), val); }
  [[gnu::always_inline]] static F cvt(I a) { return _mm256_cvtepi32_ps(a); }
  [[gnu::always_inline]] static F set1(float v) { return _mm256_set1_ps(v); }
  [[gnu::always_inline]] static F zero_f() { return _mm256_setzero_ps(); }
  [[gnu::always_inline]] static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  [[gnu::always_inline]] static F fmadd(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  [[gnu::always_inline]] static F fnmadd(F a, F b, F c) { return _mm256_fnmadd_ps(a, b, c); }
  [[gnu::always_inline]] static void store(float* p, F a) { _mm256_storeu_ps(p, a); }
};

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

// Per format: Unit bytes/elements, and block<V, TT>(p, gb, b, ...) unpacks
// block b (of the group at p, and for a two-group unit of the one at p + gb)
// and adds it to the TT accumulators. block() is written from three parts
// that another tile (kernels/tile_r8_amx.cpp) uses on its own:
//   weights<V>(gp, gb, b, q): block b's 8 operand registers (q[i]: elements
//       4i..4i+3 of every row lane), each byte the element's integer value
//       plus kOffset, so sum_i (q[i] . x[4i..]) - kOffset * s is the block's
//       exact integer dot (Q8_0's operand is ISA-specific: q8_0_prepare);
//   scales<V>(gp, gb, b): the block's per-row factors (Scales<V>);
//   add<V>(scales, isum, xb, acc): acc plus the block's contribution, isum
//       being that exact integer dot with activation block xb.
// Q6_K has them per 16-element half (kParts = 2, an extra half argument).
// So every tile that gets the same integers gives the same bits.

// The 32-element formats with 4-bit nibbles: Q4_0 (q - 8), Q4_1 (d q + m),
// Q5_0 (q - 16 with a fifth bit) and Q5_1 (d q + m with a fifth bit). Unit:
// f16 d[8], f16 m[8] (kMin), u32 qh[8] (kFifth: bit j is element j's fifth
// bit), 4 chunks of qs.
// acc + isum * (scale * d_x): a block's integer sum (row lanes) times its
// weight scale(s) and the activation block's scale, the step every format's
// add() starts with.
template <class V>
__attribute__((always_inline)) inline typename V::F scaled_add(typename V::F scale, typename V::I isum,
                                                              const BlockQ8& xb, typename V::F acc) {
  return V::fmadd(V::cvt(isum), V::mul(scale, V::set1(xb.d)), acc);
}

template <bool kMin, bool kFifth>
struct Q32 {
  static constexpr int64_t kQh = 16 + (kMin ? 16 : 0), kQs = kQh + (kFifth ? 32 : 0);
  static constexpr int64_t kUnitElems = 32, kUnitBytes = kQs + 128;
  static constexpr int kOffset = kMin ? 0 : kFifth ? 16 : 8;
  static constexpr int kMaxQ = kFifth ? 31 : 15;
  template <class V>
  struct Scales {
    typename V::F dw, dm;
  };
  template <class V>
  __attribute__((always_inline)) static void weights(const uint8_t* gp, int64_t gb, int64_t b, typename V::I* q) {
    using I = typename V::I;
    const uint8_t* p = gp + b * kUnitBytes;
    const I m4 = V::set1_8(0x0f);
    #pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      const I v = V::ld(p + kQs + 32 * c, gb);
      q[c] = V::and_(v, m4);
      q[c + 4] = V::and_(V::srli16_4(v), m4);
    }
    if constexpr (kFifth) {
      // Chunk c's bytes are elements 4c..4c+3 (low nibbles) and 16+4c..
      // (high): their fifth bits are nibble c & 1 of qh bytes c / 2 and
      // 2 + c / 2. Each selected byte goes to all four bytes of its lane, and
      // byte e keeps bit e of the nibble, as 0x10.
      const I qh = V::ld(p + kQh, gb);
      const I h16 = V::set1_8(0x10);
      #pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) {
        const I bit = V::set1_32(static_cast<int>(0x08040201u << (4 * (c & 1))));
        q[c] = V::or_(q[c], V::if_bits(V::byte_of_lane(qh, c >> 1), bit, h16));
        q[c + 4] = V::or_(q[c + 4], V::if_bits(V::byte_of_lane(qh, 2 + (c >> 1)), bit, h16));
      }
    }
  }
  template <class V>
  __attribute__((always_inline)) static Scales<V> scales(const uint8_t* gp, int64_t gb, int64_t b) {
    const uint8_t* p = gp + b * kUnitBytes;
    return {V::f16(p, gb), kMin ? V::f16(p + 16, gb) : V::zero_f()};
  }
  template <class V>
  __attribute__((always_inline)) static typename V::F add(const Scales<V>& s, typename V::I isum, const BlockQ8& xb,
                                                          typename V::F acc) {
    acc = scaled_add<V>(s.dw, isum, xb, acc);
    if constexpr (kMin) acc = V::fmadd(V::set1(xb.ds), s.dm, acc);
    return acc;
  }
  template <class V, int TT>
  __attribute__((always_inline)) static void block(const uint8_t* gp, int64_t gb, int64_t b, const BlockQ8* x,
                                                   int64_t xs, typename V::F* acc) {
    typename V::I q[8];
    weights<V>(gp, gb, b, q);
    const Scales<V> s = scales<V>(gp, gb, b);
    #pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) {
      const BlockQ8& xb = x[t * xs + b];
      acc[t] = add<V>(s, dot_groups<V, kMaxQ, 8, kDotChains<TT>>(V::set1_32(-kOffset * xb.s), q, xb.qs), xb, acc[t]);
    }
  }
};
using Q4_0 = Q32<false, false>;
using Q4_1 = Q32<true, false>;
using Q5_0 = Q32<false, true>;
using Q5_1 = Q32<true, true>;

struct Q8_0 {
  static constexpr int64_t kUnitElems = 32, kUnitBytes = 272;
  template <class V>
  struct Scales {
    typename V::F dw;
  };
  template <class V>
  __attribute__((always_inline)) static void weights(const uint8_t* gp, int64_t gb, int64_t b, typename V::I* q) {
    q8_0_prepare<V>(gp + b * kUnitBytes + 16, gb, q);
  }
  template <class V>
  __attribute__((always_inline)) static Scales<V> scales(const uint8_t* gp, int64_t gb, int64_t b) {
    return {V::f16(gp + b * kUnitBytes, gb)};
  }
  template <class V>
  __attribute__((always_inline)) static typename V::F add(const Scales<V>& s, typename V::I isum, const BlockQ8& xb,
                                                          typename V::F acc) {
    return scaled_add<V>(s.dw, isum, xb, acc);
  }
  template <class V, int TT>
  __attribute__((always_inline)) static void block(const uint8_t* gp, int64_t gb, int64_t b, const BlockQ8* x,
                                                   int64_t xs, typename V::F* acc) {
    typename V::I q[8];
    weights<V>(gp, gb, b, q);
    const Scales<V> s = scales<V>(gp, gb, b);
    #pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) {
      const BlockQ8& xb = x[t * xs + b];
      acc[t] = add<V>(s, q8_0_isum<V, kDotChains<TT>>(q, gp + b * kUnitBytes + 16, xb), xb, acc[t]);
    }
  }
};

// Q4_K, and Q5_K (kFifthBit): the nibble, for Q5_K with bit k of the qh
// chunk as its fifth bit; scale and min per row and 32-block.
template <bool kFifthBit>
struct Q45_K {
  static constexpr int64_t kUnitElems = 256, kUnitBytes = kFifthBit ? 1440 : 1184;
  static constexpr int kOffset = 0;
  static constexpr int kMaxQ = kFifthBit ? 31 : 15;
  template <class V>
  struct Scales {
    typename V::F dsc, dmn;
  };
  template <class V>
  __attribute__((always_inline)) static void weights(const uint8_t* gp, int64_t gb, int64_t b, typename V::I* q) {
    using I = typename V::I;
    const uint8_t* p = gp + (b >> 3) * kUnitBytes;
    const int k = static_cast<int>(b & 7);
    const __m128i shift = _mm_cvtsi32_si128(4 * (k & 1));
    const I m4 = V::set1_8(0x0f);
    const uint8_t* qs = p + 160 + 32 * 8 * (k >> 1);
    #pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) q[i] = V::and_(V::srl16(V::ld(qs + 32 * i, gb), shift), m4);
    if constexpr (kFifthBit) {
      const __m128i hshift = _mm_cvtsi32_si128(k);
      const I m1 = V::set1_8(1);
      #pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) {
        const I h = V::and_(V::srl16(V::ld(p + 1184 + 32 * i, gb), hshift), m1);
        q[i] = V::or_(q[i], V::slli16_4(h));
      }
    }
  }
  template <class V>
  __attribute__((always_inline)) static Scales<V> scales(const uint8_t* gp, int64_t gb, int64_t b) {
    const uint8_t* p = gp + (b >> 3) * kUnitBytes;
    const int k = static_cast<int>(b & 7);
    // Exact f32 products: 11-bit d times a 6-bit scale.
    return {V::mul(V::f16(p, gb), V::u8(p + 32 + 8 * k, gb)), V::mul(V::f16(p + 16, gb), V::u8(p + 96 + 8 * k, gb))};
  }
  template <class V>
  __attribute__((always_inline)) static typename V::F add(const Scales<V>& s, typename V::I isum, const BlockQ8& xb,
                                                          typename V::F acc) {
    const typename V::F a = scaled_add<V>(s.dsc, isum, xb, acc);
    return V::fnmadd(V::set1(xb.ds), s.dmn, a);
  }
  template <class V, int TT>
  __attribute__((always_inline)) static void block(const uint8_t* gp, int64_t gb, int64_t b, const BlockQ8* x,
                                                   int64_t xs, typename V::F* acc) {
    typename V::I q[8];
    weights<V>(gp, gb, b, q);
    const Scales<V> s = scales<V>(gp, gb, b);
    #pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) {
      const BlockQ8& xb = x[t * xs + b];
      acc[t] = add<V>(s, dot_groups<V, kMaxQ, 8, kDotChains<TT>>(V::zero(), q, xb.qs), xb, acc[t]);
    }
  }
};
using Q4_K = Q45_K<false>;
using Q5_K = Q45_K<true>;

// Q6_K: two halves of 16 elements per 32-block, each with its own scale, so
// its parts (kParts = 2) take weights/scales per half: weights gives the
// half's 4 operand registers (elements 16h + 4i .. of every row lane, value
// q in 0..63; the exact dot is the plain one minus 32 times the half's
// activation sum).
struct Q6_K {
  static constexpr int64_t kUnitElems = 256, kUnitBytes = 1680;
  static constexpr int kTileTokens = kTTHalfBlock;  // 4 operand registers live, not 8
  static constexpr int kParts = 2, kOffset = 32;
  template <class V>
  struct Scales {
    typename V::F dsc;
  };
  template <class V>
  __attribute__((always_inline)) static void weights(const uint8_t* gp, int64_t gb, int64_t b, int h,
                                                     typename V::I* q) {
    using I = typename V::I;
    const uint8_t* p = gp + (b >> 3) * kUnitBytes;
    const int k = static_cast<int>(b & 7), n = k >> 2, g = k & 3;
    const __m128i lo_shift = _mm_cvtsi32_si128(4 * (g >> 1)), hi_shift = _mm_cvtsi32_si128(2 * g);
    const I m4 = V::set1_8(0x0f), m2 = V::set1_8(3);
    const uint8_t* ql = p + 144 + 32 * (16 * n + 8 * (g & 1));
    const uint8_t* qh = p + 144 + 1024 + 32 * (8 * n);
    #pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      const I lo = V::and_(V::srl16(V::ld(ql + 32 * (4 * h + i), gb), lo_shift), m4);
      const I hi = V::and_(V::srl16(V::ld(qh + 32 * (4 * h + i), gb), hi_shift), m2);
      q[i] = V::or_(lo, V::slli16_4(hi));
    }
  }
  template <class V>
  __attribute__((always_inline)) static Scales<V> scales(const uint8_t* gp, int64_t gb, int64_t b, int h) {
    const uint8_t* p = gp + (b >> 3) * kUnitBytes;
    const int k = static_cast<int>(b & 7), n = k >> 2, g = k & 3;
    return {V::mul(V::f16(p, gb), V::i8(p + 16 + 8 * (8 * n + 2 * g + h), gb))};  // exact: 11 x 8 bits
  }
  template <class V>
  __attribute__((always_inline)) static typename V::F add(const Scales<V>& s, typename V::I isum, const BlockQ8& xb,
                                                          typename V::F acc) {
    return scaled_add<V>(s.dsc, isum, xb, acc);
  }
  template <class V, int TT>
  __attribute__((always_inline)) static void block(const uint8_t* gp, int64_t gb, int64_t b, const BlockQ8* x,
                                                   int64_t xs, typename V::F* acc) {
    // The halves one after the other: 4 operand registers live.
    #pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      typename V::I q[4];
      weights<V>(gp, gb, b, h, q);
      const Scales<V> s = scales<V>(gp, gb, b, h);
      #pragma GCC unroll 8
      for (int t = 0; t < TT; ++t) {
        const BlockQ8& xb = x[t * xs + b];
        const int32_t s0 = half_sum(xb.qs);
        const int32_t sh = h == 0 ? s0 : xb.s - s0;
        acc[t] = add<V>(s, dot_groups<V, 63, 4, kDotChains<TT>>(V::set1_32(-32 * sh), q, xb.qs + 16 * h), xb, acc[t]);
      }
    }
  }
};

// One unit of V::kGroups groups of 8 rows (the first at gp, the next gb
// bytes further) times TT tokens over all nb blocks.
template <class F, class V, int TT>
void group_tile(const uint8_t* gp, int64_t gb, const BlockQ8* x, int64_t xs, int64_t nb, float* out, int64_t os) {
  typename V::F acc[TT];
  #pragma GCC unroll 8
  for (int t = 0; t < TT; ++t) acc[t] = V::zero_f();
  constexpr int64_t kBlocksPerUnit = F::kUnitElems / 32;
  // The unit's cache lines, and how many of them each of its blocks prefetches.
  constexpr int64_t kLines = (F::kUnitBytes + 63) / 64, kLinesPerBlock = (kLines + kBlocksPerUnit - 1) / kBlocksPerUnit;
  const int64_t ahead_bytes = r8_prefetch_bytes();
  for (int64_t b = 0; b < nb; ++b) {
    // The stream of one group is contiguous: every cache line of the unit
    // ahead_bytes ahead is prefetched, so decode keeps enough reads in
    // flight to cover DRAM latency (kernel_table.h r8_prefetch_bytes). A
    // K-quant unit's lines are spread over its 8 blocks (at most 4 per
    // block) rather than issued at once: a burst of 19-27 prefetches outruns
    // the core's miss buffers, and the tile then stalls on them. Every block
    // issues the same kLinesPerBlock prefetches, the last block's reaching
    // into the next unit (prefetches never fault): a count that depends on
    // the block took compares and branches around each prefetch, and on
    // Zen 3 those scalar instructions held the K-quant tiles back.
    if (ahead_bytes > 0) {
      const int64_t k = b % kBlocksPerUnit;
      #pragma GCC unroll 2
      for (int h = 0; h < V::kGroups; ++h) {
        const uint8_t* ahead =
            gp + h * gb + (b / kBlocksPerUnit) * F::kUnitBytes + ahead_bytes + 64 * kLinesPerBlock * k;
        #pragma GCC unroll 8
        for (int64_t l = 0; l < kLinesPerBlock; ++l)
          _mm_prefetch(reinterpret_cast<const char*>(ahead + 64 * l), _MM_HINT_T0);
      }
    }
    F::template block<V, TT>(gp, gb, b, x, xs, acc);
  }
  #pragma GCC unroll 8
  for (int t = 0; t < TT; ++t) V::store(out + t * os, acc[t]);
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

// Tokens t0 .. n_tok - 1 of one unit (V) at gp: tiles of tile_tokens<F>(),
// then the tile of exactly the 1 .. kTile - 1 tokens left.
template <class F, class V>
void unit_tokens(const uint8_t* gp, int64_t gb, const BlockQ8* x, int64_t xs, int64_t nb, int64_t t, int64_t n_tok,
                 float* o, int64_t os) {
  constexpr int kTile = tile_tokens<F>();
  for (; t + kTile <= n_tok; t += kTile) group_tile<F, V, kTile>(gp, gb, x + t * xs, xs, nb, o + t * os, os);
  const BlockQ8* xt = x + t * xs;
  float* ot = o + t * os;
  const int64_t rem = n_tok - t;
  [&]<int... I>(std::integer_sequence<int, I...>) {
    ((rem == I + 1 ? group_tile<F, V, I + 1>(gp, gb, xt, xs, nb, ot, os) : void()), ...);
  }(std::make_integer_sequence<int, kTile - 1>{});
}

// Groups of 8 rows in units of Wide (two groups at a time where the ISA has
// a two-group unit). The wide unit runs the tokens of whole tiles and a
// remainder of 3 or more; decode tiles (1-2 tokens) only where
// r8_wide_decode() says so (Intel). On a Zen 4, whose zmm operations are two
// 256-bit halves, V8 measured faster for them (kernels_bench q4_0 r8 T:1, 1
// thread: 54 GFLOP/s in the wide unit against 58-73 in V8); on the Intel
// host with AMX the wide unit is faster (2 threads, 8192x2048 T:1: Q4_0
// 77 -> 101-114, Q8_0 47 -> 68, Q4_K 60 -> 87-94, Q6_K 39 -> 57 GFLOP/s).
// An odd last group has no partner. Each lane does the same operations in
// either unit, so the split changes no bit.
template <class F, class Wide>
void tile_r8(const uint8_t* w, int64_t n_groups, const BlockQ8* x, int64_t xs, int64_t n_tok, int64_t K, float* out,
             int64_t os) {
  const int64_t nb = K / 32, gb = K / F::kUnitElems * F::kUnitBytes;
  constexpr int kTile = tile_tokens<F>();
  // Tokens the wide unit takes: whole tiles, and the remainder if >= 3.
  const int64_t rem = n_tok % kTile;
  const int64_t wide_tok = Wide::kGroups == 1 ? 0 : n_tok - (rem >= 3 || r8_wide_decode() ? 0 : rem);
  int64_t g = 0;
  if constexpr (Wide::kGroups == 2) {
    for (; wide_tok > 0 && g + 2 <= n_groups; g += 2) {
      const uint8_t* gp = w + g * gb;
      unit_tokens<F, Wide>(gp, gb, x, xs, nb, 0, wide_tok, out + 8 * g, os);
      for (int h = 0; h < 2; ++h) unit_tokens<F, V8>(gp + h * gb, gb, x, xs, nb, wide_tok, n_tok, out + 8 * (g + h), os);
    }
  }
  for (; g < n_groups; ++g) unit_tokens<F, V8>(w + g * gb, gb, x, xs, nb, 0, n_tok, out + 8 * g, os);
}

// The table entries of every r8 format, with Wide as the prefill unit.
template <class Wide>
void fill_r8_entries(KernelTable* t) {
  t->tile_q8_r8[static_cast<int>(DType::kQ4_0)] = tile_r8<Q4_0, Wide>;
  t->tile_q8_r8[static_cast<int>(DType::kQ4_1)] = tile_r8<Q4_1, Wide>;
  t->tile_q8_r8[static_cast<int>(DType::kQ5_0)] = tile_r8<Q5_0, Wide>;
  t->tile_q8_r8[static_cast<int>(DType::kQ5_1)] = tile_r8<Q5_1, Wide>;
  t->tile_q8_r8[static_cast<int>(DType::kQ8_0)] = tile_r8<Q8_0, Wide>;
  t->tile_q8_r8[static_cast<int>(DType::kQ4_K)] = tile_r8<Q4_K, Wide>;
  t->tile_q8_r8[static_cast<int>(DType::kQ5_K)] = tile_r8<Q5_K, Wide>;
  t->tile_q8_r8[static_cast<int>(DType::kQ6_K)] = tile_r8<Q6_K, Wide>;
}
