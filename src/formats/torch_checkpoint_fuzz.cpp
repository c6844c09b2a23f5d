// libFuzzer target for PyTorch checkpoints: the zip reader, the restricted
// unpickler and the tensor checks together (TorchCheckpoint::parse on
// arbitrary bytes).
//
// The input is copied into a heap buffer of exactly its size (so ASan sees a
// read one byte past it). On success every byte of every tensor is read: a
// parse that accepted a tensor outside the buffer is caught here. Seeds:
// tests/fuzz_seeds/torch_checkpoint_fuzz/ (small files torch.save wrote, and
// hostile ones from tests/reference/write_meta_checkpoint.py --hostile).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "formats/torch_checkpoint.h"

namespace {
volatile uint64_t g_sink;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::unique_ptr<uint8_t[]> copy(new uint8_t[size ? size : 1]);
  if (size) std::memcpy(copy.get(), data, size);
  auto c = herd::formats::TorchCheckpoint::parse(copy.get(), size, "fuzz");
  if (!c.has_value()) {
    g_sink = g_sink + c.error().to_string().size();
    return 0;
  }
  uint64_t acc = 0;
  for (const herd::formats::TorchTensor& t : c->tensors()) {
    if (t.data < copy.get() || t.data + t.nbytes > copy.get() + size) std::abort();
    for (uint64_t i = 0; i < t.nbytes; ++i) acc += t.data[i];
    if (c->find(t.name) != &t) std::abort();  // the index must agree with the list
    acc += t.numel();
  }
  g_sink = g_sink + acc;
  return 0;
}
