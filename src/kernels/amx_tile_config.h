// The AMX tile configuration shared by the *_amx.cpp kernels: ldtilecfg's
// 64-byte operand (palette 1) and its load. Only the AMX kernel files use it,
// after select_kernels() has seen AMX and the kernel's grant of the tile state
// (base/cpu_features.h amx_tile_state_granted).
#pragma once

#include <cstdint>

namespace herd::kernels {

struct alignas(64) AmxTileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};  // bytes per row of tile i
  uint8_t rows[16] = {};    // rows of tile i
};

// Not _tile_loadconfig: GCC 12 declares it as reading only the pointer's
// first 8 bytes, and dropped the stores of colsb and rows before it as dead
// (the first tile load then faulted). This operand covers the 64 bytes.
inline void load_tile_config(const AmxTileConfig& c) { asm volatile("ldtilecfg %0" : : "m"(c)); }

}  // namespace herd::kernels
