// The r16 pair layout (repack_r16.h): a plain byte shuffle of 16-bit values.
#include "tensor/repack_r16.h"

#include <cstring>

#include "base/check.h"

namespace herd {

bool has_r16_layout(DType t) { return t == DType::kF16 || t == DType::kBF16; }

void repack_r16(DType t, const uint8_t* src, int64_t rows, int64_t K, uint8_t* dst) {
  HERD_CHECK(has_r16_layout(t) && rows % kR16Rows == 0 && K % 2 == 0, "repack_r16: %s [%lld, %lld]", dtype_name(t),
             static_cast<long long>(rows), static_cast<long long>(K));
  for (int64_t g = 0; g < rows / kR16Rows; ++g) {
    uint8_t* gd = dst + g * r16_group_bytes(K);
    const uint8_t* gs = src + g * kR16Rows * K * 2;
    // Written in address order, read from 16 row streams.
    for (int64_t p = 0; p < K / 2; ++p)
      for (int64_t j = 0; j < kR16Rows; ++j) std::memcpy(gd + p * 64 + j * 4, gs + j * K * 2 + p * 4, 4);
  }
}

void unpack_row_r16(const uint8_t* group, int64_t K, int j, uint8_t* dst) {
  for (int64_t p = 0; p < K / 2; ++p) std::memcpy(dst + p * 4, group + p * 64 + j * 4, 4);
}

}  // namespace herd
