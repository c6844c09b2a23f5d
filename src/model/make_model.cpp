// make_model: see make_model.h. The dtype mix follows llama.cpp's
// llama-quant.cpp rules for the named file types (output.weight to Q6_K for
// quantized types other than Q8_0; Q4_K_M / Q5_K_M give attn_v and ffn_down
// Q6_K in the use_more_bits layers), so a made Q4_0 or Q4_K_M file has the
// tensor types of a downloaded one.
#include "model/make_model.h"

#include <sys/stat.h>

#include <cmath>
#include <cstring>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <sstream>

#include "base/mapped_file.h"
#include "base/rng.h"
#include "formats/gguf_writer.h"
#include "formats/hf_config.h"
#include "formats/safetensors_writer.h"
#include "model/llama_config.h"
#include "model/llama_tensors.h"
#include "tensor/quant.h"
#include "tokenizer/embedded_vocab.h"
#include "tokenizer/vocab.h"
#include "tokenizer/vocab_export.h"

namespace herd::model {

Result<ModelShape> parse_model_shape(const std::string& spec) {
  static const ModelShape kPresets[] = {
      {"8b", 4096, 32, 32, 8, 14336, 128, false, 8.0},
      {"70b", 8192, 80, 64, 8, 28672, 128, false, 8.0},
      {"405b", 16384, 126, 128, 8, 53248, 128, false, 8.0},
      {"3.2-1b", 2048, 16, 32, 8, 8192, 64, true, 32.0},
      {"3.2-3b", 3072, 28, 24, 8, 8192, 128, true, 32.0},
      {"tiny", 256, 2, 4, 2, 512, 64, false, 8.0},
  };
  for (const auto& p : kPresets)
    if (spec == p.name) return p;
  if (spec.find('=') == std::string::npos)
    return err(ErrorCode::kInvalidArgument,
               "unknown shape '%s'; expected 8b, 70b, 405b, 3.2-1b, 3.2-3b, tiny or "
               "d_model=N,n_layers=N,n_heads=N,n_kv_heads=N,d_ff=N[,tied=0|1][,rope_factor=X][,rms_eps=X][,rope_theta=X]",
               spec.c_str());
  ModelShape s = kPresets[5];
  s.name = "custom";
  s.head_dim = 0;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    auto eq = item.find('=');
    if (eq == std::string::npos) return err(ErrorCode::kInvalidArgument, "shape item '%s' is not key=value", item.c_str());
    std::string k = item.substr(0, eq), v = item.substr(eq + 1);
    char* end = nullptr;
    double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end || !(x >= 0) || x > 1e7)
      return err(ErrorCode::kInvalidArgument, "shape item '%s': '%s' is not a valid number", k.c_str(), v.c_str());
    auto n = static_cast<int64_t>(x);
    if (k == "d_model") s.d_model = n;
    else if (k == "n_layers") s.n_layers = n;
    else if (k == "n_heads") s.n_heads = n;
    else if (k == "n_kv_heads") s.n_kv_heads = n;
    else if (k == "d_ff") s.d_ff = n;
    else if (k == "head_dim") s.head_dim = n;
    else if (k == "tied") s.tied = n != 0;
    else if (k == "rope_factor") s.rope_factor = x;
    else if (k == "rms_eps" || k == "rope_theta") {
      if (k == "rms_eps" ? !(x > 0 && x < 1) : !(x > 1))
        return err(ErrorCode::kInvalidArgument, "shape item '%s': %s is out of range (rms_eps in (0, 1), rope_theta > 1)",
                   k.c_str(), v.c_str());
      (k == "rms_eps" ? s.rms_eps : s.rope_theta) = x;
    }
    else return err(ErrorCode::kInvalidArgument, "unknown shape key '%s'", k.c_str());
  }
  if (s.head_dim == 0 && s.n_heads > 0) s.head_dim = s.d_model / s.n_heads;
  if (s.d_model <= 0 || s.n_layers <= 0 || s.n_heads <= 0 || s.n_kv_heads <= 0 || s.d_ff <= 0 ||
      s.n_heads % s.n_kv_heads != 0 || s.head_dim % 2 != 0 || s.head_dim <= 0)
    return err(ErrorCode::kInvalidArgument, "shape '%s' is inconsistent (positive dims, n_kv_heads | n_heads, even head_dim)",
               spec.c_str());
  return s;
}

