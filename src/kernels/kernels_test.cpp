// Tests of the kernel table (every ISA the host supports) and the ops built on
// it (matmul, rms_norm, rope, attention, silu_mul).
//
// Kernels are compared against the *dequantized* weights (the reference
// dequantizer of tensor/quant.h), which isolates kernel error from
// quantization error; quantization error itself is tested in tensor/.
//
// Tolerances, used throughout (u = 2^-24, the unit roundoff of float32):
//  * A float sum of products reaches its result through a summation tree; if
//    no term passes through more than d roundings, the classic bound is
//    |err| <= gamma_d * sum|terms|, gamma_d = d*u / (1 - d*u). Every row dot
//    here has d <= K + 2 (the AVX2 block kernels: 4 fused steps inside a 32-
//    block, one per block in a lane accumulator, 3 for the horizontal sum, one
//    for a non-fused tail product; the reference: one rounding of the double
//    sum to float). For K >= 2, gamma_{K+2} < 2*K*u, and for K == 1 the only
//    rounding is one product (u). So the bound is c = 2:
//        |got - exact| <= 2 * K * u * sum|w_i x_i|.
//    The exact value is a long-double sum of exact float*float products.
//  * The bound is worst case, so on random signed data it is loose. To make
//    sure it still catches real bugs (a skipped block, a wrong scale), each
//    row is also tested with "coherent" activations x_i = sign(w_i)|r_i|, for
//    which dot == sum|w x|, and the test asserts that leaving out any one
//    block (or 32 elements) would exceed the bound.
//  * Thread-count and batch-size invariance is required bit-for-bit (ops.h
//    promises every output element is reduced in a fixed order).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "base/half.h"
#include "base/rng.h"
#include "base/thread_pool.h"
#include "kernels/exec_context.h"
#include "kernels/guarded_buffer.h"
#include "kernels/isa_coverage.h"
#include "kernels/isa_test.h"
#include "kernels/adamw.h"
#include "kernels/kernel_table.h"
#include "kernels/ops.h"
#include "tensor/dtype.h"
#include "tensor/quant.h"
#include "tensor/repack_r8.h"
#include "tensor/tensor_view.h"

namespace herd::kernels {
namespace {

constexpr double kU = 1.0 / 16777216.0;  // 2^-24

std::vector<DType> every_dtype() { return dtypes_with_kernels(); }

std::vector<uint8_t> quantize(DType t, const std::vector<float>& x) {
  std::vector<uint8_t> b(static_cast<size_t>(row_bytes(t, static_cast<int64_t>(x.size()))));
  quantize_row_ref(t, x.data(), b.data(), static_cast<int64_t>(x.size()));
  return b;
}

std::vector<float> dequantize(DType t, const uint8_t* bytes, int64_t n) {
  std::vector<float> y(static_cast<size_t>(n));
  dequantize_row_ref(t, bytes, y.data(), n);
  return y;
}

// Every ISA compiled into the binary; ones the host cannot run are skipped.
class IsaTest : public IsaTableTest {};

INSTANTIATE_TEST_SUITE_P(AllIsas, IsaTest, ::testing::ValuesIn(all_isas()), isa_test_name);

TEST(KernelTable, RefAlwaysSupportedAndUnknownRejected) {
  const std::vector<std::string> have = supported_isas();
  ASSERT_FALSE(have.empty());
  EXPECT_EQ(have.front(), "ref");
  Result<KernelTable> bad = select_kernels("sse9");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.error().message().find("sse9"), std::string::npos);
}

// --------------------------------------------------------------------------
// Row dots

std::vector<int64_t> ks_for(DType t) {
  const int64_t be = dtype_info(t).block_elems;
  if (be == 1) return {1, 7, 8, 15, 16, 17, 31, 32, 33, 100, 256, 4096};  // every tail length
  return {be, 3 * be, 4096};
}

struct DotCheck {
  long double exact = 0;
  long double abs_sum = 0;
};

DotCheck exact_dot(const std::vector<float>& w, const float* x) {
  DotCheck c;
  for (size_t i = 0; i < w.size(); ++i) {
    const long double p = static_cast<long double>(w[i]) * x[i];  // exact: 48-bit product
    c.exact += p;
    c.abs_sum += std::fabs(p);
  }
  return c;
}

TEST_P(IsaTest, RowDotMatchesExactDotOfDequantizedRow) {
  for (DType t : every_dtype()) {
    RowDotFn dot = table_.dot_for(t);
    ASSERT_NE(dot, nullptr) << "no row_dot for " << dtype_name(t) << " in " << table_.isa;
    for (int64_t K : ks_for(t)) {
      for (uint64_t row = 0; row < 4; ++row) {
        // Weights from a mix of scales so blocks differ in their scale.
        std::vector<float> src = normals(1000 + row, static_cast<uint64_t>(K), K);
        for (int64_t i = 0; i < K; ++i) src[static_cast<size_t>(i)] *= 1.0f + static_cast<float>((i / 32) % 5);
        const std::vector<uint8_t> bytes = quantize(t, src);
        const std::vector<float> w = dequantize(t, bytes.data(), K);
        std::vector<float> x = normals(2000 + row, static_cast<uint64_t>(K), K);
        for (int coherent = 0; coherent < 2; ++coherent) {
          if (coherent) {
            for (int64_t i = 0; i < K; ++i) {
              float& xi = x[static_cast<size_t>(i)];
              xi = std::signbit(w[static_cast<size_t>(i)]) ? -std::fabs(xi) : std::fabs(xi);
            }
          }
          const DotCheck c = exact_dot(w, x.data());
          const double bound = 2.0 * static_cast<double>(K) * kU * static_cast<double>(c.abs_sum);
          const float got = dot(bytes.data(), x.data(), K);
          const double e = std::fabs(static_cast<double>(got) - static_cast<double>(c.exact));
          EXPECT_LE(e, bound) << "isa=" << table_.isa << " dtype=" << dtype_name(t) << " K=" << K
                              << " row=" << row << " coherent=" << coherent << " got=" << got
                              << " exact=" << static_cast<double>(c.exact) << " bound=" << bound;
          if (coherent && K == 4096) {
            // Witness that this check can fail: any missing chunk of a block
            // (or 32 elements) moves the result by more than the bound.
            const int64_t chunk = std::max<int64_t>(32, dtype_info(t).block_elems);
            for (int64_t b = 0; b < K; b += chunk) {
              long double part = 0;
              for (int64_t i = b; i < b + chunk; ++i)
                part += std::fabs(static_cast<long double>(w[static_cast<size_t>(i)]) * x[static_cast<size_t>(i)]);
              ASSERT_GT(static_cast<double>(part), bound)
                  << "test data too weak to detect a dropped chunk at " << b << " for " << dtype_name(t);
            }
          }
        }
      }
    }
  }
}

TEST_P(IsaTest, RowToF32EqualsReferenceDequantizer) {
  for (DType t : every_dtype()) {
    RowToF32Fn to_f32 = table_.to_f32_for(t);
    ASSERT_NE(to_f32, nullptr) << dtype_name(t);
    for (int64_t K : ks_for(t)) {
      const std::vector<uint8_t> bytes = quantize(t, normals(7, static_cast<uint64_t>(K), K, 3.0f));
      const std::vector<float> want = dequantize(t, bytes.data(), K);
      std::vector<float> got(static_cast<size_t>(K) + 1, -7.0f);  // +1 guard element
      to_f32(bytes.data(), got.data(), K);
      // Exact: dequantization is specified bit-for-bit by the reference.
      EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)), 0)
          << "isa=" << table_.isa << " dtype=" << dtype_name(t) << " K=" << K;
      EXPECT_EQ(got.back(), -7.0f) << "wrote past the row";
    }
  }
}

// Every one of the 65536 F16 and BF16 codes (zeros, subnormals, infinities
// included) widens to the reference's bits; a NaN stays a NaN (F16C quiets a
// signalling payload, which no weight file relies on). Rows of 65536, so the
// vector body and not only the tail sees each code.
TEST_P(IsaTest, RowToF32WidensEveryHalfCode) {
  for (DType t : {DType::kF16, DType::kBF16}) {
    std::vector<uint8_t> bytes(2 * 65536);
    for (uint32_t c = 0; c < 65536; ++c) {
      bytes[2 * c] = static_cast<uint8_t>(c & 0xff);
      bytes[2 * c + 1] = static_cast<uint8_t>(c >> 8);
    }
    const std::vector<float> want = dequantize(t, bytes.data(), 65536);
    std::vector<float> got(65536);
    table_.to_f32_for(t)(bytes.data(), got.data(), 65536);
    int mismatches = 0;
    for (size_t c = 0; c < got.size(); ++c) {
      const bool same = std::isnan(want[c]) ? std::isnan(got[c]) : std::memcmp(&got[c], &want[c], sizeof(float)) == 0;
      if (!same && ++mismatches <= 3)
        ADD_FAILURE() << "isa=" << table_.isa << " " << dtype_name(t) << " code 0x" << std::hex << c << std::dec << ": "
                      << got[c] << " vs " << want[c];
    }
    EXPECT_EQ(mismatches, 0) << dtype_name(t);
  }
}

const int64_t kTailSizes[] = {0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 100, 4096};

TEST_P(IsaTest, DotF32AllTails) {
  for (int64_t n : kTailSizes) {
    std::vector<float> a = normals(11, static_cast<uint64_t>(n), n), b = normals(12, static_cast<uint64_t>(n), n);
    long double exact = 0, abs_sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      const long double p = static_cast<long double>(a[static_cast<size_t>(i)]) * b[static_cast<size_t>(i)];
      exact += p;
      abs_sum += std::fabs(p);
    }
    // Same summation bound as the row dots (c = 2; n == 0 must give exactly 0).
    const double bound = 2.0 * static_cast<double>(n) * kU * static_cast<double>(abs_sum);
    const float got = table_.dot_f32(a.data(), b.data(), n);
    EXPECT_LE(std::fabs(static_cast<double>(got) - static_cast<double>(exact)), bound)
        << "isa=" << table_.isa << " n=" << n << " got=" << got << " exact=" << static_cast<double>(exact);
  }
}

TEST_P(IsaTest, AxpyF32AllTails) {
  for (int64_t n : kTailSizes) {
    const float a = -0.75f;
    std::vector<float> x = normals(21, static_cast<uint64_t>(n), n);
    std::vector<float> y = normals(22, static_cast<uint64_t>(n), n);
    y.push_back(123.0f);  // guard: must not be touched
    const std::vector<float> y0 = y;
    table_.axpy_f32(a, x.data(), y.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const size_t s = static_cast<size_t>(i);
      const double exact = static_cast<double>(y0[s]) + static_cast<double>(a) * x[s];
      // One rounding with FMA, two without: |err| <= (2u + u^2)(|y| + |a x|).
      const double bound = 2.0001 * kU * (std::fabs(y0[s]) + std::fabs(a * x[s]));
      ASSERT_LE(std::fabs(y[s] - exact), bound) << "isa=" << table_.isa << " n=" << n << " i=" << i;
    }
    EXPECT_EQ(y.back(), 123.0f) << "isa=" << table_.isa << " n=" << n << ": wrote past the end";
  }
}

