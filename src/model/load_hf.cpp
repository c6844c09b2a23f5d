// Loading a Llama model from a Hugging Face directory: config.json for the
// hyperparameters (rope_scaling with rope_type llama3), safetensors weights.
// HF stores q_proj/k_proj rows permuted (spec §2.4), so the model uses the
// matching "halves" RoPE pairing instead of un-permuting a copy of the rows.
#include <cmath>

#include "base/mapped_file.h"
#include "formats/hf_checkpoint.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "model/fp8_scales.h"
#include "model/model_builder.h"
#include "tensor/quant.h"

namespace herd::model {

void apply_hf_config(const formats::HfLlamaConfig& hc, LlamaConfig& c) {
  c.d_model = hc.hidden_size;
  c.d_ff = hc.intermediate_size;
  c.n_layers = hc.num_hidden_layers;
  c.n_heads = hc.num_attention_heads;
  c.n_kv_heads = hc.num_key_value_heads;
  c.head_dim = hc.head_dim;
  c.vocab_size = hc.vocab_size;
  c.n_ctx_train = hc.max_position_embeddings;
  c.rms_eps = hc.rms_norm_eps;
  c.rope_theta = hc.rope_theta;
  c.bos_id = static_cast<int32_t>(hc.bos_token_id);
  c.eos_ids.clear();
  for (int64_t e : hc.eos_token_ids) c.eos_ids.push_back(static_cast<int32_t>(e));
  std::vector<double> divisors;
  if (hc.rope_scaling) {
    Llama3RopeScaling s;
    s.factor = hc.rope_scaling->factor;
    s.low_freq_factor = hc.rope_scaling->low_freq_factor;
    s.high_freq_factor = hc.rope_scaling->high_freq_factor;
    s.original_context = static_cast<double>(hc.rope_scaling->original_max_position_embeddings);
    divisors = llama3_rope_divisors(c.rope_theta, c.head_dim, s);
  }
  c.inv_freq = rope_inv_freq(c.rope_theta, c.head_dim, divisors);
}

Result<LlamaModel> load_hf_model(const std::string& dir, LayerRange range) {
  HERD_ASSIGN_OR_RETURN(std::string cfg_text, read_text_file(dir + "/config.json", 16u << 20));
  Result<formats::HfLlamaConfig> hc = formats::parse_hf_config(cfg_text);
  if (!hc.has_value()) return std::move(hc.error().with_context(dir + "/config.json"));
  HERD_ASSIGN_OR_RETURN(formats::HfCheckpoint ckpt, formats::HfCheckpoint::open(dir));

  LlamaModel m;
  auto& ck = *(ModelBuilder::hf(m) = std::make_unique<formats::HfCheckpoint>(std::move(ckpt)));
  ModelBuilder::set_format(m, ModelFormat::kHf, dir);
  LlamaConfig& c = ModelBuilder::config(m);
  c.name = dir;
  apply_hf_config(*hc, c);
  c.rope_style = kernels::RopeStyle::kHalves;
  if (hc->fp8) c.fp8_activation_scale_ub = hc->fp8->activation_scale_ub;

  // FP8 weights (Meta's fbgemm_fp8 layout, llama31.md 7.1): F8_E4M3 [out, in]
  // with the row scales in "<module>.weight_scale" [out, 1], kept as f32.
  std::vector<std::vector<float>> scales;
  ModelBuilder::Lookup lookup = [&ck, &scales](const std::string& name) -> Result<std::optional<TensorView>> {
    const formats::StTensor* t = ck.find(name);
    if (!t) return std::optional<TensorView>();
    std::optional<TensorView> v = t->view();
    if (!v)
      return err(ErrorCode::kUnsupported, "tensor '%s' has dtype %s; herd reads F32, F16, BF16 and F8_E4M3 safetensors",
                 name.c_str(), t->dtype_name.c_str());
    if (dtype_info(v->dtype).row_scaled) {
      const std::string sname = name + "_scale";
      const formats::StTensor* s = ck.find(sname);
      std::optional<TensorView> sv = s ? s->view() : std::nullopt;
      if (!sv)
        return err(ErrorCode::kCorrupt, "FP8 tensor '%s' needs '%s' of shape [%lld, 1] in F32, BF16 or F16%s",
                   name.c_str(), sname.c_str(), static_cast<long long>(v->rows()), s ? "" : " (it is missing)");
      HERD_ASSIGN_OR_RETURN(std::vector<float> f, read_row_scales(*sv, v->rows(), sname));
      scales.push_back(std::move(f));
      v->row_scale = scales.back().data();
    }
    return v;
  };
  Result<LlamaModel> r = ModelBuilder::build(std::move(m), lookup, hf_tensor_name, range);
  if (r.has_value())
    for (std::vector<float>& f : scales) ModelBuilder::owned_f32(*r).push_back(std::move(f));
  if (r.has_value() && hc->tie_word_embeddings != r->config().tied_embeddings && !hc->tie_word_embeddings)
    return err(ErrorCode::kNotFound, "config.json says tie_word_embeddings false but %s is missing",
               hf_tensor_name(LlamaTensor::kOutput, -1).c_str());
  return r;
}

}  // namespace herd::model
