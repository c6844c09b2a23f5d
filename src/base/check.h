// Always-on and debug-only assertions for programmer errors.
//
// HERD_CHECK(cond, fmt, ...) aborts with file, line and a formatted message
// when an invariant is broken; it is always compiled in. HERD_DCHECK is for
// kernels and inner loops and compiles to nothing unless HERD_DEBUG_CHECKS is
// set (debug and sanitizer builds). Bad input is never checked with these:
// input errors are reported as a herd::Result (see result.h).
#pragma once

namespace herd::detail {
[[noreturn]] void check_failed(const char* file, int line, const char* cond, const char* fmt, ...)
    __attribute__((format(printf, 4, 5)));
}  // namespace herd::detail

#define HERD_CHECK(cond, ...)                                              \
  do {                                                                     \
    if (__builtin_expect(!(cond), 0)) {                                    \
      ::herd::detail::check_failed(__FILE__, __LINE__, #cond, __VA_ARGS__); \
    }                                                                      \
  } while (0)

#if defined(HERD_DEBUG_CHECKS)
#define HERD_DCHECK(cond, ...) HERD_CHECK(cond, __VA_ARGS__)
#else
#define HERD_DCHECK(cond, ...) \
  do {                         \
  } while (0)
#endif
