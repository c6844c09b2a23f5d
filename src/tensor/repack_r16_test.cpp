// The r16 pair layout (repack_r16.h): where each row's elements land, the
// round trip, and TensorView's layout-aware size, row ranges and file_row.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "base/half.h"
#include "tensor/repack_r16.h"
#include "tensor/tensor_view.h"

namespace herd {
namespace {

TEST(RepackR16, LanesHoldPairsOfTheirRowAndRoundTrip) {
  const int64_t R = 32, K = 10;
  std::vector<uint16_t> file(static_cast<size_t>(R * K));
  for (int64_t r = 0; r < R; ++r)
    for (int64_t k = 0; k < K; ++k) file[static_cast<size_t>(r * K + k)] = static_cast<uint16_t>(r * 256 + k);
  std::vector<uint8_t> packed(static_cast<size_t>(R / kR16Rows * r16_group_bytes(K)), 0xee);
  repack_r16(DType::kBF16, reinterpret_cast<const uint8_t*>(file.data()), R, K, packed.data(), DType::kBF16);
  ASSERT_EQ(r16_group_bytes(K), 16 * K * 2);
  for (int64_t g = 0; g < R / kR16Rows; ++g)
    for (int64_t p = 0; p < K / 2; ++p)
      for (int64_t j = 0; j < kR16Rows; ++j) {
        uint16_t lane[2];
        std::memcpy(lane, packed.data() + g * r16_group_bytes(K) + p * 64 + j * 4, 4);
        ASSERT_EQ(lane[0], (g * 16 + j) * 256 + 2 * p) << "group " << g << " pair " << p << " lane " << j;
        ASSERT_EQ(lane[1], (g * 16 + j) * 256 + 2 * p + 1) << "group " << g << " pair " << p << " lane " << j;
      }
  TensorView v{DType::kF16, {R, K}, packed.data(), kR16Rows};
  EXPECT_EQ(v.nbytes(), R * K * 2);
  std::vector<uint16_t> row(static_cast<size_t>(K));
  for (int64_t r = 0; r < R; ++r) {
    const auto* got = reinterpret_cast<const uint16_t*>(v.file_row(r, 0, K, reinterpret_cast<uint8_t*>(row.data())));
    ASSERT_EQ(std::memcmp(got, file.data() + r * K, static_cast<size_t>(K) * 2), 0) << "row " << r;
    // Columns 4..9 alone.
    got = reinterpret_cast<const uint16_t*>(v.file_row(r, 4, 6, reinterpret_cast<uint8_t*>(row.data())));
    ASSERT_EQ(std::memcmp(got, file.data() + r * K + 4, 12), 0) << "row " << r << " from column 4";
  }
  const TensorView second = v.rows_view(16, 16);
  EXPECT_EQ(second.data, packed.data() + r16_group_bytes(K));
  std::vector<uint16_t> r0(static_cast<size_t>(K));
  second.file_row(3, 0, K, reinterpret_cast<uint8_t*>(r0.data()));
  EXPECT_EQ(std::memcmp(r0.data(), file.data() + 19 * K, static_cast<size_t>(K) * 2), 0);
  EXPECT_DEATH(v.rows_view(8, 16), "rows_view");
}

// F16 to BF16 on the way (to = BF16): each value is base/half.h's
// f32_to_bf16 of the exact F16 value, every one of the 65536 codes, placed
// as without the conversion.
TEST(RepackR16, F16ToBf16RoundsEveryCodeAsHalfDoes) {
  const int64_t R = 16, K = 4096;  // 65536 elements: each code once
  std::vector<uint16_t> file(static_cast<size_t>(R * K));
  for (size_t i = 0; i < file.size(); ++i) file[i] = static_cast<uint16_t>(i);
  std::vector<uint16_t> packed(file.size()), plain(file.size());
  repack_r16(DType::kF16, reinterpret_cast<const uint8_t*>(file.data()), R, K, reinterpret_cast<uint8_t*>(packed.data()),
             DType::kBF16);
  repack_r16(DType::kF16, reinterpret_cast<const uint8_t*>(file.data()), R, K, reinterpret_cast<uint8_t*>(plain.data()),
             DType::kF16);
  for (size_t i = 0; i < packed.size(); ++i)
    ASSERT_EQ(packed[i], f32_to_bf16(f16_to_f32(plain[i]))) << "code " << plain[i];
  // Known values: 1.0, the largest finite F16 (65504 rounds up to 2^16), -0, the smallest subnormal.
  EXPECT_EQ(f32_to_bf16(f16_to_f32(0x3c00)), 0x3f80);
  EXPECT_EQ(f32_to_bf16(f16_to_f32(0x7bff)), 0x4780);
  EXPECT_EQ(f32_to_bf16(f16_to_f32(0x8000)), 0x8000);
  EXPECT_EQ(f32_to_bf16(f16_to_f32(0x0001)), 0x3380);
  EXPECT_DEATH(repack_r16(DType::kBF16, reinterpret_cast<const uint8_t*>(file.data()), R, K,
                          reinterpret_cast<uint8_t*>(packed.data()), DType::kF16),
               "repack_r16");
}

// F32 to BF16 (a model asked for bf16 products of its F32 weights): each
// value is f32_to_bf16 of the F32 value, in the place the BF16 layout puts
// it; known roundings (to nearest, ties to even) and an F32 source with no
// BF16 target refused.
TEST(RepackR16, F32ToBf16RoundsEachValueInPlace) {
  const int64_t R = 32, K = 6;
  std::vector<float> file(static_cast<size_t>(R * K));
  for (size_t i = 0; i < file.size(); ++i)
    file[i] = (i % 2 ? -1.0f : 1.0f) * (1.0f + static_cast<float>(i) / 977.0f) * static_cast<float>(1 + i % 5);
  std::vector<uint16_t> packed(file.size(), 0xeeee);
  repack_r16(DType::kF32, reinterpret_cast<const uint8_t*>(file.data()), R, K, reinterpret_cast<uint8_t*>(packed.data()),
             DType::kBF16);
  TensorView v{DType::kBF16, {R, K}, reinterpret_cast<const uint8_t*>(packed.data()), kR16Rows};
  std::vector<uint16_t> row(static_cast<size_t>(K));
  for (int64_t r = 0; r < R; ++r) {
    const auto* got = reinterpret_cast<const uint16_t*>(v.file_row(r, 0, K, reinterpret_cast<uint8_t*>(row.data())));
    for (int64_t k = 0; k < K; ++k)
      ASSERT_EQ(got[k], f32_to_bf16(file[static_cast<size_t>(r * K + k)])) << "row " << r << " column " << k;
  }
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);               // a tie: to even (down)
  EXPECT_EQ(f32_to_bf16(1.0f + 0x1p-7f + 0x1p-8f), 0x3f82);     // a tie: to even (up)
  EXPECT_EQ(f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);    // above the tie
  EXPECT_DEATH(repack_r16(DType::kF32, reinterpret_cast<const uint8_t*>(file.data()), R, K,
                          reinterpret_cast<uint8_t*>(packed.data()), DType::kF32),
               "repack_r16");
}

}  // namespace
}  // namespace herd
