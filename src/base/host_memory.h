// host_memory: how much memory the host can still give this process, as the
// kernel estimates it (Linux /proc/meminfo MemAvailable: free memory plus the
// page cache and reclaimable slabs it could drop). For sizing choices that trade
// memory for speed (train/finetune.h's automatic activation checkpointing);
// never for limits that must hold.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace herd {

// MemAvailable in bytes, or nothing where it cannot be read (not Linux, no /proc).
std::optional<int64_t> available_memory_bytes();

// The MemAvailable line of a /proc/meminfo text, in bytes (the parser of the above,
// for tests); nothing when the line is missing or malformed.
std::optional<int64_t> parse_mem_available(std::string_view meminfo);

}  // namespace herd
