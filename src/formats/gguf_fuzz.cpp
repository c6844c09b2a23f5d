// libFuzzer target for the GGUF reader: parse arbitrary bytes from memory.
//
// Built by cmake/fuzz.cmake (HERD_FUZZ=ON, clang) with ASan and UBSan; run by
// tools/run_fuzz.sh. A successful parse is followed by touching every value
// accessor and the first and last byte of every tensor, so a parse that
// accepted an out-of-bounds tensor or a malformed value is caught by ASan
// here rather than later in the loader.
//
// Seed mode: with HERD_FUZZ_SEED_DIR set, LLVMFuzzerInitialize writes a few
// small valid GGUF files (made with GgufWriter) into that directory before
// fuzzing starts; `HERD_FUZZ_SEED_DIR=dir ./gguf_fuzz -runs=0` only writes them.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "formats/gguf.h"
#include "formats/gguf_writer.h"

namespace {

using herd::DType;
using herd::Status;
using herd::formats::GgufFile;
using herd::formats::GgufType;
using herd::formats::GgufValue;
using herd::formats::GgufWriter;

volatile uint64_t g_sink;  // keeps reads from being optimized away
void sink(uint64_t v) { g_sink = g_sink + v; }

void touch_value(const GgufValue& v) {
  sink(v.to_display_string(4).size());
  (void)v.as_uint();
  (void)v.as_int();
  (void)v.as_float();
  (void)v.as_string();
  (void)v.as_string_array();
  (void)v.as_int_array();
  (void)v.as_float_array();
  if (v.is_array() && v.array_type() == GgufType::kString && v.array_size() > 0) {
    sink(v.string_at(v.array_size() - 1).size());
  }
  for (const auto& e : v.array_elems()) touch_value(e);
}

GgufWriter::FillFn fill_bytes(uint8_t seed) {
  return [seed](uint8_t* dst, uint64_t n) -> Status {
    for (uint64_t i = 0; i < n; ++i) dst[i] = static_cast<uint8_t>(seed + i);
    return herd::Ok{};
  };
}

void write_seed(const std::string& dir, const char* name, GgufWriter& w) {
  std::string path = dir + "/" + name;
  Status st = w.write(path);
  if (!st) std::fprintf(stderr, "gguf_fuzz: cannot write seed %s: %s\n", path.c_str(),
                        st.error().to_string().c_str());
}

void write_seeds(const std::string& dir) {
  {
    GgufWriter w;
    w.set("general.architecture", GgufValue::string("llama"));
    w.set("llama.block_count", GgufValue::u32(2));
    w.set("llama.rope.freq_base", GgufValue::f32(500000.0f));
    w.set("tokenizer.ggml.tokens", GgufValue::string_array({"a", "b", "ab", "<|begin_of_text|>"}));
    w.set("tokenizer.ggml.token_type", GgufValue::i32_array({1, 1, 1, 3}));
    w.set("tokenizer.ggml.merges", GgufValue::string_array({"a b"}));
    w.set("tokenizer.ggml.add_bos_token", GgufValue::boolean(true));
    (void)w.add_tensor("token_embd.weight", DType::kF32, {4, 8}, fill_bytes(1));
    (void)w.add_tensor("blk.0.attn_q.weight", DType::kQ8_0, {2, 32}, fill_bytes(2));
    (void)w.add_tensor("output_norm.weight", DType::kF32, {8}, fill_bytes(3));
    write_seed(dir, "llama_tiny.gguf", w);
  }
  {
    GgufWriter w(64);
    w.set("a", GgufValue::array_of_arrays({GgufValue::u8_array({1, 2}), GgufValue::string_array({"x"})}));
    w.set("b", GgufValue::i64(-1));
    w.set("c", GgufValue::f64(0.25));
    w.set("d", GgufValue::u16_array({1, 2, 3}));
    w.set("e", GgufValue::empty_array(GgufType::kString));
    (void)w.add_tensor("q4k", DType::kQ4_K, {1, 256}, fill_bytes(4));
    (void)w.add_tensor("bf16", DType::kBF16, {2, 2, 2, 2}, fill_bytes(5));
    write_seed(dir, "align64_nested.gguf", w);
  }
  {
    GgufWriter w;
    w.set("only.key", GgufValue::string("no tensors"));
    write_seed(dir, "metadata_only.gguf", w);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  if (const char* dir = std::getenv("HERD_FUZZ_SEED_DIR")) write_seeds(dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  herd::Result<GgufFile> f = GgufFile::parse(data, size);
  if (!f) {
    sink(f.error().to_string().size());
    return 0;
  }
  for (const auto& kv : f->metadata()) touch_value(kv.second);
  for (const auto& t : f->tensors()) {
    sink(t.data[0] + t.data[t.nbytes - 1]);
    sink(static_cast<uint64_t>(t.view().nbytes()));
  }
  return 0;
}