namespace {

constexpr int64_t kVocab = 128256;

struct FileType {
  const char* name;
  DType base;
  uint32_t gguf_ftype;  // llama_ftype
  bool k_m;             // Q4_K_M / Q5_K_M mix
};

const FileType kFileTypes[] = {
    {"f32", DType::kF32, 0, false},    {"f16", DType::kF16, 1, false},    {"bf16", DType::kBF16, 32, false},
    {"q4_0", DType::kQ4_0, 2, false},  {"q4_1", DType::kQ4_1, 3, false},  {"q8_0", DType::kQ8_0, 7, false},
    {"q5_0", DType::kQ5_0, 8, false},  {"q5_1", DType::kQ5_1, 9, false},  {"q4_k", DType::kQ4_K, 14, false},
    {"q4_k_m", DType::kQ4_K, 15, true}, {"q5_k", DType::kQ5_K, 16, false}, {"q5_k_m", DType::kQ5_K, 17, true},
    {"q6_k", DType::kQ6_K, 18, false},
};

// llama.cpp's use_more_bits(i, n): first and last eighth, and every third layer between.
bool use_more_bits(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

// Which role a tensor plays, for its init scale and dtype.
enum class Role { kEmbd, kOutput, kNorm, kProj, kProjOut, kQ, kK };

struct Spec {
  std::string meta_name;  // GGUF name (used for the RNG key, so both formats agree)
  std::string hf_name;
  std::vector<int64_t> shape;  // outermost first
  Role role;
  DType gguf_dtype;
  int64_t n_heads_for_perm = 0;  // q/k: heads whose rows HF permutes
};

uint64_t name_key(const std::string& s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// A fast approximately-normal draw: sum of four 16-bit uniforms (Irwin-Hall),
// centred and scaled to unit variance. Tails are bounded at ±2*sqrt(3), which
// suits weights; exact normality is not what the tests rely on.
inline float approx_normal(uint64_t r) {
  uint32_t s = static_cast<uint32_t>(r & 0xffff) + static_cast<uint32_t>((r >> 16) & 0xffff) +
               static_cast<uint32_t>((r >> 32) & 0xffff) + static_cast<uint32_t>(r >> 48);
  return (static_cast<float>(s) * (1.0f / 65536.0f) - 2.0f) * 1.7320508f;
}

// Row `meta_row` of tensor `spec` as f32 values.
void fill_row(const Spec& spec, const ModelShape& sh, uint64_t seed, int64_t meta_row, float* dst) {
  const int64_t cols = spec.shape.back();
  Rng rng(seed, name_key(spec.meta_name));
  const uint64_t base = static_cast<uint64_t>(meta_row) * static_cast<uint64_t>(cols);
  float scale = 1.0f;
  switch (spec.role) {
    case Role::kEmbd: scale = 0.05f; break;
    case Role::kOutput: scale = 3.0f / std::sqrt(static_cast<float>(cols)); break;
    case Role::kProj:
    case Role::kQ:
    case Role::kK: scale = 1.0f / std::sqrt(static_cast<float>(cols)); break;
    case Role::kProjOut:
      scale = 1.0f / std::sqrt(static_cast<float>(cols) * 2.0f * static_cast<float>(sh.n_layers));
      break;
    case Role::kNorm:
      for (int64_t j = 0; j < cols; ++j) dst[j] = 1.0f + 0.1f * approx_normal(rng.at(base + j));
      return;
  }
  for (int64_t j = 0; j < cols; ++j) dst[j] = scale * approx_normal(rng.at(base + j));
}

// Names and shapes from the one tensor table (model/llama_tensors.h); the
// init scale and llama-quantize's dtype choice per tensor are make-model's.
std::vector<Spec> tensor_specs(const ModelShape& s, const FileType& ft) {
  std::vector<Spec> out;
  const LlamaDims dims{s.d_model, s.n_heads, s.n_kv_heads, s.head_dim, s.d_ff, kVocab};
  const bool quant = dtype_info(ft.base).quantized;
  // llama.cpp: the LM head (or the tied embedding serving as it) becomes Q6_K
  // in quantized files unless the base type is Q8_0.
  const DType head_type = quant && ft.base != DType::kQ8_0 ? DType::kQ6_K : ft.base;
  for_each_file_tensor(s.n_layers, [&](LlamaTensor t, int64_t il) {
    if (t == LlamaTensor::kOutput && s.tied) return;
    const DType more = ft.k_m && use_more_bits(il, s.n_layers) ? DType::kQ6_K : ft.base;
    Spec sp{gguf_tensor_name(t, il), hf_tensor_name(t, il), llama_tensor_shape(t, dims), Role::kProj, ft.base};
    switch (t) {
      case LlamaTensor::kTokEmbd: sp.role = Role::kEmbd; sp.gguf_dtype = s.tied ? head_type : ft.base; break;
      case LlamaTensor::kAttnNorm:
      case LlamaTensor::kFfnNorm:
      case LlamaTensor::kOutputNorm: sp.role = Role::kNorm; sp.gguf_dtype = DType::kF32; break;
      case LlamaTensor::kWq: sp.role = Role::kQ; sp.n_heads_for_perm = s.n_heads; break;
      case LlamaTensor::kWk: sp.role = Role::kK; sp.n_heads_for_perm = s.n_kv_heads; break;
      case LlamaTensor::kWv: sp.gguf_dtype = more; break;
      case LlamaTensor::kWo: sp.role = Role::kProjOut; break;
      case LlamaTensor::kWGate:
      case LlamaTensor::kWUp: break;
      case LlamaTensor::kWDown: sp.role = Role::kProjOut; sp.gguf_dtype = more; break;
      case LlamaTensor::kOutput: sp.role = Role::kOutput; sp.gguf_dtype = head_type; break;
    }
    out.push_back(std::move(sp));
  });
  return out;
}

// Fills rows [0, rows) of a tensor into dst in dtype t; `meta_row_of` maps a
// stored row to the Meta-order row whose values it holds (HF q/k permutation).
Status fill_tensor(const Spec& spec, const ModelShape& sh, uint64_t seed, DType t, ThreadPool& pool,
                   const std::function<int64_t(int64_t)>& meta_row_of, uint8_t* dst, uint64_t nbytes) {
  const int64_t cols = spec.shape.back();
  const int64_t rows = spec.shape.size() == 2 ? spec.shape[0] : 1;
  const int64_t rb = row_bytes(t, cols);
  if (static_cast<uint64_t>(rb * rows) != nbytes)
    return err(ErrorCode::kInternal, "tensor %s: %llu bytes, expected %lld", spec.meta_name.c_str(),
               static_cast<unsigned long long>(nbytes), static_cast<long long>(rb * rows));
  pool.parallel_for(
      rows,
      [&](int64_t r0, int64_t r1, int) {
        std::vector<float> row(static_cast<size_t>(cols));
        for (int64_t r = r0; r < r1; ++r) {
          fill_row(spec, sh, seed, meta_row_of(r), row.data());
          quantize_row_ref(t, row.data(), dst + r * rb, cols);
        }
      },
      64);
  return Ok{};
}

// HF row R of a q/k tensor holds Meta row: per head, HF row c*(hd/2)+j is Meta row 2j+c.
int64_t meta_row_of_hf(int64_t R, int64_t hd) {
  const int64_t head = R / hd, w = R % hd, half = hd / 2;
  const int64_t c = w / half, j = w % half;
  return head * hd + 2 * j + c;
}

Status write_gguf(const MakeModelOptions& o, const FileType& ft, const std::vector<Spec>& specs,
                  const tokenizer::Vocab& vocab, ThreadPool& pool, FILE* log) {
  const ModelShape& s = o.shape;
  using formats::GgufValue;
  formats::GgufWriter w;
  w.set("general.architecture", GgufValue::string("llama"));
  w.set("general.type", GgufValue::string("model"));
  w.set("general.name", GgufValue::string("herd random-weight Llama-3.x " + s.name + " (output is noise)"));
  w.set("general.size_label", GgufValue::string(s.name));
  w.set("general.file_type", GgufValue::u32(ft.gguf_ftype));
  if (dtype_info(ft.base).quantized) w.set("general.quantization_version", GgufValue::u32(2));
  w.set("llama.vocab_size", GgufValue::u32(static_cast<uint32_t>(kVocab)));
  w.set("llama.context_length", GgufValue::u32(static_cast<uint32_t>(s.n_ctx_train)));
  w.set("llama.embedding_length", GgufValue::u32(static_cast<uint32_t>(s.d_model)));
  w.set("llama.block_count", GgufValue::u32(static_cast<uint32_t>(s.n_layers)));
  w.set("llama.feed_forward_length", GgufValue::u32(static_cast<uint32_t>(s.d_ff)));
  w.set("llama.attention.head_count", GgufValue::u32(static_cast<uint32_t>(s.n_heads)));
  w.set("llama.attention.head_count_kv", GgufValue::u32(static_cast<uint32_t>(s.n_kv_heads)));
  w.set("llama.attention.layer_norm_rms_epsilon", GgufValue::f32(static_cast<float>(s.rms_eps)));
  w.set("llama.rope.freq_base", GgufValue::f32(static_cast<float>(s.rope_theta)));
  w.set("llama.rope.dimension_count", GgufValue::u32(static_cast<uint32_t>(s.head_dim)));
  if (s.head_dim != s.d_model / s.n_heads) {
    w.set("llama.attention.key_length", GgufValue::u32(static_cast<uint32_t>(s.head_dim)));
    w.set("llama.attention.value_length", GgufValue::u32(static_cast<uint32_t>(s.head_dim)));
  }
  w.set("tokenizer.ggml.model", GgufValue::string("gpt2"));
  w.set("tokenizer.ggml.pre", GgufValue::string("llama-bpe"));
  w.set("tokenizer.ggml.tokens", GgufValue::string_array(tokenizer::gguf_token_strings(vocab)));
  w.set("tokenizer.ggml.token_type", GgufValue::i32_array(tokenizer::gguf_token_types(vocab)));
  w.set("tokenizer.ggml.merges", GgufValue::string_array(tokenizer::gguf_merges(vocab)));
  w.set("tokenizer.ggml.bos_token_id", GgufValue::u32(static_cast<uint32_t>(vocab.bos_id)));
  w.set("tokenizer.ggml.eos_token_id", GgufValue::u32(static_cast<uint32_t>(o.instruct ? vocab.eot_id : vocab.end_of_text_id)));
  w.set("tokenizer.ggml.add_bos_token", GgufValue::boolean(true));

  // rope_freqs.weight: the llama3 divisors, stored as llama.cpp's converter does.
  Llama3RopeScaling rs;
  rs.factor = s.rope_factor;
  std::vector<double> div = llama3_rope_divisors(s.rope_theta, s.head_dim, rs);
  HERD_TRY(w.add_tensor("rope_freqs.weight", DType::kF32, {s.head_dim / 2}, [div](uint8_t* dst, uint64_t) -> Status {
    for (size_t i = 0; i < div.size(); ++i) {
      float f = static_cast<float>(div[i]);
      std::memcpy(dst + 4 * i, &f, 4);
    }
    return Ok{};
  }));
  auto identity = [](int64_t r) { return r; };
  for (const Spec& sp : specs) {
    HERD_TRY(w.add_tensor(sp.meta_name, sp.gguf_dtype, sp.shape, [&, sp](uint8_t* dst, uint64_t n) -> Status {
      if (log) std::fprintf(log, "  %-28s %-6s %s\n", sp.meta_name.c_str(), dtype_name(sp.gguf_dtype), shape_string(sp.shape).c_str());
      return fill_tensor(sp, s, o.seed, sp.gguf_dtype, pool, identity, dst, n);
    }));
  }
  return w.write(o.out);
}

Status write_hf(const MakeModelOptions& o, const FileType& ft, const std::vector<Spec>& specs,
                const tokenizer::Vocab& vocab, ThreadPool& pool, FILE* log) {
  const ModelShape& s = o.shape;
  std::optional<formats::StDType> st;
  if (ft.base == DType::kF32) st = formats::StDType::kF32;
  if (ft.base == DType::kF16) st = formats::StDType::kF16;
  if (ft.base == DType::kBF16) st = formats::StDType::kBF16;
  if (!st)
    return err(ErrorCode::kInvalidArgument, "--format hf holds f32, f16 or bf16 weights, not %s", ft.name);
  mkdir(o.out.c_str(), 0755);
  std::vector<formats::HfTensorSpec> hs;
  for (const Spec& sp : specs) {
    const DType t = sp.role == Role::kNorm ? ft.base : ft.base;  // HF keeps norms in the model dtype
    const int64_t hd = s.head_dim;
    const bool perm = sp.role == Role::kQ || sp.role == Role::kK;
    hs.push_back({sp.hf_name, *st, sp.shape, [&, sp, t, perm, hd](uint8_t* dst, uint64_t n) -> Status {
                    if (log) std::fprintf(log, "  %-48s %s\n", sp.hf_name.c_str(), shape_string(sp.shape).c_str());
                    auto map = [perm, hd](int64_t r) { return perm ? meta_row_of_hf(r, hd) : r; };
                    return fill_tensor(sp, s, o.seed, t, pool, map, dst, n);
                  }});
  }
  HERD_TRY(formats::write_hf_safetensors(o.out, std::move(hs), o.max_shard_bytes));

  formats::HfLlamaConfig c;
  c.architectures = {"LlamaForCausalLM"};
  c.hidden_size = s.d_model;
  c.intermediate_size = s.d_ff;
  c.num_hidden_layers = s.n_layers;
  c.num_attention_heads = s.n_heads;
  c.num_key_value_heads = s.n_kv_heads;
  c.head_dim = s.head_dim;
  c.head_dim_in_file = s.tied;  // the 3.2 configs state head_dim
  c.vocab_size = kVocab;
  c.max_position_embeddings = s.n_ctx_train;
  c.rms_norm_eps = s.rms_eps;
  c.rope_theta = s.rope_theta;
  formats::RopeScaling rs;
  rs.rope_type = "llama3";
  rs.factor = s.rope_factor;
  rs.low_freq_factor = 1.0;
  rs.high_freq_factor = 4.0;
  rs.original_max_position_embeddings = 8192;
  c.rope_scaling = rs;
  c.tie_word_embeddings = s.tied;
  c.bos_token_id = vocab.bos_id;
  c.eos_token_ids = o.instruct ? std::vector<int64_t>{vocab.end_of_text_id, vocab.eom_id, vocab.eot_id}
                               : std::vector<int64_t>{vocab.end_of_text_id};
  c.torch_dtype = ft.base == DType::kBF16 ? "bfloat16" : ft.base == DType::kF16 ? "float16" : "float32";
  std::string cfg = formats::hf_config_to_json(c);
  HERD_TRY(write_file(o.out + "/config.json", cfg.data(), cfg.size()));
  formats::HfGenerationConfig g;
  g.bos_token_id = vocab.bos_id;
  g.eos_token_ids = c.eos_token_ids;
  g.do_sample = true;
  g.temperature = 0.6;
  g.top_p = 0.9;
  std::string gen = formats::generation_config_to_json(g);
  HERD_TRY(write_file(o.out + "/generation_config.json", gen.data(), gen.size()));
  std::string tj = tokenizer::hf_tokenizer_json(vocab);
  HERD_TRY(write_file(o.out + "/tokenizer.json", tj.data(), tj.size()));
  std::string tc = tokenizer::hf_tokenizer_config_json(vocab, o.instruct);
  HERD_TRY(write_file(o.out + "/tokenizer_config.json", tc.data(), tc.size()));
  return Ok{};
}

}  // namespace

Status make_model(const MakeModelOptions& o, ThreadPool& pool, FILE* log) {
  const FileType* ft = nullptr;
  for (const auto& f : kFileTypes)
    if (o.dtype == f.name) ft = &f;
  if (!ft) {
    std::string names;
    for (const auto& f : kFileTypes) names += std::string(names.empty() ? "" : ", ") + f.name;
    return err(ErrorCode::kInvalidArgument, "unknown --dtype '%s'; expected one of %s", o.dtype.c_str(), names.c_str());
  }
  const int64_t block = dtype_info(ft->base).block_elems;
  if (o.shape.d_model % block || o.shape.d_ff % block || (o.shape.n_heads * o.shape.head_dim) % block ||
      (ft->base != DType::kQ8_0 && dtype_info(ft->base).quantized && o.shape.d_model % 256))
    return err(ErrorCode::kInvalidArgument,
               "dtype %s needs d_model, d_ff and n_heads*head_dim to be multiples of %lld (and d_model of 256 for the Q6_K head)",
               ft->name, static_cast<long long>(block));
  if (o.out.empty()) return err(ErrorCode::kInvalidArgument, "no output path (-o)");
  HERD_ASSIGN_OR_RETURN(tokenizer::Vocab vocab,
                        tokenizer::vocab_from_tiktoken(tokenizer::embedded_llama3_tokenizer_model()));
  HERD_TRY(tokenizer::assign_llama3_special_ids(vocab));
  std::vector<Spec> specs = tensor_specs(o.shape, *ft);
  if (o.format == "gguf") return write_gguf(o, *ft, specs, vocab, pool, log);
  if (o.format == "hf") return write_hf(o, *ft, specs, vocab, pool, log);
  return err(ErrorCode::kInvalidArgument, "unknown --format '%s'; expected gguf or hf", o.format.c_str());
}

}  // namespace herd::model
