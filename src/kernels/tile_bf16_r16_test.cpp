// Tests of the bf16 path's r16 outer-product tile (TileDotBf16R16Fn,
// kernel_table.h; tile_bf16_r16_avx512bf16.cpp, and the AMX tile
// tile_bf16_r16_amx.cpp): F16 and BF16 weights repacked to the r16 pair
// layout (tensor/repack_r16.h), bf16 activations. The avx512bf16 and amx
// tables have the tile (the ISA "ref" keeps the file layout); each test runs
// for both where the host has them and skips (recorded) elsewhere.
//
// The specification is the exact dot of the bf16 operands (long double: the
// products of two 8-bit significands are exact, and their sums here are too;
// kernels_ref.cpp's tile_bf16, the scalar reference, sums them in double and
// rounds once). The tile's order (kernel_table.h): blocks of kBf16R16Block
// elements, within a block one f32 chain per output of one vdpbf16ps per
// pair (at most two roundings each: Intel's pseudo-code rounds after each
// product; a fused sum rounds less), then ceil(K / kBf16R16Block) - 1 block
// additions. No product passes more than n = kBf16R16Block + ceil(K /
// kBf16R16Block) roundings, so |got - exact| <= gamma_n sum|p|,
// gamma_n = n u / (1 - n u). (DAZ/FTZ of vdpbf16ps could only matter below
// 2^-126; the data stay far above.) With coherent activations (each takes its
// weight's sign, so the dot is sum|p|) the test asserts that every block's
// share of sum|p| exceeds the bound: a block skipped or added twice cannot
// hide in it. Every walk (prefill tiles, decode, token groups, any thread
// split) must give the same bits. The amx tile (K % 32 == 0) sums each output
// in one tile element over all of K in an order Intel leaves open: its bound
// is gamma_K sum|p| (K - 1 additions in any order), and every 256-element
// block still outweighs it in the witness.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "base/half.h"
#include "base/thread_pool.h"
#include "kernels/exec_context.h"
#include "kernels/guarded_buffer.h"
#include "kernels/isa_coverage.h"
#include "kernels/isa_test.h"
#include "kernels/kernel_table.h"
#include "kernels/ops.h"
#include "tensor/quant.h"
#include "tensor/repack_r16.h"
#include "tensor/tensor_view.h"

namespace herd::kernels {
namespace {

constexpr double kU = 1.0 / 16777216.0;  // 2^-24

// G groups of 16 rows of K elements of dtype t (the file layout, its values
// rounded to bf16 as the path uses them, and the r16 repacking) and n_tok
// bf16 activation rows.
struct R16Case {
  std::vector<uint8_t> file, packed;
  std::vector<float> wb;    // [rows, K] bf16(w) as f32
  std::vector<uint16_t> x;  // [n_tok, K]
};

R16Case make_case(DType t, int64_t G, int64_t n_tok, int64_t K, uint64_t seed, bool coherent) {
  R16Case c;
  const int64_t R = G * kR16Rows, rb = row_bytes(t, K);
  c.file.resize(static_cast<size_t>(R * rb));
  c.wb.resize(static_cast<size_t>(R * K));
  std::vector<float> v(static_cast<size_t>(K));
  for (int64_t r = 0; r < R; ++r) {
    std::vector<float> src = normals(seed, static_cast<uint64_t>(r), K);
    for (int64_t i = 0; i < K; ++i) src[static_cast<size_t>(i)] *= 1.0f + static_cast<float>((i / 64) % 5);
    quantize_row_ref(t, src.data(), c.file.data() + r * rb, K);
    dequantize_row_ref(t, c.file.data() + r * rb, v.data(), K);
    for (int64_t i = 0; i < K; ++i) c.wb[static_cast<size_t>(r * K + i)] = bf16_to_f32(f32_to_bf16(v[static_cast<size_t>(i)]));
  }
  c.packed.resize(static_cast<size_t>(G * r16_group_bytes(K)));
  repack_r16(t, c.file.data(), R, K, c.packed.data(), t);
  const std::vector<float> xf = normals(seed + 1, 0, n_tok * K);
  c.x.resize(xf.size());
  for (size_t i = 0; i < xf.size(); ++i) {
    float f = xf[i];
    // Coherent: every token's activation k takes the sign of row 0's weight k.
    if (coherent) f = std::signbit(c.wb[i % static_cast<size_t>(K)]) ? -std::fabs(f) : std::fabs(f);
    c.x[i] = f32_to_bf16(f);
  }
  return c;
}

// The ISA whose tile the running test checks (Bf16R16Tile's parameter).
std::string g_isa = "avx512bf16";

double gamma_bound(int64_t K) {
  const double n = g_isa == "amx" && K % 32 == 0
                       ? static_cast<double>(K)
                       : static_cast<double>(kBf16R16Block + (K + kBf16R16Block - 1) / kBf16R16Block);
  return n * kU / (1 - n * kU);
}

const KernelTable& bf16_table() {
  static const KernelTable vdp = [] {
    Result<KernelTable> r = select_kernels("avx512bf16");
    HERD_CHECK(r.has_value(), "avx512bf16 table");
    return *r;
  }();
  if (g_isa != "amx") return vdp;
  static const KernelTable amx = [] {
    Result<KernelTable> r = select_kernels("amx");
    HERD_CHECK(r.has_value(), "amx table");
    return *r;
  }();
  return amx;
}

class Bf16R16Tile : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    HERD_ISA_OR_SKIP(GetParam());
    g_isa = GetParam();
  }
};
INSTANTIATE_TEST_SUITE_P(Isas, Bf16R16Tile, ::testing::Values("avx512bf16", "amx"), isa_test_name);

