// select_kernels: start from the reference table, then let each ISA file
// override the entries it implements.
#include "kernels/kernel_table.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "base/cpu_features.h"

namespace herd::kernels {

static bool has_avx2(const CpuFeatures& f) { return f.avx2 && f.fma && f.f16c; }
static bool has_avx512(const CpuFeatures& f) {
  return has_avx2(f) && f.avx512f && f.avx512bw && f.avx512vl;
}
static bool has_avx512vnni(const CpuFeatures& f) { return has_avx512(f) && f.avx512vnni; }
static bool has_avx512bf16(const CpuFeatures& f) { return has_avx512vnni(f) && f.avx512bf16; }
static bool has_amx(const CpuFeatures& f) {
  return has_avx512bf16(f) && f.amx_tile && f.amx_int8 && f.amx_bf16 && amx_tile_state_granted();
}

int64_t r8_prefetch_bytes() {
  static const int64_t bytes = [] {
    if (const char* env = std::getenv("HERD_R8_PREFETCH"); env != nullptr && *env != '\0') {
      char* end = nullptr;
      const long long v = std::strtoll(env, &end, 10);
      if (*end == '\0' && v >= 0 && v <= (1 << 20)) return static_cast<int64_t>(v) / 64 * 64;
      std::fprintf(stderr, "herd: ignoring HERD_R8_PREFETCH=%s (expected bytes, 0 to 1048576)\n", env);
    }
    return int64_t{detect_cpu_features().intel ? 768 : 4096};
  }();
  return bytes;
}

namespace {
// -1: not read yet; 0 / 1 (relaxed: a tile reads it once per call, and a
// switch in a test happens between calls).
std::atomic<int> g_r8_wide_decode{-1};
}  // namespace

bool r8_wide_decode() {
  int v = g_r8_wide_decode.load(std::memory_order_relaxed);
  if (v >= 0) return v == 1;
  v = detect_cpu_features().intel ? 1 : 0;
  if (const char* env = std::getenv("HERD_R8_WIDE_DECODE"); env != nullptr && *env != '\0') {
    if (std::string_view(env) == "0" || std::string_view(env) == "1") {
      v = *env - '0';
    } else {
      std::fprintf(stderr, "herd: ignoring HERD_R8_WIDE_DECODE=%s (expected 0 or 1)\n", env);
    }
  }
  int unset = -1;
  g_r8_wide_decode.compare_exchange_strong(unset, v, std::memory_order_relaxed);
  return g_r8_wide_decode.load(std::memory_order_relaxed) == 1;
}

void set_r8_wide_decode(bool wide) { g_r8_wide_decode.store(wide ? 1 : 0, std::memory_order_relaxed); }

std::vector<std::string> supported_isas() {
  CpuFeatures f = detect_cpu_features();
  std::vector<std::string> out = {"ref"};
  if (has_avx2(f)) out.push_back("avx2");
  if (has_avx512(f)) out.push_back("avx512");
  if (has_avx512vnni(f)) out.push_back("avx512vnni");
  if (has_avx512bf16(f)) out.push_back("avx512bf16");
  if (has_amx(f)) out.push_back("amx");
  return out;
}

std::vector<std::string> all_isas() { return {"ref", "avx2", "avx512", "avx512vnni", "avx512bf16", "amx"}; }

Result<KernelTable> select_kernels(const std::string& requested) {
  std::string isa = requested;
  if (isa == "auto") {
    const char* env = std::getenv("HERD_ISA");
    isa = env && *env ? env : "auto";
  }
  CpuFeatures f = detect_cpu_features();
  if (isa == "auto") isa = has_amx(f) ? "amx" : has_avx512bf16(f) ? "avx512bf16" : has_avx512vnni(f) ? "avx512vnni" : has_avx512(f) ? "avx512" : has_avx2(f) ? "avx2" : "ref";
  KernelTable t = ref_kernels();
  if (isa == "ref") return t;
  if (isa == "avx2" || isa == "avx512" || isa == "avx512vnni" || isa == "avx512bf16" || isa == "amx") {
    if (!has_avx2(f)) return err(ErrorCode::kUnsupported, "ISA %s requested but this CPU lacks AVX2/FMA/F16C", isa.c_str());
    avx2::fill_table(&t);
    avx2::fill_table_q8(&t);
    avx2::fill_table_attention(&t);
    avx2::fill_table_r8(&t);
    avx2::fill_table_f32_r8(&t);
    avx2::fill_table_silu(&t);
    avx2::fill_table_gemm_nn(&t);
    avx2::fill_table_gelu(&t);
    avx2::fill_table_adamw(&t);
    avx2::fill_table_row_to_f32(&t);
    // No bf16 kernels below avx512bf16: F16/BF16 matmuls use the f32 row dots
    // (the reference's scalar bf16 tile stays for ISA "ref" only).
    t.round_bf16 = nullptr;
    for (TileDotBf16Fn& e : t.tile_bf16) e = nullptr;
    t.gemm_bf16_pairs = nullptr;
    t.isa = "avx2";
    if (isa != "avx2") {
      if (!has_avx512(f))
        return err(ErrorCode::kUnsupported, "ISA %s requested but this CPU lacks AVX-512 F/BW/VL", isa.c_str());
      avx512::fill_table(&t);
      avx512::fill_table_attention(&t);
      avx512::fill_table_gemm_nn(&t);
      t.isa = "avx512";
    }
    if (isa == "avx512vnni" || isa == "avx512bf16" || isa == "amx") {
      if (!has_avx512vnni(f))
        return err(ErrorCode::kUnsupported, "ISA %s requested but this CPU lacks AVX512_VNNI", isa.c_str());
      avx512vnni::fill_table(&t);
      avx512vnni::fill_table_r8(&t);
      t.isa = "avx512vnni";
    }
    if (isa == "avx512bf16" || isa == "amx") {
      if (!has_avx512bf16(f))
        return err(ErrorCode::kUnsupported, "ISA %s requested but this CPU lacks AVX512_BF16", isa.c_str());
      avx512bf16::fill_table(&t);
      avx512bf16::fill_table_r16(&t);
      avx512bf16::fill_table_gemm_bf16_pairs(&t);
      avx512bf16::fill_table_row_to_bf16(&t);
      avx512bf16::fill_table_gemm_nn_bf16(&t);
      // F16/BF16 take the bf16 path (r16 layout), not the f32 r8 tile.
      for (TileDotF32R8Fn& e : t.tile_f32_r8) e = nullptr;
      t.isa = "avx512bf16";
    }
    if (isa == "amx") {
      if (!f.amx_tile || !f.amx_int8 || !f.amx_bf16)
        return err(ErrorCode::kUnsupported, "ISA amx requested but this CPU lacks AMX-TILE/AMX-INT8/AMX-BF16");
      if (!amx_tile_state_granted())
        return err(ErrorCode::kUnsupported, "ISA amx requested but the kernel did not grant the AMX tile state (arch_prctl)");
      amx::fill_table_r8(&t);
      amx::fill_table_r16(&t);
      amx::fill_table_gemm_nn_bf16(&t);
      amx::fill_table_gemm_bf16_pairs(&t);
      t.isa = "amx";
    }
    return t;
  }
  return err(ErrorCode::kInvalidArgument, "unknown ISA '%s' (expected ref, avx2, avx512, avx512vnni, avx512bf16, amx or auto)", isa.c_str());
}

}  // namespace herd::kernels
