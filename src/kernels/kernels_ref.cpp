// The scalar reference kernels: the specification every ISA path is tested
// against. Row dots dequantize one block at a time with the tensor layer's
// reference dequantizer and accumulate in double, so their error against the
// exact dot of the dequantized weights is far below float rounding.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/check.h"
#include "base/half.h"

#include "kernels/adamw.h"
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

void axpy_rows_f32_ref(const float* a, int64_t rows, const float* x, int64_t x_stride, float* y, int64_t n) {
  for (int64_t r = 0; r < rows; ++r) axpy_f32_ref(a[r], x + r * x_stride, y, n);
}

void axpy_rows_tokens_f32_ref(const float* a, int64_t a_stride, int64_t rows, const float* x, int64_t x_stride,
                              int64_t n_tok, float* out, int64_t out_stride, int64_t n) {
  for (int64_t t = 0; t < n_tok; ++t) axpy_rows_f32_ref(a + t * a_stride, rows, x, x_stride, out + t * out_stride, n);
}

// silu(z) * u with libm's expf (within 1 ulp): z / (1 + exp(-z)) * u.
void silu_mul_ref(float* g, const float* u, int64_t n) {
  for (int64_t i = 0; i < n; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

// The softmax row with libm's expf (within 1 ulp) and a double sum.
void softmax_row_ref(float* s, int64_t n) {
  float m = -INFINITY;
  for (int64_t j = 0; j < n; ++j) m = std::max(m, s[j]);
  double sum = 0;
  for (int64_t j = 0; j < n; ++j) {
    s[j] = std::exp(s[j] - m);
    sum += s[j];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t j = 0; j < n; ++j) s[j] *= inv;
}

void gelu_f32_ref(float* x, int64_t n) {
  constexpr float kInvSqrt2 = 0.70710678118654752440f;
  for (int64_t i = 0; i < n; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * kInvSqrt2));
}

void gemm_nn_f32_ref(const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t M,
                     int64_t N, int64_t K) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      float acc = 0.0f;
      for (int64_t k = 0; k < K; ++k) acc = std::fma(a[i * lda + k], b[k * ldb + j], acc);
      c[i * ldc + j] = acc;
    }
}

void f32_to_f16_ref(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_f16(src[i]);
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
      // Round half to even. A NaN (a hostile file's weights reach here as
      // activations) becomes 0 instead of an undefined conversion; finite
      // values are within +-127 already, so the clamp changes none of them.
      const float v = x[j] * id;
      const int q = v == v ? static_cast<int>(std::nearbyint(std::clamp(v, -127.0f, 127.0f))) : 0;
      y[b].qs[j] = static_cast<int8_t>(q);
      s += q;
    }
    y[b].d = d;
    y[b].s = s;
    y[b].ds = d * static_cast<float>(s);  // s is exact in f32 (|s| <= 32 * 127)
  }
}

// Weight block b (elements 32b..32b+31) of a row as 32 integers, the f32
// scale of each 16-element half and an offset: w_j = dsc[j / 16] * q[j] - dmin
// (the f32 products d * sc and dmin * m are exact: 11 x 8 significant bits).
struct WeightInts {
  int q[32];
  float dsc[2];
  float dmin = 0.0f;  // Q4_K's / Q5_K's dmin * m, Q4_1's / Q5_1's -m; 0 for the symmetric formats
};

template <DType T>
void weight_block_ints(const uint8_t* row, int64_t b, WeightInts* w);

template <>
void weight_block_ints<DType::kQ8_0>(const uint8_t* row, int64_t b, WeightInts* w) {
  const uint8_t* p = row + b * 34;
  uint16_t dh;
  std::memcpy(&dh, p, 2);
  for (int j = 0; j < 32; ++j) w->q[j] = static_cast<int8_t>(p[2 + j]);
  w->dsc[0] = w->dsc[1] = f16_to_f32(dh);
}

