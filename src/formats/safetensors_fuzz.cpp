// libFuzzer target for the safetensors reader: parse arbitrary bytes from memory.
//
// Built by cmake/fuzz.cmake (HERD_FUZZ=ON, clang) with ASan and UBSan. The
// input is copied into a heap buffer of exactly its size (so ASan sees one
// byte past it), parsed, and on success every byte of every tensor is read,
// along with its view and metadata: a parse that accepted a tensor outside the
// buffer is caught here rather than later in the loader.
//
// Seed mode: with HERD_FUZZ_SEED_DIR set, LLVMFuzzerInitialize writes a small
// valid file (made with SafetensorsWriter) into that directory before fuzzing
// starts; `HERD_FUZZ_SEED_DIR=dir ./safetensors_fuzz -runs=0` only writes it.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "formats/safetensors.h"
#include "formats/safetensors_writer.h"

namespace {

using herd::Status;
using herd::formats::SafetensorsFile;
using herd::formats::SafetensorsWriter;
using herd::formats::StDType;
using herd::formats::StTensor;

volatile uint64_t g_sink;  // keeps reads from being optimized away

Status fill_pattern(uint8_t* dst, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) dst[i] = static_cast<uint8_t>(i * 13 + 5);
  return herd::Ok{};
}

void write_seeds(const std::string& dir) {
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  (void)w.add_tensor("model.embed_tokens.weight", StDType::kBF16, {4, 3}, fill_pattern);
  (void)w.add_tensor("model.norm.weight", StDType::kF32, {3}, fill_pattern);
  (void)w.add_tensor("scalar", StDType::kI64, {}, fill_pattern);
  (void)w.add_tensor("empty", StDType::kF16, {0, 2}, fill_pattern);
  (void)w.write(dir + "/seed_small.safetensors");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  if (const char* dir = std::getenv("HERD_FUZZ_SEED_DIR")) write_seeds(dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::unique_ptr<uint8_t[]> copy(new uint8_t[size ? size : 1]);
  if (size) std::memcpy(copy.get(), data, size);
  auto file = SafetensorsFile::parse(copy.get(), size, "fuzz");
  if (!file.has_value()) {
    g_sink = g_sink + file.error().to_string().size();
    return 0;
  }
  uint64_t acc = 0;
  for (const StTensor& t : file->tensors()) {
    for (uint64_t i = 0; i < t.nbytes; ++i) acc += t.data[i];
    acc += t.numel() + t.shape.size() + t.dtype_name.size();
    // TensorView::rows() divides by the last dim, so empty tensors are skipped
    // (found by this fuzzer: shape [n, 0]).
    if (auto v = t.view(); v && t.numel() > 0) acc += static_cast<uint64_t>(v->nbytes());
    if (file->find(t.name) != &t) std::abort();  // the index must agree with the list
  }
  for (const auto& [k, v] : file->metadata()) acc += k.size() + v.size();
  g_sink = g_sink + acc;
  return 0;
}
