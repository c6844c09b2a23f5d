// Tests of the reference quantizers and dequantizers (tensor/quant.h).
//
// Four kinds of check:
//  1. Hand-made blocks: bytes written by hand, expected floats worked out by
//     hand from the layout in docs/formats/quant-blocks.md. These pin the
//     byte layout and the dequantization formula of every format.
//  2. Round trips on random rows from several distributions: per block,
//     max|x - y| <= quant_error_bound(t) * max|x| + quant_error_floor(t)
//     (the derivations are in quant.cpp).
//  3. Idempotence: quantize(dequantize(quantize(x))) == quantize(x) byte for
//     byte where it provably holds.
//  4. f16/bf16 conversion edge cases, and values computed independently with
//     /usr/bin/python3 + numpy 1.24 (script summarized next to the constants).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "base/half.h"
#include "base/rng.h"
#include "tensor/dtype.h"
#include "tensor/quant.h"
#include "tensor/quant_fit.h"

namespace herd {
namespace {

std::vector<float> dequant(DType t, const std::vector<uint8_t>& bytes, int64_t n) {
  std::vector<float> y(static_cast<size_t>(n), -12345.0f);
  dequantize_row_ref(t, bytes.data(), y.data(), n);
  return y;
}

std::vector<uint8_t> quant(DType t, const std::vector<float>& x) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> b(static_cast<size_t>(row_bytes(t, n)), 0xAB);
  quantize_row_ref(t, x.data(), b.data(), n);
  return b;
}

void put_f16(std::vector<uint8_t>& b, size_t off, uint16_t h) {
  b[off] = static_cast<uint8_t>(h & 0xff);
  b[off + 1] = static_cast<uint8_t>(h >> 8);
}

// Exact comparison: every expected value below is exactly representable and
// the dequantizers do at most two roundings of exact products, so the hand
// values must come out bit-exact (tolerance 0).
void expect_floats_eq(const std::vector<float>& got, const std::vector<float>& want,
                      const char* what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i], want[i]) << what << " element " << i;
  }
}

// ---------------------------------------------------------------------------
// 1. Hand-made blocks.

TEST(QuantHand, Q8_0) {
  // d = 0.5 (fp16 0x3800); qs = 1, -2, 127, -128, then zeros.
  std::vector<uint8_t> b(34, 0);
  put_f16(b, 0, 0x3800);
  b[2] = 1;
  b[3] = 0xFE;  // -2
  b[4] = 0x7F;  // 127
  b[5] = 0x80;  // -128
  std::vector<float> want(32, 0.0f);
  want[0] = 0.5f;
  want[1] = -1.0f;
  want[2] = 63.5f;
  want[3] = -64.0f;
  expect_floats_eq(dequant(DType::kQ8_0, b, 32), want, "q8_0");
}

TEST(QuantHand, Q4_0) {
  // d = 2 (0x4000). Nibble n means (n - 8) * 2; low nibbles are elements
  // 0..15, high nibbles 16..31. qs[0] = 0xF0: y0 = (0-8)*2 = -16, y16 = (15-8)*2
  // = 14. qs[1] = 0x98: y1 = 0, y17 = 2. Other bytes 0x88: every value 0.
  std::vector<uint8_t> b(18, 0x88);
  put_f16(b, 0, 0x4000);
  b[2] = 0xF0;
  b[3] = 0x98;
  std::vector<float> want(32, 0.0f);
  want[0] = -16.0f;
  want[16] = 14.0f;
  want[1] = 0.0f;
  want[17] = 2.0f;
  expect_floats_eq(dequant(DType::kQ4_0, b, 32), want, "q4_0");
}

TEST(QuantHand, Q4_1) {
  // d = 0.25 (0x3400), m = -1 (0xBC00). qs[0] = 0x3A: y0 = 10 * 0.25 - 1 = 1.5,
  // y16 = 3 * 0.25 - 1 = -0.25. Other bytes 0: y = m = -1.
  std::vector<uint8_t> b(20, 0);
  put_f16(b, 0, 0x3400);
  put_f16(b, 2, 0xBC00);
  b[4] = 0x3A;
  std::vector<float> want(32, -1.0f);
  want[0] = 1.5f;
  want[16] = -0.25f;
  expect_floats_eq(dequant(DType::kQ4_1, b, 32), want, "q4_1");
}

TEST(QuantHand, Q5_0) {
  // d = 1 (0x3C00), qh = bits 0, 17 (0x00020001), little-endian at byte 2.
  // qs[0] = 0x21: y0 = (1 | 16) - 16 = 1, y16 = 2 - 16 = -14 (bit 16 clear).
  // qs[1] = 0x0F: y1 = 15 - 16 = -1 (bit 1 clear), y17 = (0 | 16) - 16 = 0.
  // Other bytes 0 with clear high bits: -16.
  std::vector<uint8_t> b(22, 0);
  put_f16(b, 0, 0x3C00);
  b[2] = 0x01;
  b[4] = 0x02;
  b[6] = 0x21;
  b[7] = 0x0F;
  std::vector<float> want(32, -16.0f);
  want[0] = 1.0f;
  want[16] = -14.0f;
  want[1] = -1.0f;
  want[17] = 0.0f;
  expect_floats_eq(dequant(DType::kQ5_0, b, 32), want, "q5_0");
}

TEST(QuantHand, Q5_1) {
  // d = 0.5 (0x3800), m = 2 (0x4000), qh = bit 31 (byte 7 = 0x80), qs[15] =
  // 0xF0 (byte 23): y15 = 0 * 0.5 + 2 = 2, y31 = (15 | 16) * 0.5 + 2 = 17.5.
  // Everything else: q = 0, y = 2.
  std::vector<uint8_t> b(24, 0);
  put_f16(b, 0, 0x3800);
  put_f16(b, 2, 0x4000);
  b[7] = 0x80;
  b[8 + 15] = 0xF0;
  std::vector<float> want(32, 2.0f);
  want[31] = 17.5f;
  expect_floats_eq(dequant(DType::kQ5_1, b, 32), want, "q5_1");
}