void run(DType t, const uint8_t* w, int64_t G, const uint16_t* x, int64_t T, int64_t K, float* out, int64_t os) {
  bf16_table().tile_bf16_r16_for(t)(w, G, x, K, T, K, out, os);
}

constexpr DType kDtypes[] = {DType::kF16, DType::kBF16};

TEST(Bf16R16, OnlyAvx512Bf16AndAboveHaveTheTile) {
  for (const std::string& isa : all_isas()) {
    Result<KernelTable> table = select_kernels(isa);
    if (!table) continue;
    for (DType t : kDtypes)
      EXPECT_EQ(table->tile_bf16_r16_for(t) != nullptr, isa == "avx512bf16" || isa == "amx") << isa << " " << dtype_name(t);
    EXPECT_EQ(table->tile_bf16_r16_for(DType::kF8_E4M3), nullptr) << isa << ": FP8 keeps the file layout";
    if (isa == "amx") {  // BF16 on its own tile; F16 (a tied table) on avx512bf16's
      const Result<KernelTable> vdp = select_kernels("avx512bf16");
      ASSERT_TRUE(vdp.has_value());
      EXPECT_NE(table->tile_bf16_r16_for(DType::kBF16), vdp->tile_bf16_r16_for(DType::kBF16));
      EXPECT_EQ(table->tile_bf16_r16_for(DType::kF16), vdp->tile_bf16_r16_for(DType::kF16));
    }
  }
}

