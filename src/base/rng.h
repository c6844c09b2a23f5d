// Counter-based random numbers: value = hash(seed, stream, counter).
//
// A counter-based generator (SplitMix64 finaliser over the three inputs) makes
// every draw addressable: a request's sampling stream or a tensor's random
// weights do not depend on what else was drawn before, on thread count or on
// batch composition. Rng is a small value type; copy it freely.
#pragma once

#include <cmath>
#include <cstdint>

namespace herd {

inline uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// A fast approximately-normal draw from one 64-bit value: sum of its four 16-bit
// uniforms (Irwin-Hall), centred and scaled to unit variance. Tails are bounded at
// +-2*sqrt(3), which suits random weights (make-model's writers); exact normality is
// not what the tests rely on. Use with Rng::at(i) for values in any order or thread.
inline float approx_normal(uint64_t r) {
  const uint32_t s = static_cast<uint32_t>(r & 0xffff) + static_cast<uint32_t>((r >> 16) & 0xffff) +
                     static_cast<uint32_t>((r >> 32) & 0xffff) + static_cast<uint32_t>(r >> 48);
  return (static_cast<float>(s) * (1.0f / 65536.0f) - 2.0f) * 1.7320508f;
}

class Rng {
 public:
  Rng(uint64_t seed, uint64_t stream) : key_(mix64(seed ^ mix64(stream + 0x632be59bd9b4e019ull))) {}

  // The i-th 64-bit value of this stream.
  uint64_t at(uint64_t i) const { return mix64(key_ ^ mix64(i)); }
  uint64_t next_u64() { return at(counter_++); }
  // Uniform in [0, 1) with 24 bits of precision (exactly representable floats).
  float next_float() { return static_cast<float>(next_u64() >> 40) * (1.0f / 16777216.0f); }
  // Uniform in [0, 1) with 53 bits.
  double next_double() { return static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0); }
  // Standard normal via Box-Muller (one value per two draws; simple and exact enough).
  float next_normal() {
    double u1 = (static_cast<double>(next_u64() >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = next_double();
    return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }
  uint64_t counter() const { return counter_; }

 private:
  uint64_t key_;
  uint64_t counter_ = 0;
};

}  // namespace herd