template <>
void weight_block_ints<DType::kQ4_0>(const uint8_t* row, int64_t b, WeightInts* w) {
  const uint8_t* p = row + b * 18;
  uint16_t dh;
  std::memcpy(&dh, p, 2);
  for (int j = 0; j < 16; ++j) {
    w->q[j] = (p[2 + j] & 0x0f) - 8;
    w->q[j + 16] = (p[2 + j] >> 4) - 8;
  }
  w->dsc[0] = w->dsc[1] = f16_to_f32(dh);
}

// Q4_1 (f16 d @0, f16 m @2, qs[16] @4): w = d q + m, so dmin = -m.
template <>
void weight_block_ints<DType::kQ4_1>(const uint8_t* row, int64_t b, WeightInts* w) {
  const uint8_t* p = row + b * 20;
  uint16_t dh, mh;
  std::memcpy(&dh, p, 2);
  std::memcpy(&mh, p + 2, 2);
  for (int j = 0; j < 16; ++j) {
    w->q[j] = p[4 + j] & 0x0f;
    w->q[j + 16] = p[4 + j] >> 4;
  }
  w->dsc[0] = w->dsc[1] = f16_to_f32(dh);
  w->dmin = -f16_to_f32(mh);
}

// Q5_0 (f16 d @0, u32 qh @2, qs[16] @6) and Q5_1 (f16 d @0, f16 m @2, u32 qh
// @4, qs[16] @8): Q4_0's / Q4_1's nibbles with bit j of qh as element j's
// fifth bit; Q5_0 is q - 16, Q5_1 d q + m.
template <DType T>
void q5_block_ints(const uint8_t* row, int64_t b, WeightInts* w) {
  constexpr bool kMin = T == DType::kQ5_1;
  const uint8_t* p = row + b * (kMin ? 24 : 22);
  uint16_t dh, mh;
  uint32_t qh;
  std::memcpy(&dh, p, 2);
  std::memcpy(&mh, p + 2, 2);
  std::memcpy(&qh, p + (kMin ? 4 : 2), 4);
  const uint8_t* qs = p + (kMin ? 8 : 6);
  for (int j = 0; j < 16; ++j) {
    w->q[j] = ((qs[j] & 0x0f) | static_cast<int>(((qh >> j) & 1u) << 4)) - (kMin ? 0 : 16);
    w->q[j + 16] = ((qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4)) - (kMin ? 0 : 16);
  }
  w->dsc[0] = w->dsc[1] = f16_to_f32(dh);
  w->dmin = kMin ? -f16_to_f32(mh) : 0.0f;
}

template <>
void weight_block_ints<DType::kQ5_0>(const uint8_t* row, int64_t b, WeightInts* w) {
  q5_block_ints<DType::kQ5_0>(row, b, w);
}

template <>
void weight_block_ints<DType::kQ5_1>(const uint8_t* row, int64_t b, WeightInts* w) {
  q5_block_ints<DType::kQ5_1>(row, b, w);
}

// Q6_K super-block of 256 (ql[128] @0, qh[64] @128, int8 scales[16] @192, f16
// d @208; tensor/quant_kquants.cpp). Its 32-block k = b % 8 is chunk n = k / 4,
// group g = k % 4: low 4 bits from ql[64n + 32(g & 1) + j] (low nibble for
// g < 2, high for g >= 2), top 2 bits from qh[32n + j] bits 2g..2g+1, minus 32;
// the halves use scales[8n + 2g] and scales[8n + 2g + 1].
template <>
void weight_block_ints<DType::kQ6_K>(const uint8_t* row, int64_t b, WeightInts* w) {
  const uint8_t* sb = row + (b / 8) * 210;
  const int k = static_cast<int>(b % 8), n = k / 4, g = k % 4;
  const uint8_t* ql = sb + 64 * n + 32 * (g & 1);
  const uint8_t* qh = sb + 128 + 32 * n;
  const int8_t* sc = reinterpret_cast<const int8_t*>(sb + 192) + 8 * n + 2 * g;
  uint16_t dh;
  std::memcpy(&dh, sb + 208, 2);
  for (int j = 0; j < 32; ++j) w->q[j] = (((ql[j] >> (4 * (g >> 1))) & 0x0f) | (((qh[j] >> (2 * g)) & 3) << 4)) - 32;
  const float d = f16_to_f32(dh);
  w->dsc[0] = d * static_cast<float>(sc[0]);
  w->dsc[1] = d * static_cast<float>(sc[1]);
}

