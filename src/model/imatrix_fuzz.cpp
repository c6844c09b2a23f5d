// libFuzzer target for the imatrix readers (model/imatrix.h), .dat and GGUF:
// arbitrary bytes through parse_imatrix. On success every value is read and
// must be finite and non-negative, every .dat entry's ncall positive and every
// GGUF count finite and non-negative, as the readers promise, and the
// importance llama-quantize would use is computed. Seeds:
// tests/fuzz_seeds/imatrix_fuzz/ (files herd imatrix wrote, both formats).
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "model/imatrix.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::unique_ptr<uint8_t[]> copy(new uint8_t[size ? size : 1]);
  if (size) std::memcpy(copy.get(), data, size);
  auto f = herd::model::parse_imatrix(copy.get(), size, "fuzz");
  if (!f.has_value()) return 0;
  for (const herd::model::ImatrixEntry& e : f->entries) {
    if (e.values.empty() || (f->gguf ? !(std::isfinite(e.count) && e.count >= 0) : e.ncall < 1)) std::abort();
    for (float v : e.values)
      if (!(std::isfinite(v) && v >= 0)) std::abort();
    if (herd::model::imatrix_importance(*f, e).size() != e.values.size()) std::abort();
  }
  return 0;
}