TEST_P(IsaTest, AxpyRowsF32IsSuccessiveAxpys) {
  // Every row count up to 9 and every tail: bit for bit the axpy_f32 calls it
  // replaces (a zero and a negative coefficient included); the guard after y untouched.
  for (int64_t rows = 1; rows <= 9; ++rows) {
    for (int64_t n : kTailSizes) {
      const int64_t xs = n + 3;
      std::vector<float> x = normals(23, static_cast<uint64_t>(n * 16 + rows), rows * xs);
      std::vector<float> a = normals(24, static_cast<uint64_t>(rows), rows);
      a[0] = 0.0f;
      std::vector<float> y = normals(25, static_cast<uint64_t>(n), n);
      y.push_back(123.0f);
      std::vector<float> want = y;
      for (int64_t r = 0; r < rows; ++r) table_.axpy_f32(a[static_cast<size_t>(r)], x.data() + r * xs, want.data(), n);
      table_.axpy_rows_f32(a.data(), rows, x.data(), xs, y.data(), n);
      ASSERT_EQ(std::memcmp(y.data(), want.data(), y.size() * sizeof(float)), 0)
          << "isa=" << table_.isa << " rows=" << rows << " n=" << n;
    }
  }
}

TEST_P(IsaTest, AxpyRowsTokensIsAxpyRowsPerToken) {
  // Token counts around the 4-token group, row counts 1..8, lengths with every
  // tail (past 64- and 16-element blocks): bit for bit the per-token calls.
  for (int64_t n_tok : {1, 3, 4, 5, 9}) {
    for (int64_t rows : {1, 3, 8}) {
      for (int64_t n : {int64_t{1}, int64_t{15}, int64_t{16}, int64_t{64}, int64_t{100}, int64_t{256}, int64_t{259}}) {
        const int64_t xs = n + 5, os = n + 3, as = rows + 2;
        const std::vector<float> x = normals(26, static_cast<uint64_t>(n * 100 + rows), rows * xs);
        const std::vector<float> a = normals(27, static_cast<uint64_t>(n_tok), n_tok * as);
        std::vector<float> got = normals(28, static_cast<uint64_t>(n), n_tok * os);
        std::vector<float> want = got;
        for (int64_t t = 0; t < n_tok; ++t)
          table_.axpy_rows_f32(a.data() + t * as, rows, x.data(), xs, want.data() + t * os, n);
        table_.axpy_rows_tokens_f32(a.data(), as, rows, x.data(), xs, n_tok, got.data(), os, n);
        ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
            << "isa=" << table_.isa << " tokens=" << n_tok << " rows=" << rows << " n=" << n;
      }
    }
  }
}

// --------------------------------------------------------------------------
// The q8 path: activation quantization and integer tile kernels.
//
// Tolerances (u = 2^-24):
//  * quantize_q8 is specified exactly (d = amax/127, q = round-half-even of
//    x * (1/d), s = sum q, ds = fl(d * s)), and every ISA computes the same float operations,
//    so it must equal the reference bit for bit.
//  * A tile output is sum_b c_b * isum_b with c_b = fl(d_w * d_x) and isum_b an
//    exact integer. The reference sums in double (error below u * |result|
//    after the final rounding to float). The SIMD kernels split isum_b into 8
//    int32 lanes (exact; after the Q4_0 / Q8_0 offset corrections a lane may
//    exceed its share, but |lane| <= L_b = sum_j (|qw_j| + 144) |qx_j|), convert
//    them exactly and FMA each into its f32 lane accumulator (nb roundings),
//    then sum 8 lanes (3 roundings). Classic bound: |err| <= gamma_{nb+3} *
//    sum_b |c_b| * L_b, and (nb + 4) * u covers gamma plus the reference's own
//    rounding. Bugs (a dropped block: |c_b isum_b| ~ sum/nb) exceed it by
//    orders of magnitude; the witness check below asserts this on the data.
//  * The reference itself is checked against the exact dot of the dequantized
//    weights and the dequantized activations (d_x * q): its only roundings
//    are c_b (u relative each) and the double sum, so 2u * sum|terms|.

std::vector<DType> q8_dtypes(const KernelTable& t) {
  std::vector<DType> out;
  for (DType d : every_dtype())
    if (t.tile_q8_for(d)) out.push_back(d);
  return out;
}

// A NaN activation (from a hostile file's weights; model_load_fuzz found it)
// quantizes to 0 in the reference instead of an undefined float-to-int
// conversion (UBSan caught it; the sanitizer build of this test, whose UBSan
// aborts, fails on the old conversion), and the block's other values are unchanged.
TEST(KernelTable, QuantizeQ8RefMapsNanToZero) {
  const KernelTable ref = *select_kernels("ref");
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[static_cast<size_t>(j)] = static_cast<float>(j - 16) / 4.0f;
  BlockQ8 clean{}, dirty{};
  ref.quantize_q8(x.data(), &clean, 32);
  x[5] = NAN;
  ref.quantize_q8(x.data(), &dirty, 32);
  EXPECT_EQ(dirty.qs[5], 0);
  for (int j = 0; j < 32; ++j) {
    if (j != 5) {
      EXPECT_EQ(dirty.qs[j], clean.qs[j]) << j;
    }
  }
}

TEST_P(IsaTest, QuantizeQ8EqualsReference) {
  ASSERT_NE(table_.quantize_q8, nullptr);
  const KernelTable ref = ref_kernels();
  for (int64_t K : {32, 64, 96, 4096}) {
    std::vector<float> x = normals(31, static_cast<uint64_t>(K), K, 3.0f);
    for (int64_t j = 0; j < 32; ++j) x[static_cast<size_t>(j)] = 0.0f;  // an all-zero block: d = 0
    if (K >= 64) x[40] = 1e-30f;                                          // a tiny block value
    std::vector<BlockQ8> a(static_cast<size_t>(K / 32)), b(a.size());
    table_.quantize_q8(x.data(), a.data(), K);
    ref.quantize_q8(x.data(), b.data(), K);
    for (size_t i = 0; i < a.size(); ++i) {
      ASSERT_EQ(a[i].d, b[i].d) << "isa=" << table_.isa << " K=" << K << " block " << i;
      ASSERT_EQ(a[i].s, b[i].s) << "isa=" << table_.isa << " K=" << K << " block " << i;
      ASSERT_EQ(a[i].ds, b[i].ds) << "isa=" << table_.isa << " K=" << K << " block " << i;
      ASSERT_EQ(std::memcmp(a[i].qs, b[i].qs, 32), 0) << "isa=" << table_.isa << " K=" << K << " block " << i;
      int32_t s = 0;
      for (int j = 0; j < 32; ++j) {
        s += b[i].qs[j];
        const float xj = x[i * 32 + static_cast<size_t>(j)];
        // Reconstruction within half a step (plus the rounding of x * (1/d)).
        ASSERT_LE(std::fabs(b[i].d * b[i].qs[j] - xj), 0.5f * b[i].d * (1.0f + 1e-5f) + 1e-38f);
      }
      ASSERT_EQ(s, b[i].s);
      ASSERT_EQ(b[i].ds, b[i].d * static_cast<float>(s));
    }
  }
}

struct TileCase {
  std::vector<uint8_t> w;        // [n_rows, row_bytes]
  std::vector<BlockQ8> x;        // [n_tok, K/32]
  int64_t rb = 0;
};

TileCase make_tile_case(DType t, int64_t n_rows, int64_t n_tok, int64_t K, uint64_t seed) {
  TileCase c;
  c.rb = row_bytes(t, K);
  c.w.resize(static_cast<size_t>(n_rows * c.rb));
  for (int64_t r = 0; r < n_rows; ++r) {
    std::vector<float> src = normals(seed, static_cast<uint64_t>(r), K);
    for (int64_t i = 0; i < K; ++i) src[static_cast<size_t>(i)] *= 1.0f + static_cast<float>((i / 32) % 5);
    quantize_row_ref(t, src.data(), c.w.data() + r * c.rb, K);
  }
  const KernelTable ref = ref_kernels();
  c.x.resize(static_cast<size_t>(n_tok * K / 32));
  for (int64_t tk = 0; tk < n_tok; ++tk) {
    std::vector<float> xs = normals(seed + 1, static_cast<uint64_t>(tk), K);
    ref.quantize_q8(xs.data(), c.x.data() + tk * (K / 32), K);
  }
  return c;
}

// The f32 scale of each 16-element half of weight block b (elements 32b..32b+31)
// and the block's offset (w_j = dsc[j / 16] * q_j - mn), read from the bytes
// independently of the kernels: the f16 at the start of every 32-element
// block (Q4_1 and Q5_1: mn = -(the f16 min after it)); Q6_K (210-byte super-blocks of 256: int8 scales[16] @192, f16 d @208):
// d * scales[2 (b mod 8) + h]; Q4_K and Q5_K (144- and 176-byte super-blocks:
// f16 d @0, f16 dmin @2, 6-bit scale/min pairs in 12 bytes @4): d * sc_k and
// dmin * m_k, k = b mod 8.
// Formats whose block adds a min (offset) term: a second FMA per block and lane.
bool has_min_term(DType t) {
  return t == DType::kQ4_1 || t == DType::kQ5_1 || t == DType::kQ4_K || t == DType::kQ5_K;
}

void block_scales(DType t, const uint8_t* row, int64_t b, double dsc[2], double* mn) {
  uint16_t dh;
  *mn = 0;
  if (t == DType::kQ6_K) {
    const uint8_t* sb = row + (b / 8) * 210;
    std::memcpy(&dh, sb + 208, 2);
    const int8_t* sc = reinterpret_cast<const int8_t*>(sb + 192);
    for (int h = 0; h < 2; ++h) dsc[h] = static_cast<double>(f16_to_f32(dh)) * sc[2 * (b % 8) + h];
    return;
  }
  if (t == DType::kQ4_K || t == DType::kQ5_K) {
    const uint8_t* sb = row + (b / 8) * (t == DType::kQ4_K ? 144 : 176);
    const uint8_t* q = sb + 4;
    const int k = static_cast<int>(b % 8);
    const int sc = k < 4 ? q[k] & 63 : (q[k + 4] & 0x0f) | ((q[k - 4] >> 6) << 4);
    const int m = k < 4 ? q[k + 4] & 63 : (q[k + 4] >> 4) | ((q[k] >> 6) << 4);
    uint16_t mh;
    std::memcpy(&dh, sb, 2);
    std::memcpy(&mh, sb + 2, 2);
    dsc[0] = dsc[1] = static_cast<double>(f16_to_f32(dh)) * sc;
    *mn = static_cast<double>(f16_to_f32(mh)) * m;
    return;
  }
  const uint8_t* blk = row + b * row_bytes(t, 32);
  std::memcpy(&dh, blk, 2);
  dsc[0] = dsc[1] = f16_to_f32(dh);
  if (t == DType::kQ4_1 || t == DType::kQ5_1) {  // w = d q + m
    std::memcpy(&dh, blk + 2, 2);
    *mn = -static_cast<double>(f16_to_f32(dh));
  }
}