// Against the exact dot within gamma_n sum|p|, on 9 groups (two 4-group
// register tiles and a remainder) x 17 tokens (two 6-token tiles and 5), K
// from one pair to beyond one block with and without a short last block.
TEST_P(Bf16R16Tile, TileWithinItsBoundOfTheExactDot) {
  const int64_t G = 9, TT = 37, R = G * kR16Rows;  // 37: two 16-token AMX tiles and 5
  for (DType t : kDtypes) {
    for (int64_t K : {2, 30, 32, 256, 258, 1000, 2048, 4096}) {
      for (int coherent = 0; coherent < 2; ++coherent) {
        const R16Case c = make_case(t, G, TT, K, 500 + static_cast<uint64_t>(K), coherent != 0);
        std::vector<float> got(static_cast<size_t>(R * TT), NAN);
        run(t, c.packed.data(), G, c.x.data(), TT, K, got.data(), R);
        const std::string where = std::string(dtype_name(t)) + " K=" + std::to_string(K) + " coherent=" +
                                  std::to_string(coherent);
        for (int64_t r = 0; r < R; ++r)
          for (int64_t tk = 0; tk < TT; ++tk) {
            long double exact = 0, abs_sum = 0;
            for (int64_t k = 0; k < K; ++k) {
              const long double p = static_cast<long double>(c.wb[static_cast<size_t>(r * K + k)]) *
                                    bf16_to_f32(c.x[static_cast<size_t>(tk * K + k)]);
              exact += p;
              abs_sum += std::fabs(p);
            }
            const double err = std::fabs(static_cast<double>(got[static_cast<size_t>(tk * R + r)] - exact));
            ASSERT_LE(err, gamma_bound(K) * static_cast<double>(abs_sum))
                << where << " row " << r << " token " << tk << " got " << got[static_cast<size_t>(tk * R + r)]
                << " exact " << static_cast<double>(exact);
          }
        if (coherent && K == 4096) {
          // Witness: every block of row 0, token 0 outweighs the bound.
          long double abs_sum = 0;
          std::vector<long double> block(static_cast<size_t>(K / kBf16R16Block), 0);
          for (int64_t k = 0; k < K; ++k) {
            const long double p = std::fabs(static_cast<long double>(c.wb[static_cast<size_t>(k)]) * bf16_to_f32(c.x[static_cast<size_t>(k)]));
            abs_sum += p;
            block[static_cast<size_t>(k / kBf16R16Block)] += p;
          }
          for (size_t b = 0; b < block.size(); ++b)
            ASSERT_GT(static_cast<double>(block[b]), gamma_bound(K) * static_cast<double>(abs_sum))
                << where << ": block " << b << " could hide in the bound";
        }
      }
    }
  }
}

// The prefill walk (register tiles, K blocks staged, token groups of 512)
// equals the decode walk (fewer than 6 tokens), every token range and every
// group alone, bit for bit.
TEST_P(Bf16R16Tile, EveryWalkGivesTheSameBits) {
  struct Shape {
    int64_t G, TT, K;
  };
  for (const Shape s : {Shape{9, 17, 2050}, Shape{3, 530, 64}, Shape{5, 50, 2048}}) {
    const int64_t R = s.G * kR16Rows;
    for (DType t : kDtypes) {
      const R16Case c = make_case(t, s.G, s.TT, s.K, 900 + static_cast<uint64_t>(s.TT), false);
      const std::string where = std::string(dtype_name(t)) + " groups=" + std::to_string(s.G) + " tokens=" +
                                std::to_string(s.TT) + " K=" + std::to_string(s.K);
      std::vector<float> all(static_cast<size_t>(R * s.TT), NAN);
      run(t, c.packed.data(), s.G, c.x.data(), s.TT, s.K, all.data(), R);
      for (int64_t tn : {int64_t{1}, int64_t{5}, int64_t{6}, int64_t{7}, int64_t{16}, int64_t{17}, s.TT}) {
        for (int64_t t0 = 0; t0 + tn <= s.TT; t0 += tn) {
          std::vector<float> part(static_cast<size_t>(R * tn), NAN);
          run(t, c.packed.data(), s.G, c.x.data() + t0 * s.K, tn, s.K, part.data(), R);
          ASSERT_EQ(std::memcmp(part.data(), all.data() + t0 * R, part.size() * sizeof(float)), 0)
              << where << ": " << tn << " tokens from " << t0;
        }
      }
      for (int64_t g = 0; g < s.G; ++g) {
        std::vector<float> one(static_cast<size_t>(kR16Rows * s.TT), NAN);
        run(t, c.packed.data() + g * r16_group_bytes(s.K), 1, c.x.data(), s.TT, s.K, one.data(), kR16Rows);
        for (int64_t tk = 0; tk < s.TT; ++tk)
          ASSERT_EQ(std::memcmp(one.data() + tk * kR16Rows, all.data() + tk * R + g * kR16Rows, kR16Rows * sizeof(float)), 0)
              << where << ": group " << g << " alone, token " << tk;
      }
    }
  }
}

