// The r16 pair layout (repack_r16.h): a plain byte shuffle of 16-bit values.
#include "tensor/repack_r16.h"

#include <cstring>
#include <vector>

#include "base/check.h"
#include "base/half.h"

namespace herd {
namespace {

// bf16 of every F16 code (128 KB, made once): a load-time conversion of
// gigabytes at table speed.
const uint16_t* f16_to_bf16_table() {
  static const std::vector<uint16_t> t = [] {
    std::vector<uint16_t> v(65536);
    for (uint32_t h = 0; h < 65536; ++h) v[h] = f32_to_bf16(f16_to_f32(static_cast<uint16_t>(h)));
    return v;
  }();
  return t.data();
}

}  // namespace

bool has_r16_layout(DType t) { return t == DType::kF16 || t == DType::kBF16; }

void repack_r16(DType t, const uint8_t* src, int64_t rows, int64_t K, uint8_t* dst, DType to) {
  const bool from_f32 = t == DType::kF32 && to == DType::kBF16;
  HERD_CHECK(rows % kR16Rows == 0 && K % 2 == 0 &&
                 (from_f32 || (has_r16_layout(t) && (to == t || (t == DType::kF16 && to == DType::kBF16)))),
             "repack_r16: %s [%lld, %lld] to %s", dtype_name(t), static_cast<long long>(rows),
             static_cast<long long>(K), dtype_name(to));
  if (from_f32) {
    for (int64_t g = 0; g < rows / kR16Rows; ++g) {
      auto* gd = reinterpret_cast<uint16_t*>(dst + g * r16_group_bytes(K));
      const uint8_t* gs = src + g * kR16Rows * K * 4;
      for (int64_t p = 0; p < K / 2; ++p)
        for (int64_t j = 0; j < kR16Rows; ++j)
          for (int64_t e = 0; e < 2; ++e) {
            float v;
            std::memcpy(&v, gs + (j * K + 2 * p + e) * 4, 4);
            gd[(p * kR16Rows + j) * 2 + e] = f32_to_bf16(v);
          }
    }
    return;
  }
  for (int64_t g = 0; g < rows / kR16Rows; ++g) {
    uint8_t* gd = dst + g * r16_group_bytes(K);
    const uint8_t* gs = src + g * kR16Rows * K * 2;
    // Written in address order, read from 16 row streams.
    for (int64_t p = 0; p < K / 2; ++p)
      for (int64_t j = 0; j < kR16Rows; ++j) std::memcpy(gd + p * 64 + j * 4, gs + j * K * 2 + p * 4, 4);
    if (to != t) {
      const uint16_t* lut = f16_to_bf16_table();
      auto* v = reinterpret_cast<uint16_t*>(gd);
      for (int64_t i = 0; i < r16_group_bytes(K) / 2; ++i) v[i] = lut[v[i]];
    }
  }
}

void unpack_row_r16(const uint8_t* group, int64_t K, int j, uint8_t* dst) {
  for (int64_t p = 0; p < K / 2; ++p) std::memcpy(dst + p * 4, group + p * 64 + j * 4, 4);
}

}  // namespace herd