// For one (row, token), with the weight integers qw_j recovered from the
// dequantized row and block_scales: lane_mag = sum_b [sum_h |c_bh| L_bh +
// |m_b| sum_j |qx_j|], c_bh = dsc_h d_x the scale product of half h,
// L_bh = sum_{j in h} (|qw_j| + 256) |qx_j| (|lane sums| after the offset
// corrections: Q4_0 adds at most 16 |qx_j| per element, Q6_K 32 |qx_j|, Q8_0
// with VNNI 256 |qx_j|), m_b = mn d_x (Q4_K's min term, its own FMA);
// term_mag = sum_b (sum_h |c_bh isum_bh| + |m_b s_b|) (the products the
// reference rounds, each by u relative), abs_mag = sum_bh |c_bh|
// sum_j |qw_j qx_j|, exact = the long double dot of the exact weights
// dsc * qw - mn and the dequantized activations d_x * qx.
void tile_magnitudes(DType t, const uint8_t* row, const BlockQ8* x, int64_t K, double* lane_mag, double* term_mag,
                     double* abs_mag, long double* exact) {
  const std::vector<float> w = dequantize(t, row, K);
  *lane_mag = *term_mag = *abs_mag = 0;
  *exact = 0;
  for (int64_t b = 0; b < K / 32; ++b) {
    double dsc[2], mn;
    block_scales(t, row, b, dsc, &mn);
    long double tm = 0;
    double sqx = 0;
    int64_t sx = 0;
    for (int h = 0; h < 2; ++h) {
      long double th = 0;
      const double c = std::fabs(dsc[h] * x[b].d);
      double lm = 0, am = 0;
      for (int j = 16 * h; j < 16 * h + 16; ++j) {
        const double qw = dsc[h] != 0 ? std::nearbyint((w[static_cast<size_t>(b * 32 + j)] + mn) / dsc[h]) : 0;
        const int qx = x[b].qs[j];
        lm += (std::fabs(qw) + 256.0) * std::abs(qx);
        am += std::fabs(qw) * std::abs(qx);
        sqx += std::abs(qx);
        sx += qx;
        tm += (static_cast<long double>(dsc[h]) * qw - mn) * (static_cast<long double>(x[b].d) * qx);
        th += static_cast<long double>(dsc[h]) * qw * x[b].d * qx;
      }
      *term_mag += std::fabs(static_cast<double>(th));
      *lane_mag += c * lm;
      *abs_mag += c * am;
    }
    *lane_mag += std::fabs(mn * x[b].d) * sqx;
    *exact += tm;
    *term_mag += std::fabs(mn * x[b].d * static_cast<double>(sx));
  }
}

TEST_P(IsaTest, TileQ8MatchesReferenceOnEveryTileShape) {
  const KernelTable ref = ref_kernels();
  const std::vector<DType> types = q8_dtypes(table_);
  ASSERT_FALSE(types.empty());
  for (DType t : types) {
    ASSERT_NE(ref.tile_q8_for(t), nullptr) << "no reference q8 tile kernel for " << dtype_name(t);
    // One, three and 16 blocks of the weight format (32 or 256 elements).
    const int64_t be = dtype_info(t).block_elems;
    for (int64_t K : {be, 3 * be, int64_t{4096}}) {
      const int64_t nb = K / 32;
      // Row and token counts that hit every remainder of 2x2 and 4x4 tiles.
      const int64_t R = 9, TT = 7;
      TileCase c = make_tile_case(t, R, TT, K, 500 + static_cast<uint64_t>(K));
      std::vector<float> got(static_cast<size_t>(R * TT), NAN), want(got.size(), NAN);
      table_.tile_q8_for(t)(c.w.data(), c.rb, R, c.x.data(), nb, TT, K, got.data(), R);
      ref.tile_q8_for(t)(c.w.data(), c.rb, R, c.x.data(), nb, TT, K, want.data(), R);
      for (int64_t r = 0; r < R; ++r) {
        for (int64_t tk = 0; tk < TT; ++tk) {
          const BlockQ8* xr = c.x.data() + tk * nb;
          const uint8_t* wr = c.w.data() + r * c.rb;
          double lane_mag, term_mag, abs_mag;
          long double exact;
          tile_magnitudes(t, wr, xr, K, &lane_mag, &term_mag, &abs_mag, &exact);
          const size_t i = static_cast<size_t>(tk * R + r);
          const double ref_err = std::fabs(static_cast<double>(want[i]) - static_cast<double>(exact));
          ASSERT_LE(ref_err, 2.0 * kU * term_mag + 1e-30)
              << dtype_name(t) << " K=" << K << " r=" << r << " t=" << tk << ": reference tile vs exact";
          // Bit-identical to a 1x1 tile (what decode of a lone row computes).
          float one = NAN;
          table_.tile_q8_for(t)(wr, 0, 1, xr, 0, 1, K, &one, 1);
          ASSERT_EQ(std::memcmp(&one, &got[i], sizeof(float)), 0)
              << "isa=" << table_.isa << " " << dtype_name(t) << " K=" << K << " r=" << r << " t=" << tk
              << ": tile position changes the result (" << one << " vs " << got[i] << ")";
        }
      }
      // Against the reference with the derived bound.
      for (int64_t r = 0; r < R; ++r) {
        for (int64_t tk = 0; tk < TT; ++tk) {
          const size_t i = static_cast<size_t>(tk * R + r);
          double lane_mag, term_mag, abs_mag;
          long double exact;
          tile_magnitudes(t, c.w.data() + r * c.rb, c.x.data() + tk * nb, K, &lane_mag, &term_mag, &abs_mag, &exact);
          // Formats with a min round twice per block and lane (the min term is a second FMA).
          const double fmas = has_min_term(t) ? 2.0 : 1.0;
          const double bound = (fmas * static_cast<double>(nb) + 4) * kU * lane_mag;
          const double e = std::fabs(static_cast<double>(got[i]) - static_cast<double>(want[i]));
          EXPECT_LE(e, bound) << "isa=" << table_.isa << " " << dtype_name(t) << " K=" << K << " r=" << r
                              << " t=" << tk << " got=" << got[i] << " ref=" << want[i] << " bound=" << bound;
          // Witness: with coherent signs (|dot| == abs_mag) an average block
          // is larger than the bound, so a dropped block would be caught.
          if (K == 4096 && r == 0 && tk == 0) {
            EXPECT_GT(abs_mag / static_cast<double>(nb), bound)
                << "test too weak for " << dtype_name(t) << ": a dropped block could hide in the bound";
          }
        }
      }
    }
  }
}

// The r8 kernel of t on case c (R rows, TT tokens, K) against the
// file-layout reference with the same derived bound (it rounds less: exact
// block sums, no lane split, no horizontal sum), bitwise the same for every
// token-tile size; and repacking loses nothing (unpack gives the file bytes).
void check_r8_tile(const KernelTable& table, DType t, const TileCase& c, int64_t R, int64_t TT, int64_t K,
                   const char* what) {
  const KernelTable ref = ref_kernels();
  const TileDotQ8R8Fn r8 = table.tile_q8_r8_for(t);
  const int64_t nb = K / 32;
  std::vector<uint8_t> packed(static_cast<size_t>(R / 8 * r8_group_bytes(t, K)));
  repack_r8(t, c.w.data(), R, K, packed.data());
  for (int64_t r = 0; r < R; ++r) {
    std::vector<uint8_t> back(static_cast<size_t>(c.rb));
    unpack_row_r8(t, packed.data() + r / 8 * r8_group_bytes(t, K), K, static_cast<int>(r % 8), back.data());
    ASSERT_EQ(std::memcmp(back.data(), c.w.data() + r * c.rb, static_cast<size_t>(c.rb)), 0)
        << what << " " << dtype_name(t) << " K=" << K << " row " << r << ": unpack(repack(row)) differs";
  }
  std::vector<float> got(static_cast<size_t>(R * TT), NAN), want(got.size(), NAN);
  const bool wide_default = r8_wide_decode();
  set_r8_wide_decode(false);
  r8(packed.data(), R / 8, c.x.data(), nb, TT, K, got.data(), R);
  ref.tile_q8_for(t)(c.w.data(), c.rb, R, c.x.data(), nb, TT, K, want.data(), R);
  // Decode tiles (1-2 tokens) in the one-group unit and, where the ISA has
  // one, the two-group unit (r8_wide_decode): the same floats.
  for (bool wide : {false, true}) {
    set_r8_wide_decode(wide);
    std::vector<float> again(got.size(), NAN);
    r8(packed.data(), R / 8, c.x.data(), nb, TT, K, again.data(), R);
    EXPECT_EQ(std::memcmp(again.data(), got.data(), got.size() * sizeof(float)), 0)
        << what << " isa=" << table.isa << " " << dtype_name(t) << " K=" << K << " wide decode " << wide;
    for (int64_t tk = 0; tk < TT; ++tk) {
      // One token alone (decode) gives the same floats as the whole tile.
      std::vector<float> one(static_cast<size_t>(R), NAN);
      r8(packed.data(), R / 8, c.x.data() + tk * nb, nb, 1, K, one.data(), R);
      ASSERT_EQ(std::memcmp(one.data(), got.data() + tk * R, static_cast<size_t>(R) * sizeof(float)), 0)
          << what << " isa=" << table.isa << " " << dtype_name(t) << " K=" << K << " t=" << tk << " wide decode "
          << wide << ": the token-tile size changes the result";
    }
  }
  set_r8_wide_decode(wide_default);
  for (int64_t tk = 0; tk < TT; ++tk) {
    for (int64_t r = 0; r < R; ++r) {
      double lane_mag, term_mag, abs_mag;
      long double exact;
      tile_magnitudes(t, c.w.data() + r * c.rb, c.x.data() + tk * nb, K, &lane_mag, &term_mag, &abs_mag, &exact);
      const double fmas = has_min_term(t) || t == DType::kQ6_K ? 2.0 : 1.0;
      const double bound = (fmas * static_cast<double>(nb) + 4) * kU * lane_mag;
      const size_t i = static_cast<size_t>(tk * R + r);
      EXPECT_LE(std::fabs(static_cast<double>(got[i]) - static_cast<double>(want[i])), bound)
          << what << " isa=" << table.isa << " " << dtype_name(t) << " K=" << K << " r=" << r << " t=" << tk
          << " got=" << got[i] << " ref=" << want[i];
    }
  }
}

