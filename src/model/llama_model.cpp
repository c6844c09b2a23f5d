// LlamaModel: format detection and the shape-checked assembly shared by the
// format loaders.
#include "model/llama_model.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include "base/check.h"
#include "base/half.h"
#include "formats/gguf.h"
#include "formats/hf_checkpoint.h"
#include "formats/torch_checkpoint.h"
#include "model/llama_batch.h"
#include "model/model_builder.h"
#include "tensor/quant.h"

namespace herd::model {

LlamaModel::LlamaModel() = default;
LlamaModel::LlamaModel(LlamaModel&&) noexcept = default;
LlamaModel& LlamaModel::operator=(LlamaModel&&) noexcept = default;
LlamaModel::~LlamaModel() = default;

const char* model_format_name(ModelFormat f) {
  switch (f) {
    case ModelFormat::kGguf: return "gguf";
    case ModelFormat::kHf: return "hf";
    case ModelFormat::kMeta: return "meta";
  }
  return "?";
}

int LlamaModel::use_fp8_dynamic_activations() {
  int n = 0;
  for (LayerWeights& l : layers_)
    for_each_layer_linear(l, [&](LlamaTensor, Linear& lin) {
      if (!dtype_info(lin.w.dtype).row_scaled) return;
      lin.w.act_scale_ub = static_cast<float>(config_.fp8_activation_scale_ub > 0 ? config_.fp8_activation_scale_ub : 1200.0);
      ++n;
    });
  return n;
}

std::vector<const formats::TorchCheckpoint*> LlamaModel::meta_shards() const {
  std::vector<const formats::TorchCheckpoint*> v;
  for (const auto& p : pth_) v.push_back(p.get());
  return v;
}

Result<LlamaModel> LlamaModel::load(const std::string& path, LayerRange range) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0)
    return err(ErrorCode::kNotFound, "model path %s does not exist", path.c_str());
  Result<LlamaModel> r = !S_ISDIR(st.st_mode) ? load_gguf_model(path, range)
                         : stat((path + "/config.json").c_str(), &st) != 0 && stat((path + "/params.json").c_str(), &st) == 0
                             ? load_meta_model(path, range)
                             : load_hf_model(path, range);
  if (!r.has_value()) r.error().with_context("loading model " + path);
  return r;
}

CausalLmShape LlamaModel::lm_shape() const {
  return CausalLmShape{config_.vocab_size, static_cast<int64_t>(layers_.size()), config_.n_kv_heads * config_.head_dim,
                       config_.head_dim, static_cast<int32_t>(lora_weights_.size())};
}

Result<std::unique_ptr<BatchRunner>> LlamaModel::batch_runner(kv::BlockPool& kv, int64_t max_tokens, int64_t max_seq_len,
                                                              kernels::ExecContext exec) const {
  if (!holds_embedding() || !holds_head())
    return err(ErrorCode::kInvalidArgument, "a batched forward pass runs a whole model, not layers [%lld, %lld)",
               static_cast<long long>(range_.first), static_cast<long long>(range_.last));
  return std::unique_ptr<BatchRunner>(std::make_unique<LlamaBatch>(*this, kv, max_tokens, max_seq_len, exec));
}

uint64_t LlamaModel::weight_bytes() const {
  const bool embd_counted = holds_head() && config_.tied_embeddings;  // as the LM head
  uint64_t total = holds_embedding() && !embd_counted ? static_cast<uint64_t>(tok_embd_.held_bytes()) : 0;
  for_each_matmul_weight([&](int64_t, LlamaTensor, const TensorView& w) { total += static_cast<uint64_t>(w.held_bytes()); });
  total += static_cast<uint64_t>(config_.d_model) * 4 * (2 * layers_.size() + (holds_head() ? 1 : 0));
  return total;
}

Status LlamaModel::attach_lora(int64_t layer, LlamaTensor t, const LoraAdapter& a) {
  if (layer < range_.first || layer >= range_.last)
    return err(ErrorCode::kInvalidArgument, "LoRA adapter for layer %lld; this model holds layers [%lld, %lld)",
               static_cast<long long>(layer), static_cast<long long>(range_.first), static_cast<long long>(range_.last));
  if (a.rank < 1 || a.a == nullptr || a.b == nullptr || a.set < 0 || (a.id >= 0 && (a.set != 0 || a.id >= 1024)))
    return err(ErrorCode::kInvalidArgument, "LoRA adapter with rank %lld, set %d, id %d or no A/B matrix", static_cast<long long>(a.rank), a.set, a.id);
  bool found = false;
  for_each_layer_linear(layers_[static_cast<size_t>(layer - range_.first)], [&](LlamaTensor id, Linear& l) {
    if (id != t) return;
    l.adapters.push_back(a);
    found = true;
  });
  if (!found)
    return err(ErrorCode::kInvalidArgument, "LoRA adapters go on wq, wk, wv, wo, w_gate, w_up or w_down, not %s",
               llama_tensor_info(t).field);
  if (a.id >= 0) {
    if (static_cast<size_t>(a.id) >= lora_weights_.size()) lora_weights_.resize(static_cast<size_t>(a.id) + 1, 0.0f);
    lora_weights_[static_cast<size_t>(a.id)] = a.weight;
  }
  return Ok{};
}