TEST(QuantHand, Q4_K) {
  // d = 1 (0x3C00), dmin = 0.5 (0x3800). Scale bytes (at 4..15):
  //   sub-block 0: scale 2, min 4      -> byte0 = 2, byte4 = 4
  //   sub-block 1: scale 3, min 0      -> byte1 low 6 bits = 3, byte5 low 6 bits = 0
  //   sub-block 5: scale 17 = 0b010001, min 35 = 0b100011
  //                -> byte9 = 0x31 (scale low 4 | min low 4 << 4),
  //                   byte1 bits 6-7 = 01 (scale top 2), byte5 bits 6-7 = 10 (min top 2)
  //   so byte1 = 0x43, byte5 = 0x80; all other sub-blocks have scale 0, min 0.
  // Elements: sub-block 0 = low nibbles of qs[0..32), sub-block 1 = their high
  // nibbles; sub-block 5 = high nibbles of qs[64..96) (elements 160..191).
  //   qs[0] = 0x57: y0 = 1*2*7 - 0.5*4 = 12, y32 = 1*3*5 - 0 = 15.
  //   qs[64] = 0xA0: y128 = 0 (sub-block 4 all zero), y160 = 17*10 - 0.5*35 = 152.5.
  // Defaults (nibble 0): sub-block 0 -> -2, sub-block 5 -> -17.5, others 0.
  std::vector<uint8_t> b(144, 0);
  put_f16(b, 0, 0x3C00);
  put_f16(b, 2, 0x3800);
  uint8_t* sc = b.data() + 4;
  sc[0] = 2;
  sc[4] = 4;
  sc[1] = 0x43;
  sc[5] = 0x80;
  sc[9] = 0x31;
  b[16 + 0] = 0x57;
  b[16 + 64] = 0xA0;
  std::vector<float> want(256, 0.0f);
  for (int i = 0; i < 32; ++i) want[i] = -2.0f;
  for (int i = 160; i < 192; ++i) want[i] = -17.5f;
  want[0] = 12.0f;
  want[32] = 15.0f;
  want[160] = 152.5f;
  expect_floats_eq(dequant(DType::kQ4_K, b, 256), want, "q4_k");
}

TEST(QuantHand, Q5_K) {
  // d = 0.5 (0x3800), dmin = 1 (0x3C00). Sub-block 0: scale 4, min 1
  // (byte0 = 4, byte4 = 1); sub-block 3: scale 1, min 2 (byte3 = 1, byte7 = 2).
  // qh at 16..47, qs at 48..175. Element 0: low nibble of qs[0] = 3 and qh[0]
  // bit 0 set -> q = 19 -> 0.5*4*19 - 1 = 37. Sub-block 3 is the high nibbles
  // of qs[32..64) with 5th bit in qh bit 3; element 96+5 = 101: qs[37] = 0xE0,
  // qh[5] = 0x08 -> q = 30 -> 0.5*1*30 - 2 = 13 (element 69, the low nibble of
  // qs[37], is in all-zero sub-block 2 -> 0).
  // Defaults: sub-block 0 -> -1, sub-block 3 -> -2, others 0.
  std::vector<uint8_t> b(176, 0);
  put_f16(b, 0, 0x3800);
  put_f16(b, 2, 0x3C00);
  b[4 + 0] = 4;
  b[4 + 4] = 1;
  b[4 + 3] = 1;
  b[4 + 7] = 2;
  b[16 + 0] = 0x01;
  b[48 + 0] = 0x03;
  b[48 + 37] = 0xE0;
  b[16 + 5] = 0x08;
  std::vector<float> want(256, 0.0f);
  for (int i = 0; i < 32; ++i) want[i] = -1.0f;
  for (int i = 96; i < 128; ++i) want[i] = -2.0f;
  want[0] = 37.0f;
  want[101] = 13.0f;
  expect_floats_eq(dequant(DType::kQ5_K, b, 256), want, "q5_k");
}

TEST(QuantHand, Q6_K) {
  // d = 0.25 (0x3400) at 208; int8 scales at 192: sc[0] = 2, sc[2] = -3,
  // sc[15] = 127, others 0. ql at 0, qh at 128. q = (4 low bits | 2 high bits
  // << 4) - 32, so all-zero bytes mean q = -32.
  //   element 0: ql[0] = 0x05, qh[0] bits 0-1 = 2 -> q = 37 - 32 = 5 -> 0.25*2*5 = 2.5
  //   element 32: ql[32] low = 15, qh[0] bits 2-3 = 1 -> q = 31 - 32 = -1
  //               -> 0.25*(-3)*(-1) = 0.75
  //   element 255: ql[127] high = 15, qh[63] bits 6-7 = 3 -> q = 31 -> 0.25*127*31 = 984.25
  // Defaults (q = -32): sub-block 0 (0..15) -> 0.25*2*(-32) = -16; sub-block 2
  // (32..47) -> 24; sub-block 15 (240..255) -> -1016; others 0.
  std::vector<uint8_t> b(210, 0);
  put_f16(b, 208, 0x3400);
  b[192 + 0] = 2;
  b[192 + 2] = 0xFD;  // -3
  b[192 + 15] = 127;
  b[0] = 0x05;
  b[128] = 0x02 | 0x04;
  b[32] = 0x0F;
  b[127] = 0xF0;
  b[128 + 63] = 0xC0;
  std::vector<float> want(256, 0.0f);
  for (int i = 0; i < 16; ++i) want[i] = -16.0f;
  for (int i = 32; i < 48; ++i) want[i] = 24.0f;
  for (int i = 240; i < 256; ++i) want[i] = -1016.0f;
  want[0] = 2.5f;
  want[32] = 0.75f;
  want[255] = 984.25f;
  expect_floats_eq(dequant(DType::kQ6_K, b, 256), want, "q6_k");
}

TEST(QuantHand, Q4_0OppositeExtremeIsClamped) {
  // The Q4_0 bound is |d| = A/8, not |d|/2: with +8 and -8 in one block,
  // d = 8/-8 = -1, +8 -> level -8 (exact), -8 -> x/d = 8 -> 16 -> clamped to
  // 15 -> (15-8)*(-1) = -7, an error of exactly 1 = A/8.
  std::vector<float> x(32, 0.0f);
  x[0] = 8.0f;
  x[1] = -8.0f;
  std::vector<float> y = dequant(DType::kQ4_0, quant(DType::kQ4_0, x), 32);
  EXPECT_EQ(y[0], 8.0f);
  EXPECT_EQ(y[1], -7.0f);
  EXPECT_LE(1.0, quant_error_bound(DType::kQ4_0) * 8.0);
}

// ---------------------------------------------------------------------------
// 2. Round trips against the derived bound.

enum class Dist {
  kNormal, kUniform, kZero, kConstant, kOutlier, kTiny, kNegative, kTwoSided, kHeavy, kStepped,
  kSigns
};

