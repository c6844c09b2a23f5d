// libFuzzer target for the imatrix.dat reader (model/imatrix.h): arbitrary
// bytes through parse_imatrix_dat. On success every value is read and must be
// finite and non-negative, and every entry's ncall positive, as the reader
// promises. Seeds: tests/fuzz_seeds/imatrix_fuzz/ (a file herd imatrix wrote).
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "model/imatrix.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::unique_ptr<uint8_t[]> copy(new uint8_t[size ? size : 1]);
  if (size) std::memcpy(copy.get(), data, size);
  auto f = herd::model::parse_imatrix_dat(copy.get(), size, "fuzz");
  if (!f.has_value()) return 0;
  for (const herd::model::ImatrixEntry& e : f->entries) {
    if (e.ncall < 1 || e.values.empty()) std::abort();
    for (float v : e.values)
      if (!(std::isfinite(v) && v >= 0)) std::abort();
  }
  return 0;
}
