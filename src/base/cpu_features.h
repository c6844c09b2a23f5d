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
  bool amx_tile = false;  // CPUID: tile registers (AMX-TILE)
  bool amx_int8 = false;  // CPUID: int8 tile products (AMX-INT8)
  bool amx_bf16 = false;  // CPUID: bf16 tile products (AMX-BF16)
  bool intel = false;     // CPUID vendor "GenuineIntel" (tuning choices only, never correctness)
};

// Detected once per call (cheap); the kernel table calls it at start-up.
CpuFeatures detect_cpu_features();

// Linux hands a process the AMX tile state only on request
// (arch_prctl(ARCH_REQ_XCOMP_PERM, XTILEDATA)); a tile instruction before that
// faults. True when the request succeeded (made once per process; the grant
// is process-wide), false without AMX-TILE or where the kernel refuses.
bool amx_tile_state_granted();

}  // namespace herd
