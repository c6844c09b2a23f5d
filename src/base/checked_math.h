// Overflow-checked size arithmetic for parsers of untrusted files.
//
// Every count, size and offset read from a file is combined with these, never
// with bare * and +, so a hostile value cannot wrap around to a small number
// (the class of bug behind several GGUF loader CVEs). Each returns false on
// overflow and leaves *out unspecified.
#pragma once

#include <cstdint>

namespace herd {

inline bool checked_add(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_add_overflow(a, b, out); }
inline bool checked_mul(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_mul_overflow(a, b, out); }

// Rounds x up to a multiple of `align` (a power of two > 0).
inline bool checked_align_up(uint64_t x, uint64_t align, uint64_t* out) {
  uint64_t t;
  if (!checked_add(x, align - 1, &t)) return false;
  *out = t & ~(align - 1);
  return true;
}

}  // namespace herd
