// libFuzzer target for the restricted unpickler alone (unpickle_state_dict on
// arbitrary bytes), so mutations reach the opcode machine without a zip
// around them. Checks what the checkpoint reader relies on: every tensor
// names a storage that exists, with as many strides as sizes. Seeds:
// tests/fuzz_seeds/torch_pickle_fuzz/ (data.pkl of files torch.save wrote,
// and hostile pickles).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "formats/torch_pickle.h"

namespace {
volatile uint64_t g_sink;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::unique_ptr<uint8_t[]> copy(new uint8_t[size ? size : 1]);
  if (size) std::memcpy(copy.get(), data, size);
  auto sd = herd::formats::unpickle_state_dict(copy.get(), size, "fuzz");
  if (!sd.has_value()) {
    g_sink = g_sink + sd.error().to_string().size();
    return 0;
  }
  for (const herd::formats::PickledTensor& t : sd->tensors) {
    if (t.storage >= sd->storages.size() || t.shape.size() != t.stride.size()) std::abort();
    g_sink = g_sink + t.name.size() + t.offset;
  }
  return 0;
}