TEST_P(IsaTest, TileQ8R8MatchesReferenceAndIgnoresTileSize) {
  int tested = 0;
  for (DType t : every_dtype()) {
    if (table_.tile_q8_r8_for(t) == nullptr) continue;
    ++tested;
    const int64_t be = dtype_info(t).block_elems;
    for (int64_t K : {be, 3 * be, int64_t{4096}}) {
      // 3 groups: a pair for the ISAs that run two groups per register
      // (prefill tiles), and an odd one; 2 x 8 tokens and a remainder of 3
      // (taken in pairs) or 2 (a decode tile, one group at a time).
      const int64_t R = 24;
      for (int64_t TT : {19, 18}) {
        check_r8_tile(table_, t, make_tile_case(t, R, TT, K, 900 + static_cast<uint64_t>(K + TT)), R, TT, K,
                      "normals");
      }
    }
  }
  if (table_.tile_q8_r8_for(DType::kQ4_0) != nullptr) {
    EXPECT_EQ(tested, 8) << "Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K and Q6_K have r8 kernels";
  }
}

// The integer extremes: every weight operand at its largest (Q4_0 / Q4_1 /
// Q4_K nibbles 15, Q5_0 / Q5_1 / Q5_K 31, Q6_K 63, Q8_0 -128 and 127) against activations of +-127 (the
// q8 quantizer's range) in runs of one sign and alternating. Kernels that add
// several 8-bit products in 16 bits (kernels_r8_avx2.cpp) are exact only
// within their derived bound; a run one group too long saturates here and
// misses the reference by thousands of units.
TEST_P(IsaTest, TileQ8R8IsExactAtTheIntegerExtremes) {
  for (DType t : every_dtype()) {
    if (table_.tile_q8_r8_for(t) == nullptr) continue;
    const int64_t K = 512, R = 24, TT = 19, nb = K / 32;
    TileCase c = make_tile_case(t, R, TT, K, 77);
    for (int64_t r = 0; r < R; ++r) {
      uint8_t* row = c.w.data() + r * c.rb;
      const int64_t bb = dtype_info(t).block_bytes;
      for (int64_t b = 0; b < c.rb / bb; ++b) {
        uint8_t* blk = row + b * bb;
        if (t == DType::kQ4_0) std::memset(blk + 2, 0xff, 16);
        if (t == DType::kQ4_1) std::memset(blk + 4, 0xff, 16);
        if (t == DType::kQ5_0) std::memset(blk + 2, 0xff, 20);  // qh and qs: every value 31
        if (t == DType::kQ5_1) std::memset(blk + 4, 0xff, 20);
        if (t == DType::kQ8_0) std::memset(blk + 2, r % 2 == 0 ? 0x80 : 0x7f, 32);
        if (t == DType::kQ4_K) std::memset(blk + 16, 0xff, 128);
        if (t == DType::kQ5_K) std::memset(blk + 16, 0xff, 160);  // qh and qs: every value 31
        if (t == DType::kQ6_K) std::memset(blk, 0xff, 192);  // ql and qh: every value 63
      }
    }
    for (int64_t tk = 0; tk < TT; ++tk) {
      for (int64_t b = 0; b < nb; ++b) {
        BlockQ8& xb = c.x[static_cast<size_t>(tk * nb + b)];
        xb.s = 0;
        for (int i = 0; i < 32; ++i) {
          const int sign = tk % 3 == 0 ? 1 : tk % 3 == 1 ? -1 : (i % 2 == 0 ? 1 : -1);
          xb.qs[i] = static_cast<int8_t>(127 * sign);
          xb.s += xb.qs[i];
        }
        xb.ds = xb.d * static_cast<float>(xb.s);
      }
    }
    check_r8_tile(table_, t, c, R, TT, K, "extremes");
  }
}

TEST_P(IsaTest, MatmulOfRepackedWeightsEqualsR8Tiles) {
  for (DType t : every_dtype()) {
    const TileDotQ8R8Fn r8 = table_.tile_q8_r8_for(t);
    if (r8 == nullptr) continue;
    const int64_t N = 48, K = 512, T = 13;  // 6 groups over 1, 2 and 3 threads
    TileCase c = make_tile_case(t, N, 1, K, 31);
    std::vector<uint8_t> packed(static_cast<size_t>(N / 8 * r8_group_bytes(t, K)));
    repack_r8(t, c.w.data(), N, K, packed.data());
    TensorView w;
    w.dtype = t;
    w.shape = {N, K};
    w.data = packed.data();
    w.interleave = 8;
    EXPECT_EQ(w.nbytes(), static_cast<int64_t>(packed.size()));
    const std::vector<float> x = normals(32, 0, T * K);
    std::vector<BlockQ8> xq(static_cast<size_t>(T * K / 32));
    for (int64_t tk = 0; tk < T; ++tk) table_.quantize_q8(x.data() + tk * K, xq.data() + tk * (K / 32), K);
    std::vector<float> want(static_cast<size_t>(T * N), NAN);
    r8(packed.data(), N / 8, xq.data(), K / 32, T, K, want.data(), N);
    for (int threads : {1, 2, 3}) {
      ThreadPool pool(threads);
      ExecContext ctx{&pool, &table_};
      std::vector<float> out(static_cast<size_t>(T * N), NAN);
      matmul(ctx, x.data(), T, w, out.data());
      ASSERT_EQ(std::memcmp(out.data(), want.data(), out.size() * sizeof(float)), 0)
          << "isa=" << table_.isa << " " << dtype_name(t) << " threads=" << threads;
      // The embedding lookup of a repacked (tied) table is the file row's.
      std::vector<float> e(static_cast<size_t>(K)), f(static_cast<size_t>(K));
      embedding_row(ctx, w, 13, e.data());
      table_.to_f32_for(t)(c.w.data() + 13 * c.rb, f.data(), K);
      ASSERT_EQ(e, f) << dtype_name(t);
    }
  }
}

// The AMX tile (tile_r8_amx.cpp) gives the avx512vnni tile's bits: the same
// exact block integers, added to the accumulators by the same format code in
// the same order. The shapes cross its walk: 1 to 5 groups (pairs and an odd
// last one), tokens below, at and past its 16-token tile (15, 16, 17, 40, 64),
// K from one block to 8192 (its per-thread buffer grows between calls). The
// integer extremes run on every ISA in TileQ8R8IsExactAtTheIntegerExtremes.
TEST(AmxTile, GivesTheVnniTilesBits) {
  HERD_ISA_OR_SKIP("amx");
  Result<KernelTable> amx = select_kernels("amx"), vnni = select_kernels("avx512vnni");
  ASSERT_TRUE(amx.has_value() && vnni.has_value());
  int own = 0;  // formats the AMX table runs on its own tile
  for (DType t : every_dtype()) {
    const TileDotQ8R8Fn a = amx->tile_q8_r8_for(t), v = vnni->tile_q8_r8_for(t);
    if (v == nullptr) continue;
    own += a != v;
    const int64_t be = dtype_info(t).block_elems;
    for (int64_t K : {be, int64_t{2048}, int64_t{8192}}) {
      const int64_t R = 40, T = 64, nb = K / 32;
      const TileCase c = make_tile_case(t, R, T, K, 500 + static_cast<uint64_t>(K));
      std::vector<uint8_t> packed(static_cast<size_t>(R / 8 * r8_group_bytes(t, K)));
      repack_r8(t, c.w.data(), R, K, packed.data());
      for (int64_t groups : {1, 2, 5}) {
        for (int64_t n_tok : {15, 16, 17, 40, 64}) {
          std::vector<float> got(static_cast<size_t>(T * R), NAN), want(got.size(), NAN);
          a(packed.data(), groups, c.x.data(), nb, n_tok, K, got.data(), R);
          v(packed.data(), groups, c.x.data(), nb, n_tok, K, want.data(), R);
          for (int64_t tk = 0; tk < n_tok; ++tk) {
            ASSERT_EQ(std::memcmp(got.data() + tk * R, want.data() + tk * R, static_cast<size_t>(8 * groups) * sizeof(float)), 0)
                << dtype_name(t) << " K=" << K << " groups=" << groups << " tokens=" << n_tok << " token " << tk;
          }
        }
      }
    }
  }
  EXPECT_EQ(own, 8) << "Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K and Q6_K have an AMX tile";
}

// matmul_shared_input runs several repacked weights in one parallel region
// over their groups numbered one after another; each output is what matmul
// gives alone, for every way 1-3 threads split the joint range across the
// weights' boundaries (and with a weight of another path in the list).
TEST_P(IsaTest, SharedInputOfRepackedWeightsEqualsSeparateMatmuls) {
  const DType t = DType::kQ4_0;
  if (table_.tile_q8_r8_for(t) == nullptr) GTEST_SKIP() << "no r8 kernel";
  const int64_t K = 256, T = 5;
  const int64_t Ns[3] = {24, 8, 40};  // 3, 1 and 5 groups
  std::vector<std::vector<uint8_t>> packed(3);
  std::vector<TensorView> w(3);
  for (int i = 0; i < 3; ++i) {
    TileCase c = make_tile_case(t, Ns[i], 1, K, 41 + static_cast<uint64_t>(i));
    packed[i].resize(static_cast<size_t>(Ns[i] / 8 * r8_group_bytes(t, K)));
    repack_r8(t, c.w.data(), Ns[i], K, packed[i].data());
    w[i].dtype = t;
    w[i].shape = {Ns[i], K};
    w[i].data = packed[i].data();
    w[i].interleave = 8;
  }
  std::vector<uint8_t> f32_bytes(static_cast<size_t>(16 * K * 4));
  const std::vector<float> f32_rows = normals(44, 0, 16 * K);
  std::memcpy(f32_bytes.data(), f32_rows.data(), f32_bytes.size());
  const TensorView wf{DType::kF32, {16, K}, f32_bytes.data()};
  const std::vector<float> x = normals(45, 0, T * K);
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    ExecContext ctx{&pool, &table_};
    std::vector<std::vector<float>> got(4), want(4);
    for (int i = 0; i < 4; ++i) {
      const int64_t N = i < 3 ? Ns[i] : 16;
      got[static_cast<size_t>(i)].assign(static_cast<size_t>(T * N), NAN);
      want[static_cast<size_t>(i)].assign(static_cast<size_t>(T * N), NAN);
      matmul(ctx, x.data(), T, i < 3 ? w[static_cast<size_t>(i)] : wf, want[static_cast<size_t>(i)].data());
    }
    matmul_shared_input(ctx, x.data(), T,
                        {{&w[0], got[0].data()}, {&wf, got[3].data()}, {&w[1], got[1].data()}, {&w[2], got[2].data()}});
    for (size_t i = 0; i < 4; ++i)
      EXPECT_EQ(std::memcmp(got[i].data(), want[i].data(), got[i].size() * sizeof(float)), 0)
          << "isa=" << table_.isa << " threads=" << threads << " output " << i;
  }
}

