// LlamaModel: an opened Llama 3.x checkpoint: config, and views of every
// weight, in the file's own dtype, straight into the mmapped file.
//
// Nothing is dequantized or copied at load except the small norm vectors
// (converted to f32 when the file stores them otherwise), so resident memory
// is the file's pages that the forward pass touches. The model is immutable
// after load and may be shared by any number of LlamaContexts (which own the
// KV cache and activations).
//
// Formats: a GGUF file (general.architecture = llama), a Hugging Face
// directory (config.json + model.safetensors or shards), or Meta's native
// directory (params.json + consolidated.NN.pth; model-parallel shards are
// merged into owned memory at load, a single shard is used as mapped). Every expected tensor
// is checked for presence, dtype and shape with an error naming the tensor,
// the file, the expected and found shape, and a hint.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/progress.h"
#include "base/result.h"
#include "base/thread_pool.h"
#include "kernels/kernel_table.h"
#include "model/linear.h"
#include "model/llama_config.h"
#include "model/llama_tensors.h"
#include "model/runner.h"
#include "tensor/tensor_view.h"

namespace herd::formats {
class GgufFile;
class HfCheckpoint;
class TorchCheckpoint;
}  // namespace herd::formats

namespace herd::model {

struct LayerWeights {
  const float* attn_norm = nullptr;  // [d_model]
  Linear wq;                         // [n_heads * head_dim, d_model]
  Linear wk;                         // [n_kv_heads * head_dim, d_model]
  Linear wv;                         // [n_kv_heads * head_dim, d_model]
  Linear wo;                         // [d_model, n_heads * head_dim]
  const float* ffn_norm = nullptr;   // [d_model]
  Linear w_gate;                     // [d_ff, d_model]  (Meta w1, GGUF ffn_gate)
  Linear w_up;                       // [d_ff, d_model]  (Meta w3, GGUF ffn_up)
  Linear w_down;                     // [d_model, d_ff]  (Meta w2, GGUF ffn_down)
};

// kMeta: Meta's native checkpoint directory (params.json, consolidated.NN.pth,
// tokenizer.model).
enum class ModelFormat { kGguf, kHf, kMeta };
const char* model_format_name(ModelFormat f);  // "gguf", "hf", "meta"

// The layers one process holds, [first, last) of the model's n_layers (an MPI
// pipeline rank); last -1: to the end. The embedding table is held with layer
// 0, the final norm and LM head with the last layer.
struct LayerRange {
  int64_t first = 0;
  int64_t last = -1;
};

class LlamaModel final : public CausalLm {
 public:
  // Opens a .gguf file, a Hugging Face directory or a Meta native directory
  // (one with params.json and no config.json); with a range, only those
  // layers' tensors are looked up and held (errors: an empty or out-of-range
  // range).
  static Result<LlamaModel> load(const std::string& path, LayerRange range = {});

  LlamaModel();
  LlamaModel(LlamaModel&&) noexcept;
  LlamaModel& operator=(LlamaModel&&) noexcept;
  ~LlamaModel() override;

  // CausalLm: the engine's view (model/runner.h); the runner is a LlamaBatch.
  CausalLmShape lm_shape() const override;
  Result<std::unique_ptr<BatchRunner>> batch_runner(kv::BlockPool& kv, int64_t max_tokens, int64_t max_seq_len,
                                                    kernels::ExecContext exec) const override;

  const LlamaConfig& config() const { return config_; }
  ModelFormat format() const { return format_; }
  const std::string& path() const { return path_; }

  const TensorView& tok_embd() const { return tok_embd_; }  // [vocab_size, d_model]
  const float* output_norm() const { return output_norm_; }  // [d_model]
  const TensorView& output() const { return output_; }      // [vocab_size, d_model] (= tok_embd if tied)
  // The held layers: layers()[i] is the model's layer layer_range().first + i.
  const std::vector<LayerWeights>& layers() const { return layers_; }
  const LayerRange& layer_range() const { return range_; }  // resolved: last is set
  bool holds_embedding() const { return range_.first == 0; }
  bool holds_head() const { return range_.last == config_.n_layers; }

  // The field visitor over every matrix the forward pass multiplies by, in
  // file order: f(layer, LlamaTensor, TensorView&) (the model's layer index),
  // layer -1 for the LM head (output; the embedding table when tied) when held. The embedding lookup table is
  // not visited (it is read a row at a time, never multiplied).
  template <class F>
  void for_each_matmul_weight(F&& f) const {
    for (size_t il = 0; il < layers_.size(); ++il)
      for_each_layer_matrix(layers_[il], [&](LlamaTensor t, const TensorView& w) {
        f(range_.first + static_cast<int64_t>(il), t, w);
      });
    if (holds_head()) f(int64_t{-1}, LlamaTensor::kOutput, output_);
  }

