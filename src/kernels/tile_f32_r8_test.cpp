// Tests of the f32 path's r8 tiles (TileDotF32R8Fn, kernel_table.h): F16 and
// BF16 weights repacked to the r8 layout, f32 activations.
//
// The specification is tile_f32_r8_ref (scalar std::fma in the documented
// order), so every SIMD tile must equal it bit for bit, on every register
// tile remainder. The specification itself is checked against the exact dot
// (long double sums of exact float products) with the derived bound: within
// a block of n = kF32R8Block elements a chain of n FMAs, each one rounding,
// then ceil(K / n) - 1 additions of block sums, so no term passes through more
// than n + ceil(K / n) roundings and |err| <= gamma_d sum|w x|,
// d = n + ceil(K / n), gamma_d = d u / (1 - d u). With coherent activations
// (x_k = sign(w_k) |r_k|, so the dot is sum|w x|) the test also asserts that
// dropping any one block would exceed that bound, so a skipped block cannot
// hide in it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "base/rng.h"
#include "base/thread_pool.h"
#include "kernels/exec_context.h"
#include "kernels/isa_coverage.h"
#include "kernels/kernel_table.h"
#include "kernels/ops.h"
#include "tensor/quant.h"
#include "tensor/repack_r8.h"
#include "tensor/tensor_view.h"

