// libFuzzer target for a sharded Hugging Face checkpoint's index,
// model.safetensors.index.json (HfCheckpoint::open): arbitrary bytes are
// written as the index of a folder that also holds two fixed, valid shards
// (a.safetensors: tensors x and y; b.safetensors: tensor z). Either open()
// refuses with an error, or every tensor it accepted is one of x, y, z with
// its bytes inside its shard, each listed once: a weight_map naming a path
// outside the folder ("../", "/etc/passwd"), a tensor in the wrong shard, a
// duplicate, or a named shard with one of its tensors missing must never be
// accepted (a shard the index does not name is simply not part of it). A crash, a sanitizer
// report or an accepted violation aborts.
//
// Seeds: tests/fuzz_seeds/hf_index_fuzz/ (the valid index, and one naming
// "../a.safetensors"). Built by cmake/fuzz.cmake (HERD_FUZZ=ON, clang) with
// ASan and UBSan; run by tools/run_fuzz.sh.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>

#include "formats/hf_checkpoint.h"
#include "formats/safetensors_writer.h"

namespace {

std::string g_dir;
volatile uint64_t g_sink;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "hf_index_fuzz: %s\n", what);
  std::abort();
}

void write_shard(const std::string& path, std::initializer_list<const char*> names) {
  herd::formats::SafetensorsWriter w;
  for (const char* n : names)
    if (!w.add_tensor(n, herd::formats::StDType::kF32, {2, 3}, [](uint8_t* dst, uint64_t nbytes) -> herd::Status {
             std::memset(dst, 0x3f, nbytes);
             return {};
           }).has_value())
      fail("seed shard");
  if (!w.write(path).has_value()) fail("writing a shard");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  char tmpl[] = "/tmp/herd_hf_index_fuzz_XXXXXX";
  if (mkdtemp(tmpl) == nullptr) fail("mkdtemp");
  g_dir = tmpl;
  write_shard(g_dir + "/a.safetensors", {"x", "y"});
  write_shard(g_dir + "/b.safetensors", {"z"});
  std::atexit([] {
    for (const char* f : {"/a.safetensors", "/b.safetensors", "/model.safetensors.index.json"})
      std::remove((g_dir + f).c_str());
    rmdir(g_dir.c_str());
  });
  if (const char* seeds = std::getenv("HERD_FUZZ_SEED_DIR")) {
    const std::string good = R"({"metadata": {"total_size": 72}, "weight_map": {"x": "a.safetensors", "y": "a.safetensors", "z": "b.safetensors"}})";
    if (FILE* f = std::fopen((std::string(seeds) + "/valid_index.json").c_str(), "wb")) {
      std::fwrite(good.data(), 1, good.size(), f);
      std::fclose(f);
    }
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string index = g_dir + "/model.safetensors.index.json";
  FILE* f = std::fopen(index.c_str(), "wb");
  if (f == nullptr) fail("cannot write the index");
  if (size > 0 && std::fwrite(data, 1, size, f) != size) fail("short write");
  std::fclose(f);
  herd::Result<herd::formats::HfCheckpoint> c = herd::formats::HfCheckpoint::open(g_dir);
  if (!c.has_value()) return 0;
  std::set<std::string> seen;
  for (const herd::formats::StTensor* t : c->tensors()) {
    if (t->name != "x" && t->name != "y" && t->name != "z") fail("accepted a tensor no shard holds");
    if (!seen.insert(t->name).second) fail("accepted a tensor twice");
    if (t->nbytes != 24) fail("accepted a tensor of the wrong size");
    uint64_t sum = 0;
    for (uint64_t i = 0; i < t->nbytes; ++i) sum += t->data[i];  // inside its shard's mapping (ASan)
    g_sink = sum;
  }
  // A shard the index names must be listed whole (x and y together); a shard it does not
  // name is not part of the checkpoint (transformers reads only the files the index lists),
  // so an index of b.safetensors alone, {"z": ...}, is a checkpoint of z.
  if (seen.count("x") != seen.count("y")) fail("accepted an index missing a shard's tensor");
  if (seen.empty()) fail("accepted an index with no tensor");
  return 0;
}
