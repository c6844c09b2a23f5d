// Linear-time tripwire for Tokenizer::encode (issue 3: "no quadratic blow-up").
//
// This is not a performance assertion: absolute times depend on the machine, the build
// type and whatever else runs. It compares encode time at two sizes of the same kind of
// input on the same machine within one process. Linear cost gives a ratio of 16 for 16x
// the bytes; an O(n^2) pre-tokenizer or merge loop gives ~256 (O(n^1.5) ~64). The bound
// 40 leaves 2.5x for noise (cache misses once 16 MB no longer fits, a busy shared CPU)
// while still catching anything super-linear. Times are the thread's CPU time
// (CLOCK_THREAD_CPUTIME_ID), not wall time, so being descheduled on a busy shared
// machine does not count; the small size is the best of 3 runs and the large one the
// best of 2. A comparison that fails is repeated up to twice more and the test fails
// only if every attempt does: noise (another job thrashing the cache) is transient,
// while a super-linear encode fails every attempt by a wide margin. About 3 s in
// Release; in sanitizer builds the ratio holds as both sizes slow down alike.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdint>
#include <string>
#include <time.h>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace herd::tokenizer {
namespace {

const Tokenizer& llama3() {
  static const Tokenizer* t = [] {
    auto r = Tokenizer::llama3();
    if (!r) {
      ADD_FAILURE() << r.error().to_string();
      std::abort();
    }
    return new Tokenizer(std::move(*r));
  }();
  return *t;
}

// Multilingual text of about `bytes` bytes: sentences in 14 languages and code, joined
// with varying whitespace and numbers so that pieces do not simply repeat in lockstep.
std::string multilingual(size_t bytes) {
  static const char* const kSentences[] = {
      "The quick brown fox jumps over the lazy dog. ",
      "Der schnelle braune Fuchs springt über den faulen Hund. ",
      "Le cœur a ses raisons que la raison ne connaît point. ",
      "Nel mezzo del cammin di nostra vita mi ritrovai per una selva oscura. ",
      "Não sei se você já ouviu falar da canção. ",
      "¿Dónde está la biblioteca? ¡No lo sé! ",
      "भारत एक विशाल और विविधतापूर्ण देश है। ",
      "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ ",
      "我爱北京天安门，天安门上太阳升。",
      "吾輩は猫である。名前はまだ無い。",
      "대한민국의 수도는 서울입니다. ",
      "Съешь же ещё этих мягких французских булок, да выпей чаю. ",
      "اللغة العربية هي لغة القرآن الكريم. ",
      "ירושלים היא בירת ישראל. ",
      "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }\n",
      "I'm sure you're right, it's 'quoted' 😀👍🏽🇫🇷\n",
  };
  static const char* const kGaps[] = {" ", "\n", "  ", "\t", "\r\n", "\n\n    "};
  constexpr size_t kN = sizeof(kSentences) / sizeof(kSentences[0]);
  std::string s;
  s.reserve(bytes + 256);
  uint64_t x = 88172645463325252ull;  // xorshift64: deterministic, no <random> needed
  while (s.size() < bytes) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s += kSentences[x % kN];
    s += std::to_string(x % 100000);
    s += kGaps[(x >> 20) % 6];
  }
  s.resize(bytes);  // may cut a UTF-8 sequence: encode is total, decode still round-trips
  return s;
}

// A line with no spaces: letters only, one pre-token as long as the input.
std::string no_space_line(size_t bytes) {
  std::string s;
  s.reserve(bytes);
  for (size_t i = 0; s.size() < bytes; ++i) s += "abcdefghijklmnopqrstuvwxyz"[(i * 7 + i / 26) % 26];
  return s;
}

// CPU time this thread has used: unlike wall time, not advanced while the
// thread waits for a core.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double seconds_to_encode(const std::string& text, int runs, size_t* n_tokens) {
  double best = 1e30;
  for (int r = 0; r < runs; ++r) {
    const double t0 = thread_cpu_seconds();
    std::vector<int32_t> ids = llama3().encode(text, false);
    best = std::min(best, thread_cpu_seconds() - t0);
    *n_tokens = ids.size();
  }
  return best;
}

// slack: how far above the size ratio the time ratio may go before it counts as
// super-linear (see the file comment and each test).
void expect_linear(const std::string& small, const std::string& large, double slack,
                   const char* what) {
  size_t small_tokens = 0, large_tokens = 0;
  (void)seconds_to_encode(small, 1, &small_tokens);  // warm-up: vocab pages, allocator
  const double size_ratio = double(large.size()) / double(small.size());
  double t_small = 0, t_large = 0, ratio = 0;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    t_small = seconds_to_encode(small, 3, &small_tokens);
    t_large = seconds_to_encode(large, 2, &large_tokens);
    ratio = t_large / std::max(t_small, 1e-6);
    std::printf("%s (attempt %d): %zu bytes %.3f s, %zu bytes %.3f s, time ratio %.1f for %.0fx the bytes\n",
                what, attempt, small.size(), t_small, large.size(), t_large, ratio, size_ratio);
    if (ratio <= slack * size_ratio) break;
  }
  EXPECT_LE(ratio, slack * size_ratio)
      << what << ": " << small.size() << " bytes took " << t_small << " s, " << large.size()
      << " bytes took " << t_large << " s (ratio " << ratio << " for " << size_ratio
      << "x the bytes): encode is super-linear";
  // The large text does proportionally as much work: a token count far off the size
  // ratio would mean the inputs are not comparable and the timing ratio means nothing.
  EXPECT_GT(large_tokens, small_tokens * size_ratio * 0.8) << what;
  EXPECT_LT(large_tokens, small_tokens * size_ratio * 1.25) << what;
}

TEST(TokenizerScaling, SixteenMegabytesOfMultilingualTextIsLinear) {
  expect_linear(multilingual(1u << 20), multilingual(16u << 20), 2.5, "multilingual text");
}

// One 1 MB pre-token goes through the heap merge loop (bpe.h), compared with 64 KB.
// Expected cost is O(n log n), not O(n): log2 grows 16 -> 20 (x1.25), and the 1 MB
// case's working set (three index arrays plus a heap of ~1M 16-byte candidates, ~30 MB)
// falls out of cache while 64 KB's fits, which measured up to ~3.3x the size ratio on a
// shared 2-core EPYC. So the slack here is 6.25 (ratio <= 100); tiktoken-style quadratic
// merging gives ~256 and is still caught.
TEST(TokenizerScaling, OneMegabyteLineWithoutSpacesIsNotQuadratic) {
  const std::string large = no_space_line(1u << 20);
  expect_linear(no_space_line(1u << 16), large, 6.25, "no-space line");
  EXPECT_EQ(llama3().decode(llama3().encode(large, false)), large);
}

}  // namespace
}  // namespace herd::tokenizer