// Q4_K / Q5_K sub-block k's 6-bit scale and min from the 12 scale bytes at sc
// (tensor/quant_kquants.cpp), as the f32 products d * scale and dmin * min.
void k_scale_min(const uint8_t* sb, int k, WeightInts* w) {
  const uint8_t* sc = sb + 4;
  int s, m;
  if (k < 4) {
    s = sc[k] & 63;
    m = sc[k + 4] & 63;
  } else {
    s = (sc[k + 4] & 0x0f) | ((sc[k - 4] >> 6) << 4);
    m = (sc[k + 4] >> 4) | ((sc[k] >> 6) << 4);
  }
  uint16_t dh, mh;
  std::memcpy(&dh, sb, 2);
  std::memcpy(&mh, sb + 2, 2);
  w->dsc[0] = w->dsc[1] = f16_to_f32(dh) * static_cast<float>(s);
  w->dmin = f16_to_f32(mh) * static_cast<float>(m);
}

// Q4_K super-block of 256 (f16 d @0, f16 dmin @2, scales[12] @4, qs[128] @16;
// tensor/quant_kquants.cpp): 32-block k = b % 8 is the low (k even) or high
// (k odd) nibbles of qs[32 (k / 2) ..], scale and min the 6-bit pair k of the
// 12 scale bytes.
template <>
void weight_block_ints<DType::kQ4_K>(const uint8_t* row, int64_t b, WeightInts* w) {
  const uint8_t* sb = row + (b / 8) * 144;
  const int k = static_cast<int>(b % 8);
  const uint8_t* qs = sb + 16 + 32 * (k / 2);
  for (int j = 0; j < 32; ++j) w->q[j] = (qs[j] >> (4 * (k & 1))) & 0x0f;
  k_scale_min(sb, k, w);
}

// Q5_K super-block of 256 (f16 d @0, f16 dmin @2, scales[12] @4, qh[32] @16,
// qs[128] @48): Q4_K's nibbles and scales plus a fifth bit, bit k of qh[j]
// for element j of 32-block k, so q in [0, 31].
template <>
void weight_block_ints<DType::kQ5_K>(const uint8_t* row, int64_t b, WeightInts* w) {
  const uint8_t* sb = row + (b / 8) * 176;
  const int k = static_cast<int>(b % 8);
  const uint8_t* qh = sb + 16;
  const uint8_t* qs = sb + 48 + 32 * (k / 2);
  for (int j = 0; j < 32; ++j) w->q[j] = ((qs[j] >> (4 * (k & 1))) & 0x0f) | (((qh[j] >> k) & 1) << 4);
  k_scale_min(sb, k, w);
}