const char* dist_name(Dist d) {
  switch (d) {
    case Dist::kNormal: return "normal";
    case Dist::kUniform: return "uniform";
    case Dist::kZero: return "all-zero";
    case Dist::kConstant: return "constant";
    case Dist::kOutlier: return "outlier";
    case Dist::kTiny: return "tiny";
    case Dist::kNegative: return "negative-only";
    case Dist::kTwoSided: return "two-sided";
    case Dist::kHeavy: return "heavy-tailed";
    case Dist::kStepped: return "stepped";
    case Dist::kSigns: return "signs";
  }
  return "?";
}

std::vector<float> make_row(Dist dist, int64_t n, uint64_t seed) {
  Rng rng(seed, static_cast<uint64_t>(dist));
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) {
    switch (dist) {
      case Dist::kNormal: v = rng.next_normal(); break;
      case Dist::kUniform: v = 4.0f * rng.next_float() - 1.5f; break;  // asymmetric range
      case Dist::kZero: v = 0.0f; break;
      case Dist::kConstant: v = -0.7f; break;
      case Dist::kOutlier: v = 0.02f * rng.next_normal(); break;
      case Dist::kTiny: v = 1e-8f * rng.next_normal(); break;
      case Dist::kNegative: v = -std::fabs(rng.next_normal()) - 0.25f; break;
      case Dist::kTwoSided: v = 0.1f * rng.next_normal(); break;
      case Dist::kHeavy: {  // ratio of normals: Cauchy-like tails, clipped to stay in fp16 range
        float r = rng.next_normal() / (std::fabs(rng.next_normal()) + 1e-3f);
        v = std::fmax(-3000.0f, std::fmin(3000.0f, r));
        break;
      }
      case Dist::kStepped: v = rng.next_float(); break;  // offsets added below
      case Dist::kSigns:  // +-(0.9 .. 1): every element near an extreme, both signs
        v = ((rng.next_u64() & 1) ? 1.0f : -1.0f) * (0.9f + 0.1f * rng.next_float());
        break;
    }
  }
  if (dist == Dist::kStepped) {
    // Every other 32-element run sits on an offset of 5: k-quant sub-blocks
    // with very different mins in one super-block (stresses the 6-bit mins).
    for (int64_t i = 0; i < n; ++i)
      if ((i / 32) % 2) x[static_cast<size_t>(i)] += 5.0f;
  }
  if (dist == Dist::kOutlier) {
    // One huge element per 64, at varying positions and signs.
    for (int64_t i = 0; i + 64 <= n; i += 64) {
      const uint64_t r = rng.next_u64();
      x[static_cast<size_t>(i + static_cast<int64_t>(r % 64))] = (r & 64) ? 500.0f : -500.0f;
    }
  }
  if (dist == Dist::kTwoSided) {
    // Elements near +A and -A in every 16: the case that exercises clamping
    // at the top level of symmetric formats (Q4_0, Q5_0, Q6_K).
    for (int64_t i = 0; i + 16 <= n; i += 16) {
      const uint64_t r = rng.next_u64();
      x[static_cast<size_t>(i + static_cast<int64_t>(r % 8))] = 3.0f;
      x[static_cast<size_t>(i + 8 + static_cast<int64_t>((r >> 8) % 8))] =
          -3.0f * (0.9f + 0.1f * rng.next_float());
    }
  }
  return x;
}

const DType kBlockTypes[] = {DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1,
                             DType::kQ8_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};
const Dist kDists[] = {Dist::kNormal,   Dist::kUniform, Dist::kZero,     Dist::kConstant,
                       Dist::kOutlier,  Dist::kTiny,    Dist::kNegative, Dist::kTwoSided,
                       Dist::kHeavy,    Dist::kStepped, Dist::kSigns};

TEST(QuantRoundTrip, ErrorWithinDerivedBound) {
  constexpr int64_t kN = 256 * 64;  // 64 super-blocks, 512 legacy blocks per row
  for (DType t : kBlockTypes) {
    const int64_t be = dtype_info(t).block_elems;
    const double bound = quant_error_bound(t);
    const double floor = quant_error_floor(t);
    double worst_ratio = 0.0;  // largest err / (bound * A + floor) seen, for the log
    for (Dist dist : kDists) {
      for (uint64_t seed = 1; seed <= 3; ++seed) {
        std::vector<float> x = make_row(dist, kN, seed);
        std::vector<float> y = dequant(t, quant(t, x), kN);
        for (int64_t b0 = 0; b0 < kN; b0 += be) {
          double amax = 0.0, err = 0.0;
          int64_t worst = b0;
          for (int64_t i = b0; i < b0 + be; ++i) {
            amax = std::fmax(amax, std::fabs(static_cast<double>(x[static_cast<size_t>(i)])));
            const double e = std::fabs(static_cast<double>(x[static_cast<size_t>(i)]) -
                                       static_cast<double>(y[static_cast<size_t>(i)]));
            if (e > err) {
              err = e;
              worst = i;
            }
          }
          const double allowed = bound * amax + floor;
          if (allowed > 0) worst_ratio = std::fmax(worst_ratio, err / allowed);
          ASSERT_LE(err, allowed) << dtype_name(t) << " " << dist_name(dist) << " seed " << seed
                                  << " block at " << b0 << ": worst element " << worst << " x="
                                  << x[static_cast<size_t>(worst)]
                                  << " y=" << y[static_cast<size_t>(worst)] << " max|x|=" << amax
                                  << " bound=" << bound;
          if (dist == Dist::kZero) {
            ASSERT_EQ(err, 0.0) << dtype_name(t) << ": all-zero blocks must round-trip exactly";
          }
        }
      }
    }
    std::printf("[ info     ] %s: worst error / allowed = %.3f (bound %.5f * max|x| + %.3g)\n",
                dtype_name(t), worst_ratio, bound, floor);
  }
}

TEST(QuantRoundTrip, PlainFloatConversions) {
  // f32 is a copy (bound 0); f16 and bf16 round to nearest: relative error
  // <= 2^-11 and 2^-8 of |x| itself (normal range; inputs kept below 60000).
  std::vector<float> x = make_row(Dist::kHeavy, 4096, 7);
  for (float& v : x) v = std::fmax(-60000.0f, std::fmin(60000.0f, v * 10.0f));
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) {
    std::vector<float> y = dequant(t, quant(t, x), 4096);
    for (size_t i = 0; i < x.size(); ++i) {
      const double allowed =
          quant_error_bound(t) * std::fabs(static_cast<double>(x[i])) + quant_error_floor(t);
      ASSERT_LE(std::fabs(static_cast<double>(x[i]) - y[i]), allowed)
          << dtype_name(t) << " element " << i << " x=" << x[i] << " y=" << y[i];
    }
  }
}