// --------------------------------------------------------------------------
// matmul

struct Weights {
  std::vector<uint8_t> bytes;
  TensorView view;
};

Weights make_weights(DType t, int64_t N, int64_t K, uint64_t seed) {
  Weights w;
  const std::vector<float> src = normals(seed, 0, N * K, 0.5f);
  w.bytes.resize(static_cast<size_t>(N * row_bytes(t, K)));
  for (int64_t n = 0; n < N; ++n)
    quantize_row_ref(t, src.data() + n * K, w.bytes.data() + n * row_bytes(t, K), K);
  w.view.dtype = t;
  w.view.shape = {N, K};
  w.view.data = w.bytes.data();
  return w;
}

TEST_P(IsaTest, MatmulIndependentOfThreadsAndBatch) {
  // N = 100 rows with grain 16 splits into 1, 2 and 3 ranges for the pools.
  const int64_t N = 100, K = 256, T = 5;
  for (DType t : every_dtype()) {
    Weights w = make_weights(t, N, K, 77);
    const std::vector<float> x = normals(78, 0, T * K);
    std::vector<std::vector<float>> outs;
    for (int threads : {1, 2, 3}) {
      ThreadPool pool(threads);
      ExecContext ctx{&pool, &table_};
      std::vector<float> out(static_cast<size_t>(T * N), NAN);
      matmul(ctx, x.data(), T, w.view, out.data());
      outs.push_back(out);
      // Decode: one token per call must give the same floats as the prefill.
      for (int64_t tok = 0; tok < T; ++tok) {
        std::vector<float> one(static_cast<size_t>(N), NAN);
        matmul(ctx, x.data() + tok * K, 1, w.view, one.data());
        ASSERT_EQ(std::memcmp(one.data(), out.data() + tok * N, static_cast<size_t>(N) * sizeof(float)), 0)
            << "isa=" << table_.isa << " dtype=" << dtype_name(t) << " threads=" << threads
            << ": T=1 call differs from row " << tok << " of a T=5 call";
      }
    }
    for (size_t i = 1; i < outs.size(); ++i)
      ASSERT_EQ(std::memcmp(outs[i].data(), outs[0].data(), outs[0].size() * sizeof(float)), 0)
          << "isa=" << table_.isa << " dtype=" << dtype_name(t) << ": results depend on thread count";
    // And every element is the table's row dot, or for q8-path dtypes the
    // 1x1 tile of the quantized row (matmul adds no arithmetic).
    RowDotFn dot = table_.dot_for(t);
    TileDotQ8Fn tile = table_.tile_q8_for(t);
    TileDotBf16Fn tile_bf16 = table_.tile_bf16_for(t);  // F16/BF16 where the ISA has the bf16 path
    std::vector<BlockQ8> xq(static_cast<size_t>(K / 32));
    std::vector<uint16_t> xb(static_cast<size_t>(K));
    for (int64_t tok = 0; tok < T; ++tok) {
      if (tile) table_.quantize_q8(x.data() + tok * K, xq.data(), K);
      if (tile_bf16) table_.round_bf16(x.data() + tok * K, xb.data(), K);
      for (int64_t n = 0; n < N; ++n) {
        float want = 0;
        if (tile)
          tile(w.view.row(n), 0, 1, xq.data(), 0, 1, K, &want, 1);
        else if (tile_bf16)
          tile_bf16(w.view.row(n), 0, 1, xb.data(), 0, 1, K, &want, 1);
        else
          want = dot(w.view.row(n), x.data() + tok * K, K);
        ASSERT_EQ(outs[0][static_cast<size_t>(tok * N + n)], want) << dtype_name(t) << " t=" << tok << " n=" << n;
      }
    }
  }
}

// Every matmul path of this ISA (kernels/ops.h MatmulPath: q8 and q8_r8 tiles,
// the bf16 tile, the f32 and f32_r8 tiles, the row dots) with its weights,
// activations and output each ending at an inaccessible page and canaries in
// front (guarded_buffer.h): a kernel that touches one element past an operand
// dies here, in a Release build, without a sanitizer. (The AVX-512 BF16 tile
// once stored the last row of a remainder with a masked vextractf32x4, which
// Zen 4 faults on when its masked-out lanes cross into an unmapped page.)
// Results must equal the same call on ordinary vectors bit for bit. Shapes:
// row and token remainders of every register tile, decode and prefill, K with
// a tail where the dtype allows one, and K > 2048 (the bf16 tile's K blocks).
TEST_P(IsaTest, MatmulStaysInsideItsOperands) {
  ThreadPool pool(2);
  const ExecContext ctx{&pool, &table_};
  for (DType t : every_dtype()) {
    const int64_t be = dtype_info(t).block_elems;
    const std::vector<int64_t> ks = be == 1 ? std::vector<int64_t>{8, 33, 2088} : std::vector<int64_t>{be, 2304};
    for (const bool r8 : {false, true}) {
      if (r8 && !table_.repacks(t)) continue;
      const std::vector<int64_t> ns = r8 ? std::vector<int64_t>{8, 24} : std::vector<int64_t>{1, 3, 5, 11};
      for (int64_t K : ks) {
        if (r8 && K % 8 != 0) continue;
        for (int64_t N : ns) {
          for (int64_t T : {1, 5, 6, 7, 17}) {
            if (GetParam() == "ref" && K > 256 && T > 1) continue;  // the scalar reference is slow
            Weights w = make_weights(t, N, K, 90 + static_cast<uint64_t>(K + N));
            std::vector<uint8_t> bytes = w.bytes;
            if (r8) {
              bytes.assign(static_cast<size_t>(N / 8 * r8_group_bytes(t, K)), 0);
              repack_r8(t, w.bytes.data(), N, K, bytes.data());
              w.view.interleave = 8;
            }
            const std::vector<float> x = normals(91, static_cast<uint64_t>(K), T * K);
            GuardedBuffer<uint8_t> gw(bytes.size());
            GuardedBuffer<float> gx(x.size());
            GuardedBuffer<float> gout(static_cast<size_t>(T * N), NAN);
            std::memcpy(gw.data(), bytes.data(), bytes.size());
            std::memcpy(gx.data(), x.data(), x.size() * sizeof(float));
            TensorView gv = w.view;
            gv.data = gw.data();
            w.view.data = bytes.data();
            std::vector<float> want(static_cast<size_t>(T * N), NAN);
            matmul(ctx, x.data(), T, w.view, want.data());
            matmul(ctx, gx.data(), T, gv, gout.data());
            const std::string where = "isa=" + GetParam() + " " + dtype_name(t) + (r8 ? " r8" : "") +
                                      " path=" + matmul_path_name(matmul_path(table_, gv)) + " N=" +
                                      std::to_string(N) + " K=" + std::to_string(K) + " T=" + std::to_string(T);
            ASSERT_TRUE(gout.canary_intact()) << where << ": wrote before the output";
            ASSERT_TRUE(gw.canary_intact() && gx.canary_intact()) << where << ": wrote into an input";
            ASSERT_EQ(std::memcmp(gout.data(), want.data(), want.size() * sizeof(float)), 0)
                << where << ": results depend on where the operands lie";
          }
        }
      }
    }
  }
}

// The f32 path's tile kernels (TileDotF32Fn) against the row dots, bit for
// bit: every register-tile remainder of rows and tokens, K with and without
// a tail of the 16-element step, strides larger than a row.
TEST_P(IsaTest, TileF32EqualsRowDotsOnEveryShape) {
  int tested = 0;
  for (DType t : every_dtype()) {
    const TileDotF32Fn tile = table_.tile_f32_for(t);
    if (tile == nullptr) continue;
    ++tested;
    for (int64_t K : {int64_t{1}, int64_t{7}, int64_t{16}, int64_t{37}, int64_t{4096 + 11}}) {
      const int64_t R = 7, TT = 8, rb = row_bytes(t, K) + 6, xs = K + 5;
      std::vector<uint8_t> w(static_cast<size_t>(R * rb));
      for (int64_t r = 0; r < R; ++r) {
        const std::vector<float> src = normals(31, static_cast<uint64_t>(r), K);
        quantize_row_ref(t, src.data(), w.data() + r * rb, K);
      }
      const std::vector<float> x = normals(32, static_cast<uint64_t>(K), TT * xs);
      for (int64_t n_rows = 1; n_rows <= R; ++n_rows) {
        for (int64_t n_tok = 1; n_tok <= TT; ++n_tok) {
          const int64_t os = n_rows + 2;
          std::vector<float> got(static_cast<size_t>(n_tok * os), NAN);
          tile(w.data(), rb, n_rows, x.data(), xs, n_tok, K, got.data(), os);
          for (int64_t r = 0; r < n_rows; ++r) {
            for (int64_t tk = 0; tk < n_tok; ++tk) {
              const float want = table_.dot_for(t)(w.data() + r * rb, x.data() + tk * xs, K);
              ASSERT_EQ(std::memcmp(&want, &got[static_cast<size_t>(tk * os + r)], sizeof(float)), 0)
                  << "isa=" << table_.isa << " " << dtype_name(t) << " K=" << K << " tile " << n_rows << "x" << n_tok
                  << " r=" << r << " t=" << tk << ": " << got[static_cast<size_t>(tk * os + r)] << " vs row dot " << want;
            }
          }
        }
      }
    }
  }
  if (std::string(table_.isa) != "ref") {
    EXPECT_EQ(tested, 4) << "F32, F16, BF16 and F8_E4M3 have f32 tile kernels";
  }
}

