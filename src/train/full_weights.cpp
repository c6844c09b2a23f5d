// Full fine-tuning's master weights (full_weights.h).
#include "train/full_weights.h"

#include <algorithm>

#include "model/llama_tensors.h"

namespace herd::train {
namespace {

// Calls f(id, layer, rows, cols) for every tensor full fine-tuning trains, in file order.
template <class F>
void for_each_trained(const model::LlamaModel& m, F&& f) {
  const model::LlamaConfig& c = m.config();
  const model::LlamaDims dims = model::llama_dims(c);
  model::for_each_file_tensor(c.n_layers, [&](model::LlamaTensor t, int64_t layer) {
    if (t == model::LlamaTensor::kOutput && c.tied_embeddings) return;
    const std::vector<int64_t> shape = model::llama_tensor_shape(t, dims);
    f(t, layer, shape.size() == 2 ? shape[0] : 1, shape.back());
  });
}

}  // namespace

uint64_t FullWeights::bytes_needed(const model::LlamaModel& m, bool moments_8bit) {
  uint64_t n = 0;
  for_each_trained(m, [&](model::LlamaTensor, int64_t, int64_t rows, int64_t cols) {
    n += static_cast<uint64_t>(8 * rows * cols + AdamW::state_bytes(rows * cols, moments_8bit));  // value, gradient, moments
  });
  return n;
}

Result<FullWeights> FullWeights::create(const model::LlamaModel& m, ThreadPool& pool) {
  if (!m.holds_embedding() || !m.holds_head() || m.layer_range().first != 0)
    return err(ErrorCode::kInvalidArgument, "full fine-tuning needs the whole model (this one holds a layer range)");
  if (m.max_lora_rank() > 0) return err(ErrorCode::kInvalidArgument, "full fine-tuning: adapters are attached");
  bool repacked = false;
  m.for_each_matmul_weight([&](int64_t, model::LlamaTensor, const TensorView& w) { repacked |= w.interleave != 1; });
  if (repacked)
    return err(ErrorCode::kInvalidArgument, "full fine-tuning: the weights are repacked (load without repacking)");
  FullWeights f;
  for_each_trained(m, [&](model::LlamaTensor t, int64_t layer, int64_t rows, int64_t cols) {
    Tensor x;
    x.id = t;
    x.layer = layer;
    x.value.resize(static_cast<size_t>(rows * cols));
    x.grad.assign(x.value.size(), 0.0f);
    pool.parallel_for(rows, [&](int64_t r0, int64_t r1, int) {
      for (int64_t r = r0; r < r1; ++r) m.read_row_f32(t, layer, r, x.value.data() + r * cols);
    }, 16);
    f.tensors_.push_back(std::move(x));
  });
  // The forward reads the copies from now on: the file's pages, read once
  // for them, would stay resident for nothing.
  m.release_file_pages();
  model::TrainGrads& g = f.grads_;
  g.layers.resize(static_cast<size_t>(m.config().n_layers));
  for (size_t il = 0; il < g.layers.size(); ++il) {
    const auto layer = static_cast<int64_t>(il);
    model::LayerGrads& lg = g.layers[il];
    lg.attn_norm = f.find(model::LlamaTensor::kAttnNorm, layer, true);
    lg.ffn_norm = f.find(model::LlamaTensor::kFfnNorm, layer, true);
    int slot = 0;
    model::for_each_layer_linear(m.layers()[il], [&](model::LlamaTensor t, const model::Linear&) {
      lg.weight[static_cast<size_t>(slot++)] = f.find(t, layer, true);
    });
  }
  g.tok_embd = f.find(model::LlamaTensor::kTokEmbd, -1, true);
  g.output_norm = f.find(model::LlamaTensor::kOutputNorm, -1, true);
  g.output = m.config().tied_embeddings ? g.tok_embd : f.find(model::LlamaTensor::kOutput, -1, true);
  return f;
}

float* FullWeights::find(model::LlamaTensor id, int64_t layer, bool grad) {
  for (Tensor& t : tensors_)
    if (t.id == id && t.layer == layer) return grad ? t.grad.data() : t.value.data();
  return nullptr;
}

Status FullWeights::prepare(model::LlamaModel& m) {
  return m.use_f32_weights([this](model::LlamaTensor t, int64_t layer) { return find(t, layer, false); });
}

std::vector<Param> FullWeights::params() {
  std::vector<Param> p;
  for (Tensor& t : tensors_) p.push_back({t.value.data(), t.grad.data(), static_cast<int64_t>(t.value.size())});
  return p;
}

void FullWeights::zero_grads() {
  for (Tensor& t : tensors_) std::fill(t.grad.begin(), t.grad.end(), 0.0f);
}

void FullWeights::release_gradients() {
  for (Tensor& t : tensors_) std::vector<float>().swap(t.grad);
  grads_ = model::TrainGrads{};
}

int64_t FullWeights::n_params() const {
  int64_t n = 0;
  for (const Tensor& t : tensors_) n += static_cast<int64_t>(t.value.size());
  return n;
}

std::vector<std::span<float>> FullWeights::values() {
  std::vector<std::span<float>> v;
  for (Tensor& t : tensors_) v.emplace_back(t.value);
  return v;
}

}  // namespace herd::train