// ---------------------------------------------------------------------------
// 3. Idempotence.
//
// Q8_0: the max element maps to level +-127, so the dequantized block has
// max|y| = 127 d^ exactly (127 * d^ needs 7 + 11 bits), d' = 127 d^ / 127 = d^,
// fp16(d') = d^, and y * (1/d^) is q to within an ulp, which rounds back to q.
// Q4_0 / Q5_0: likewise the signed max maps to level -8 / -16 exactly, so
// the dequantized block's signed max is -8 d^ (-16 d^), d' = d^ and every
// y/d^ + 8.5 truncates back to the same nibble.
// Both need d^ != 0: a block whose d underflows fp16 (max|x| below ~4e-6 for
// Q8_0) stores nonzero levels with d^ = 0 and re-quantizes to all-zero levels,
// so the tiny distribution is excluded.
// Not idempotent, and so not asserted: Q4_1 / Q5_1 (d' = ((15 d^ + m^) - m^)/15
// is inexact when |m^| >> d^, so a block far from 0 can pick a different d);
// Q4_K / Q5_K / Q6_K (the scale search is rerun on the dequantized values and
// can settle on a different scale/min pair). QuantIdempotence.ReportOthers
// measures how often they happen to hold.
TEST(QuantIdempotence, Q8_0AndQ4_0AndQ5_0) {
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ5_0}) {
    for (Dist dist : kDists) {
      if (dist == Dist::kTiny) continue;
      for (uint64_t seed = 1; seed <= 3; ++seed) {
        std::vector<float> x = make_row(dist, 4096, seed);
        std::vector<uint8_t> b1 = quant(t, x);
        std::vector<uint8_t> b2 = quant(t, dequant(t, b1, 4096));
        ASSERT_EQ(b1, b2) << dtype_name(t) << " " << dist_name(dist) << " seed " << seed;
      }
    }
  }
}

TEST(QuantIdempotence, Q4_1IsNotIdempotentFarFromZero) {
  // The counterexample behind the comment above: blocks around 16384 with a
  // spread of ~0.25 (fp16 spacing there is 16, so m^ != min and d' != d^).
  // This test fails if Q4_1 ever becomes idempotent on such data, which would
  // mean the quantizer no longer follows ggml's.
  std::vector<float> x = make_row(Dist::kNormal, 4096, 21);
  for (float& v : x) v = 16384.0f + 0.25f * v;
  std::vector<uint8_t> b1 = quant(DType::kQ4_1, x);
  std::vector<uint8_t> b2 = quant(DType::kQ4_1, dequant(DType::kQ4_1, b1, 4096));
  EXPECT_NE(b1, b2);
}

TEST(QuantIdempotence, ReportOthers) {
  // The bytes need not survive a second round (see the comment above), but the values
  // must: re-quantizing dequantized values is one more round trip, so every block stays
  // within the round-trip bound of the values it started from. The share of blocks whose
  // bytes do survive is printed, so a change in the algorithms shows up.
  for (DType t : {DType::kQ4_1, DType::kQ5_1, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    const int64_t bb = dtype_info(t).block_bytes, be = dtype_info(t).block_elems;
    int64_t same = 0, total = 0;
    for (Dist dist : {Dist::kNormal, Dist::kUniform, Dist::kNegative, Dist::kOutlier}) {
      std::vector<float> x = make_row(dist, 4096, 11);
      std::vector<uint8_t> b1 = quant(t, x);
      const std::vector<float> y1 = dequant(t, b1, 4096);
      std::vector<uint8_t> b2 = quant(t, y1);
      const std::vector<float> y2 = dequant(t, b2, 4096);
      for (size_t o = 0; o < b1.size(); o += static_cast<size_t>(bb), ++total)
        same += std::memcmp(b1.data() + o, b2.data() + o, static_cast<size_t>(bb)) == 0;
      for (int64_t b0 = 0; b0 < 4096; b0 += be) {
        double amax = 0, err = 0;
        for (int64_t i = b0; i < b0 + be; ++i) {
          const size_t k = static_cast<size_t>(i);
          amax = std::fmax(amax, std::fabs(static_cast<double>(y1[k])));
          err = std::fmax(err, std::fabs(static_cast<double>(y1[k]) - static_cast<double>(y2[k])));
        }
        ASSERT_LE(err, quant_error_bound(t) * amax + quant_error_floor(t))
            << dtype_name(t) << " " << dist_name(dist) << ": block at " << b0 << " drifts on re-quantization";
      }
    }
    std::printf("[ info     ] %s: %lld of %lld blocks re-quantize to identical bytes\n",
                dtype_name(t), static_cast<long long>(same), static_cast<long long>(total));
  }
}

// ---------------------------------------------------------------------------
// 4. f16 / bf16 edge cases and numpy cross-checks.

uint16_t to_f16(float v) {
  uint16_t h;
  quantize_row_ref(DType::kF16, &v, &h, 1);
  return h;
}
float from_f16(uint16_t h) {
  float v;
  dequantize_row_ref(DType::kF16, &h, &v, 1);
  return v;
}
uint16_t to_bf16(float v) {
  uint16_t h;
  quantize_row_ref(DType::kBF16, &v, &h, 1);
  return h;
}

TEST(HalfConversion, F16EdgeCases) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(to_f16(1.0f), 0x3C00);
  EXPECT_EQ(to_f16(-0.0f), 0x8000);
  EXPECT_EQ(to_f16(65504.0f), 0x7BFF);         // largest finite
  EXPECT_EQ(to_f16(65519.99f), 0x7BFF);        // just below the midpoint to 2^16
  EXPECT_EQ(to_f16(65520.0f), 0x7C00);         // midpoint, ties to even -> 2^16 = inf
  EXPECT_EQ(to_f16(-65520.0f), 0xFC00);
  EXPECT_EQ(to_f16(1e10f), 0x7C00);
  EXPECT_EQ(to_f16(inf), 0x7C00);
  EXPECT_EQ(to_f16(-inf), 0xFC00);
  const uint16_t nan = to_f16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7C00, 0x7C00);
  EXPECT_NE(nan & 0x03FF, 0);
  // Subnormals: the step is 2^-24.
  EXPECT_EQ(to_f16(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(to_f16(std::ldexp(1.0f, -25)), 0x0000);        // tie 0 / 1 -> even 0
  EXPECT_EQ(to_f16(std::ldexp(1.0000001f, -25)), 0x0001);  // just above the tie
  EXPECT_EQ(to_f16(std::ldexp(3.0f, -25)), 0x0002);        // tie 1 / 2 -> even 2
  EXPECT_EQ(to_f16(std::ldexp(5.0f, -25)), 0x0002);        // tie 2 / 3 -> even 2
  EXPECT_EQ(to_f16(std::ldexp(1023.0f, -24)), 0x03FF);     // largest subnormal
  EXPECT_EQ(to_f16(std::ldexp(1.0f, -14)), 0x0400);        // smallest normal
  EXPECT_EQ(to_f16(std::ldexp(2047.0f, -25)), 0x0400);     // rounds up into the normals
  EXPECT_EQ(to_f16(1e-30f), 0x0000);
  EXPECT_EQ(to_f16(-1e-30f), 0x8000);
  // Normal ties: 1 + 2^-11 is halfway between 1 and 1 + 2^-10.
  EXPECT_EQ(to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);      // even stays
  EXPECT_EQ(to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);  // odd rounds up
  EXPECT_EQ(to_f16(2049.0f), 0x6800);
  EXPECT_EQ(to_f16(2051.0f), 0x6802);
  EXPECT_EQ(to_f16(2047.0f + 0.5f), 0x6800);  // 2047.5 -> 2048 (mantissa carry into exponent)
  // f16 -> f32 is exact.
  EXPECT_EQ(from_f16(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(from_f16(0x03FF), std::ldexp(1023.0f, -24));
  EXPECT_EQ(from_f16(0x7BFF), 65504.0f);
  EXPECT_EQ(from_f16(0x7C00), inf);
  EXPECT_EQ(from_f16(0xFC00), -inf);
  EXPECT_TRUE(std::isnan(from_f16(0x7E00)));
  EXPECT_TRUE(std::isnan(from_f16(0xFC01)));
  EXPECT_TRUE(std::signbit(from_f16(0x8000)));
  EXPECT_EQ(from_f16(0x8000), 0.0f);
  // Every finite f16 survives f16 -> f32 -> f16.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7C00) == 0x7C00 && (h & 0x03FF) != 0) continue;  // NaN payloads may change
    ASSERT_EQ(to_f16(from_f16(static_cast<uint16_t>(h))), h) << std::hex << h;
  }
}

TEST(HalfConversion, BF16EdgeCases) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3F80);      // tie, even stays
  EXPECT_EQ(to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3F82);  // tie, odd rounds up
  EXPECT_EQ(to_bf16(-2.0f), 0xC000);
  EXPECT_EQ(to_bf16(inf), 0x7F80);
  EXPECT_EQ(to_bf16(-inf), 0xFF80);
  EXPECT_EQ(to_bf16(std::numeric_limits<float>::max()), 0x7F80);  // rounds past the top -> inf
  const uint16_t nan = to_bf16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7F80, 0x7F80);
  EXPECT_NE(nan & 0x007F, 0);
  // A signalling NaN whose payload is only in the low 16 bits must not become inf.
  const uint16_t snan = to_bf16(bits_to_float(0x7F800001u));
  EXPECT_EQ(snan & 0x7F80, 0x7F80);
  EXPECT_NE(snan & 0x007F, 0);
  // f32 subnormals keep bf16 subnormals (same exponent range).
  EXPECT_EQ(to_bf16(bits_to_float(0x00010000u)), 0x0001);
  float back;
  uint16_t one = 0x0001;
  dequantize_row_ref(DType::kBF16, &one, &back, 1);
  EXPECT_EQ(float_to_bits(back), 0x00010000u);
}

