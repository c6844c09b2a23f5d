// LoraSet: the LoRA adapters of one fine-tuning run (or one adapter loaded for
// inference): for each held layer and each targeted matrix (q, k, v, o, gate,
// up, down), A [rank, in] and B [out, rank] in f32, their gradients, and the
// scale alpha / rank (alpha / sqrt(rank) with rsLoRA), as PEFT and torchtune
// define them (spec/post-training-safety.md A1): A Kaiming-uniform (a = sqrt(5),
// i.e. U(-1/sqrt(in), 1/sqrt(in))), B zero, so a new adapter leaves the model's
// outputs unchanged.
//
// Files: a GGUF LoRA as llama.cpp reads and writes it (general.type "adapter",
// adapter.type "lora", adapter.lora.alpha; tensors blk.N.attn_q.weight.lora_a
// [rank, in] and .lora_b [out, rank], f32, rows in Meta's (GGUF's) order), or
// a PEFT directory, adapter_config.json + adapter_model.safetensors with
// tensors base_model.model.model.layers.N.{self_attn.{q,k,v,o}_proj,
// mlp.{gate,up,down}_proj}.lora_{A,B}.weight, f32, in Hugging Face's row order:
// for a GGUF base (Meta's interleaved q/k rows) B's rows of q and k are permuted
// to HF order on writing and back on reading (formats/hf_permute.h), so the same
// file works on the HF model, in PEFT and in llama.cpp's converter.
//
// Thread safety: one thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "model/llama_model.h"
#include "model/llama_train.h"
#include "train/optimizer.h"
#include "train/trainable.h"

namespace herd::train {

// Bit i: slot i of for_each_layer_linear (wq, wk, wv, wo, w_gate, w_up, w_down).
using LoraTargets = uint8_t;
constexpr LoraTargets kAllTargets = 0x7f;
// "q,k,v,o,gate,up,down" (any subset, any order; also "all") -> bits.
Result<LoraTargets> parse_lora_targets(const std::string& list);
std::string lora_targets_string(LoraTargets t);

struct LoraSpec {
  int64_t rank = 8;
  double alpha = 16;
  LoraTargets targets = kAllTargets;
  bool rslora = false;
  double dropout = 0.0;  // PEFT's lora_dropout: on the adapters' input while training
  double scale() const;
};

class LoraSet final : public Trainable {
 public:
  // New adapters for every held layer of `model`, initialised from `seed`.
  static Result<LoraSet> create(const model::LlamaModel& model, const LoraSpec& spec, uint64_t seed);
  // A PEFT directory written for a model of `model`'s shape. Errors name the
  // file and tensor: a missing or extra tensor, a shape that does not fit
  // the base (another model), an unsupported option (DoRA, biases).
  static Result<LoraSet> read_peft(const std::string& dir, const model::LlamaModel& model);
  // A GGUF LoRA file (F32, F16, BF16 or any block type herd reads). Errors as read_peft.
  static Result<LoraSet> read_gguf(const std::string& path, const model::LlamaModel& model);
  // A directory is read as PEFT, a file as GGUF.
  static Result<LoraSet> read(const std::string& path, const model::LlamaModel& model);

  // Attaches every adapter to `model` (their memory stays this object's; it
  // must outlive the model's use of them), multiplying its scale by `weight`;
  // set 0 applies it to every token, set k > 0 only to requests that name set k
  // (model/linear.h; herd serve's per-request adapters); id >= 0 numbers a
  // set-0 adapter given on the command line (--lora), whose weight a request
  // may change (LoraAdapter::id).
  Status attach(model::LlamaModel& model, float weight = 1.0f, int32_t set = 0, int32_t id = -1) const;
  // Writes the PEFT directory (created if missing; files written whole and
  // renamed into place). base_name goes to base_model_name_or_path.
  Status write_peft(const std::string& dir, const model::LlamaModel& model, const std::string& base_name) const;
  // Writes the GGUF LoRA (written whole to path.tmp, then renamed).
  Status write_gguf(const std::string& path, const model::LlamaModel& model, const std::string& base_name) const;

  // The adapter on matrix t of the model's layer `layer`, if any: A [rank, k],
  // B [n, rank] (rows in the model's order) and its scale.
  struct Matrix {
    const float* a;
    const float* b;
    int64_t rank, n, k;
    double scale;
  };
  std::optional<Matrix> matrix(int64_t layer, model::LlamaTensor t) const;

  const LoraSpec& spec() const { return spec_; }
  // Trainable: attach() with weight 1 to set 0; the gradient buffers (the
  // layers' adapter slots, TrainStep::run); every A and B with its gradient
  // (the optimizer's parameters); rank, alpha, targets and rsLoRA as the
  // fingerprint.
  Status prepare(model::LlamaModel& model) override { return attach(model); }
  model::TrainGrads& grads() override { return grads_; }
  std::vector<Param> params() override;
  void zero_grads() override;
  int64_t n_params() const override;
  std::vector<std::span<float>> values() override;
  std::string fingerprint() const override;
  double lora_dropout() const override { return spec_.dropout; }
  // The dropout of a run that continues from an adapter file (a file's own
  // lora_dropout is read, but the run's option decides).
  void set_dropout(double p) { spec_.dropout = p; }
  // Every A and B, in a fixed order (values() as the vectors).
  std::vector<std::vector<float>*> tensors();

 private:
  struct Entry {
    int64_t layer = 0;  // the model's layer index
    int slot = 0;
    int64_t n = 0, k = 0;  // the matrix is [n, k]
    std::vector<float> a, b, da, db;
  };
  using Found = std::map<std::pair<int64_t, int>, Entry>;
  // One A or B read from a file into found[{layer, slot}] (rows permuted from the file's order).
  Status take(Found& found, const model::LlamaModel& m, int64_t layer, int slot, char ab, const TensorView& v,
              bool file_meta, const std::string& where);
  Status finish(Found& found, const model::LlamaModel& m, const std::string& path);
  void link_grads();
  LoraSpec spec_;
  int64_t first_layer_ = 0;  // the model's index of its first held layer
  std::vector<Entry> entries_;
  model::TrainGrads grads_;
};

}  // namespace herd::train