void LlamaModel::clear_lora() {
  for (LayerWeights& l : layers_) for_each_layer_linear(l, [](LlamaTensor, Linear& lin) { lin.adapters.clear(); });
  lora_weights_.clear();
}

void LlamaModel::read_row_f32(LlamaTensor t, int64_t layer, int64_t row, float* dst) const {
  const float* norm = nullptr;
  const TensorView* w = nullptr;
  if (t == LlamaTensor::kTokEmbd) w = &tok_embd_;
  else if (t == LlamaTensor::kOutput) w = &output_;
  else if (t == LlamaTensor::kOutputNorm) norm = output_norm_;
  else {
    const LayerWeights& lw = layers_[static_cast<size_t>(layer - range_.first)];
    if (t == LlamaTensor::kAttnNorm) norm = lw.attn_norm;
    else if (t == LlamaTensor::kFfnNorm) norm = lw.ffn_norm;
    else for_each_layer_matrix(lw, [&](LlamaTensor x, const TensorView& v) { if (x == t) w = &v; });
  }
  if (norm != nullptr) {
    std::memcpy(dst, norm, static_cast<size_t>(config_.d_model) * sizeof(float));
    return;
  }
  HERD_CHECK(w != nullptr && w->data != nullptr && w->interleave == 1, "read_row_f32: %s of layer %lld not held",
             llama_tensor_info(t).field, static_cast<long long>(layer));
  dequantize_row_ref(w->dtype, w->row(row), dst, w->cols());
  if (w->row_scale) {  // FP8: the stored values times the row's scale (of each column group)
    const int64_t G = w->scale_groups, width = w->cols() / G;
    for (int64_t j = 0; j < w->cols(); ++j) dst[j] *= w->row_scale[row * G + j / width];
  }
}

Status LlamaModel::use_f32_weights(const std::function<float*(LlamaTensor, int64_t)>& values) {
  if (!holds_embedding() || !holds_head())
    return err(ErrorCode::kInvalidArgument, "full fine-tuning needs the whole model (this one holds a layer range)");
  if (max_lora_rank() > 0) return err(ErrorCode::kInvalidArgument, "full fine-tuning: adapters are attached");
  bool repacked = false;
  for_each_matmul_weight([&](int64_t, LlamaTensor, const TensorView& w) { repacked |= w.interleave != 1; });
  if (repacked) return err(ErrorCode::kInvalidArgument, "full fine-tuning: the weights are repacked");
  auto f32 = [](const TensorView& w, const float* p) {
    TensorView v;
    v.dtype = DType::kF32;
    v.shape = w.shape;
    v.data = reinterpret_cast<const uint8_t*>(p);
    return v;
  };
  tok_embd_ = f32(tok_embd_, values(LlamaTensor::kTokEmbd, -1));
  for (size_t il = 0; il < layers_.size(); ++il) {
    LayerWeights& l = layers_[il];
    const int64_t layer = range_.first + static_cast<int64_t>(il);
    l.attn_norm = values(LlamaTensor::kAttnNorm, layer);
    l.ffn_norm = values(LlamaTensor::kFfnNorm, layer);
    for_each_layer_linear(l, [&](LlamaTensor t, Linear& lin) { lin.w = f32(lin.w, values(t, layer)); });
  }
  output_norm_ = values(LlamaTensor::kOutputNorm, -1);
  output_ = config_.tied_embeddings ? tok_embd_ : f32(output_, values(LlamaTensor::kOutput, -1));
  return Ok{};
}

void LlamaModel::release_file_pages() const {
  if (gguf_) gguf_->release_pages();
  if (hf_) hf_->release_pages();
  for (const auto& p : pth_) p->release_pages();
}

int64_t LlamaModel::max_lora_rank() const {
  int64_t r = 0;
  for (const LayerWeights& l : layers_)
    for_each_layer_linear(l, [&](LlamaTensor, const Linear& lin) { r = std::max(r, lin.max_rank()); });
  return r;
}

