// libFuzzer target through to a loaded model: arbitrary bytes are written to a
// file and opened with LlamaModel::load (GGUF container, llama.* metadata,
// the tensor table's names, shapes and dtypes, rope_freqs, the norms copied
// out), and a model that loads is then run for one token with the reference
// kernels, so a view the loader accepted outside the file, or a config whose
// sizes disagree with its tensors, reads out of bounds under ASan here rather
// than in a user's process. (gguf_fuzz stops at the container.)
//
// Seed mode: with HERD_FUZZ_SEED_DIR set, LLVMFuzzerInitialize writes two
// small valid models (d_model 32, one layer, vocabulary 8: f32, and q8_0 with
// an untied head) built from the tensor table; `HERD_FUZZ_SEED_DIR=dir
// ./model_load_fuzz -runs=0` only writes them. Built by cmake/fuzz.cmake
// (HERD_FUZZ=ON, clang) with ASan and UBSan; run by tools/run_fuzz.sh.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "formats/gguf_writer.h"
#include "kernels/kernel_table.h"
#include "model/llama_context.h"
#include "model/llama_model.h"
#include "model/llama_tensors.h"
#include "tensor/quant.h"

namespace {

using herd::DType;
using herd::formats::GgufValue;
using herd::formats::GgufWriter;
using herd::model::LlamaTensor;

void write_seed(const std::string& path, DType dtype, bool tied) {
  GgufWriter w;
  const int64_t D = 32, L = 1, H = 2, KV = 1, F = 64, V = 8, hd = D / H;
  w.set("general.architecture", GgufValue::string("llama"));
  w.set("llama.embedding_length", GgufValue::u32(D));
  w.set("llama.block_count", GgufValue::u32(L));
  w.set("llama.feed_forward_length", GgufValue::u32(F));
  w.set("llama.attention.head_count", GgufValue::u32(H));
  w.set("llama.attention.head_count_kv", GgufValue::u32(KV));
  w.set("llama.attention.layer_norm_rms_epsilon", GgufValue::f32(1e-5f));
  w.set("llama.rope.freq_base", GgufValue::f32(500000.0f));
  (void)w.add_tensor("rope_freqs.weight", DType::kF32, {hd / 2}, [](uint8_t* dst, uint64_t n) -> herd::Status {
    for (uint64_t i = 0; i < n / 4; ++i) {
      const float one = 1.0f + static_cast<float>(i);
      std::memcpy(dst + 4 * i, &one, 4);
    }
    return {};
  });
  const herd::model::LlamaDims dims{D, H, KV, hd, F, V};
  herd::model::for_each_file_tensor(L, [&](LlamaTensor t, int64_t il) {
    if (t == LlamaTensor::kOutput && tied) return;
    const bool norm = herd::model::llama_tensor_info(t).norm;
    const DType dt = norm ? DType::kF32 : dtype;
    const std::vector<int64_t> shape = herd::model::llama_tensor_shape(t, dims);
    (void)w.add_tensor(herd::model::gguf_tensor_name(t, il), dt, shape, [dt, shape](uint8_t* dst, uint64_t) -> herd::Status {
      const int64_t cols = shape.back(), rows = shape.size() == 2 ? shape[0] : 1;
      std::vector<float> row(static_cast<size_t>(cols));
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c) row[static_cast<size_t>(c)] = 0.01f * static_cast<float>((r * 7 + c * 3) % 11 - 5);
        herd::quantize_row_ref(dt, row.data(), dst + r * herd::row_bytes(dt, cols), cols);
      }
      return {};
    });
  });
  (void)w.write(path);
}

std::string g_path;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("HERD_FUZZ_SEED_DIR")) {
    write_seed(std::string(dir) + "/tiny_f32.gguf", DType::kF32, true);
    write_seed(std::string(dir) + "/tiny_q8_0_untied.gguf", DType::kQ8_0, false);
  }
  g_path = "/tmp/herd_model_load_fuzz_" + std::to_string(static_cast<long>(getpid())) + ".gguf";
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FILE* f = std::fopen(g_path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  herd::Result<herd::model::LlamaModel> m = herd::model::LlamaModel::load(g_path);
  if (m.has_value()) {
    static const herd::kernels::KernelTable table = *herd::kernels::select_kernels("ref");
    static herd::ThreadPool pool(1);
    herd::model::LlamaContext ctx(*m, 2, 1, herd::kernels::ExecContext{&pool, &table}, DType::kF32, DType::kF32);
    std::vector<float> logits;
    const int32_t tok = 0;
    (void)ctx.eval({&tok, 1}, false, &logits);
  }
  std::remove(g_path.c_str());
  return 0;
}
