// The bandwidth probe's readers all read every byte: each returns the plain sum of
// the buffer's 64-bit words, for any prefetch distance.
#include "kernels/read_bandwidth.h"

#include <gtest/gtest.h>

#include <numeric>
#include <random>
#include <vector>

#include "base/cpu_features.h"

namespace herd::kernels {
namespace {

TEST(ReadBandwidth, EveryReaderSumsEveryWord) {
  std::vector<uint64_t> words(3 * 4096 / 8 + 32);  // 3 pages and one 256-byte step
  std::mt19937_64 rng(7);
  for (auto& w : words) w = rng();
  const uint64_t want = std::accumulate(words.begin(), words.end(), uint64_t{0});
  const auto* p = reinterpret_cast<const uint8_t*>(words.data());
  const size_t n = words.size() * 8;
  const CpuFeatures cpu = detect_cpu_features();
  for (size_t pf : {size_t{0}, size_t{256}, size_t{4096}}) {
    EXPECT_EQ(read_sum_ref(p, n, pf), want) << "prefetch " << pf;
    if (cpu.avx2) {
      EXPECT_EQ(read_sum_avx2(p, n, pf), want) << "prefetch " << pf;
    }
    if (cpu.avx512f) {
      EXPECT_EQ(read_sum_avx512(p, n, pf), want) << "prefetch " << pf;
    }
  }
  // Control: a changed word changes the sum.
  words[5] += 1;
  EXPECT_NE(read_sum_ref(p, n, 0), want);
}

TEST(ReadBandwidth, MeasuresSomething) {
  ThreadPool pool(2);
  const ReadBandwidth bw = measure_read_bandwidth(pool, size_t{8} << 20, 1);
  EXPECT_GT(bw.gbs, 0.1);
  EXPECT_STRNE(bw.reader, "");
}

}  // namespace
}  // namespace herd::kernels
