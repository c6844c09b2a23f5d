// AdamW's element update and its blockwise 8-bit moments (train/optimizer.h
// is the optimizer; this is the arithmetic it runs, here so that the scalar
// specification and the vector forms sit side by side as the other kernels do).
//
// adamw_f32_ref: PyTorch 1.13 AdamW's f32 update per element, in torch's
// order (decoupled decay, m, v, denom = sqrt(v) / sqrt(bc2) + eps, p -= step
// * m / denom), each step one IEEE f32 operation (no fused multiply-add:
// adamw.cpp has no ISA flags, so no FMA instruction to contract into, and
// adamw_avx2.cpp turns contraction off).
//
// adamw_8bit_block_ref: bitsandbytes' AdamW8bit on one block of at most
// kMomentBlock elements: m and v decoded (map[code] * absmax), the same update,
// then coded again (absmax = max |x|; each element the nearest map value of
// min(1, max(-1, x * (1 / absmax))), the lower index on a tie; a zero block to
// the map's 0). Maps: dynamic_map(true) for m, dynamic_map(false) for v.
//
// The vector forms (adamw_avx2.cpp) run the same operations lane by lane and
// must equal these bit for bit (kernels_test.cpp AdamWKernelsEqualReference).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

namespace herd::kernels {

constexpr int64_t kMomentBlock = 256;

// One step's scalars, rounded to f32 as torch rounds Python floats for an f32 tensor.
struct AdamWConsts {
  float decay, b1, one_b1, b2, one_b2, step_size, bc2_sqrt, eps;
};

// bitsandbytes' create_dynamic_map(signed) for 8 bits and 7 exponent bits:
// 256 ascending values in [-1, 1] (signed) or [0, 1], computed in double and
// rounded to f32 once.
const std::array<float, 256>& dynamic_map(bool is_signed);

// For a map, lower_bound's answer for the smallest float of each range of 2^16
// floats of one key (the top 16 bits of moment_order): the nearest-value search starts there and moves
// up at most `steps` places (1 for both maps: their values are at least 0.7%
// apart where a range is 0.8% wide). 4 bytes of padding let a vector form read
// a 32-bit word at any index.
struct MomentMapIndex {
  std::array<uint8_t, 65536 + 4> start{};
  int steps = 0;
};
const MomentMapIndex& moment_map_index(bool is_signed);

// x's bits made monotone (larger value, larger word); the top 16 bits are its key.
inline uint32_t moment_order(uint32_t bits) { return bits ^ (static_cast<uint32_t>(static_cast<int32_t>(bits) >> 31) | 0x80000000u); }
// A float's moment_order, and the float of an order word (its inverse).
inline uint32_t moment_order_of(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return moment_order(u);
}
inline float moment_value_of(uint32_t order) {
  const uint32_t bits = (order & 0x80000000u) != 0 ? order & 0x7fffffffu : ~order;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// The code quantize_moment_block_ref gives one value s = min(1, max(-1, x * r)).
uint8_t moment_code_ref(float s, bool is_signed);

// The same codes from the key alone plus two compares: for each key, the code
// of its range's smallest value in [-1, 1] (first) and the low 16 bits of
// moment_order where the code steps up inside the range (cuts: the last low
// bits before the first step, bits 0-15, and before the second, bits 16-31;
// 0xffff where there is none), so that
//   code = first[key] + (low > cut0) + (low > cut1),  low = moment_order(bits) & 0xffff.
// Built from moment_code_ref (its steps found by bisection: the code is
// monotone in s); both maps have at most two steps per key (checked while
// building). A gather of each table, side by side, replaces the map search's
// chain of dependent ones; first has 4 bytes of padding for a 32-bit gather.
struct MomentCodeCuts {
  std::array<uint8_t, 65536 + 4> first{};
  std::array<uint32_t, 65536> cuts{};
};
const MomentCodeCuts& moment_code_cuts(bool is_signed);

void adamw_f32_ref(const AdamWConsts& c, float* p, const float* g, float* m, float* v, int64_t n);
// Codes x[0, n) through map `is_signed` into codes; returns the block's absmax.
float quantize_moment_block_ref(const float* x, int64_t n, bool is_signed, uint8_t* codes);
void adamw_8bit_block_ref(const AdamWConsts& c, float* p, const float* g, uint8_t* qm, float* am, uint8_t* qv, float* av,
                          int64_t n);

}  // namespace herd::kernels
