// What the CPU this process runs on can execute, read once with CPUID.
#pragma once

namespace herd {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512vnni = false;
  bool avx512bf16 = false;
};

// Detected once per call (cheap); the kernel table calls it at start-up.
CpuFeatures detect_cpu_features();

}  // namespace herd
