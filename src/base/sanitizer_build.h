// Whether this translation unit is built under AddressSanitizer or ThreadSanitizer
// (GCC defines __SANITIZE_ADDRESS__ / __SANITIZE_THREAD__, clang answers
// __has_feature), and the repetition count of randomized property tests there.
//
// A property test that repeats a randomized trial many times (random walks,
// random logits) runs every code path in its first few trials; the rest add
// inputs, not paths. Sanitizers slow such loops 5-15x, so under them those tests
// run about a quarter of their trials: tools/test.sh's sanitizer stages look for
// memory and thread errors on the same paths, and the Release ctest runs the full
// count. Use only for repetition counts, never for tolerances or for which cases run.
#pragma once

namespace herd {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitizedBuild = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kSanitizedBuild = true;
#else
inline constexpr bool kSanitizedBuild = false;
#endif
#else
inline constexpr bool kSanitizedBuild = false;
#endif

// n trials in a Release build; ceil(n / 4) under a sanitizer.
constexpr int test_repetitions(int n) { return kSanitizedBuild ? (n + 3) / 4 : n; }

}  // namespace herd
