// ModelBuilder: the format-neutral half of loading. A format loader
// (GGUF, HF, Meta native) fills a LlamaConfig and hands over tensors by role; the builder
// checks shapes and dtypes against the config and assembles the LlamaModel.
// Internal to the model layer.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "formats/hf_config.h"
#include "model/llama_model.h"

namespace herd::model {

struct ModelBuilder {
  // Looks a tensor up by its file name; nullopt when absent. `file_name` is
  // how errors name it (GGUF or HF spelling).
  using Lookup = std::function<Result<std::optional<TensorView>>(const std::string& file_name)>;
  // The format's spelling of a tensor (gguf_tensor_name or hf_tensor_name,
  // model/llama_tensors.h).
  using NameFn = std::string (*)(LlamaTensor, int64_t layer);

  // Holds the layers of `range` (validated here against the config).
  static Result<LlamaModel> build(LlamaModel&& m, const Lookup& lookup, const NameFn& name, LayerRange range);

  static std::unique_ptr<formats::GgufFile>& gguf(LlamaModel& m) { return m.gguf_; }
  static std::unique_ptr<formats::HfCheckpoint>& hf(LlamaModel& m) { return m.hf_; }
  static std::vector<std::unique_ptr<formats::TorchCheckpoint>>& pth(LlamaModel& m) { return m.pth_; }
  static LlamaConfig& config(LlamaModel& m) { return m.config_; }
  // Bytes the model owns (merged model-parallel shards).
  static std::vector<std::unique_ptr<uint8_t[]>>& owned_bytes(LlamaModel& m) { return m.owned_packed_; }
  // f32 buffers the model owns (norms, FP8 row scales converted from another dtype).
  static std::vector<std::vector<float>>& owned_f32(LlamaModel& m) { return m.owned_f32_; }
  static void set_format(LlamaModel& m, ModelFormat f, std::string path) {
    m.format_ = f;
    m.path_ = std::move(path);
  }
};

Result<LlamaModel> load_gguf_model(const std::string& path, LayerRange range);
Result<LlamaModel> load_hf_model(const std::string& dir, LayerRange range);
Result<LlamaModel> load_meta_model(const std::string& dir, LayerRange range);

// The hyperparameters of an HF config.json (or of a Meta params.json read
// into one, formats/meta_params.h): dimensions, eps, theta, bos/eos and the
// llama3 RoPE frequencies. rope_style and name are the caller's.
void apply_hf_config(const formats::HfLlamaConfig& hc, LlamaConfig& c);

}  // namespace herd::model
