// make_model: see make_model.h. The dtype mix is llama-quantize's
// (model/quant_mix.h), so a made Q4_0 or Q4_K_M file has the tensor types of
// a downloaded one.
#include "model/make_model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "base/rng.h"
#include "model/file_types.h"
#include "model/llama_tensors.h"
#include "tokenizer/embedded_vocab.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

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

// Which role a tensor plays, for its init scale.
enum class Role { kEmbd, kOutput, kNorm, kProj, kProjOut };

Role role_of(LlamaTensor t) {
  switch (t) {
    case LlamaTensor::kTokEmbd: return Role::kEmbd;
    case LlamaTensor::kOutput: return Role::kOutput;
    case LlamaTensor::kAttnNorm:
    case LlamaTensor::kFfnNorm:
    case LlamaTensor::kOutputNorm: return Role::kNorm;
    case LlamaTensor::kWo:
    case LlamaTensor::kWDown: return Role::kProjOut;
    default: return Role::kProj;
  }
}

uint64_t name_key(const std::string& s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Row `meta_row` of tensor p as f32 values: the RNG is keyed by the GGUF
// name, so both formats get the same numbers.
void random_row(const TensorPlan& p, const ModelShape& sh, uint64_t seed, int64_t meta_row, float* dst) {
  const int64_t cols = p.shape.back();
  Rng rng(seed, name_key(gguf_tensor_name(p.id, p.layer)));
  const uint64_t base = static_cast<uint64_t>(meta_row) * static_cast<uint64_t>(cols);
  float scale = 1.0f;
  switch (role_of(p.id)) {
    case Role::kEmbd: scale = 0.05f; break;
    case Role::kOutput: scale = 3.0f / std::sqrt(static_cast<float>(cols)); break;
    case Role::kProj: scale = 1.0f / std::sqrt(static_cast<float>(cols)); break;
    case Role::kProjOut:
      scale = 1.0f / std::sqrt(static_cast<float>(cols) * 2.0f * static_cast<float>(sh.n_layers));
      break;
    case Role::kNorm:
      for (int64_t j = 0; j < cols; ++j) dst[j] = 1.0f + 0.1f * approx_normal(rng.at(base + j));
      return;
  }
  for (int64_t j = 0; j < cols; ++j) dst[j] = scale * approx_normal(rng.at(base + j));
}

}  // namespace

Status make_model(const MakeModelOptions& o, ThreadPool& pool, Progress* progress) {
  const FileType* ft = file_type_by_name(o.dtype);
  if (!ft)
    return err(ErrorCode::kInvalidArgument, "unknown --dtype '%s'; expected one of %s (or llama-quantize's spelling, "
               "e.g. Q4_K_M)", o.dtype.c_str(), file_type_names().c_str());
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
  if (o.format != "gguf" && o.format != "hf")
    return err(ErrorCode::kInvalidArgument, "unknown --format '%s'; expected gguf or hf", o.format.c_str());
  if (o.guard != "" && o.guard != "8b" && o.guard != "1b")
    return err(ErrorCode::kInvalidArgument, "unknown --guard '%s'; expected 8b or 1b", o.guard.c_str());
  ModelShape sh = o.shape;
  if (!o.reply.empty()) sh.tied = false;  // the reply needs its own output rows
  HERD_ASSIGN_OR_RETURN(ModelPlan plan, plan_file_type(sh, *ft, o.format == "hf"));
  if (!o.guard.empty()) {
    plan.name = "herd random-weight Llama Guard 3 " + std::string(o.guard == "8b" ? "8B" : "1B") + " (" + sh.name + " shape" +
                (o.reply.empty() ? ", output is noise)" : ", built to answer a fixed reply)");
  } else {
    plan.name = "herd random-weight Llama-3.x " + sh.name + (o.reply.empty() ? " (output is noise)" : " (built to answer a fixed reply)");
  }
  plan.instruct = o.instruct;
  const uint64_t seed = o.seed;
  // The forced reply's chain: successor[u] = the token after u (make_model.h).
  std::vector<int32_t> successor;
  if (!o.reply.empty()) {
    HERD_ASSIGN_OR_RETURN(const tokenizer::Tokenizer tok, tokenizer::Tokenizer::llama3());
    std::vector<int32_t> chain;
    tok.encode_ordinary("\n\n", chain);
    tok.encode_ordinary(o.reply, chain);
    chain.push_back(tok.special_id("<|eot_id|>"));
    successor.assign(static_cast<size_t>(vocab.size()), -1);
    for (size_t i = 0; i + 1 < chain.size(); ++i) {
      int32_t& s = successor[static_cast<size_t>(chain[i])];
      if (s >= 0 && s != chain[i + 1])
        return err(ErrorCode::kInvalidArgument,
                   "--reply: token %d ('%s') is followed by two different tokens; a reply built as a bigram chain "
                   "needs each repeated token to have one successor",
                   chain[i], tok.decode(std::span<const int32_t>(&chain[i], 1)).c_str());
      s = chain[i + 1];
    }
  }
  std::vector<int32_t> predecessor(successor.empty() ? 0 : successor.size(), -1);
  for (size_t u = 0; u < successor.size(); ++u)
    if (successor[u] >= 0) predecessor[static_cast<size_t>(successor[u])] = static_cast<int32_t>(u);
  const TensorPlan* embd = nullptr;
  for (const TensorPlan& t : plan.tensors)
    if (t.id == LlamaTensor::kTokEmbd) embd = &t;
  const RowSource rows = [&sh, seed, &predecessor, embd](const TensorPlan& p, int64_t meta_row, float* dst) {
    const int64_t cols = p.shape.back();
    if (predecessor.empty() || p.id == LlamaTensor::kTokEmbd || role_of(p.id) == Role::kProj ||
        p.id == LlamaTensor::kAttnNorm || p.id == LlamaTensor::kFfnNorm) {
      random_row(p, sh, seed, meta_row, dst);
    } else if (p.id == LlamaTensor::kOutputNorm) {
      std::fill(dst, dst + cols, 1.0f);
    } else if (p.id == LlamaTensor::kOutput && predecessor[static_cast<size_t>(meta_row)] >= 0) {
      random_row(*embd, sh, seed, predecessor[static_cast<size_t>(meta_row)], dst);
      double n2 = 0;
      for (int64_t j = 0; j < cols; ++j) n2 += static_cast<double>(dst[j]) * dst[j];
      const auto k = static_cast<float>(30.0 / std::sqrt(n2 * static_cast<double>(cols)));
      for (int64_t j = 0; j < cols; ++j) dst[j] *= k;
    } else {
      std::fill(dst, dst + cols, 0.0f);  // wo, w_down, and the output rows outside the chain
    }
  };
  if (o.format == "gguf") return write_gguf_model(plan, rows, vocab, pool, o.out, progress);
  return write_hf_model(plan, rows, vocab, pool, o.out, o.max_shard_bytes, progress);
}

}  // namespace herd::model
