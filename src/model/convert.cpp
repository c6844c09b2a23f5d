// herd convert (model/convert.h).
#include "model/convert.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "formats/gguf.h"
#include "formats/hf_permute.h"
#include "model/file_types.h"
#include "model/llama_model.h"
#include "model/llama_tensors.h"
#include "model/model_tokenizer.h"
#include "model/model_writer.h"
#include "tensor/quant.h"

namespace herd::model {
namespace {

// The llama3 RoPE factor that gives the model's frequencies (1: none), or an error
// when no factor of the writers' scaling (low 1, high 4, original 8192) does.
Result<double> rope_factor_of(const LlamaConfig& c) {
  const std::vector<double> plain = rope_inv_freq(c.rope_theta, c.head_dim, {});
  double factor = 1.0;
  for (size_t i = 0; i < plain.size() && i < c.inv_freq.size(); ++i) factor = std::max(factor, plain[i] / c.inv_freq[i]);
  Llama3RopeScaling s;
  s.factor = factor;
  const std::vector<double> again = rope_inv_freq(c.rope_theta, c.head_dim, llama3_rope_divisors(c.rope_theta, c.head_dim, s));
  for (size_t i = 0; i < again.size(); ++i)
    if (i >= c.inv_freq.size() || std::abs(again[i] - c.inv_freq[i]) > 1e-6 * c.inv_freq[i])
      return err(ErrorCode::kUnsupported, "the model's RoPE frequencies are not llama3 scaling with low_freq_factor 1, "
                 "high_freq_factor 4 and original context 8192 (pair %zu); herd cannot write them", i);
  return factor;
}

// The preset name of a shape ("8b", "3.2-1b", ...) for general.size_label, or "custom".
std::string size_name(const LlamaConfig& c) {
  struct P { const char* name; int64_t d, l, ff; };
  static const P kPresets[] = {{"8b", 4096, 32, 14336}, {"70b", 8192, 80, 28672}, {"405b", 16384, 126, 53248},
                               {"3.2-1b", 2048, 16, 8192}, {"3.2-3b", 3072, 28, 8192}};
  for (const P& p : kPresets)
    if (c.d_model == p.d && c.n_layers == p.l && c.d_ff == p.ff) return p.name;
  return "custom";
}

// The template text the model carries (GGUF tokenizer.chat_template; HF
// tokenizer_config.json chat_template, a string or a list of named templates
// of which "default" or the first), or "".
std::string chat_template_of(const LlamaModel& m) {
  if (const formats::GgufFile* g = m.gguf()) {
    const formats::GgufValue* v = g->find("tokenizer.chat_template");
    return v ? std::string(v->as_string_view()) : std::string();
  }
  std::ifstream f(m.path() + "/tokenizer_config.json");
  if (!f) return "";
  nlohmann::json j = nlohmann::json::parse(f, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("chat_template")) return "";
  const nlohmann::json& t = j["chat_template"];
  if (t.is_string()) return t.get<std::string>();
  if (t.is_array())
    for (const auto& e : t)
      if (e.is_object() && e.value("name", "") == "default" && e.contains("template") && e["template"].is_string())
        return e["template"].get<std::string>();
  if (t.is_array() && !t.empty() && t[0].is_object() && t[0].contains("template") && t[0]["template"].is_string())
    return t[0]["template"].get<std::string>();
  return "";
}

// A value GGUF holds as f32 (rms_eps, rope_theta) as the shortest decimal that reads
// back as the same f32: 1e-05, not 9.999999747378752e-06.
double shortest_f32_decimal(double x) {
  const float f = static_cast<float>(x);
  char buf[32];
  for (int digits = 1; digits <= 9; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, static_cast<double>(f));
    if (std::strtof(buf, nullptr) == f) return std::strtod(buf, nullptr);
  }
  return x;
}

}  // namespace

Status convert_model(const ConvertOptions& o, ThreadPool& pool, Progress* progress) {
  HERD_ASSIGN_OR_RETURN(LlamaModel m, LlamaModel::load(o.in));
  return write_converted(m, o, pool, progress);
}