// e4m3 (float8_e4m3fn) against an independent spec: the value of each code
// from the format's definition (spec/llama31.md 7.1) with ldexp, and f32 ->
// e4m3 as the nearest of all 254 finite codes by exhaustive search, ties to
// the even code, saturating at +-448.
double e4m3_value(int b) {
  const int e = (b >> 3) & 15, m = b & 7;
  const double mag = e == 0 ? std::ldexp(m / 8.0, -6) : std::ldexp(1.0 + m / 8.0, e - 7);
  return (b & 0x80) ? -mag : mag;
}
uint8_t e4m3_nearest(float x) {
  const double v = std::clamp(static_cast<double>(x), -448.0, 448.0);
  int best = -1;
  double best_d = 0;
  for (int b = 0; b < 256; ++b) {
    if ((b & 0x7f) == 0x7f) continue;                      // NaN
    if ((std::signbit(x) ? 0x80 : 0) != (b & 0x80)) continue;  // the sign is kept (-0 too)
    const double d = std::fabs(e4m3_value(b) - v);
    if (best < 0 || d < best_d || (d == best_d && (b & 1) == 0 && (best & 1) == 1)) {
      best = b;
      best_d = d;
    }
  }
  return static_cast<uint8_t>(best);
}

TEST(HalfConversion, F8E4M3EveryCodeAndRounding) {
  for (int b = 0; b < 256; ++b) {
    const float v = f8_e4m3_to_f32(static_cast<uint8_t>(b));
    if ((b & 0x7f) == 0x7f) {
      EXPECT_TRUE(std::isnan(v)) << b;
      continue;
    }
    ASSERT_EQ(static_cast<double>(v), e4m3_value(b)) << b;
    ASSERT_EQ(f32_to_f8_e4m3(v), b) << b;  // every code survives e4m3 -> f32 -> e4m3 (-0 included)
  }
  EXPECT_EQ(f8_e4m3_to_f32(0x7e), 448.0f);
  EXPECT_EQ(f8_e4m3_to_f32(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(f32_to_f8_e4m3(std::numeric_limits<float>::quiet_NaN()), 0x7f);
  EXPECT_EQ(f32_to_f8_e4m3(1e9f), 0x7e);
  EXPECT_EQ(f32_to_f8_e4m3(-std::numeric_limits<float>::infinity()), 0xfe);
  // Every midpoint between neighbouring codes and a point either side of it,
  // then random values over the whole range, against the exhaustive search.
  std::vector<float> xs;
  for (int b = 0; b < 0x7e; ++b) {
    const double lo = e4m3_value(b), hi = e4m3_value(b + 1), mid = (lo + hi) / 2;
    for (double x : {mid, std::nextafter(mid, lo), std::nextafter(mid, hi), lo, hi}) {
      xs.push_back(static_cast<float>(x));
      xs.push_back(-static_cast<float>(x));
    }
  }
  Rng r(5, 1);
  for (int i = 0; i < 20000; ++i) xs.push_back(std::ldexp(r.next_normal(), static_cast<int>(i % 24) - 14));
  for (float x : {449.0f, 463.9f, 464.0f, 480.0f, 1e30f}) xs.push_back(x);
  for (float x : xs) ASSERT_EQ(f32_to_f8_e4m3(x), e4m3_nearest(x)) << x;
}

// Meta's row-wise quantizer: scale = amax / 448, the largest |x| maps to
// +-448 exactly, every element within the e4m3 bound of x / scale.
TEST(QuantHand, F8E4M3RowWise) {
  std::vector<float> x(300);
  Rng r(9, 2);
  for (float& v : x) v = r.next_normal() * 0.02f;
  x[17] = -0.5f;  // the row's amax
  std::vector<uint8_t> q(x.size());
  const float scale = quantize_row_f8_e4m3(x.data(), q.data(), static_cast<int64_t>(x.size()));
  EXPECT_EQ(scale, 0.5f / 448.0f);
  EXPECT_EQ(q[17], 0xfe);  // -448
  std::vector<float> back(x.size());
  dequantize_row_ref(DType::kF8_E4M3, q.data(), back.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    const double want = static_cast<double>(x[i]) * (448.0f / 0.5f);
    EXPECT_LE(std::fabs(back[i] - want), std::fabs(want) / 16 + 1.0 / 1024) << i;
  }
  // An all-zero row keeps a finite scale (amax clamped to 1e-12) and zeros.
  std::vector<float> z(64, 0.0f);
  EXPECT_EQ(quantize_row_f8_e4m3(z.data(), q.data(), 64), 1e-12f / 448.0f);
  for (int i = 0; i < 64; ++i) EXPECT_EQ(q[static_cast<size_t>(i)], 0) << i;
}

TEST(HalfConversion, F16MatchesNumpy) {
  // Expected bits from: hex(np.array(np.float32(v)).astype(np.float16).view(np.uint16))
  // (numpy 1.24, /usr/bin/python3), inputs as float32.
  struct Case {
    float v;
    uint16_t bits;
  };
  const Case cases[] = {
      {0.1f, 0x2E66},        {1.0f / 3.0f, 0x3555},  {65519.0f, 0x7BFF}, {65520.0f, 0x7C00},
      {-2.5e-8f, 0x8000},    {3e-8f, 0x0001},        {6.103515625e-05f, 0x0400},
      {1e-4f, 0x068E},       {1234.567f, 0x64D3},    {-0.01171875f, 0xA200},
      {2049.0f, 0x6800},     {2051.0f, 0x6802},
  };
  for (const Case& c : cases) EXPECT_EQ(to_f16(c.v), c.bits) << "v=" << c.v;
}

// The row used for the numpy cross-check of the Q8_0 / Q4_0 quantizers; the
// same float32 expression is evaluated in numpy.
std::vector<float> numpy_row() {
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j)
    x[static_cast<size_t>(j)] =
        static_cast<float>((j * 7) % 23 - 11) * 0.3125f + static_cast<float>(j) * 0.01f;
  return x;
}

TEST(QuantNumpy, Q8_0AndQ4_0Bytes) {
  // numpy, float32 throughout: x = f32((j*7)%23 - 11)*f32(0.3125) + f32(j)*f32(0.01).
  // Q8_0: d = amax/f32(127); id = 1/d; q = sign(v)*floor(|v| + 0.5) of v = x*id
  //   (in float64, so the +0.5 is exact: C roundf); d stored via np.float16.
  // Q4_0: max = x[argmax|x|]; d = max/f32(-8); id = 1/d;
  //   q = min(15, trunc(f32(x*id) + f32(8.5))); byte j = q[j] | q[j+16] << 4.
  const std::vector<uint8_t> want_q8_0 = {
      0x31, 0x27, 0x86, 0xd4, 0x22, 0x70, 0xbf, 0x0d, 0x5b, 0xa9, 0xf8, 0x46,
      0x94, 0xe3, 0x31, 0x7f, 0xcd, 0x1c, 0x6a, 0xb8, 0x06, 0x55, 0xa3, 0xf1,
      0x3f, 0x8e, 0xdc, 0x2a, 0x79, 0xc7, 0x15, 0x63, 0xb2, 0x00};
  const std::vector<uint8_t> want_q4_0 = {0x23, 0xb7, 0x1f, 0xdb, 0x86, 0x31, 0xec, 0x97, 0x42,
                                          0xfd, 0xa9, 0x54, 0x0f, 0xca, 0x75, 0x20, 0xdb, 0x86};
  EXPECT_EQ(quant(DType::kQ8_0, numpy_row()), want_q8_0);
  EXPECT_EQ(quant(DType::kQ4_0, numpy_row()), want_q4_0);
}

// A k-quant block filled with byte i = (i*37 + 11) & 0xFF, then the fp16
// scale fields overwritten with finite values (0x2E66 ~ 0.1, 0x2A66 ~ 0.05,
// 0x2666 ~ 0.025), so every layout path (6-bit scale packing, qh bits, int8
// scales) sees non-trivial bits.
std::vector<uint8_t> formula_block(size_t n, std::initializer_list<std::pair<size_t, uint16_t>> f) {
  std::vector<uint8_t> b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>((i * 37 + 11) & 0xFF);
  for (const auto& [off, h] : f) put_f16(b, off, h);
  return b;
}

TEST(QuantNumpy, KQuantDequantizers) {
  // Expected values from an independent numpy (float32) implementation of the
  // layouts in docs/formats/quant-blocks.md, evaluating d*sc*q - dmin*m (and
  // for Q6_K (d*sc)*q) in the same order with np.float32 operations. The sum
  // is taken in float64. Exact equality is expected: same IEEE operations in
  // the same order.
  struct Case {
    DType t;
    std::vector<uint8_t> bytes;
    float at[5];  // elements 0, 37, 100, 200, 255
    double sum;
  };
  const Case cases[] = {
      {DType::kQ4_K, formula_block(144, {{0, 0x2E66}, {2, 0x2A66}}),
       {31.54229736328125f, -0.7998046875f, 9.4976806640625f, 13.84661865234375f,
        4.84881591796875f},
       5442.6708984375},
      {DType::kQ5_K, formula_block(176, {{0, 0x2E66}, {2, 0x2A66}}),
       {81.13018798828125f, 3.19921875f, 23.4942626953125f, 13.84661865234375f,
        10.84735107421875f},
       11618.7626953125},
      {DType::kQ6_K, formula_block(210, {{208, 0x2666}}),
       {-35.766265869140625f, -6.2984619140625f, 63.059600830078125f, 27.218353271484375f,
        -1.4996337890625f},
       115.2718505859375},
  };
  const int idx[5] = {0, 37, 100, 200, 255};
  for (const Case& c : cases) {
    std::vector<float> y = dequant(c.t, c.bytes, 256);
    double sum = 0.0;
    for (float v : y) sum += static_cast<double>(v);
    for (int k = 0; k < 5; ++k) EXPECT_EQ(y[static_cast<size_t>(idx[k])], c.at[k]) << dtype_name(c.t) << " element " << idx[k];
    EXPECT_EQ(sum, c.sum) << dtype_name(c.t);
  }
}

// ---------------------------------------------------------------------------
// Structural checks.

TEST(QuantStructure, ConstantAndZeroBlocks) {
  // All-zero input: every format must store d = 0 and dequantize to +-0
  // exactly (checked in the round trip too); here the bytes themselves.
  for (DType t : kBlockTypes) {
    const int64_t n = dtype_info(t).block_elems;
    std::vector<float> x(static_cast<size_t>(n), 0.0f);
    std::vector<uint8_t> b = quant(t, x);
    for (float v : dequant(t, b, n)) ASSERT_EQ(v, 0.0f) << dtype_name(t);
  }
  // A constant negative block is exact in the formats with a min (Q4_1/Q5_1
  // store m = c, d = 0) and in Q4_0/Q5_0, where d = c/-8 = 3/32 and c/-16 = 3/64
  // are exact in fp16 (not in Q8_0: 0.75/127 is not).
  std::vector<float> c(32, -0.75f);  // exactly representable in fp16
  for (DType t : {DType::kQ4_1, DType::kQ5_1, DType::kQ4_0, DType::kQ5_0}) {
    for (float v : dequant(t, quant(t, c), 32)) ASSERT_EQ(v, -0.75f) << dtype_name(t);
  }
}

TEST(QuantStructure, RowsAreIndependentBlocks) {
  // Quantizing a row equals quantizing each block on its own: no state leaks
  // between blocks (the k-quants keep per-block scratch).
  for (DType t : kBlockTypes) {
    const int64_t be = dtype_info(t).block_elems;
    const int64_t bb = dtype_info(t).block_bytes;
    std::vector<float> x = make_row(Dist::kOutlier, 4 * be, 5);
    std::vector<uint8_t> whole = quant(t, x);
    for (int64_t k = 0; k < 4; ++k) {
      std::vector<float> part(x.begin() + k * be, x.begin() + (k + 1) * be);
      std::vector<uint8_t> one = quant(t, part);
      ASSERT_EQ(0, std::memcmp(one.data(), whole.data() + k * bb, static_cast<size_t>(bb)))
          << dtype_name(t) << " block " << k;
    }
  }
}

// llama-quantize --imatrix's bytes for three rows of a 512-wide matrix, one
// per weighted type (tests/golden/imatrix_quant: llama-quantize's output from
// an f16 model and an importance matrix, with the script that extracted them).
// The same rows through the reference quantizer must differ (the weights act).
TEST(WeightedQuantizers, MatchLlamaQuantize) {
  const char* src = std::getenv("HERD_SOURCE_DIR");
  const std::string path = std::string(src ? src : ".") + "/tests/golden/imatrix_quant/weighted_rows.bin";
  FILE* f = std::fopen(path.c_str(), "rb");
  ASSERT_NE(f, nullptr) << path;
  std::vector<uint8_t> bytes(1 << 16);
  bytes.resize(std::fread(bytes.data(), 1, bytes.size(), f));
  std::fclose(f);
  int32_t rows, cols;
  std::memcpy(&rows, bytes.data(), 4);
  std::memcpy(&cols, bytes.data() + 4, 4);
  ASSERT_EQ(rows, 3);
  ASSERT_EQ(cols, 512);
  std::vector<float> x(static_cast<size_t>(rows * cols)), importance(static_cast<size_t>(cols));
  size_t at = 8;
  std::memcpy(x.data(), bytes.data() + at, x.size() * 4);
  at += x.size() * 4;
  std::memcpy(importance.data(), bytes.data() + at, importance.size() * 4);
  at += importance.size() * 4;
  for (DType t : {DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    const int64_t rb = row_bytes(t, cols);
    ASSERT_LE(at + static_cast<size_t>(rows * rb), bytes.size()) << dtype_name(t);
    std::vector<uint8_t> got(static_cast<size_t>(rb)), plain(static_cast<size_t>(rb));
    bool any_differs = false;
    for (int r = 0; r < rows; ++r) {
      const float* xr = x.data() + r * cols;
      quantize_row_weighted(t, xr, got.data(), cols, importance.data());
      EXPECT_EQ(0, std::memcmp(got.data(), bytes.data() + at + r * rb, static_cast<size_t>(rb)))
          << dtype_name(t) << " row " << r;
      quantize_row_ref(t, xr, plain.data(), cols);
      any_differs = any_differs || std::memcmp(plain.data(), got.data(), static_cast<size_t>(rb)) != 0;
    }
    EXPECT_TRUE(any_differs) << dtype_name(t) << ": the importance weights changed nothing";
    at += static_cast<size_t>(rows * rb);
  }
  EXPECT_EQ(at, bytes.size());
  // A null importance is the reference quantizer.
  std::vector<uint8_t> a(static_cast<size_t>(row_bytes(DType::kQ4_K, cols))), b(a.size());
  quantize_row_weighted(DType::kQ4_K, x.data(), a.data(), cols, nullptr);
  quantize_row_ref(DType::kQ4_K, x.data(), b.data(), cols);
  EXPECT_EQ(a, b);
}

// Meta's per-token FP8 activation quantizer against a brute-force search: for
// each x * (448 / amax) the nearest of the 253 finite e4m3 values (ties to the
// even code), after the clamp to [-448, 448]; the max bounded by ub; the
// returned scale 1 / (448 / amax).
TEST(Fp8Activations, NearestCodeWithTheBoundAndTheScale) {
  std::vector<float> grid;  // every finite non-negative e4m3 value, by code
  for (int c = 0; c < 0x7f; ++c) grid.push_back(f8_e4m3_to_f32(static_cast<uint8_t>(c)));
  auto nearest = [&](float v) {
    const float a = std::fabs(v);
    int best = 0;
    for (int c = 1; c < static_cast<int>(grid.size()); ++c) {
      const float d = std::fabs(grid[static_cast<size_t>(c)] - a), bd = std::fabs(grid[static_cast<size_t>(best)] - a);
      if (d < bd || (d == bd && (c & 1) == 0)) best = c;
    }
    return std::copysign(grid[static_cast<size_t>(best)], v);
  };
  Rng rng(5, 1);
  for (float ub : {1200.0f, 3.0f}) {
    for (int trial = 0; trial < 50; ++trial) {
      std::vector<float> x(67), q(67);
      const float mag = std::ldexp(1.0f, trial % 24 - 12);
      for (float& v : x) v = rng.next_normal() * mag;
      const float s = quantize_activation_row_fp8(x.data(), q.data(), 67, ub);
      float amax = 0;
      for (float v : x) amax = std::max(amax, std::fabs(v));
      const float inv = 448.0f / std::clamp(amax, 1e-12f, ub);
      EXPECT_EQ(s, 1.0f / inv);
      for (size_t i = 0; i < x.size(); ++i)
        ASSERT_EQ(q[i], nearest(std::clamp(x[i] * inv, -448.0f, 448.0f))) << "ub " << ub << " trial " << trial << " i " << i;
    }
  }
  std::vector<float> zeros(8, 0.0f), q(8);
  EXPECT_EQ(quantize_activation_row_fp8(zeros.data(), q.data(), 8, 1200.0f), 1.0f / (448.0f / 1e-12f));
  for (float v : q) EXPECT_EQ(v, 0.0f);
}

}  // namespace
}  // namespace herd

