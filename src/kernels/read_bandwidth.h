// How fast this machine streams memory into its cores: the denominator of
// `herd bench`'s decode roofline share (docs/kernels.md, "herd bench").
//
// A decode step reads every weight once, so the honest ceiling is the fastest a
// plain read of a large buffer can go on all threads. Several readers are tried,
// each pass with each, and the best rate wins: scalar 64-bit loads, 32-byte AVX2
// loads and 64-byte AVX-512 loads (where the CPU has them), each without and with
// software prefetch at a few distances ahead. If a peer's decode ever pulls more
// bytes per second than this reports, a faster reader belongs here.
//
// The buffer is anonymous memory in 4 KiB pages, as herd's repacked weights are
// (and the file mapping is when weights are read in place).
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/thread_pool.h"

namespace herd::kernels {

struct ReadBandwidth {
  double gbs = 0;               // best rate, 1e9 bytes/s
  const char* reader = "";      // the reader that reached it, e.g. "avx512+pf1024"
};

// Streams `bytes` (rounded down to 4 KiB) `passes` times with every reader.
ReadBandwidth measure_read_bandwidth(ThreadPool& pool, size_t bytes, int passes);

// One reader: the wrapping sum of the 64-bit words of [p, p + n) (n a multiple of
// 256), so the loads cannot be dropped, prefetching `prefetch` bytes ahead (0:
// none). Every reader returns the same sum (read_bandwidth_test.cpp).
using ReadSumFn = uint64_t (*)(const uint8_t* p, size_t n, size_t prefetch);
uint64_t read_sum_ref(const uint8_t* p, size_t n, size_t prefetch);
uint64_t read_sum_avx2(const uint8_t* p, size_t n, size_t prefetch);
uint64_t read_sum_avx512(const uint8_t* p, size_t n, size_t prefetch);

}  // namespace herd::kernels
