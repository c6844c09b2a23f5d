// KernelTable: one struct of function pointers, filled once at start-up from
// the CPU's features (Highway's "dispatch once, high up").
//
// Every ISA path lives in the same binary: *_ref.cpp (scalar, the
// specification), *_avx2.cpp, *_avx512.cpp. select_kernels() picks the best
// the CPU supports unless HERD_ISA=ref|avx2|avx512 (or the `isa` argument)
// forces one; tests run every path the host supports against the reference.
//
// Row dot products: dot(W row, x) for a weight row of K elements stored in
// dtype t. Each output element is one call that reduces in a fixed order, so
// a result does not depend on the thread count or on the batch size (prefill
// and decode call the same function on the same row: identical floats).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "tensor/dtype.h"

namespace herd::kernels {

// Returns dot(w_row[0..K), x[0..K)); w_row holds row_bytes(t, K) bytes.
using RowDotFn = float (*)(const void* w_row, const float* x, int64_t K);
// Converts one row of dtype t to f32 (embedding lookup, norms).
using RowToF32Fn = void (*)(const void* src, float* dst, int64_t K);
// Dot of two f32 vectors (attention scores).
using DotF32Fn = float (*)(const float* a, const float* b, int64_t n);
// y[i] += a * x[i] (attention value accumulation).
using AxpyF32Fn = void (*)(float a, const float* x, float* y, int64_t n);

constexpr int kMaxDTypeId = 31;  // DType values are ggml ids < 32

struct KernelTable {
  const char* isa = "ref";
  RowDotFn row_dot[kMaxDTypeId] = {};
  RowToF32Fn row_to_f32[kMaxDTypeId] = {};
  DotF32Fn dot_f32 = nullptr;
  AxpyF32Fn axpy_f32 = nullptr;

  RowDotFn dot_for(DType t) const { return row_dot[static_cast<int>(t)]; }
  RowToF32Fn to_f32_for(DType t) const { return row_to_f32[static_cast<int>(t)]; }
};

// The scalar reference table (always available).
KernelTable ref_kernels();

// "ref", "avx2", "avx512", or "auto" (best supported; HERD_ISA overrides auto).
// Errors name the ISA the CPU lacks.
Result<KernelTable> select_kernels(const std::string& isa = "auto");

// Names of the ISAs this host can run, best last ("ref", "avx2", ...).
std::vector<std::string> supported_isas();

namespace avx2 {
void fill_table(KernelTable* t);  // overrides the entries it accelerates
}
namespace avx512 {
void fill_table(KernelTable* t);
}

}  // namespace herd::kernels