// F16 weights converted to BF16 at load (repack_r16 with to = BF16, what
// repack_weights does for every F16 matrix but a tied output table) give the
// bits of the F16 tile, which rounds in registers: prefill and decode, with
// F16 subnormals, the largest finite value (rounds up to 2^16) and -0 among
// the weights. On amx, where BF16 with K % 32 == 0 takes the AMX tile and F16
// keeps the avx512bf16 tile, the F16 tile gives the avx512bf16 BF16 tile's
// bits.
TEST_P(Bf16R16Tile, F16ConvertedAtLoadGivesTheSameBits) {
  const int64_t G = 5, R = G * kR16Rows;
  for (int64_t K : {514, 512}) {
    for (int64_t TT : {1, 3, 17, 33}) {
      R16Case c = make_case(DType::kF16, G, TT, K, 77, false);
      auto* h = reinterpret_cast<uint16_t*>(c.file.data());
      const uint16_t special[] = {0x0001, 0x03ff, 0x8001, 0x7bff, 0xfbff, 0x8000, 0x3c01, 0x0400};
      for (size_t i = 0; i < std::size(special); ++i) h[i * 97 % static_cast<size_t>(R * K)] = special[i];
      std::vector<uint8_t> f16(c.packed.size()), bf16(c.packed.size());
      repack_r16(DType::kF16, c.file.data(), R, K, f16.data(), DType::kF16);
      repack_r16(DType::kF16, c.file.data(), R, K, bf16.data(), DType::kBF16);
      std::vector<float> a(static_cast<size_t>(R * TT), NAN), b(a.size(), NAN);
      run(DType::kF16, f16.data(), G, c.x.data(), TT, K, a.data(), R);
      if (g_isa == "amx" && K % 32 == 0) {
        const std::string isa = g_isa;
        g_isa = "avx512bf16";
        run(DType::kBF16, bf16.data(), G, c.x.data(), TT, K, b.data(), R);
        g_isa = isa;
      } else {
        run(DType::kBF16, bf16.data(), G, c.x.data(), TT, K, b.data(), R);
      }
      ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << "K " << K << " tokens " << TT;
    }
  }
}

// Weights, activations and output each end where an inaccessible page
// begins (guarded_buffer.h): a read or write past any of them faults, and the
// results equal the same call on ordinary vectors.
TEST_P(Bf16R16Tile, TileStaysInsideItsOperands) {
  for (DType t : kDtypes)
    for (int64_t K : {2, 258, 64})
      for (int64_t G : {1, 5})
        for (int64_t TT : {1, 5, 6, 7, 16, 33}) {
          const int64_t R = G * kR16Rows;
          const R16Case c = make_case(t, G, TT, K, 1700 + static_cast<uint64_t>(K + G), false);
          GuardedBuffer<uint8_t> w(c.packed.size());
          GuardedBuffer<uint16_t> x(c.x.size());
          GuardedBuffer<float> out(static_cast<size_t>(R * TT), NAN);
          std::memcpy(w.data(), c.packed.data(), c.packed.size());
          std::memcpy(x.data(), c.x.data(), c.x.size() * sizeof(uint16_t));
          std::vector<float> want(static_cast<size_t>(R * TT), NAN);
          run(t, w.data(), G, x.data(), TT, K, out.data(), R);
          run(t, c.packed.data(), G, c.x.data(), TT, K, want.data(), R);
          const std::string where = std::string(dtype_name(t)) + " K=" + std::to_string(K) + " groups=" +
                                    std::to_string(G) + " tokens=" + std::to_string(TT);
          ASSERT_TRUE(out.canary_intact() && w.canary_intact() && x.canary_intact()) << where;
          ASSERT_EQ(std::memcmp(out.data(), want.data(), want.size() * sizeof(float)), 0) << where;
        }
}

