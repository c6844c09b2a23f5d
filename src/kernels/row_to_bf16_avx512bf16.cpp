// AVX512_BF16 row_to_bf16 entries (kernel_table.h RowToBf16Fn): a stored row's
// exact f32 values rounded to bf16 (base/half.h f32_to_bf16, by round16) in one
// pass, for the weights the bf16 products of training convert on every step
// (kernels/matmul_bf16_products.cpp: each layer matrix in the forward and again
// in the backward). Converting to f32 first and rounding in a second pass
// (row_to_f32 + round_bf16) took 17% of a 3.2-1B Q4_0 LoRA step with --bf16
// (perf, AMX host). The f32 values are the reference's bits (as
// row_to_f32_avx2.cpp computes them: F16 widened exactly, Q8_0 / Q4_0
// float(q) * d with one rounding, Q6_K fl(d * scale) * q); BF16 rows are copied (bf16 -> f32 -> bf16
// is the identity). kernels_test RowToBf16EqualsRoundedReference checks every
// ISA bit for bit.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "base/half.h"
#include "kernels/bf16_operands_avx512bf16_inl.h"
#include "kernels/kernel_table.h"
#include "kernels/quant_unpack_inl.h"

namespace herd::kernels::avx512bf16 {
namespace {

float widen_f16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

void store16(uint16_t* dst, __m512 v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), round16(v)); }

// store16 for values that are never f32 subnormals (zeros, normals,
// infinities, NaNs): every value of an F16, Q8_0, Q4_0 or Q6_K row, whose
// smallest nonzero magnitude is 2^-24 (an f16 subnormal scale times 1). On
// them vcvtneps2bf16 is f32_to_bf16 exactly (its treating of subnormal inputs
// as zero never applies; nearest even; a NaN keeps its top half with the
// quiet bit set) in one instruction where round16 takes nine: the F16 row
// conversion ran at 12.7 GB/s from L2 with round16 on an Intel AMX host.
void store16_normals(uint16_t* dst, __m512 v) {
  const __m256bh b = _mm512_cvtneps_pbh(v);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), reinterpret_cast<const __m256i&>(b));
}

void f32_to_bf16_row(const void* src, uint16_t* dst, int64_t K) {
  const auto* p = static_cast<const float*>(src);
  int64_t i = 0;
  for (; i + 16 <= K; i += 16) store16(dst + i, _mm512_loadu_ps(p + i));
  for (; i < K; ++i) dst[i] = f32_to_bf16(p[i]);
}

void f16_to_bf16_row(const void* src, uint16_t* dst, int64_t K) {
  const auto* p = static_cast<const uint8_t*>(src);
  int64_t i = 0;
  for (; i + 16 <= K; i += 16)
    store16_normals(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2 * i))));
  for (; i < K; ++i) dst[i] = f32_to_bf16(widen_f16(p + 2 * i));
}

void bf16_to_bf16_row(const void* src, uint16_t* dst, int64_t K) {
  std::memcpy(dst, src, static_cast<size_t>(K) * sizeof(uint16_t));
}

// Q8_0 block (34 bytes): f16 d, then 32 int8 values.
void q8_0_to_bf16_row(const void* src, uint16_t* dst, int64_t K) {
  const auto* b = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < K; i += 32, b += 34) {
    const __m512 d = _mm512_set1_ps(widen_f16(b));
    for (int j = 0; j < 32; j += 16) {
      const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 2 + j));
      store16_normals(dst + i + j, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)), d));
    }
  }
}

// Q4_0 block (18 bytes, kernels/quant_unpack_inl.h): each value (nibble - 8) * d.
void q4_0_to_bf16_row(const void* src, uint16_t* dst, int64_t K) {
  const auto* b = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < K; i += 32, b += 18) {
    const __m512 d = _mm512_set1_ps(widen_f16(b));
    __m128i lo, hi;
    q4_0_values(b + 2, &lo, &hi);
    store16_normals(dst + i, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(lo)), d));
    store16_normals(dst + i + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(hi)), d));
  }
}

// Q6_K super-block (210 bytes, 256 elements): ql[128] low nibbles, qh[64]
// two high bits each, int8 scales[16], f16 d; each value fl(d * scale) * (q -
// 32), the reference's order (tensor/quant_kquants.cpp), as
// row_to_f32_avx2.cpp's q6_k_to_f32_row. llama.cpp's usual output head: the
// biggest matrix a Q4_0 or Q4_K_M file's training step converts.
void q6_k_to_bf16_row(const void* src, uint16_t* dst, int64_t K) {
  for_each_q6_k_group(static_cast<const uint8_t*>(src), K, [dst](int64_t i, float s, __m128i q) {
    store16_normals(dst + i, _mm512_mul_ps(_mm512_set1_ps(s), _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q))));
  });
}

}  // namespace

void fill_table_row_to_bf16(KernelTable* t) {
  t->row_to_bf16[static_cast<int>(DType::kF32)] = f32_to_bf16_row;
  t->row_to_bf16[static_cast<int>(DType::kF16)] = f16_to_bf16_row;
  t->row_to_bf16[static_cast<int>(DType::kBF16)] = bf16_to_bf16_row;
  t->row_to_bf16[static_cast<int>(DType::kQ8_0)] = q8_0_to_bf16_row;
  t->row_to_bf16[static_cast<int>(DType::kQ4_0)] = q4_0_to_bf16_row;
  t->row_to_bf16[static_cast<int>(DType::kQ6_K)] = q6_k_to_bf16_row;
}

}  // namespace herd::kernels::avx512bf16
