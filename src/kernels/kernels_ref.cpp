// The scalar reference kernels: the specification every ISA path is tested
// against. Row dots dequantize one block at a time with the tensor layer's
// reference dequantizer and accumulate in double, so their error against the
// exact dot of the dequantized weights is far below float rounding.
#include <cstring>

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
  return t;
}

}  // namespace herd::kernels
