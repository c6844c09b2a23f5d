// The scalar reference kernels: the specification every ISA path is tested
// against. Row dots dequantize one block at a time with the tensor layer's
// reference dequantizer and accumulate in double, so their error against the
// exact dot of the dequantized weights is far below float rounding.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/half.h"

#include "kernels/kernel_table.h"
#include "tensor/quant.h"

namespace herd::kernels {
namespace {

template <DType T>
float row_dot_ref(const void* w_row, const float* x, int64_t K) {
  const DTypeInfo& info = dtype_info(T);
  const uint8_t* p = static_cast<const uint8_t*>(w_row);
  float block[256];
  double acc = 0.0;
  for (int64_t b = 0; b < K; b += info.block_elems) {
    int64_t n = info.block_elems == 1 ? (K - b < 256 ? K - b : 256) : info.block_elems;
    dequantize_row_ref(T, p, block, n);
    p += row_bytes(T, n);
    for (int64_t j = 0; j < n; ++j) acc += static_cast<double>(block[j]) * x[b + j];
    if (info.block_elems == 1) b += n - 1;
  }
  return static_cast<float>(acc);
}

template <DType T>
void row_to_f32_ref(const void* src, float* dst, int64_t K) {
  dequantize_row_ref(T, src, dst, K);
}

float dot_f32_ref(const float* a, const float* b, int64_t n) {
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(a[i]) * b[i];
  return static_cast<float>(acc);
}

void axpy_f32_ref(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

// The q8 path's specification (kernel_table.h, BlockQ8).
void quantize_q8_ref(const float* x, BlockQ8* y, int64_t K) {
  for (int64_t b = 0; b < K / 32; ++b, x += 32) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int32_t s = 0;
    for (int j = 0; j < 32; ++j) {
      const int q = static_cast<int>(std::nearbyint(x[j] * id));  // round half to even
      y[b].qs[j] = static_cast<int8_t>(q);
      s += q;
    }
    y[b].d = d;
    y[b].s = s;
  }
}

// Weight block b of a row as 32 integers and its scale.
template <DType T>
float weight_block_ints(const uint8_t* row, int64_t b, int* q);

template <>
float weight_block_ints<DType::kQ8_0>(const uint8_t* row, int64_t b, int* q) {
  const uint8_t* p = row + b * 34;
  uint16_t dh;
  std::memcpy(&dh, p, 2);
  for (int j = 0; j < 32; ++j) q[j] = static_cast<int8_t>(p[2 + j]);
  return f16_to_f32(dh);
}

template <>
float weight_block_ints<DType::kQ4_0>(const uint8_t* row, int64_t b, int* q) {
  const uint8_t* p = row + b * 18;
  uint16_t dh;
  std::memcpy(&dh, p, 2);
  for (int j = 0; j < 16; ++j) {
    q[j] = (p[2 + j] & 0x0f) - 8;
    q[j + 16] = (p[2 + j] >> 4) - 8;
  }
  return f16_to_f32(dh);
}

template <DType T>
void tile_q8_ref(const uint8_t* w, int64_t w_stride, int64_t n_rows, const BlockQ8* x, int64_t x_stride,
                 int64_t n_tok, int64_t K, float* out, int64_t out_stride) {
  int q[32];
  for (int64_t r = 0; r < n_rows; ++r) {
    for (int64_t t = 0; t < n_tok; ++t) {
      const BlockQ8* xb = x + t * x_stride;
      double acc = 0.0;
      for (int64_t b = 0; b < K / 32; ++b) {
        const float dw = weight_block_ints<T>(w + r * w_stride, b, q);
        int32_t isum = 0;
        for (int j = 0; j < 32; ++j) isum += q[j] * xb[b].qs[j];
        acc += static_cast<double>(dw * xb[b].d) * isum;  // scale product rounded to f32, as the SIMD paths
      }
      out[t * out_stride + r] = static_cast<float>(acc);
    }
  }
}

template <DType T>
void set(KernelTable* t) {
  t->row_dot[static_cast<int>(T)] = row_dot_ref<T>;
  t->row_to_f32[static_cast<int>(T)] = row_to_f32_ref<T>;
}

}  // namespace

KernelTable ref_kernels() {
  KernelTable t;
  t.isa = "ref";
  set<DType::kF32>(&t);
  set<DType::kF16>(&t);
  set<DType::kBF16>(&t);
  set<DType::kQ4_0>(&t);
  set<DType::kQ4_1>(&t);
  set<DType::kQ5_0>(&t);
  set<DType::kQ5_1>(&t);
  set<DType::kQ8_0>(&t);
  set<DType::kQ4_K>(&t);
  set<DType::kQ5_K>(&t);
  set<DType::kQ6_K>(&t);
  t.dot_f32 = dot_f32_ref;
  t.axpy_f32 = axpy_f32_ref;
  t.quantize_q8 = quantize_q8_ref;
  t.tile_q8[static_cast<int>(DType::kQ8_0)] = tile_q8_ref<DType::kQ8_0>;
  t.tile_q8[static_cast<int>(DType::kQ4_0)] = tile_q8_ref<DType::kQ4_0>;
  return t;
}

}  // namespace herd::kernels