TEST_P(IsaTest, TileF32LongRowsManyRowsAndTokensEqualRowDots) {
  // The training forward's shape of call (kernels/ops.cpp matmul_exact_converted:
  // a block of long rows times every token): rows of 1557 elements (not a
  // multiple of 16), odd row and token counts: still each row dot bit for bit.
  for (DType t : {DType::kF32, DType::kF16}) {
    const TileDotF32Fn tile = table_.tile_f32_for(t);
    if (tile == nullptr) continue;
    const int64_t K = 1536 + 16 + 5, R = 35, TT = 100, rb = row_bytes(t, K), xs = K + 3, os = R + 1;
    std::vector<uint8_t> w(static_cast<size_t>(R * rb));
    for (int64_t r = 0; r < R; ++r) {
      const std::vector<float> src = normals(33, static_cast<uint64_t>(r), K);
      quantize_row_ref(t, src.data(), w.data() + r * rb, K);
    }
    const std::vector<float> x = normals(34, 0, TT * xs);
    std::vector<float> got(static_cast<size_t>(TT * os), NAN);
    tile(w.data(), rb, R, x.data(), xs, TT, K, got.data(), os);
    for (int64_t r = 0; r < R; ++r)
      for (int64_t tk = 0; tk < TT; ++tk) {
        const float want = table_.dot_for(t)(w.data() + r * rb, x.data() + tk * xs, K);
        ASSERT_EQ(std::memcmp(&want, &got[static_cast<size_t>(tk * os + r)], sizeof(float)), 0)
            << "isa=" << table_.isa << " " << dtype_name(t) << " r=" << r << " t=" << tk;
      }
  }
}

TEST_P(IsaTest, EmbeddingRowIsDequantizedRow) {
  ThreadPool pool(1);
  ExecContext ctx{&pool, &table_};
  for (DType t : every_dtype()) {
    Weights w = make_weights(t, 4, 256, 5);
    std::vector<float> got(256);
    embedding_row(ctx, w.view, 2, got.data());
    const std::vector<float> want = dequantize(t, w.view.row(2), 256);
    EXPECT_EQ(got, want) << dtype_name(t);  // exact: same reference dequantizer
  }
}

// --------------------------------------------------------------------------
// rms_norm

TEST(Ops, RmsNormMatchesDouble) {
  const int64_t T = 3, D = 4096 + 7;
  const float eps = 1e-5f;
  std::vector<float> x = normals(31, 0, T * D, 3.0f);
  x[5] = 0.0f;
  const std::vector<float> w = normals(32, 0, D);
  std::vector<float> y(static_cast<size_t>(T * D));
  rms_norm(x.data(), w.data(), eps, T, D, y.data());
  for (int64_t t = 0; t < T; ++t) {
    long double ss = 0;
    for (int64_t i = 0; i < D; ++i) ss += static_cast<long double>(x[static_cast<size_t>(t * D + i)]) * x[static_cast<size_t>(t * D + i)];
    const long double scale = 1.0L / std::sqrt(ss / D + static_cast<long double>(eps));
    for (int64_t i = 0; i < D; ++i) {
      const size_t s = static_cast<size_t>(t * D + i);
      const double exact = static_cast<double>(x[s] * scale * w[static_cast<size_t>(i)]);
      // Three float roundings (scale to float, x*scale, *w), each <= u
      // relative, plus the double-precision mean (~1e-16): 3u + O(u^2);
      // 3.01u leaves room for the second-order terms only.
      const double bound = 3.01 * kU * std::fabs(exact);
      ASSERT_LE(std::fabs(y[s] - exact), bound) << "t=" << t << " i=" << i << " got=" << y[s] << " exact=" << exact;
    }
  }
  // In place (y aliases x) gives the same floats.
  std::vector<float> xi = x;
  rms_norm(xi.data(), w.data(), eps, T, D, xi.data());
  EXPECT_EQ(xi, y);
  // An all-zero row stays zero (eps keeps the scale finite).
  std::vector<float> z(16, 0.0f), wz(16, 1.0f), yz(16, NAN);
  rms_norm(z.data(), wz.data(), eps, 1, 16, yz.data());
  for (float v : yz) EXPECT_EQ(v, 0.0f);
}

// --------------------------------------------------------------------------
// rope

std::vector<double> llama_inv_freq(int64_t hd) {
  std::vector<double> f(static_cast<size_t>(hd / 2));
  for (int64_t i = 0; i < hd / 2; ++i) f[static_cast<size_t>(i)] = std::pow(500000.0, -2.0 * static_cast<double>(i) / static_cast<double>(hd));
  return f;
}

TEST(Ops, RopeInterleavedEqualsHalvesUnderHfPermutation) {
  const int64_t T = 4, H = 3, hd = 128, half = hd / 2;
  const std::vector<int64_t> pos = {0, 1, 17, 131071};
  const std::vector<double> inv = llama_inv_freq(hd);
  std::vector<float> meta = normals(41, 0, T * H * hd);
  // HF's q_proj rows are permuted per head: HF row c*(hd/2)+j holds Meta row 2j+c.
  std::vector<float> hf(meta.size());
  for (int64_t th = 0; th < T * H; ++th)
    for (int64_t c = 0; c < 2; ++c)
      for (int64_t j = 0; j < half; ++j)
        hf[static_cast<size_t>(th * hd + c * half + j)] = meta[static_cast<size_t>(th * hd + 2 * j + c)];
  rope(meta.data(), T, H, hd, pos.data(), inv.data(), RopeStyle::kInterleaved);
  rope(hf.data(), T, H, hd, pos.data(), inv.data(), RopeStyle::kHalves);
  // Un-permute and compare bit for bit: each pair sees the same two inputs,
  // the same cos/sin and the same operations, so the floats must be equal.
  for (int64_t th = 0; th < T * H; ++th)
    for (int64_t c = 0; c < 2; ++c)
      for (int64_t j = 0; j < half; ++j)
        ASSERT_EQ(hf[static_cast<size_t>(th * hd + c * half + j)], meta[static_cast<size_t>(th * hd + 2 * j + c)])
            << "token/head " << th << " pair " << j << " component " << c;
}

TEST(Ops, RopePositionZeroIsIdentity) {
  const int64_t H = 4, hd = 64;
  const int64_t pos = 0;
  const std::vector<double> inv = llama_inv_freq(hd);
  for (RopeStyle style : {RopeStyle::kInterleaved, RopeStyle::kHalves}) {
    std::vector<float> x = normals(51, 0, H * hd);
    const std::vector<float> x0 = x;
    rope(x.data(), 1, H, hd, &pos, inv.data(), style);
    EXPECT_EQ(x, x0);  // cos 0 == 1 and sin 0 == 0 exactly
  }
}

TEST(Ops, RopeMatchesDoubleAndPreservesPairNorms) {
  const int64_t T = 5, H = 2, hd = 64, half = hd / 2;
  const std::vector<int64_t> pos = {1, 2, 1000, 8191, 131071};
  const std::vector<double> inv = llama_inv_freq(hd);
  std::vector<float> x = normals(61, 0, T * H * hd);
  const std::vector<float> x0 = x;
  rope(x.data(), T, H, hd, pos.data(), inv.data(), RopeStyle::kInterleaved);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < half; ++i) {
        const size_t a = static_cast<size_t>((t * H + h) * hd + 2 * i), b = a + 1;
        const double ang = static_cast<double>(pos[static_cast<size_t>(t)]) * inv[static_cast<size_t>(i)];
        const double e0 = x0[a] * std::cos(ang) - x0[b] * std::sin(ang);
        const double e1 = x0[a] * std::sin(ang) + x0[b] * std::cos(ang);
        const double r = std::hypot(static_cast<double>(x0[a]), static_cast<double>(x0[b]));
        // Per component: cos/sin rounded to float (u*r), two products and a
        // sum (each <= u*r since |x0 c| + |x1 s| <= r): 3u*r; 3.1u for the
        // second-order terms and the double reference's own rounding.
        const double comp = 3.1 * kU * r;
        ASSERT_LE(std::fabs(x[a] - e0), comp) << "t=" << t << " h=" << h << " i=" << i;
        ASSERT_LE(std::fabs(x[b] - e1), comp) << "t=" << t << " h=" << h << " i=" << i;
        // The pair norm moves by at most the length of the error vector:
        // sqrt(2) * 3.1u * r < 4.4u * r.
        const double r2 = std::hypot(static_cast<double>(x[a]), static_cast<double>(x[b]));
        ASSERT_LE(std::fabs(r2 - r), 4.4 * kU * r) << "t=" << t << " h=" << h << " i=" << i;
      }
}

// --------------------------------------------------------------------------
// attention

struct AttnCase {
  int64_t T, H, KV, hd, n_past;
};

// Naive causal GQA attention in long double; also returns, per output
// element, the error bound derived below.
void attention_reference(const AttnCase& c, const std::vector<float>& q, const std::vector<float>& k,
                         const std::vector<float>& v, std::vector<double>* out, std::vector<double>* bound) {
  const int64_t group = c.H / c.KV, kvs = c.KV * c.hd;
  const long double scale = 1.0L / std::sqrt(static_cast<long double>(c.hd));
  out->assign(static_cast<size_t>(c.T * c.H * c.hd), 0.0);
  bound->assign(out->size(), 0.0);
  for (int64_t t = 0; t < c.T; ++t)
    for (int64_t h = 0; h < c.H; ++h) {
      const int64_t kvh = h / group, n = c.n_past + t + 1;
      const float* qv = q.data() + (t * c.H + h) * c.hd;
      std::vector<long double> s(static_cast<size_t>(n));
      long double mx = -INFINITY, max_ds = 0;
      for (int64_t j = 0; j < n; ++j) {
        const float* kv = k.data() + j * kvs + kvh * c.hd;
        long double d = 0, ad = 0;
        for (int64_t i = 0; i < c.hd; ++i) {
          d += static_cast<long double>(qv[i]) * kv[i];
          ad += std::fabs(static_cast<long double>(qv[i]) * kv[i]);
        }
        s[static_cast<size_t>(j)] = d * scale;
        mx = std::max(mx, s[static_cast<size_t>(j)]);
        // Score error: the float dot (2*hd*u*sum|qk|, as for row dots) times
        // scale, the float scale itself and the multiply (2u|s|).
        max_ds = std::max(max_ds, 2.0L * c.hd * kU * ad * scale + 2.0L * kU * std::fabs(d * scale));
      }
      // The float subtraction s_j - mx is rounded too: u * |s_j - mx|.
      long double spread = 0;
      for (long double sj : s) spread = std::max(spread, mx - sj);
      const long double ds = 2.0L * max_ds + kU * spread;
      long double sum = 0;
      for (auto& sj : s) sum += (sj = std::exp(sj - mx));
      for (int64_t i = 0; i < c.hd; ++i) {
        long double o = 0, wabs = 0;
        for (int64_t j = 0; j < n; ++j) {
          const long double vv = v[static_cast<size_t>(j * kvs + kvh * c.hd + i)];
          o += s[static_cast<size_t>(j)] / sum * vv;
          wabs += s[static_cast<size_t>(j)] / sum * std::fabs(vv);
        }
        const size_t idx = static_cast<size_t>((t * c.H + h) * c.hd + i);
        (*out)[idx] = static_cast<double>(o);
        // Each exponent s_j - mx is off by at most ds (its own score error,
        // the max's, and the subtraction). Normalising, numerator and
        // denominator each move by a factor e^{+-ds}, so each weight has
        // relative error <= 2.2 ds (ds << 1) + 4u (float exp within 1 ulp =
        // 2u, the float 1/sum, the product). The weighted sum of v then adds
        // one fused or two plain roundings per key: 2*n*u*sum w|v|.
        const long double wrel = 2.2L * ds + 4.0L * kU;
        (*bound)[idx] = static_cast<double>((wrel + 2.0L * n * kU) * wabs);
      }
    }
}