// out = sum_b sum_h fl(dsc_h * d_x[b]) * isum_bh (isum_bh = sum over the 16
// elements of half h of q_j * qx_j, exact), summed in double; for Q8_0/Q4_0
// both halves share one scale, so this is sum_b fl(d_w d_x) isum_b. The
// formats with a min (Q4_1, Q5_1, Q4_K, Q5_K) subtract dmin * ds_b (ds_b =
// fl(d_x[b] * s_b), s_b the sum of the block's qx), as the r8 tiles do; the
// file-layout tiles take fl(dmin * d_x[b]) times per-lane sums of qx instead,
// one rounding per block apart, inside the same derived bound.
template <DType T>
void tile_q8_ref(const uint8_t* w, int64_t w_stride, int64_t n_rows, const BlockQ8* x, int64_t x_stride,
                 int64_t n_tok, int64_t K, float* out, int64_t out_stride) {
  WeightInts wi;
  for (int64_t r = 0; r < n_rows; ++r) {
    for (int64_t t = 0; t < n_tok; ++t) {
      const BlockQ8* xb = x + t * x_stride;
      double acc = 0.0;
      for (int64_t b = 0; b < K / 32; ++b) {
        weight_block_ints<T>(w + r * w_stride, b, &wi);
        int32_t isum[2] = {0, 0};
        for (int j = 0; j < 32; ++j) isum[j / 16] += wi.q[j] * xb[b].qs[j];
        // Scale products rounded to f32, as the SIMD paths. The double products
        // (24 x 17 bits) and their sum are exact: the two scales of a Q6_K
        // block differ by at most 2^8, so the sum needs < 53 bits.
        acc += static_cast<double>(wi.dsc[0] * xb[b].d) * isum[0] + static_cast<double>(wi.dsc[1] * xb[b].d) * isum[1];
        // The min term as the r8 tiles round it: dmin times the block's stored
        // fl(d_x * s), the product exact in double (24 x 24 bits).
        if (wi.dmin != 0.0f) acc -= static_cast<double>(wi.dmin) * static_cast<double>(xb[b].ds);
      }
      out[t * out_stride + r] = static_cast<float>(acc);
    }
  }
}

// The bf16 path's specification (kernel_table.h, TileDotBf16Fn): activations
// rounded to bf16 (RNE), weights BF16 as stored, F16 rounded to bf16 (RNE of
// the exact f32 value) or FP8 e4m3 (exact in bf16: 4 significant bits, and
// its exponents 2^-9 .. 2^8 inside bf16's normal range; a row scale, if any,
// is the caller's), each product exact (8 x 8 significant bits), the sum
// in double (error <= K 2^-53 sum|x w|, far below the f32 rounding) and
// rounded once to f32.
void round_bf16_ref(const float* x, uint16_t* y, int64_t K) {
  for (int64_t j = 0; j < K; ++j) y[j] = f32_to_bf16(x[j]);
}

template <DType T>
float weight_as_bf16(const uint8_t* row, int64_t j) {
  if constexpr (T == DType::kF8_E4M3) return bf16_to_f32(f32_to_bf16(f8_e4m3_to_f32(row[j])));
  uint16_t h;
  std::memcpy(&h, row + 2 * j, 2);
  if constexpr (T == DType::kF16) return bf16_to_f32(f32_to_bf16(f16_to_f32(h)));
  return bf16_to_f32(h);
}