namespace {

Status check_shape(const std::string& name, const TensorView& t, std::vector<int64_t> want,
                   const char* meaning) {
  if (t.shape != want)
    return err(ErrorCode::kCorrupt,
               "tensor '%s' has shape %s, expected %s %s; hint: the file's metadata and tensors "
               "disagree, or it was converted for another architecture",
               name.c_str(), shape_string(t.shape).c_str(), shape_string(want).c_str(), meaning);
  if (!row_size_ok(t.dtype, t.cols()))
    return err(ErrorCode::kCorrupt, "tensor '%s': row length %lld is not a multiple of the %s block size",
               name.c_str(), static_cast<long long>(t.cols()), dtype_name(t.dtype));
  return Ok{};
}

}  // namespace

Result<LlamaModel> ModelBuilder::build(LlamaModel&& m, const Lookup& lookup, const NameFn& name, LayerRange range) {
  LlamaConfig& c = m.config_;
  HERD_TRY(c.validate());
  if (range.last < 0) range.last = c.n_layers;
  if (range.first < 0 || range.first >= range.last || range.last > c.n_layers)
    return err(ErrorCode::kInvalidArgument, "layer range [%lld, %lld) is not inside the model's %lld layers",
               static_cast<long long>(range.first), static_cast<long long>(range.last),
               static_cast<long long>(c.n_layers));
  m.range_ = range;
  const LlamaDims dims = llama_dims(c);

  auto need = [&](LlamaTensor id, int64_t layer) -> Result<TensorView> {
    const std::string file_name = name(id, layer);
    const char* meaning = llama_tensor_info(id).shape_meaning;
    HERD_ASSIGN_OR_RETURN(std::optional<TensorView> t, lookup(file_name));
    if (!t) return err(ErrorCode::kNotFound, "tensor '%s' is missing %s", file_name.c_str(), meaning);
    HERD_TRY(check_shape(file_name, *t, llama_tensor_shape(id, dims), meaning));
    return *t;
  };
  // Norm vectors are copied out as f32 (other plain dtypes converted once):
  // read from the mapping during every forward pass, each 8 KB vector would
  // keep its whole page-cache folio mapped (up to 2 MB on current kernels),
  // ~65 MB of resident file pages for a 16-layer model whose weights were
  // all repacked off the mapping (docs/kernels.md, memory).
  auto norm = [&](LlamaTensor id, int64_t layer) -> Result<const float*> {
    HERD_ASSIGN_OR_RETURN(TensorView t, need(id, layer));
    std::vector<float> f(static_cast<size_t>(c.d_model));
    if (t.dtype == DType::kF32)
      std::memcpy(f.data(), t.data, static_cast<size_t>(c.d_model) * sizeof(float));
    else
      dequantize_row_ref(t.dtype, t.data, f.data(), c.d_model);
    m.owned_f32_.push_back(std::move(f));
    return static_cast<const float*>(m.owned_f32_.back().data());
  };

  // The embedding table: for layer 0's holder, and for the head's when it is
  // tied (absent output.weight); a view of the mapping, nothing read.
  const std::string out_name = name(LlamaTensor::kOutput, -1);
  HERD_ASSIGN_OR_RETURN(std::optional<TensorView> out, lookup(out_name));
  c.tied_embeddings = !out.has_value();  // Llama 3.2 1B/3B: LM head tied to the embeddings
  if (m.holds_embedding() || (m.holds_head() && c.tied_embeddings)) {
    HERD_ASSIGN_OR_RETURN(m.tok_embd_, need(LlamaTensor::kTokEmbd, -1));
  }
  if (m.holds_head()) {
    HERD_ASSIGN_OR_RETURN(m.output_norm_, norm(LlamaTensor::kOutputNorm, -1));
    if (out) {
      HERD_ASSIGN_OR_RETURN(m.output_, need(LlamaTensor::kOutput, -1));
    } else {
      m.output_ = m.tok_embd_;
    }
  }
  m.layers_.resize(static_cast<size_t>(range.last - range.first));
  for (int64_t i = range.first; i < range.last; ++i) {
    LayerWeights& l = m.layers_[static_cast<size_t>(i - range.first)];
    HERD_ASSIGN_OR_RETURN(l.attn_norm, norm(LlamaTensor::kAttnNorm, i));
    HERD_ASSIGN_OR_RETURN(l.ffn_norm, norm(LlamaTensor::kFfnNorm, i));
    Status st = Ok{};
    for_each_layer_matrix(l, [&](LlamaTensor id, TensorView& w) {
      if (!st.has_value()) return;
      Result<TensorView> r = need(id, i);
      if (r.has_value())
        w = *r;
      else
        st = std::move(r.error());
    });
    HERD_TRY(std::move(st));
  }
  return std::move(m);
}

}  // namespace herd::model
