// See read_bandwidth.h. The AVX2 and AVX-512 readers are in read_bandwidth_avx2.cpp
// and read_bandwidth_avx512.cpp (compiled with those flags only).
#include "kernels/read_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "base/cpu_features.h"

namespace herd::kernels {

uint64_t read_sum_ref(const uint8_t* p, size_t n, size_t prefetch) {
  const auto* q = reinterpret_cast<const uint64_t*>(p);
  const auto* end = reinterpret_cast<const uint64_t*>(p + n);
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (; q < end; q += 8) {  // one cache line per step, four independent sums
    if (prefetch) __builtin_prefetch(reinterpret_cast<const uint8_t*>(q) + prefetch);
    s0 += q[0] + q[4];
    s1 += q[1] + q[5];
    s2 += q[2] + q[6];
    s3 += q[3] + q[7];
  }
  return s0 + s1 + s2 + s3;
}

ReadBandwidth measure_read_bandwidth(ThreadPool& pool, size_t bytes, int passes) {
  bytes = std::max<size_t>(bytes / 4096 * 4096, 4096);
  std::unique_ptr<uint64_t[]> owned(new uint64_t[bytes / sizeof(uint64_t)]);
  auto* buf = reinterpret_cast<uint8_t*>(owned.get());
  for (size_t i = 0; i < bytes / sizeof(uint64_t); ++i) owned[i] = i;  // fault every page in

  struct Reader {
    ReadSumFn fn;
    const char* name;
  };
  std::vector<Reader> readers = {{read_sum_ref, "scalar"}};
  const CpuFeatures cpu = detect_cpu_features();
  if (cpu.avx2) readers.push_back({read_sum_avx2, "avx2"});
  if (cpu.avx512f) readers.push_back({read_sum_avx512, "avx512"});
  const size_t kPrefetch[] = {0, 256, 1024, 4096};

  static thread_local std::string label;  // the returned reader name outlives this call
  std::vector<uint64_t> sinks(static_cast<size_t>(pool.size()) * 8, 0);  // a cache line per worker
  ReadBandwidth best;
  const int64_t units = static_cast<int64_t>(bytes / 4096);  // 4 KiB per task unit
  for (int pass = 0; pass < passes; ++pass) {
    for (const Reader& r : readers) {
      for (size_t pf : kPrefetch) {
        const auto t0 = std::chrono::steady_clock::now();
        pool.parallel_for(units, [&](int64_t b, int64_t e, int w) {
          sinks[static_cast<size_t>(w) * 8] += r.fn(buf + b * 4096, static_cast<size_t>(e - b) * 4096, pf);
        });
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double gbs = static_cast<double>(bytes) / s / 1e9;
        if (gbs > best.gbs) {
          best.gbs = gbs;
          label = std::string(r.name) + (pf ? "+pf" + std::to_string(pf) : "");
        }
      }
    }
  }
  volatile uint64_t keep = 0;
  for (uint64_t v : sinks) keep = keep + v;
  (void)keep;
  best.reader = label.c_str();
  return best;
}

}  // namespace herd::kernels
