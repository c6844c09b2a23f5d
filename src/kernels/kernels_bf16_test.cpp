// Tests of the bf16 path (kernel_table.h TileDotBf16Fn / RoundBf16Fn,
// kernels/matmul_bf16.h), for every ISA the host supports: the ISAs with the
// path (ref, avx512bf16) against the reference kernels_ref.cpp, the others
// for leaving F16/BF16 on the f32 row dots. (In a file of their own beside
// kernels_test.cpp, which holds the f32 and q8 paths' tests.)
//
// Tolerances (u = 2^-24, the f32 unit roundoff; p_j = bf16(x_j) * bf16(w_j)):
//  * round_bf16 is specified exactly (base/half.h f32_to_bf16: RNE, NaN
//    quieted, subnormals rounded), so every ISA must equal the reference bit
//    for bit, on ties, subnormals, infinities, NaN and every tail length.
//  * Each p_j is exact in f32 (8 x 8 significant bits) and in double. The
//    reference sums them in double (error <= K 2^-53 sum|p|) and rounds once:
//    |ref - exact| <= u |exact| + 2 K 2^-53 sum|p|.
//  * The SIMD kernel adds the products into 16 f32 lanes: vdpbf16ps adds a
//    lane's two products of a 32-element step with at most two roundings
//    (Intel's pseudo-code: one per product; a fused sum rounds less), K/32
//    steps (one more for a K % 32 tail), then a 4-level horizontal sum. No
//    product passes more than d = 2 ceil(K/32) + 4 roundings, so the classic
//    bound is |simd - exact| <= gamma_d sum|p| <= 1.01 d u sum|p| (d u < 0.01);
//    with the reference's own error: |simd - ref| <= (2 ceil(K/32) + 6) u
//    sum|p|. (DAZ/FTZ of vdpbf16ps could only matter below 2^-126; the test
//    data stay far above.) Dropping one 32-element step, the smallest bug,
//    moves a coherent-sign dot by ~32/K of sum|p|, hundreds of times the
//    bound at K = 4096: a witness below asserts it on the data.
//  * Against the f32 operands (what the f32 path computes): each rounded
//    operand has relative error <= 2^-8 (bf16's unit roundoff), so
//    |ref - dot(x, w)| <= (e + u) sum|x w| + ref error, with e = 2^-8 for BF16
//    weights (only x rounded) and 2^-7 + 2^-16 for F16 (both). This is the
//    per-dot budget that tests/reference/compare.py's --act-quant bf16 turns
//    into a per-layer estimate.
//  * Prefill == decode, 1 == N threads, tile position: bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "base/half.h"
#include "base/rng.h"
#include "base/thread_pool.h"
#include "kernels/exec_context.h"
#include "kernels/guarded_buffer.h"
#include "kernels/isa_coverage.h"
#include "kernels/isa_test.h"
#include "kernels/kernel_table.h"
#include "kernels/ops.h"
#include "tensor/dtype.h"
#include "tensor/quant.h"
#include "tensor/tensor_view.h"