// The cache rows attention reads for keys or values x of type t: the f32
// values themselves, or x rounded to f16 (stored: the uint16 bits).
// Cache rows as kv_store writes them (quantize_row_ref: f32 copied, f16
// rounded to nearest even, q8_0 blocks; x.size() a multiple of 32 for q8_0)
// and the values they hold (dequantize_row_ref, exact).
struct CacheRows {
  std::vector<float> f32;      // what the reference computes with
  std::vector<uint8_t> bytes;  // the stored rows
  const void* data() const { return bytes.data(); }
};
CacheRows cache_rows(const std::vector<float>& x, DType t) {
  const auto n = static_cast<int64_t>(x.size());
  CacheRows r;
  r.bytes.resize(static_cast<size_t>(row_bytes(t, n)));
  r.f32.resize(x.size());
  quantize_row_ref(t, x.data(), r.bytes.data(), n);
  dequantize_row_ref(t, r.bytes.data(), r.f32.data(), n);
  return r;
}

// Each KV cache type pair: f32 keeps the rows, f16 and q8_0 round them (the
// reference then computes with the rounded values, which attention reads
// exactly, so the bound is the f32 one). q8_0 needs hd % 32 == 0.
TEST_P(IsaTest, AttentionMatchesNaiveAndIgnoresThreadCount) {
  const AttnCase cases[] = {
      {1, 4, 4, 64, 0},   // decode, first token, MHA
      {3, 8, 2, 64, 5},   // prefill continuation with GQA 4:1
      {4, 6, 3, 20, 2},   // hd not a multiple of 8: SIMD tails
      {2, 8, 1, 128, 9},  // MQA
      {3, 8, 2, 64, 37},  // several 16-key blocks and a tail
  };
  const std::pair<DType, DType> types[] = {
      {DType::kF32, DType::kF32},   {DType::kF16, DType::kF16},  {DType::kF16, DType::kF32},
      {DType::kF32, DType::kF16},   {DType::kQ8_0, DType::kQ8_0}, {DType::kQ8_0, DType::kF16},
      {DType::kF32, DType::kQ8_0}};
  for (const AttnCase& c : cases)
  for (const auto& [kt, vt] : types) {
    if (!kv_type_fits(kt, c.hd) || !kv_type_fits(vt, c.hd)) continue;
    const int64_t n_keys = c.n_past + c.T;
    const std::vector<float> q = normals(91, 0, c.T * c.H * c.hd);
    const CacheRows k = cache_rows(normals(92, 0, n_keys * c.KV * c.hd), kt);
    const CacheRows v = cache_rows(normals(93, 0, n_keys * c.KV * c.hd), vt);
    std::vector<double> want, bound;
    attention_reference(c, q, k.f32, v.f32, &want, &bound);
    std::vector<std::vector<float>> outs;
    for (int threads : {1, 2}) {
      ThreadPool pool(threads);
      ExecContext ctx{&pool, &table_};
      std::vector<std::vector<float>> scratch(
          static_cast<size_t>(threads),
          std::vector<float>(static_cast<size_t>(attention_scratch_floats(c.H / c.KV, n_keys, c.hd))));
      std::vector<float*> sp;
      for (auto& s : scratch) sp.push_back(s.data());
      std::vector<float> out(want.size(), NAN);
      attention(ctx, q.data(), c.T, c.H, c.KV, c.hd, k.data(), v.data(), kt, vt, c.n_past, sp.data(), out.data());
      outs.push_back(out);
    }
    const std::string where = "isa=" + std::string(table_.isa) + " T=" + std::to_string(c.T) +
                              " H=" + std::to_string(c.H) + " KV=" + std::to_string(c.KV) +
                              " hd=" + std::to_string(c.hd) + " n_past=" + std::to_string(c.n_past) +
                              " kv=" + dtype_name(kt) + "/" + dtype_name(vt);
    for (size_t i = 0; i < want.size(); ++i)
      ASSERT_LE(std::fabs(outs[0][i] - want[i]), bound[i])
          << where << " element " << i << " got=" << outs[0][i] << " want=" << want[i] << " bound=" << bound[i];
    ASSERT_EQ(std::memcmp(outs[0].data(), outs[1].data(), outs[0].size() * sizeof(float)), 0)
        << where << ": 1 and 2 threads differ";
  }
}

// exp_ps (attention_avx2.cpp, attention_avx512.cpp) on [-104, 0]: within 2 u
// of exp in long double, relative, where the result is a normal float: the
// 2 u that the attention bound above assumes for a float exp (measured worst:
// 1.39 u for both). Below the normal range the result is tiny next to the
// row's largest weight 1, so an absolute 2^-126 suffices there.
void expect_exp_within_bound(const char* isa, int width, void (*exp_fn)(const float*, float*)) {
  double worst = 0;
  float x[16], y[16];
  for (int64_t i = 0; i <= 2000000; i += width) {
    for (int l = 0; l < width; ++l) x[l] = -104.0f * static_cast<float>(i + l) / 2000000.0f;
    if (i == 0) x[1] = -INFINITY;
    exp_fn(x, y);
    for (int l = 0; l < width; ++l) {
      const long double want = x[l] == -INFINITY ? 0.0L : std::exp(static_cast<long double>(x[l]));
      if (want < 1.1754943508222875e-38L) {
        ASSERT_LE(std::fabs(static_cast<long double>(y[l]) - want), 1.1754943508222875e-38L) << isa << " x=" << x[l];
        continue;
      }
      const double rel = static_cast<double>(std::fabs((static_cast<long double>(y[l]) - want) / want));
      worst = std::max(worst, rel);
      ASSERT_LE(rel, 2 * kU) << isa << " x=" << x[l] << " got " << y[l];
    }
  }
  std::printf("%s exp_ps worst relative error %.3g u\n", isa, worst / kU);
}

TEST(Ops, ExpPsWithinBound) {
  HERD_ISA_OR_SKIP("avx2");
  expect_exp_within_bound("avx2", 8, avx2::exp8_for_test);
  if (isa_runs_here("avx512")) expect_exp_within_bound("avx512", 16, avx512::exp16_for_test);
}

// A paged cache (blocks of 16 rows in a scrambled order) gives the same floats
// as the contiguous one: attention_rows sees the same keys either way.
// Also with an f16 or q8_0 cache: its rows give exactly what f32 rows holding
// the same (rounded) values give. k, v: [n, 2 heads of 64] rows of type t;
// attention reads the second head.
void paged_equals_contiguous(const KernelTable& table, DType t, const std::vector<uint8_t>& k,
                             const std::vector<uint8_t>& v, std::vector<float>* out_flat) {
  const int64_t g = 4, hd = 64, n = 45, KV = 2, bs = 16;
  const int64_t rb = row_bytes(t, KV * hd);  // bytes of one cache row
  const std::vector<float> q = normals(111, 0, g * hd);
  const int32_t blocks[3] = {2, 0, 1};  // logical block b lives in physical block blocks[b]
  std::vector<uint8_t> pk(static_cast<size_t>(3 * bs * rb)), pv(pk.size());
  for (int64_t j = 0; j < n; ++j) {
    const auto dst = static_cast<size_t>((blocks[j / bs] * bs + j % bs) * rb);
    std::memcpy(pk.data() + dst, k.data() + j * rb, static_cast<size_t>(rb));
    std::memcpy(pv.data() + dst, v.data() + j * rb, static_cast<size_t>(rb));
  }
  ThreadPool pool(1);
  ExecContext ctx{&pool, &table};
  std::vector<float> scratch(static_cast<size_t>(attention_scratch_floats(g, n, hd)));
  std::vector<float> a(static_cast<size_t>(g * hd)), b(a.size());
  const int64_t head = row_bytes(t, hd);
  KvRows flat{k.data() + head, v.data() + head, rb, rb, nullptr, 0, t, t};
  KvRows paged{pk.data() + head, pv.data() + head, rb, rb, blocks, bs, t, t};
  attention_rows(ctx, q.data(), g, hd, flat, n, scratch.data(), a.data());
  attention_rows(ctx, q.data(), g, hd, paged, n, scratch.data(), b.data());
  ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << "isa=" << table.isa << " " << dtype_name(t);
  // And a row alone (g = 1) gives what it gives inside its group.
  std::vector<float> one(static_cast<size_t>(hd));
  attention_rows(ctx, q.data() + 2 * hd, 1, hd, flat, n, scratch.data(), one.data());
  ASSERT_EQ(std::memcmp(one.data(), a.data() + 2 * hd, one.size() * sizeof(float)), 0)
      << "isa=" << table.isa << " " << dtype_name(t);
  *out_flat = a;
}

TEST_P(IsaTest, AttentionRowsPagedEqualsContiguous) {
  const int64_t n = 45, stride = 2 * 64;
  for (DType t : {DType::kF16, DType::kQ8_0}) {
    const CacheRows k = cache_rows(normals(112, 0, n * stride), t);
    const CacheRows v = cache_rows(normals(113, 0, n * stride), t);
    const CacheRows k32 = cache_rows(k.f32, DType::kF32), v32 = cache_rows(v.f32, DType::kF32);
    std::vector<float> from_f32, from_t;
    paged_equals_contiguous(table_, DType::kF32, k32.bytes, v32.bytes, &from_f32);
    paged_equals_contiguous(table_, t, k.bytes, v.bytes, &from_t);
    ASSERT_EQ(from_f32.size(), from_t.size());
    EXPECT_EQ(std::memcmp(from_f32.data(), from_t.data(), from_f32.size() * sizeof(float)), 0)
        << "isa=" << table_.isa << ": " << dtype_name(t) << " rows and f32 rows of the same values differ";
  }
}

// The KV store conversion equals base/half.h's scalar f32_to_f16 bit for bit
// (ties to even, subnormals, overflow to infinity) on every tail length; NaN
// stays NaN (its payload may differ).
TEST_P(IsaTest, F32ToF16EqualsScalar) {
  std::vector<float> x = normals(121, 0, 203);
  const float specials[] = {0.0f, -0.0f, 65504.0f, 65520.0f, -65520.0f, 1e9f, -INFINITY, INFINITY,
                            5.9604645e-8f, 2.9802322e-8f, 8.940697e-8f, 1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f,
                            6.1035156e-5f, 6.097555e-5f, 1e-10f, -3.0e-6f};
  for (size_t i = 0; i < sizeof(specials) / sizeof(specials[0]); ++i) x[i * 11] = specials[i];
  x[200] = NAN;
  for (int64_t n : {1, 7, 8, 9, 16, 31, 203}) {
    std::vector<uint16_t> got(static_cast<size_t>(n), 0xdead);
    table_.f32_to_f16(x.data(), got.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const uint16_t want = f32_to_f16(x[static_cast<size_t>(i)]);
      if (std::isnan(x[static_cast<size_t>(i)])) {
        EXPECT_TRUE(std::isnan(f16_to_f32(got[static_cast<size_t>(i)]))) << "isa=" << table_.isa << " i=" << i;
        continue;
      }
      ASSERT_EQ(got[static_cast<size_t>(i)], want)
          << "isa=" << table_.isa << " n=" << n << " i=" << i << " x=" << x[static_cast<size_t>(i)];
    }
  }
}

