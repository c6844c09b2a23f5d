// host_memory.h: MemAvailable from /proc/meminfo.
#include "base/host_memory.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>

namespace herd {

std::optional<int64_t> parse_mem_available(std::string_view meminfo) {
  constexpr std::string_view kKey = "MemAvailable:";
  size_t at = 0;
  while (at < meminfo.size()) {
    const size_t end = std::min(meminfo.find('\n', at), meminfo.size());
    std::string_view line = meminfo.substr(at, end - at);
    at = end + 1;
    if (line.substr(0, kKey.size()) != kKey) continue;
    line.remove_prefix(kKey.size());
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    int64_t kb = 0;
    size_t digits = 0;
    for (; digits < line.size() && line[digits] >= '0' && line[digits] <= '9'; ++digits) {
      if (kb > (INT64_MAX / 1024 - 9) / 10) return std::nullopt;  // would overflow in bytes
      kb = kb * 10 + (line[digits] - '0');
    }
    if (digits == 0 || line.substr(digits) != " kB") return std::nullopt;
    return kb * 1024;
  }
  return std::nullopt;
}

std::optional<int64_t> available_memory_bytes() {
  std::FILE* f = std::fopen("/proc/meminfo", "r");
  if (f == nullptr) return std::nullopt;
  std::string text(8192, '\0');  // MemAvailable is the third line; the file is a few KB
  const size_t n = std::fread(text.data(), 1, text.size(), f);
  std::fclose(f);
  text.resize(n);
  return parse_mem_available(text);
}

}  // namespace herd