  // Low-rank adapters (model/linear.h) on layer `layer`'s matrix t (wq .. w_down):
  // the forward pass adds their terms from the next Activations made on.
  // The adapter's memory stays the caller's. Errors: not a layer matrix,
  // layer out of range, rank < 1 or a null matrix.
  // `layer` is the model's index (a held one).
  Status attach_lora(int64_t layer, LlamaTensor t, const LoraAdapter& a);
  void clear_lora();
  int64_t max_lora_rank() const;
  // The weights of the numbered --lora adapters (LoraAdapter::id), by id: what a
  // row without weights of its own uses (LoraRows). Empty when none is numbered.
  const std::vector<float>& lora_weights() const { return lora_weights_; }

  // The underlying files (one of the three is non-empty), for inspect and tokenizer loading.
  const formats::GgufFile* gguf() const { return gguf_.get(); }
  const formats::HfCheckpoint* hf() const { return hf_.get(); }
  // Meta's consolidated.NN.pth shards, in rank order.
  std::vector<const formats::TorchCheckpoint*> meta_shards() const;

  // Meta's FP8 activation path (fc_dynamic, spec/llama31.md 7.1) instead of
  // herd's default weight-only emulation: every FP8 matrix's matmuls quantize
  // each activation row to e4m3 with a per-token scale, its max bounded by the
  // checkpoint's activation_scale_ub (kernels: matmul_fp8_dynamic). Returns
  // the number of matrices switched (0: the model has no FP8 weights).
  int use_fp8_dynamic_activations();

  // Row `row` of tensor (t, layer) as exact f32 values (dequantized by the
  // reference; an FP8 row times its scale), in the model's row order; a norm
  // is one row of d_model. The tensor must be held and in the file layout
  // (not repacked). Thread-safe.
  void read_row_f32(LlamaTensor t, int64_t layer, int64_t row, float* dst) const;

  // Full fine-tuning: every weight replaced by an f32 tensor the caller owns
  // and may change between forward passes. values(t, layer) is tensor t's
  // buffer ([rows, cols] of a matrix, [d_model] of a norm; layer -1 outside
  // the layers), in the model's row order; kOutput is not asked for when the
  // embeddings are tied (the head reads the embedding's buffer). The files
  // stay open (tokenizer, metadata). Errors: a model holding a layer range,
  // repacked weights, attached adapters.
  Status use_f32_weights(const std::function<float*(LlamaTensor, int64_t layer)>& values);

  // Bytes of all weight tensors as stored (after repack_weights: as repacked).
  uint64_t weight_bytes() const;

  // Repacks, once, every matmul weight whose dtype has an r8 kernel in
  // `table` (tensor/repack_r8.h) into owned memory, and copies every weight
  // the table's bf16 path reads in the file layout (F16/BF16/FP8 on
  // avx512bf16) unchanged into huge-page memory; either way it gives the
  // file's pages of those tensors back to the OS, so resident memory stays
  // about the file size. Call before any LlamaContext runs; contexts must then
  // use a table with the same r8 kernels. HERD_REPACK=0 in the environment
  // keeps every weight in the file mapping; a table without r8 kernels
  // (HERD_ISA=ref) repacks nothing. Returns the number of tensors repacked or
  // copied.
  // `progress` (nullable) counts the bytes of every matmul weight as it is passed.
  int repack_weights(const kernels::KernelTable& table, ThreadPool& pool, Progress* progress = nullptr);
  // Training's counterpart (it reads the weights as stored): every matmul
  // weight copied byte for byte into huge-page memory, the file's pages
  // released as it goes (model/repack_matrix.h copy_to_huge_pages). A training
  // step reads every weight twice from memory; through the file mapping's 4 KiB
  // pages each 4 KiB missed the TLB. HERD_REPACK=0 skips it. Returns the number
  // of tensors moved.
  int move_weights_to_huge_pages(ThreadPool& pool);
  // Gives the pages of the model's mapped files back to the OS (their bytes
  // unchanged: a later read faults them in again). For full fine-tuning,
  // whose forward reads f32 master copies once they are made.
  void release_file_pages() const;

 private:
  friend struct ModelBuilder;
  LlamaConfig config_;
  LayerRange range_;
  ModelFormat format_ = ModelFormat::kGguf;
  std::string path_;
  TensorView tok_embd_;
  const float* output_norm_ = nullptr;
  TensorView output_;
  std::vector<LayerWeights> layers_;
  std::vector<float> lora_weights_;  // by LoraAdapter::id
  std::unique_ptr<formats::GgufFile> gguf_;
  std::unique_ptr<formats::HfCheckpoint> hf_;
  std::vector<std::unique_ptr<formats::TorchCheckpoint>> pth_;
  std::vector<std::vector<float>> owned_f32_;  // norms converted from another dtype
  std::vector<std::unique_ptr<uint8_t[]>> owned_packed_;  // repacked weights, merged model-parallel shards
};

}  // namespace herd::model