namespace herd::kernels {
namespace {

constexpr double kU = 1.0 / 16777216.0;  // 2^-24

bool has_bf16_path(const std::string& isa) { return isa == "ref" || isa == "avx512bf16" || isa == "amx"; }

// The dtypes with a bf16 tile (FP8 e4m3 without its row scale: matmul applies
// that afterwards, row_scale_test.cpp).
constexpr DType kBf16Dtypes[] = {DType::kF16, DType::kBF16, DType::kF8_E4M3};

class Bf16Test : public IsaTableTest {};

INSTANTIATE_TEST_SUITE_P(AllIsas, Bf16Test, ::testing::ValuesIn(all_isas()), isa_test_name);

TEST_P(Bf16Test, PathPresentExactlyWhereTheIsaHasIt) {
  for (DType t : kBf16Dtypes) {
    EXPECT_EQ(table_.tile_bf16_for(t) != nullptr, has_bf16_path(GetParam())) << GetParam() << " " << dtype_name(t);
  }
  EXPECT_EQ(table_.round_bf16 != nullptr, has_bf16_path(GetParam())) << GetParam();
  // No other dtype takes it (F32 stays on the f32 path, quantized ones on q8 or f32).
  int n = 0;
  const DTypeInfo* all = all_dtypes(&n);
  for (int i = 0; i < n; ++i) {
    if (std::find(std::begin(kBf16Dtypes), std::end(kBf16Dtypes), all[i].dtype) == std::end(kBf16Dtypes)) {
      EXPECT_EQ(table_.tile_bf16_for(all[i].dtype), nullptr) << dtype_name(all[i].dtype);
    }
  }
}

TEST_P(Bf16Test, RoundBf16EqualsReference) {
  if (!has_bf16_path(GetParam())) GTEST_SKIP() << "no bf16 path in " << GetParam();
  const KernelTable ref = ref_kernels();
  std::vector<float> special = {0.0f, -0.0f, 1.0f, -1.0f,
                                std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                                std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::quiet_NaN(),
                                bits_to_float(0x7f800001u),  // signalling NaN: must come back quiet
                                std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(),
                                std::numeric_limits<float>::denorm_min(), bits_to_float(0x00018000u),  // subnormals
                                bits_to_float(0x3f808000u), bits_to_float(0x3f818000u),  // ties: to even, both ways
                                bits_to_float(0x3f808001u), bits_to_float(0x3f807fffu),  // just above / below a tie
                                bits_to_float(0x7f7f8000u)};                             // rounds up to infinity
  for (int64_t K : {1, 2, 15, 16, 17, 31, 32, 33, 100, 4096}) {
    std::vector<float> x = normals(3, static_cast<uint64_t>(K), K, 7.0f);
    for (size_t i = 0; i < x.size(); ++i) x[i] = i < special.size() ? special[i] : x[i];
    std::vector<uint16_t> got(static_cast<size_t>(K) + 1, 0xabcd), want(static_cast<size_t>(K));
    table_.round_bf16(x.data(), got.data(), K);
    ref.round_bf16(x.data(), want.data(), K);
    for (int64_t j = 0; j < K; ++j) {
      const size_t s = static_cast<size_t>(j);
      ASSERT_EQ(got[s], want[s]) << "isa=" << GetParam() << " K=" << K << " j=" << j << " x=" << x[s];
      ASSERT_EQ(want[s], f32_to_bf16(x[s]));
    }
    EXPECT_EQ(got.back(), 0xabcd) << "isa=" << GetParam() << " K=" << K << ": wrote past the row";
    // Against an inaccessible page (guarded_buffer.h): a store that strays past the row
    // faults here, even a masked one whose masked-out lanes some CPUs do not exempt.
    GuardedBuffer<float> gx(x.size());
    GuardedBuffer<uint16_t> gy(static_cast<size_t>(K));
    std::memcpy(gx.data(), x.data(), x.size() * sizeof(float));
    table_.round_bf16(gx.data(), gy.data(), K);
    ASSERT_TRUE(gy.canary_intact()) << "isa=" << GetParam() << " K=" << K << ": wrote before the row";
    ASSERT_EQ(std::memcmp(gy.data(), want.data(), want.size() * sizeof(uint16_t)), 0) << "isa=" << GetParam();
  }
}

struct Bf16Case {
  std::vector<uint8_t> w;   // [n_rows, K] F16 or BF16
  std::vector<uint16_t> x;  // [n_tok, K] bf16
  std::vector<float> xf;    // [n_tok, K] the f32 activations before rounding
  int64_t rb = 0;
};

// Weights with varying scale along the row; with coherent = true, every
// activation takes its weight's sign (then |dot| == sum|p|, the witness data).
Bf16Case make_case(DType t, int64_t n_rows, int64_t n_tok, int64_t K, uint64_t seed, bool coherent) {
  Bf16Case c;
  c.rb = row_bytes(t, K);
  c.w.resize(static_cast<size_t>(n_rows * c.rb));
  for (int64_t r = 0; r < n_rows; ++r) {
    std::vector<float> src = normals(seed, static_cast<uint64_t>(r), K);
    for (int64_t i = 0; i < K; ++i) src[static_cast<size_t>(i)] *= 1.0f + static_cast<float>((i / 32) % 5);
    quantize_row_ref(t, src.data(), c.w.data() + r * c.rb, K);
  }
  c.xf = normals(seed + 1, 0, n_tok * K);
  if (coherent) {
    std::vector<float> w0(static_cast<size_t>(K));
    dequantize_row_ref(t, c.w.data(), w0.data(), K);
    for (int64_t i = 0; i < n_tok * K; ++i) {
      float& v = c.xf[static_cast<size_t>(i)];
      v = std::signbit(w0[static_cast<size_t>(i % K)]) ? -std::fabs(v) : std::fabs(v);
    }
  }
  c.x.resize(c.xf.size());
  for (size_t i = 0; i < c.xf.size(); ++i) c.x[i] = f32_to_bf16(c.xf[i]);
  return c;
}

// The exact value of a row's dot with the bf16 operands, sum|p| and the exact
// dot with the unrounded f32 operands (long double: products of 24-bit
// significands are exact in its 64 bits).
struct Exact {
  long double bf16_dot = 0, abs_sum = 0, f32_dot = 0, f32_abs = 0;
};
Exact exact_row(DType t, const uint8_t* row, const uint16_t* xb, const float* xf, int64_t K) {
  std::vector<float> w(static_cast<size_t>(K));
  dequantize_row_ref(t, row, w.data(), K);
  Exact e;
  for (int64_t j = 0; j < K; ++j) {
    const float wf = w[static_cast<size_t>(j)];
    const long double p = static_cast<long double>(bf16_to_f32(f32_to_bf16(wf))) * bf16_to_f32(xb[j]);
    e.bf16_dot += p;
    e.abs_sum += std::fabs(p);
    e.f32_dot += static_cast<long double>(wf) * xf[j];
    e.f32_abs += std::fabs(static_cast<long double>(wf) * xf[j]);
  }
  return e;
}

double simd_bound(int64_t K, long double abs_sum) {
  return (2.0 * static_cast<double>((K + 31) / 32) + 6.0) * kU * static_cast<double>(abs_sum);
}

TEST_P(Bf16Test, TileMatchesReferenceOnEveryTileShape) {
  if (!has_bf16_path(GetParam())) GTEST_SKIP() << "no bf16 path in " << GetParam();
  const KernelTable ref = ref_kernels();
  // 11 rows: two 4-row tiles and a remainder of 3; 17 tokens: two 6-token
  // tiles and a remainder of 5. K: every tail length class of the 32-element
  // step (and K < 32: only a tail), up to 4096.
  const int64_t R = 11, TT = 17;
  for (DType t : kBf16Dtypes) {
    for (int64_t K : {1, 2, 31, 32, 33, 63, 96, 100, 257, 2064, 4096}) {
      for (int coherent = 0; coherent < 2; ++coherent) {
        const Bf16Case c = make_case(t, R, TT, K, 900 + static_cast<uint64_t>(K), coherent != 0);
        std::vector<float> got(static_cast<size_t>(R * TT), NAN), want(got.size(), NAN);
        table_.tile_bf16_for(t)(c.w.data(), c.rb, R, c.x.data(), K, TT, K, got.data(), R);
        ref.tile_bf16_for(t)(c.w.data(), c.rb, R, c.x.data(), K, TT, K, want.data(), R);
        const std::string where = "isa=" + GetParam() + " " + dtype_name(t) + " K=" + std::to_string(K) +
                                  " coherent=" + std::to_string(coherent);
        for (int64_t r = 0; r < R; ++r) {
          for (int64_t tk = 0; tk < TT; ++tk) {
            const size_t i = static_cast<size_t>(tk * R + r);
            const uint8_t* wr = c.w.data() + r * c.rb;
            const uint16_t* xr = c.x.data() + tk * K;
            const Exact e = exact_row(t, wr, xr, c.xf.data() + tk * K, K);
            const std::string at = where + " r=" + std::to_string(r) + " t=" + std::to_string(tk);
            // The reference against the exact dot of its operands.
            const double ref_err = std::fabs(static_cast<double>(want[i]) - static_cast<double>(e.bf16_dot));
            ASSERT_LE(ref_err, kU * std::fabs(static_cast<double>(e.bf16_dot)) +
                                   2.0 * static_cast<double>(K) * 0x1p-53 * static_cast<double>(e.abs_sum))
                << at << ": reference vs exact";
            // The bf16 semantics against the f32 operands (see the header).
            const double rel = t == DType::kF16 ? 0x1p-7 + 0x1p-16 : 0x1p-8;
            const double sem_err = std::fabs(static_cast<double>(want[i]) - static_cast<double>(e.f32_dot));
            ASSERT_LE(sem_err, (rel + 2 * kU) * static_cast<double>(e.f32_abs)) << at << ": bf16 rounding budget";
            // The kernel against the reference.
            const double bound = simd_bound(K, e.abs_sum);
            const double err = std::fabs(static_cast<double>(got[i]) - static_cast<double>(want[i]));
            ASSERT_LE(err, bound) << at << " got=" << got[i] << " ref=" << want[i] << " bound=" << bound;
            // Bit-identical to a 1x1 tile (decode of a lone row).
            float one = NAN;
            table_.tile_bf16_for(t)(wr, 0, 1, xr, 0, 1, K, &one, 1);
            ASSERT_EQ(std::memcmp(&one, &got[i], sizeof(float)), 0)
                << at << ": tile position changes the result (" << one << " vs " << got[i] << ")";
          }
        }
        // Every token count 1..TT from every start gives the same floats as
        // the full tile (prefill in chunks, decode).
        for (int64_t tn = 1; tn <= TT; ++tn) {
          for (int64_t t0 = 0; t0 + tn <= TT; t0 += tn) {
            std::vector<float> part(static_cast<size_t>(R * tn), NAN);
            table_.tile_bf16_for(t)(c.w.data(), c.rb, R, c.x.data() + t0 * K, K, tn, K, part.data(), R);
            ASSERT_EQ(std::memcmp(part.data(), got.data() + t0 * R, part.size() * sizeof(float)), 0)
                << where << ": " << tn << " tokens from token " << t0 << " differ from the full tile";
          }
        }
        if (coherent && K == 4096) {
          // Witness: dropping any 32-element step moves the dot of row 0 and
          // token 0 (== sum|p|: the signs were made to agree) by more than
          // the bound.
          for (int64_t r = 0; r < 1; ++r) {
            const Exact e = exact_row(t, c.w.data() + r * c.rb, c.x.data(), c.xf.data(), K);
            std::vector<float> w(static_cast<size_t>(K));
            dequantize_row_ref(t, c.w.data() + r * c.rb, w.data(), K);
            for (int64_t s = 0; s < K; s += 32) {
              long double step = 0;
              for (int64_t j = s; j < s + 32; ++j)
                step += std::fabs(static_cast<long double>(bf16_to_f32(f32_to_bf16(w[static_cast<size_t>(j)]))) *
                                  bf16_to_f32(c.x[static_cast<size_t>(j)]));
              ASSERT_GT(static_cast<double>(step), simd_bound(K, e.abs_sum))
                  << where << " r=" << r << ": a dropped step at " << s << " could hide in the bound";
            }
          }
        }
      }
    }
  }
}

// The SIMD tile kernel's cache blocking (row blocks of 64, K blocks of 2048
// with partial sums carried between them, token groups) must not change any
// output: a large tile equals the decode walk (one token per call) bit for
// bit, with rows, tokens and K that leave a remainder at every level.
TEST_P(Bf16Test, BlockedPrefillEqualsDecodeBitwise) {
  if (!has_bf16_path(GetParam())) GTEST_SKIP() << "no bf16 path in " << GetParam();
  for (DType t : kBf16Dtypes) {
    for (int64_t K : {2048, 2087, 6150}) {
      const int64_t R = 141, TT = GetParam() == "ref" ? 7 : 101;  // the scalar reference is slow
      const Bf16Case c = make_case(t, R, TT, K, 1300 + static_cast<uint64_t>(K), false);
      std::vector<float> all(static_cast<size_t>(R * TT), NAN);
      table_.tile_bf16_for(t)(c.w.data(), c.rb, R, c.x.data(), K, TT, K, all.data(), R);
      for (int64_t tk = 0; tk < TT; ++tk) {
        std::vector<float> one(static_cast<size_t>(R), NAN);
        table_.tile_bf16_for(t)(c.w.data(), c.rb, R, c.x.data() + tk * K, K, 1, K, one.data(), R);
        ASSERT_EQ(std::memcmp(one.data(), all.data() + tk * R, one.size() * sizeof(float)), 0)
            << "isa=" << GetParam() << " " << dtype_name(t) << " K=" << K << ": token " << tk << " of " << TT
            << " differs from its decode";
      }
    }
  }
}

// Every operand of the tile kernel placed against an inaccessible page
// (guarded_buffer.h): weights, activations and output each end exactly where
// the mapping ends, with canaries in front. A kernel that touches one element
// past any of them dies here in a Release build, without a sanitizer, and the
// results must still equal the same call on ordinary vectors bit for bit.
// Shapes: every row remainder (1..4 and 11 rows), decode (1..5 tokens) and
// prefill (6, 7, 17 tokens: register tiles and their remainders), K with and
// without a 32-element tail, and K > 2048, whose prefill carries partial sums
// between K blocks.
TEST_P(Bf16Test, TileStaysInsideItsOperands) {
  if (!has_bf16_path(GetParam())) GTEST_SKIP() << "no bf16 path in " << GetParam();
  for (DType t : kBf16Dtypes) {
    for (int64_t K : {1, 33, 64, 2087}) {
      for (int64_t R : {1, 2, 3, 4, 11}) {
        for (int64_t TT : {1, 2, 5, 6, 7, 17}) {
          if (GetParam() == "ref" && K > 64 && TT > 2) continue;  // the scalar reference is slow
          const Bf16Case c = make_case(t, R, TT, K, 1700 + static_cast<uint64_t>(K * 31 + R), false);
          GuardedBuffer<uint8_t> w(c.w.size());
          GuardedBuffer<uint16_t> x(c.x.size());
          GuardedBuffer<float> out(static_cast<size_t>(R * TT), NAN);
          std::memcpy(w.data(), c.w.data(), c.w.size());
          std::memcpy(x.data(), c.x.data(), c.x.size() * sizeof(uint16_t));
          std::vector<float> want(static_cast<size_t>(R * TT), NAN);
          table_.tile_bf16_for(t)(w.data(), c.rb, R, x.data(), K, TT, K, out.data(), R);
          table_.tile_bf16_for(t)(c.w.data(), c.rb, R, c.x.data(), K, TT, K, want.data(), R);
          const std::string where = "isa=" + GetParam() + " " + dtype_name(t) + " K=" + std::to_string(K) +
                                    " rows=" + std::to_string(R) + " tokens=" + std::to_string(TT);
          ASSERT_TRUE(out.canary_intact()) << where << ": wrote before the output";
          ASSERT_TRUE(w.canary_intact() && x.canary_intact()) << where << ": wrote into an input";
          ASSERT_EQ(std::memcmp(out.data(), want.data(), want.size() * sizeof(float)), 0)
              << where << ": results depend on where the operands lie";
        }
      }
    }
  }
}

// matmul routes F16/BF16 through the bf16 path exactly where the table has
// it, for any K (no K % 32 condition), and every output is the tile kernel's
// 1x1 result on the rounded row: independent of T and of the thread count.
TEST_P(Bf16Test, MatmulUsesThePathForAnyKAndIsDeterministic) {
  const int64_t N = 70, T = 13;  // 70 rows, grain 16: 1, 2 and 3 thread ranges with remainders
  for (DType t : kBf16Dtypes) {
    for (int64_t K : {100, 256}) {
      std::vector<uint8_t> bytes(static_cast<size_t>(N * row_bytes(t, K)));
      const std::vector<float> src = normals(61, static_cast<uint64_t>(K), N * K, 0.5f);
      for (int64_t n = 0; n < N; ++n) quantize_row_ref(t, src.data() + n * K, bytes.data() + n * row_bytes(t, K), K);
      TensorView w;
      w.dtype = t;
      w.shape = {N, K};
      w.data = bytes.data();
      const std::vector<float> x = normals(62, static_cast<uint64_t>(K), T * K);
      std::vector<std::vector<float>> outs;
      for (int threads : {1, 2, 3}) {
        ThreadPool pool(threads);
        ExecContext ctx{&pool, &table_};
        std::vector<float> out(static_cast<size_t>(T * N), NAN);
        matmul(ctx, x.data(), T, w, out.data());
        outs.push_back(out);
        for (int64_t tok = 0; tok < T; ++tok) {
          std::vector<float> one(static_cast<size_t>(N), NAN);
          matmul(ctx, x.data() + tok * K, 1, w, one.data());
          ASSERT_EQ(std::memcmp(one.data(), out.data() + tok * N, static_cast<size_t>(N) * sizeof(float)), 0)
              << "isa=" << GetParam() << " " << dtype_name(t) << " K=" << K << " threads=" << threads
              << ": T=1 differs from row " << tok << " of a T=" << T << " call";
        }
      }
      for (size_t i = 1; i < outs.size(); ++i)
        ASSERT_EQ(std::memcmp(outs[i].data(), outs[0].data(), outs[0].size() * sizeof(float)), 0)
            << "isa=" << GetParam() << " " << dtype_name(t) << ": results depend on the thread count";
      // The path taken: the bf16 tile where the table has one, the f32 row dot otherwise.
      std::vector<uint16_t> xb(static_cast<size_t>(K));
      for (int64_t tok = 0; tok < T; ++tok) {
        for (int64_t j = 0; j < K; ++j) xb[static_cast<size_t>(j)] = f32_to_bf16(x[static_cast<size_t>(tok * K + j)]);
        for (int64_t n = 0; n < N; ++n) {
          float want = NAN;
          if (has_bf16_path(GetParam()))
            table_.tile_bf16_for(t)(w.row(n), 0, 1, xb.data(), 0, 1, K, &want, 1);
          else
            want = table_.dot_for(t)(w.row(n), x.data() + tok * K, K);
          ASSERT_EQ(outs[0][static_cast<size_t>(tok * N + n)], want)
              << "isa=" << GetParam() << " " << dtype_name(t) << " K=" << K << " t=" << tok << " n=" << n;
        }
      }
    }
  }
}

// matmul_shared_input rounds x once for several F16/BF16 weights and runs
// them in one parallel region over their concatenated rows; each output is
// what matmul gives alone, also when the list mixes in weights of the other
// paths (Q8_0: q8, F32: f32 row dots).
TEST_P(Bf16Test, SharedInputEqualsSeparateMatmuls) {
  const int64_t K = 192, T = 7, N1 = 40, N2 = 24, N3 = 20, N4 = 12;
  auto make = [&](DType t, int64_t N, uint64_t seed, std::vector<uint8_t>* b) {
    b->resize(static_cast<size_t>(N * row_bytes(t, K)));
    const std::vector<float> src = normals(seed, 0, N * K);
    for (int64_t n = 0; n < N; ++n) quantize_row_ref(t, src.data() + n * K, b->data() + n * row_bytes(t, K), K);
    return TensorView{t, {N, K}, b->data()};
  };
  std::vector<uint8_t> b1, b2, b3, b4;
  const TensorView w1 = make(DType::kF16, N1, 71, &b1), w2 = make(DType::kBF16, N2, 72, &b2);
  const TensorView w3 = make(DType::kQ8_0, N3, 74, &b3), w4 = make(DType::kF32, N4, 75, &b4);
  const std::vector<float> x = normals(73, 0, T * K);
  ThreadPool pool(2);
  // With a preallocated scratch (the model contexts') and without (a temporary).
  std::vector<uint16_t> scratch(static_cast<size_t>(T * K));
  for (int with_scratch = 0; with_scratch < 2; ++with_scratch) {
    ExecContext ctx{&pool, &table_};
    if (with_scratch) {
      ctx.bf16 = scratch.data();
      ctx.bf16_elems = T * K;
    }
    std::vector<float> a1(static_cast<size_t>(T * N1)), a2(static_cast<size_t>(T * N2));
    std::vector<float> a3(static_cast<size_t>(T * N3)), a4(static_cast<size_t>(T * N4));
    std::vector<float> c1(a1.size()), c2(a2.size()), c3(a3.size()), c4(a4.size());
    matmul_shared_input(ctx, x.data(), T, {{&w1, a1.data()}, {&w2, a2.data()}});
    matmul(ctx, x.data(), T, w1, c1.data());
    matmul(ctx, x.data(), T, w2, c2.data());
    EXPECT_EQ(a1, c1) << "isa=" << GetParam() << " with_scratch=" << with_scratch;
    EXPECT_EQ(a2, c2) << "isa=" << GetParam() << " with_scratch=" << with_scratch;
    std::fill(a1.begin(), a1.end(), NAN);
    std::fill(a2.begin(), a2.end(), NAN);
    matmul_shared_input(ctx, x.data(), T, {{&w3, a3.data()}, {&w1, a1.data()}, {&w4, a4.data()}, {&w2, a2.data()}});
    matmul(ctx, x.data(), T, w3, c3.data());
    matmul(ctx, x.data(), T, w4, c4.data());
    EXPECT_EQ(a1, c1) << "isa=" << GetParam() << " mixed list, with_scratch=" << with_scratch;
    EXPECT_EQ(a2, c2) << "isa=" << GetParam() << " mixed list, with_scratch=" << with_scratch;
    EXPECT_EQ(a3, c3) << "isa=" << GetParam() << " mixed list, with_scratch=" << with_scratch;
    EXPECT_EQ(a4, c4) << "isa=" << GetParam() << " mixed list, with_scratch=" << with_scratch;
  }
}

}  // namespace
}  // namespace herd::kernels