// Through matmul and matmul_shared_input on a repacked view (what the model
// runs after repack_weights): every output is the tile's own result (T = 1 vs
// 13, 1, 2 and 3 threads splitting 9 groups), a list mixing an r16 weight with
// file-layout F16 (70 rows: no r16 layout), Q8_0 and F32 weights gives each
// what it gives alone, and embedding_row reads a tied table's row back exactly.
TEST_P(Bf16R16Tile, MatmulAndEmbeddingOnARepackedWeight) {
  const int64_t G = 9, N = G * kR16Rows, K = 384, T = 37;
  for (DType t : kDtypes) {
    const R16Case c = make_case(t, G, 1, K, 40, false);
    const TensorView view{t, {N, K}, c.packed.data(), kR16Rows};
    ASSERT_EQ(matmul_path(bf16_table(), view), MatmulPath::kBf16);
    const std::vector<float> x = normals(41, 0, T * K);
    std::vector<uint16_t> xb(x.size());
    for (size_t i = 0; i < x.size(); ++i) xb[i] = f32_to_bf16(x[i]);
    std::vector<float> want(static_cast<size_t>(T * N), NAN);
    run(t, c.packed.data(), G, xb.data(), T, K, want.data(), N);
    for (int threads : {1, 2, 3}) {
      ThreadPool pool(threads);
      ExecContext ctx{&pool, &bf16_table()};
      std::vector<float> got(want.size(), NAN);
      matmul(ctx, x.data(), T, view, got.data());
      ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
          << dtype_name(t) << " threads=" << threads;
      std::vector<float> one(static_cast<size_t>(N), NAN);
      matmul(ctx, x.data() + 7 * K, 1, view, one.data());
      ASSERT_EQ(std::memcmp(one.data(), want.data() + 7 * N, one.size() * sizeof(float)), 0) << dtype_name(t);
    }
    ThreadPool pool(2);
    ExecContext ctx{&pool, &bf16_table()};
    std::vector<float> row(static_cast<size_t>(K)), file_row(static_cast<size_t>(K));
    embedding_row(ctx, view, 21, row.data());
    dequantize_row_ref(t, c.file.data() + 21 * row_bytes(t, K), file_row.data(), K);
    ASSERT_EQ(row, file_row) << dtype_name(t);
    // A mixed list.
    auto make = [&](DType dt, int64_t rows, uint64_t seed, std::vector<uint8_t>* b) {
      b->resize(static_cast<size_t>(rows * row_bytes(dt, K)));
      const std::vector<float> src = normals(seed, 0, rows * K);
      for (int64_t n = 0; n < rows; ++n) quantize_row_ref(dt, src.data() + n * K, b->data() + n * row_bytes(dt, K), K);
      return TensorView{dt, {rows, K}, b->data()};
    };
    std::vector<uint8_t> b1, b2, b3;
    const TensorView f16 = make(DType::kF16, 70, 42, &b1), q8 = make(DType::kQ8_0, 24, 43, &b2),
                     f32 = make(DType::kF32, 12, 44, &b3);
    std::vector<float> a0(want.size()), a1(static_cast<size_t>(T * 70)), a2(static_cast<size_t>(T * 24)),
        a3(static_cast<size_t>(T * 12));
    std::vector<float> c1(a1.size()), c2(a2.size()), c3(a3.size());
    matmul_shared_input(ctx, x.data(), T, {{&f16, a1.data()}, {&view, a0.data()}, {&q8, a2.data()}, {&f32, a3.data()}});
    matmul(ctx, x.data(), T, f16, c1.data());
    matmul(ctx, x.data(), T, q8, c2.data());
    matmul(ctx, x.data(), T, f32, c3.data());
    EXPECT_EQ(std::memcmp(a0.data(), want.data(), a0.size() * sizeof(float)), 0) << dtype_name(t);
    EXPECT_EQ(a1, c1) << dtype_name(t);
    EXPECT_EQ(a2, c2) << dtype_name(t);
    EXPECT_EQ(a3, c3) << dtype_name(t);
  }
}

}  // namespace
}  // namespace herd::kernels
