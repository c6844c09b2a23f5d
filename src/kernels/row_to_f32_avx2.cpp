// AVX2 (F16C) row_to_f32 entries: a stored row's exact f32 values for the
// dtypes the training step converts most (kernels/matmul_t.cpp converts every
// weight chunk of the transposed product; ops.cpp's exact f32 path every
// block-quantized row of the forward; Q6_K is llama.cpp's usual output head). The reference's scalar loops
// (tensor/quant.cpp dequantize_row_ref) spent 15-29% of a 3.2-1B LoRA step
// on them (F16 base, perf, 2 threads).
//
// Each value is the reference's bits: F16 and BF16 widen exactly (F16C's
// vcvtph2ps, a 16-bit shift), Q8_0 / Q4_0 compute float(q) * d with d
// the block's f16 scale widened exactly, one rounding, as the reference's
// `static_cast<float>(v) * d` does, and Q6_K fl(d * scale) * q likewise. kernels_test RowToF32EqualsReferenceDequantizer
// checks every ISA bit for bit.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/kernel_table.h"
#include "kernels/quant_unpack_inl.h"
#include "base/half.h"

namespace herd::kernels::avx2 {
namespace {

float widen_f16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

void f16_to_f32_row(const void* src, float* dst, int64_t K) {
  const auto* p = static_cast<const uint8_t*>(src);
  int64_t i = 0;
  for (; i + 8 <= K; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * i))));
  for (; i < K; ++i) dst[i] = widen_f16(p + 2 * i);
}

void bf16_to_f32_row(const void* src, float* dst, int64_t K) {
  const auto* p = static_cast<const uint8_t*>(src);
  int64_t i = 0;
  for (; i + 8 <= K; i += 8) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * i));
    _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(v), 16)));
  }
  for (; i < K; ++i) {
    uint16_t h;
    std::memcpy(&h, p + 2 * i, 2);
    dst[i] = bf16_to_f32(h);
  }
}

// Q8_0 block (34 bytes): f16 d, then 32 int8 values.
void q8_0_to_f32_row(const void* src, float* dst, int64_t K) {
  const auto* b = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < K; i += 32, b += 34) {
    const __m256 d = _mm256_set1_ps(widen_f16(b));
    for (int j = 0; j < 32; j += 8) {
      const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b + 2 + j));
      _mm256_storeu_ps(dst + i + j, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d));
    }
  }
}

// Q4_0 block (18 bytes, kernels/quant_unpack_inl.h): each value (nibble - 8) * d.
void q4_0_to_f32_row(const void* src, float* dst, int64_t K) {
  const auto* b = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < K; i += 32, b += 18) {
    const __m256 d = _mm256_set1_ps(widen_f16(b));
    __m128i lo, hi;
    q4_0_values(b + 2, &lo, &hi);
    const __m128i halves[2] = {lo, hi};
    for (int h = 0; h < 2; ++h) {
      const __m128i v = halves[h];
      _mm256_storeu_ps(dst + i + 16 * h, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)), d));
      _mm256_storeu_ps(dst + i + 16 * h + 8,
                       _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(v, 8))), d));
    }
  }
}

// Q6_K super-block (210 bytes, 256 elements): ql[128] low nibbles, qh[64]
// two high bits each, int8 scales[16], f16 d. Element groups of 16 share
// scale (d * scale); each value is fl(d * scale) * (q - 32), the reference's
// order (tensor/quant_kquants.cpp, as ggml).
void q6_k_to_f32_row(const void* src, float* dst, int64_t K) {
  for_each_q6_k_group(static_cast<const uint8_t*>(src), K, [dst](int64_t i, float s, __m128i q) {
    const __m256 ds = _mm256_set1_ps(s);
    _mm256_storeu_ps(dst + i, _mm256_mul_ps(ds, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q))));
    _mm256_storeu_ps(dst + i + 8, _mm256_mul_ps(ds, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q, 8)))));
  });
}

}  // namespace

void fill_table_row_to_f32(KernelTable* t) {
  t->row_to_f32[static_cast<int>(DType::kF16)] = f16_to_f32_row;
  t->row_to_f32[static_cast<int>(DType::kBF16)] = bf16_to_f32_row;
  t->row_to_f32[static_cast<int>(DType::kQ8_0)] = q8_0_to_f32_row;
  t->row_to_f32[static_cast<int>(DType::kQ4_0)] = q4_0_to_f32_row;
  t->row_to_f32[static_cast<int>(DType::kQ6_K)] = q6_k_to_f32_row;
}

}  // namespace herd::kernels::avx2