namespace herd::kernels {
namespace {

constexpr double kU = 1.0 / 16777216.0;  // 2^-24

// R rows of K elements of dtype t (the file layout) and the same repacked.
struct R8Weights {
  std::vector<uint8_t> file, packed;
  std::vector<float> values;  // the weights as f32, row-major
};

R8Weights make_weights(DType t, int64_t R, int64_t K, uint64_t seed) {
  R8Weights w;
  const int64_t rb = row_bytes(t, K);
  w.file.resize(static_cast<size_t>(R * rb));
  w.values.resize(static_cast<size_t>(R * K));
  Rng rng(seed, 1);
  std::vector<float> src(static_cast<size_t>(K));
  for (int64_t r = 0; r < R; ++r) {
    for (float& v : src) v = rng.next_normal();
    quantize_row_ref(t, src.data(), w.file.data() + r * rb, K);
    dequantize_row_ref(t, w.file.data() + r * rb, w.values.data() + r * K, K);
  }
  w.packed.resize(static_cast<size_t>(R / 8 * r8_group_bytes(t, K)));
  repack_r8(t, w.file.data(), R, K, w.packed.data());
  return w;
}

std::vector<float> normals(uint64_t seed, int64_t n) {
  Rng r(seed, 2);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = r.next_normal();
  return v;
}

double gamma(int64_t d) { return static_cast<double>(d) * kU / (1.0 - static_cast<double>(d) * kU); }

TEST(F32R8, RepackRoundTripsEveryRow) {
  for (DType t : {DType::kF16, DType::kBF16}) {
    for (int64_t K : {int64_t{8}, int64_t{24}, int64_t{4096}}) {
      const int64_t R = 16;
      const R8Weights w = make_weights(t, R, K, 7);
      ASSERT_EQ(r8_group_bytes(t, K), 16 * K) << "the r8 layout of a 16-bit type is the file's bytes, moved";
      const int64_t rb = row_bytes(t, K);
      std::vector<uint8_t> back(static_cast<size_t>(rb));
      for (int64_t r = 0; r < R; ++r) {
        unpack_row_r8(t, w.packed.data() + r / 8 * 16 * K, K, static_cast<int>(r % 8), back.data());
        ASSERT_EQ(std::memcmp(back.data(), w.file.data() + r * rb, static_cast<size_t>(rb)), 0)
            << dtype_name(t) << " K=" << K << " row " << r;
      }
      // Element k of row j of group 0 sits at byte 16 k + 2 j (repack_r8.h).
      for (int64_t k : {int64_t{0}, K - 1})
        for (int j : {0, 7})
          ASSERT_EQ(std::memcmp(w.packed.data() + 16 * k + 2 * j, w.file.data() + j * rb + 2 * k, 2), 0)
              << dtype_name(t) << " K=" << K << " k=" << k << " j=" << j;
    }
  }
}

TEST(F32R8, SpecificationIsWithinItsBoundOfTheExactDot) {
  for (DType t : {DType::kF16, DType::kBF16}) {
    for (int64_t K : {int64_t{8}, int64_t{64}, int64_t{72}, int64_t{4096}, int64_t{14336}}) {
      const int64_t R = 8, TT = 3;
      const R8Weights w = make_weights(t, R, K, 11 + static_cast<uint64_t>(K));
      std::vector<float> x = normals(12 + static_cast<uint64_t>(K), TT * K);
      // Token 2: coherent with row 0, so its dot is sum|w x|.
      for (int64_t k = 0; k < K; ++k)
        x[static_cast<size_t>(2 * K + k)] = std::copysign(std::fabs(x[static_cast<size_t>(2 * K + k)]),
                                                          w.values[static_cast<size_t>(k)]);
      std::vector<float> got(static_cast<size_t>(TT * R), NAN);
      tile_f32_r8_ref(t, w.packed.data(), 1, x.data(), K, TT, K, got.data(), R);
      const int64_t nb = (K + kF32R8Block - 1) / kF32R8Block;
      const double g = gamma(kF32R8Block + nb);
      for (int64_t tk = 0; tk < TT; ++tk) {
        for (int64_t r = 0; r < R; ++r) {
          long double exact = 0.0L;
          double abs_sum = 0.0, min_block = INFINITY;
          for (int64_t b = 0; b < nb; ++b) {
            double block = 0.0;
            for (int64_t k = b * kF32R8Block; k < std::min(K, (b + 1) * kF32R8Block); ++k) {
              const double p = static_cast<double>(w.values[static_cast<size_t>(r * K + k)]) *
                               static_cast<double>(x[static_cast<size_t>(tk * K + k)]);  // exact in double
              exact += p;
              abs_sum += std::fabs(p);
              block += std::fabs(p);
            }
            min_block = std::min(min_block, block);
          }
          const double bound = g * abs_sum;
          const double e = std::fabs(static_cast<double>(got[static_cast<size_t>(tk * R + r)]) - static_cast<double>(exact));
          EXPECT_LE(e, bound) << dtype_name(t) << " K=" << K << " r=" << r << " t=" << tk;
          if (tk == 2 && r == 0) {
            EXPECT_GT(min_block, bound) << dtype_name(t) << " K=" << K << ": a dropped block could hide in the bound";
          }
        }
      }
    }
  }
}

// Every ISA's tile equals the specification bit for bit: groups 1..5 and
// tokens 1..13 cover every register-tile remainder (4 x 2 for decode, 2 x 6,
// single groups), K with a short last block, strides larger than a row.
TEST(F32R8, IsaTilesEqualTheSpecificationBitwise) {
  int tested = 0;
  for (const std::string& isa : all_isas()) {
    if (!isa_runs_here(isa)) continue;
    Result<KernelTable> table = select_kernels(isa);
    ASSERT_TRUE(table.has_value()) << isa;
    for (DType t : {DType::kF16, DType::kBF16}) {
      const TileDotF32R8Fn tile = table->tile_f32_r8_for(t);
      if (tile == nullptr) continue;
      ++tested;
      for (int64_t K : {int64_t{8}, int64_t{56}, int64_t{64}, int64_t{200}, int64_t{2048 + 8}}) {
        const int64_t G = 5, TT = 13, xs = K + 5;
        const R8Weights w = make_weights(t, 8 * G, K, 20 + static_cast<uint64_t>(K));
        const std::vector<float> x = normals(21 + static_cast<uint64_t>(K), TT * xs);
        for (int64_t ng = 1; ng <= G; ++ng) {
          for (int64_t nt = 1; nt <= TT; ++nt) {
            const int64_t os = 8 * ng + 3;
            std::vector<float> got(static_cast<size_t>(nt * os), NAN), want(got.size(), NAN);
            tile(w.packed.data(), ng, x.data(), xs, nt, K, got.data(), os);
            tile_f32_r8_ref(t, w.packed.data(), ng, x.data(), xs, nt, K, want.data(), os);
            for (int64_t tk = 0; tk < nt; ++tk)
              for (int64_t r = 0; r < 8 * ng; ++r) {
                const size_t i = static_cast<size_t>(tk * os + r);
                ASSERT_EQ(std::memcmp(&got[i], &want[i], sizeof(float)), 0)
                    << "isa=" << isa << " " << dtype_name(t) << " K=" << K << " tile " << ng << "x" << nt << " row "
                    << r << " token " << tk << ": " << got[i] << " vs " << want[i];
              }
          }
        }
      }
    }
  }
  const std::vector<std::string> have = supported_isas();
  if (std::find(have.begin(), have.end(), "avx2") != have.end()) {
    EXPECT_GE(tested, 2) << "AVX2 has the F16 and BF16 r8 tiles";
  }
}

// Through ops::matmul and embedding_row on a repacked view: the same bits as
// the specification for prefill (T = 37) and decode (T = 1), with 1 and 2
// threads; a tied table's row comes back as the file's row.
TEST(F32R8, MatmulAndEmbeddingOnARepackedWeight) {
  HERD_ISA_OR_SKIP("avx2");
  Result<KernelTable> table = select_kernels("avx2");
  ASSERT_TRUE(table.has_value());
  for (DType t : {DType::kF16, DType::kBF16}) {
    const int64_t N = 8 * 9, K = 384;
    const R8Weights w = make_weights(t, N, K, 30);
    TensorView view{t, {N, K}, w.packed.data(), 8};
    for (int64_t T : {int64_t{1}, int64_t{37}}) {
      const std::vector<float> x = normals(31 + static_cast<uint64_t>(T), T * K);
      std::vector<float> want(static_cast<size_t>(T * N));
      tile_f32_r8_ref(t, w.packed.data(), N / 8, x.data(), K, T, K, want.data(), N);
      for (int threads : {1, 2}) {
        ThreadPool pool(threads);
        ExecContext ctx{&pool, &*table};
        std::vector<float> got(static_cast<size_t>(T * N), NAN);
        matmul(ctx, x.data(), T, view, got.data());
        ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
            << dtype_name(t) << " T=" << T << " threads=" << threads;
      }
    }
    ThreadPool pool(1);
    ExecContext ctx{&pool, &*table};
    std::vector<float> row(static_cast<size_t>(K));
    embedding_row(ctx, view, 13, row.data());
    ASSERT_EQ(std::memcmp(row.data(), w.values.data() + 13 * K, static_cast<size_t>(K) * sizeof(float)), 0)
        << dtype_name(t);
  }
}

}  // namespace
}  // namespace herd::kernels