Status write_converted(const LlamaModel& m, const ConvertOptions& o, ThreadPool& pool, Progress* progress) {
  // The output's format by its name: a .gguf file, or else a Hugging Face directory.
  const bool to_hf = !(o.out.size() > 5 && o.out.compare(o.out.size() - 5, 5, ".gguf") == 0);
  const LlamaConfig& c = m.config();
  const DType src = m.layers().empty() ? DType::kF32 : m.layers()[0].wq.w.dtype;
  std::string type = o.type;
  if (type.empty()) {
    bool fp8 = false;
    for (const LayerWeights& l : m.layers()) fp8 = fp8 || dtype_info(l.w_up.w.dtype).row_scaled;
    type = fp8 ? (to_hf ? "fp8" : "bf16") : src == DType::kF16 ? "f16" : src == DType::kBF16 ? "bf16" : "f32";
  }
  const FileType* ft = file_type_by_name(type);
  if (!ft)
    return err(ErrorCode::kInvalidArgument, "unknown --type '%s'; expected one of %s", type.c_str(), file_type_names().c_str());
  if (to_hf && dtype_info(ft->base).quantized && !dtype_info(ft->base).row_scaled)
    return err(ErrorCode::kInvalidArgument, "a Hugging Face directory holds f32, f16, bf16 or fp8 weights, not %s", ft->name);
  if (to_hf) {
    std::error_code ec;
    if (std::filesystem::exists(o.out, ec) && !(std::filesystem::is_directory(o.out, ec) && std::filesystem::is_empty(o.out, ec)))
      return err(ErrorCode::kInvalidArgument, "%s exists and is not an empty directory; name a new one", o.out.c_str());
  }
  HERD_ASSIGN_OR_RETURN(tokenizer::Tokenizer tok, load_model_tokenizer(m));
  const tokenizer::Vocab& vocab = tok.vocab();

  ModelShape shape;
  shape.name = size_name(c);
  shape.d_model = c.d_model;
  shape.n_layers = c.n_layers;
  shape.n_heads = c.n_heads;
  shape.n_kv_heads = c.n_kv_heads;
  shape.d_ff = c.d_ff;
  shape.head_dim = c.head_dim;
  shape.tied = c.tied_embeddings;
  shape.n_ctx_train = c.n_ctx_train;
  const bool from_gguf = m.format() == ModelFormat::kGguf;
  shape.rms_eps = from_gguf ? shortest_f32_decimal(c.rms_eps) : c.rms_eps;
  shape.rope_theta = from_gguf ? shortest_f32_decimal(c.rope_theta) : c.rope_theta;
  HERD_ASSIGN_OR_RETURN(shape.rope_factor, rope_factor_of(c));
  Result<ModelPlan> planned = plan_file_type(shape, *ft, to_hf);
  if (!planned.has_value()) return std::move(planned.error().with_context("--type " + type));
  ModelPlan plan = std::move(*planned);
  plan.vocab_size = c.vocab_size;
  plan.name = from_gguf ? c.name : std::filesystem::path(o.in).lexically_normal().filename().string();
  if (plan.name.empty()) plan.name = std::filesystem::path(o.in).lexically_normal().parent_path().filename().string();
  plan.instruct = std::find(c.eos_ids.begin(), c.eos_ids.end(), vocab.eot_id) != c.eos_ids.end();
  plan.chat_template = chat_template_of(m);

  const bool halves = c.rope_style == kernels::RopeStyle::kHalves;
  const int64_t hd = c.head_dim;
  const RowSource rows = [&m, halves, hd](const TensorPlan& p, int64_t meta_row, float* dst) {
    int64_t row = meta_row;
    if (halves && (p.id == LlamaTensor::kWq || p.id == LlamaTensor::kWk))
      row = meta_row / hd * hd + formats::hf_row_of_meta_row(meta_row % hd, hd);
    m.read_row_f32(p.id, p.layer, row, dst);
  };
  if (to_hf) return write_hf_model(plan, rows, vocab, pool, o.out, o.max_shard_bytes, progress);
  return write_gguf_model(plan, rows, vocab, pool, o.out, progress);
}

}  // namespace herd::model