TEST_P(IsaTest, AttentionIsCausal) {
  // Changing keys/values after position n_past + t must not change query t.
  const AttnCase c{3, 4, 2, 32, 4};
  const int64_t n_keys = c.n_past + c.T;
  const std::vector<float> q = normals(101, 0, c.T * c.H * c.hd);
  std::vector<float> k = normals(102, 0, n_keys * c.KV * c.hd);
  std::vector<float> v = normals(103, 0, n_keys * c.KV * c.hd);
  ThreadPool pool(1);
  ExecContext ctx{&pool, &table_};
  std::vector<float> scratch(static_cast<size_t>(attention_scratch_floats(c.H / c.KV, n_keys, c.hd)));
  float* sp = scratch.data();
  std::vector<float> a(static_cast<size_t>(c.T * c.H * c.hd)), b(a.size());
  attention(ctx, q.data(), c.T, c.H, c.KV, c.hd, k.data(), v.data(), DType::kF32, DType::kF32, c.n_past, &sp, a.data());
  const int64_t last = n_keys - 1;  // visible only to the last query
  for (int64_t i = 0; i < c.KV * c.hd; ++i) {
    k[static_cast<size_t>(last * c.KV * c.hd + i)] += 5.0f;
    v[static_cast<size_t>(last * c.KV * c.hd + i)] += 5.0f;
  }
  attention(ctx, q.data(), c.T, c.H, c.KV, c.hd, k.data(), v.data(), DType::kF32, DType::kF32, c.n_past, &sp, b.data());
  const size_t per_token = static_cast<size_t>(c.H * c.hd);
  for (size_t i = 0; i < per_token * static_cast<size_t>(c.T - 1); ++i) ASSERT_EQ(a[i], b[i]) << i;
  bool last_changed = false;
  for (size_t i = per_token * static_cast<size_t>(c.T - 1); i < a.size(); ++i) last_changed |= a[i] != b[i];
  EXPECT_TRUE(last_changed) << "the last query should see the last key";
}

// --------------------------------------------------------------------------
// silu_mul

// Each ISA's silu_mul against long double: the reference (libm expf,
// within 1 ulp = 2 u relative: 1 + e has relative error <= 3 u, the division
// and the product add u each) within 5 u; AVX2's exp_ps form within 7 u
// (silu_avx2.cpp derives it). When the exact result is below the normal range
// the result may flush to -0 (absolute error below |g u| e^g < 1e-36), hence
// the absolute floor. Through ops.h silu_mul (the pool split in chunks), any
// split gives the same bits: 1 and 2 threads, and the elements one by one.
TEST_P(IsaTest, AdamWKernelsEqualReference) {
  // Every ISA's adamw_f32 and adamw_8bit_block give the scalar specification's
  // bits (kernels/adamw.h), over lengths with and without a vector tail and
  // moments from zero blocks to gradients over ten decades.
  AdamWConsts c;
  c.decay = 0.999f;
  c.b1 = 0.9f;
  c.one_b1 = 0.1f;
  c.b2 = 0.999f;
  c.one_b2 = 0.001f;
  c.step_size = 3e-4f;
  c.bc2_sqrt = 0.0447f;
  c.eps = 1e-8f;
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{8}, int64_t{37}, int64_t{256}}) {
    std::vector<float> p = normals(5000 + static_cast<uint64_t>(n), 0, n), g = normals(6000 + static_cast<uint64_t>(n), 0, n);
    std::vector<float> m = normals(7000 + static_cast<uint64_t>(n), 0, n), v = normals(8000 + static_cast<uint64_t>(n), 0, n);
    for (int64_t i = 0; i < n; ++i) {
      g[static_cast<size_t>(i)] *= std::pow(10.0f, static_cast<float>(i % 11) - 8.0f);
      v[static_cast<size_t>(i)] = v[static_cast<size_t>(i)] * v[static_cast<size_t>(i)] * 1e-6f;
    }
    std::vector<float> p1 = p, m1 = m, v1 = v, p2 = p, m2 = m, v2 = v;
    adamw_f32_ref(c, p1.data(), g.data(), m1.data(), v1.data(), n);
    table_.adamw_f32(c, p2.data(), g.data(), m2.data(), v2.data(), n);
    EXPECT_EQ(std::memcmp(p1.data(), p2.data(), p1.size() * 4), 0) << "n " << n;
    EXPECT_EQ(std::memcmp(m1.data(), m2.data(), m1.size() * 4), 0) << "n " << n;
    EXPECT_EQ(std::memcmp(v1.data(), v2.data(), v1.size() * 4), 0) << "n " << n;
    // 8-bit: three steps from zero moments (the first block all zero), then codes and scales compared.
    for (bool zero_grad : {false, true}) {
      std::vector<uint8_t> qm(static_cast<size_t>(n), 127), qv(static_cast<size_t>(n), 0);
      std::vector<uint8_t> qm2 = qm, qv2 = qv;
      float am = 0, av = 0, am2 = 0, av2 = 0;
      std::vector<float> pa = p, pb = p, gz = zero_grad ? std::vector<float>(static_cast<size_t>(n), 0.0f) : g;
      for (int step = 0; step < 3; ++step) {
        adamw_8bit_block_ref(c, pa.data(), gz.data(), qm.data(), &am, qv.data(), &av, n);
        table_.adamw_8bit_block(c, pb.data(), gz.data(), qm2.data(), &am2, qv2.data(), &av2, n);
      }
      EXPECT_EQ(std::memcmp(pa.data(), pb.data(), pa.size() * 4), 0) << "n " << n;
      EXPECT_EQ(qm, qm2) << "n " << n;
      EXPECT_EQ(qv, qv2) << "n " << n;
      EXPECT_EQ(am, am2);
      EXPECT_EQ(av, av2);
      if (zero_grad) EXPECT_EQ(am, 0.0f);
      else EXPECT_GT(am, 0.0f);
    }
  }
  EXPECT_EQ(moment_map_index(true).steps, 1);
  EXPECT_EQ(moment_map_index(false).steps, 1);
}

TEST(MomentCodeCuts, GiveTheReferenceCodes) {
  // adamw.h's key-and-cuts table against moment_code_ref: at both ends of
  // every key's range in [-1, 1] and on both sides of each cut (where the
  // code steps: bisection's answers), and at every value of one key in 509
  // (the code is monotone, so these pin it down; the sample checks that).
  const uint32_t lo_all = moment_order_of(-1.0f), hi_all = moment_order_of(1.0f);
  for (bool sgn : {true, false}) {
    const MomentCodeCuts& t = moment_code_cuts(sgn);
    auto table_code = [&](uint32_t order) {
      const uint32_t k = order >> 16, low = order & 0xffffu;
      return static_cast<uint8_t>(t.first[k] + (low > (t.cuts[k] & 0xffffu)) + (low > (t.cuts[k] >> 16)));
    };
    int64_t checked = 0, steps = 0;
    for (uint32_t k = lo_all >> 16; k <= hi_all >> 16; ++k) {
      const uint32_t a = std::max(k << 16, lo_all), b = std::min(k << 16 | 0xffffu, hi_all);
      std::vector<uint32_t> at = {a, b};
      for (uint32_t cut : {t.cuts[k] & 0xffffu, t.cuts[k] >> 16})
        if (cut != 0xffffu) {
          at.push_back(k << 16 | cut);
          at.push_back((k << 16 | cut) + 1);
          ++steps;
        }
      if (k % 509 == 0)
        for (uint32_t o = a; o <= b; ++o) at.push_back(o);
      for (uint32_t o : at) {
        ASSERT_EQ(table_code(o), moment_code_ref(moment_value_of(o), sgn)) << "signed " << sgn << " value " << moment_value_of(o);
        ++checked;
      }
    }
    EXPECT_GT(checked, 100000);
    EXPECT_GT(steps, 100);  // most code boundaries fall inside a key's range
  }
}

TEST_P(IsaTest, SiluMulWithinBound) {
  std::vector<float> g, u;
  for (int i = -400; i <= 400; ++i) {
    g.push_back(static_cast<float>(i) * 0.05f);  // [-20, 20]
    u.push_back(1.0f + static_cast<float>(i % 7) * 0.25f);
  }
  for (float big : {-87.0f, -88.0f, -90.0f, -200.0f, 87.0f, 88.0f, 200.0f, 1e-30f, -1e-30f, 0.0f, -0.0f}) {
    g.push_back(big);
    u.push_back(-1.5f);
  }
  const std::vector<float> more = normals(131, 0, 9000);  // several 4096-element tasks and a tail
  for (size_t i = 0; i < more.size(); ++i) {
    g.push_back(more[i] * 4.0f);
    u.push_back(more[(i + 1) % more.size()]);
  }
  const double units = std::string(table_.isa) == "ref" ? 5.0 : 7.0;
  std::vector<std::vector<float>> outs;
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    ExecContext ctx{&pool, &table_};
    std::vector<float> y = g;
    silu_mul(ctx, y.data(), u.data(), static_cast<int64_t>(y.size()));
    outs.push_back(y);
  }
  std::vector<float> single = g;
  for (size_t i = 0; i < g.size(); ++i) table_.silu_mul(&single[i], &u[i], 1);
  for (size_t i = 0; i < g.size(); ++i) {
    const long double z = g[i];
    const long double exact = z / (1.0L + std::exp(-z)) * u[i];
    const double bound = units * kU * std::fabs(static_cast<double>(exact)) + 1e-36;
    ASSERT_LE(std::fabs(static_cast<double>(outs[0][i] - exact)), bound)
        << "isa=" << table_.isa << " g=" << g[i] << " u=" << u[i] << " got=" << outs[0][i];
  }
  EXPECT_EQ(std::memcmp(outs[0].data(), outs[1].data(), g.size() * sizeof(float)), 0) << "isa=" << table_.isa;
  EXPECT_EQ(std::memcmp(outs[0].data(), single.data(), g.size() * sizeof(float)), 0) << "isa=" << table_.isa;
}

}  // namespace
}  // namespace herd::kernels