namespace herd {

// ---------------------------------------------------------------------------
// The lane forms of the scale searches (quant_fit.h) against the single fits,
// bit for bit: scale, min and every level, over random groups and the edge
// cases of each search (all equal, all zero, all positive or negative, one
// outlier, values near the rounding ties, tiny and large magnitudes). A lane
// form that differed in one operation's order or in a branch would move a
// scale by an ulp or a level by one somewhere in these 4000 groups.
namespace {

std::vector<float> fit_group(Rng& rng, int n, int kind) {
  std::vector<float> x(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) x[i] = rng.next_normal();
  switch (kind % 8) {
    case 0: break;
    case 1: std::fill(x.begin(), x.end(), 0.37f); break;          // flat
    case 2: std::fill(x.begin(), x.end(), 0.0f); break;           // zero
    case 3: for (float& v : x) v = std::fabs(v); break;           // all positive
    case 4: for (float& v : x) v = -std::fabs(v); break;          // all negative
    case 5: x[static_cast<size_t>(kind) % x.size()] = 40.0f; break; // one outlier
    case 6: for (float& v : x) v = std::round(v * 8.0f) / 8.0f + 1.0f / 16.0f; break;  // ties
    case 7: for (float& v : x) v *= (kind & 16) ? 1e-20f : 1e6f; break;
  }
  return x;
}

}  // namespace

TEST(QuantFitLanes, MinSearchEqualsSingleFitsBitwise) {
  Rng rng(41, 0);
  for (int round = 0; round < 250; ++round) {
    const int n = round % 3 == 0 ? 16 : 32;
    const int nmax = round % 2 ? 15 : 31;
    const bool weighted_by_importance = round % 4 == 1;
    std::vector<std::vector<float>> xs, ws;
    for (int g = 0; g < detail::kFitLanes; ++g) {
      xs.push_back(fit_group(rng, n, round * detail::kFitLanes + g));
      std::vector<float> w(static_cast<size_t>(n));
      for (int i = 0; i < n; ++i)
        w[i] = weighted_by_importance ? rng.next_float() : 0.5f + std::fabs(xs.back()[i]);
      ws.push_back(w);
    }
    const float* xp[detail::kFitLanes];
    const float* wp[detail::kFitLanes];
    uint8_t lanes_l[detail::kFitLanes][32];
    uint8_t* lp[detail::kFitLanes];
    for (int g = 0; g < detail::kFitLanes; ++g) {
      xp[g] = xs[g].data();
      wp[g] = ws[g].data();
      lp[g] = lanes_l[g];
    }
    float scale[detail::kFitLanes], mn[detail::kFitLanes];
    const float rmin = round % 5 ? -1.0f : -0.9f, rdelta = round % 5 ? 0.1f : 0.05f;
    const int nstep = round % 5 ? 20 : 36;
    detail::fit_scale_min_lanes(n, nmax, xp, wp, lp, scale, mn, rmin, rdelta, nstep);
    for (int g = 0; g < detail::kFitLanes; ++g) {
      uint8_t L[32], aux[32];
      float want_min;
      const float want = detail::fit_scale_min(n, nmax, xp[g], wp[g], L, &want_min, aux, rmin, rdelta, nstep);
      ASSERT_EQ(std::memcmp(&scale[g], &want, 4), 0) << "round " << round << " group " << g << ": scale";
      ASSERT_EQ(std::memcmp(&mn[g], &want_min, 4), 0) << "round " << round << " group " << g << ": min";
      ASSERT_EQ(std::memcmp(lanes_l[g], L, static_cast<size_t>(n)), 0) << "round " << round << " group " << g;
    }
  }
}

TEST(QuantFitLanes, SymmetricSearchEqualsSingleFitsBitwise) {
  Rng rng(43, 0);
  for (int round = 0; round < 250; ++round) {
    const int n = round % 3 == 0 ? 32 : 16;
    const int nmax = round % 2 ? 32 : 8;
    const bool weighted = round % 2 == 0;
    std::vector<std::vector<float>> xs, ws;
    for (int g = 0; g < detail::kFitLanes; ++g) {
      xs.push_back(fit_group(rng, n, round * detail::kFitLanes + g));
      std::vector<float> w(static_cast<size_t>(n));
      for (float& v : w) v = rng.next_float();
      ws.push_back(w);
    }
    const float* xp[detail::kFitLanes];
    const float* wp[detail::kFitLanes];
    int8_t lanes_l[detail::kFitLanes][32];
    int8_t* lp[detail::kFitLanes];
    for (int g = 0; g < detail::kFitLanes; ++g) {
      xp[g] = xs[g].data();
      wp[g] = ws[g].data();
      lp[g] = lanes_l[g];
    }
    float scale[detail::kFitLanes];
    detail::fit_scale_symmetric_lanes(n, nmax, xp, lp, weighted ? wp : nullptr, scale);
    for (int g = 0; g < detail::kFitLanes; ++g) {
      int8_t L[32];
      const float want = detail::fit_scale_symmetric(n, nmax, xp[g], L, weighted ? wp[g] : nullptr);
      ASSERT_EQ(std::memcmp(&scale[g], &want, 4), 0) << "round " << round << " group " << g << ": scale";
      ASSERT_EQ(std::memcmp(lanes_l[g], L, static_cast<size_t>(n)), 0) << "round " << round << " group " << g;
    }
  }
}

}  // namespace herd