template <DType T>
void tile_bf16_ref(const uint8_t* w, int64_t w_stride, int64_t n_rows, const uint16_t* x, int64_t x_stride,
                   int64_t n_tok, int64_t K, float* out, int64_t out_stride) {
  for (int64_t r = 0; r < n_rows; ++r) {
    for (int64_t t = 0; t < n_tok; ++t) {
      const uint16_t* xr = x + t * x_stride;
      double acc = 0.0;
      for (int64_t j = 0; j < K; ++j)
        acc += static_cast<double>(weight_as_bf16<T>(w + r * w_stride, j)) * bf16_to_f32(xr[j]);
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

void tile_f32_r8_ref(DType t, const uint8_t* w, int64_t n_groups, const float* x, int64_t x_stride, int64_t n_tok,
                     int64_t K, float* out, int64_t out_stride) {
  HERD_CHECK((t == DType::kF16 || t == DType::kBF16) && K % 8 == 0, "tile_f32_r8_ref: %s, K=%lld", dtype_name(t),
             static_cast<long long>(K));
  for (int64_t g = 0; g < n_groups; ++g) {
    const uint8_t* grp = w + g * 16 * K;
    for (int j = 0; j < 8; ++j) {
      for (int64_t tk = 0; tk < n_tok; ++tk) {
        const float* xr = x + tk * x_stride;
        float s = 0.0f;
        for (int64_t k0 = 0; k0 < K; k0 += kF32R8Block) {
          float p = 0.0f;
          for (int64_t k = k0; k < std::min(K, k0 + kF32R8Block); ++k) {
            uint16_t h;
            std::memcpy(&h, grp + 16 * k + 2 * j, 2);
            p = std::fma(t == DType::kF16 ? f16_to_f32(h) : bf16_to_f32(h), xr[k], p);
          }
          s = k0 == 0 ? p : s + p;
        }
        out[tk * out_stride + 8 * g + j] = s;
      }
    }
  }
}

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
  set<DType::kF8_E4M3>(&t);
  t.dot_f32 = dot_f32_ref;
  t.axpy_f32 = axpy_f32_ref;
  t.axpy_rows_f32 = axpy_rows_f32_ref;
  t.axpy_rows_tokens_f32 = axpy_rows_tokens_f32_ref;
  t.silu_mul = silu_mul_ref;
  t.adamw_f32 = adamw_f32_ref;
  t.adamw_8bit_block = adamw_8bit_block_ref;
  t.softmax_row = softmax_row_ref;
  t.gelu = gelu_f32_ref;
  t.gemm_nn_f32 = gemm_nn_f32_ref;
  t.gemm_bf16_pairs = gemm_bf16_pairs_ref;
  t.f32_to_f16 = f32_to_f16_ref;
  t.quantize_q8 = quantize_q8_ref;
  t.tile_q8[static_cast<int>(DType::kQ8_0)] = tile_q8_ref<DType::kQ8_0>;
  t.tile_q8[static_cast<int>(DType::kQ4_0)] = tile_q8_ref<DType::kQ4_0>;
  t.tile_q8[static_cast<int>(DType::kQ4_1)] = tile_q8_ref<DType::kQ4_1>;
  t.tile_q8[static_cast<int>(DType::kQ5_0)] = tile_q8_ref<DType::kQ5_0>;
  t.tile_q8[static_cast<int>(DType::kQ5_1)] = tile_q8_ref<DType::kQ5_1>;
  t.tile_q8[static_cast<int>(DType::kQ6_K)] = tile_q8_ref<DType::kQ6_K>;
  t.tile_q8[static_cast<int>(DType::kQ4_K)] = tile_q8_ref<DType::kQ4_K>;
  t.tile_q8[static_cast<int>(DType::kQ5_K)] = tile_q8_ref<DType::kQ5_K>;
  t.round_bf16 = round_bf16_ref;
  t.tile_bf16[static_cast<int>(DType::kF16)] = tile_bf16_ref<DType::kF16>;
  t.tile_bf16[static_cast<int>(DType::kBF16)] = tile_bf16_ref<DType::kBF16>;
  t.tile_bf16[static_cast<int>(DType::kF8_E4M3)] = tile_bf16_ref<DType::kF8_E4M3>;
  return t;
}

void gemm_nn_bf16_ref(const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t M,
                      int64_t N, int64_t K) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0.0;
      for (int64_t k = 0; k < K; ++k)
        acc += static_cast<double>(bf16_to_f32(f32_to_bf16(a[i * lda + k]))) *
               static_cast<double>(bf16_to_f32(f32_to_bf16(b[k * ldb + j])));
      c[i * ldc + j] = static_cast<float>(acc);
    }
}

void gemm_bf16_pairs_ref(const uint16_t* a, int64_t lda, const uint32_t* b, int64_t ldb, int64_t b_panel, float* c,
                         int64_t ldc, int64_t M, int64_t N, int64_t Kp, bool accumulate) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double acc = accumulate ? static_cast<double>(c[i * ldc + j]) : 0.0;
      for (int64_t k = 0; k < Kp; ++k) {
        const uint32_t word = b[(k / 2) * ldb + (j / 16) * b_panel + j % 16];
        const auto bk = static_cast<uint16_t>(k % 2 == 0 ? word & 0xffffu : word >> 16);
        acc += static_cast<double>(bf16_to_f32(a[i * lda + k])) * static_cast<double>(bf16_to_f32(bk));
      }
      c[i * ldc + j] = static_cast<float>(acc);
    }
}

}  // namespace herd::kernels
