// LlamaModel: format detection and the shape-checked assembly shared by both
// format loaders.
#include "model/llama_model.h"

#include <sys/stat.h>

#include <cstring>

#include "base/half.h"
#include "formats/gguf.h"
#include "formats/hf_checkpoint.h"
#include "model/model_builder.h"
#include "tensor/quant.h"

namespace herd::model {

LlamaModel::LlamaModel() = default;
LlamaModel::LlamaModel(LlamaModel&&) noexcept = default;
LlamaModel& LlamaModel::operator=(LlamaModel&&) noexcept = default;
LlamaModel::~LlamaModel() = default;

Result<LlamaModel> LlamaModel::load(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0)
    return err(ErrorCode::kNotFound, "model path %s does not exist", path.c_str());
  Result<LlamaModel> r = S_ISDIR(st.st_mode) ? load_hf_model(path) : load_gguf_model(path);
  if (!r.has_value()) r.error().with_context("loading model " + path);
  return r;
}

uint64_t LlamaModel::weight_bytes() const {
  uint64_t total = static_cast<uint64_t>(tok_embd_.nbytes());
  if (!config_.tied_embeddings) total += static_cast<uint64_t>(output_.nbytes());
  for (const auto& l : layers_)
    for (const TensorView* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down})
      total += static_cast<uint64_t>(t->nbytes());
  total += static_cast<uint64_t>(config_.d_model) * 4 * (2 * layers_.size() + 1);
  return total;
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

Result<LlamaModel> ModelBuilder::build(LlamaModel&& m, const Lookup& lookup, const Names& names) {
  LlamaConfig& c = m.config_;
  HERD_TRY(c.validate());
  const int64_t D = c.d_model, hd = c.head_dim;

  auto need = [&](const std::string& name, std::vector<int64_t> shape, const char* meaning) -> Result<TensorView> {
    HERD_ASSIGN_OR_RETURN(std::optional<TensorView> t, lookup(name));
    if (!t) return err(ErrorCode::kNotFound, "tensor '%s' is missing %s", name.c_str(), meaning);
    HERD_TRY(check_shape(name, *t, std::move(shape), meaning));
    return *t;
  };
  // Norm vectors are copied out as f32 (other plain dtypes converted once):
  // read from the mapping during every forward pass, each 8 KB vector would
  // keep its whole page-cache folio mapped (up to 2 MB on current kernels),
  // ~65 MB of resident file pages for a 16-layer model whose weights were
  // all repacked off the mapping (docs/kernels.md, memory).
  auto norm = [&](const std::string& name) -> Result<const float*> {
    HERD_ASSIGN_OR_RETURN(TensorView t, need(name, {D}, "(d_model)"));
    std::vector<float> f(static_cast<size_t>(D));
    if (t.dtype == DType::kF32)
      std::memcpy(f.data(), t.data, static_cast<size_t>(D) * sizeof(float));
    else
      dequantize_row_ref(t.dtype, t.data, f.data(), D);
    m.owned_f32_.push_back(std::move(f));
    return static_cast<const float*>(m.owned_f32_.back().data());
  };

  HERD_ASSIGN_OR_RETURN(m.tok_embd_, need(names.tok_embd, {c.vocab_size, D}, "(vocab_size, d_model)"));
  HERD_ASSIGN_OR_RETURN(m.output_norm_, norm(names.output_norm));
  HERD_ASSIGN_OR_RETURN(std::optional<TensorView> out, lookup(names.output));
  if (out) {
    HERD_TRY(check_shape(names.output, *out, {c.vocab_size, D}, "(vocab_size, d_model)"));
    m.output_ = *out;
    c.tied_embeddings = false;
  } else {
    m.output_ = m.tok_embd_;  // Llama 3.2 1B/3B: LM head tied to the embeddings
    c.tied_embeddings = true;
  }
  m.layers_.resize(static_cast<size_t>(c.n_layers));
  for (int i = 0; i < c.n_layers; ++i) {
    LayerWeights& l = m.layers_[static_cast<size_t>(i)];
    HERD_ASSIGN_OR_RETURN(l.attn_norm, norm(names.layer(i, "attn_norm")));
    HERD_ASSIGN_OR_RETURN(l.wq, need(names.layer(i, "wq"), {c.n_heads * hd, D}, "(n_heads*head_dim, d_model)"));
    HERD_ASSIGN_OR_RETURN(l.wk, need(names.layer(i, "wk"), {c.n_kv_heads * hd, D}, "(n_kv_heads*head_dim, d_model)"));
    HERD_ASSIGN_OR_RETURN(l.wv, need(names.layer(i, "wv"), {c.n_kv_heads * hd, D}, "(n_kv_heads*head_dim, d_model)"));
    HERD_ASSIGN_OR_RETURN(l.wo, need(names.layer(i, "wo"), {D, c.n_heads * hd}, "(d_model, n_heads*head_dim)"));
    HERD_ASSIGN_OR_RETURN(l.ffn_norm, norm(names.layer(i, "ffn_norm")));
    HERD_ASSIGN_OR_RETURN(l.w_gate, need(names.layer(i, "w_gate"), {c.d_ff, D}, "(d_ff, d_model)"));
    HERD_ASSIGN_OR_RETURN(l.w_up, need(names.layer(i, "w_up"), {c.d_ff, D}, "(d_ff, d_model)"));
    HERD_ASSIGN_OR_RETURN(l.w_down, need(names.layer(i, "w_down"), {D, c.d_ff}, "(d_model, d_ff)"));
  }
  return std::move(m);
}

}  // namespace herd::model
