// The GGUF and Hugging Face writers of a Llama model (model/model_writer.h).
#include "model/model_writer.h"

#include <unistd.h>

#include <sys/stat.h>

#include <cstring>
#include <optional>

#include "base/mapped_file.h"
#include "formats/gguf_writer.h"
#include "formats/hf_config.h"
#include "formats/safetensors_writer.h"
#include "model/llama_config.h"
#include "model/quant_mix.h"
#include "tensor/quant.h"
#include "tokenizer/vocab_export.h"

namespace herd::model {
namespace {

// Fills the rows of tensor p, stored in dtype t, into dst; `meta_row_of` maps
// a stored row to the Meta-order row whose values it holds.
Status fill_tensor(const TensorPlan& p, DType t, const RowSource& rows, ThreadPool& pool,
                   const std::function<int64_t(int64_t)>& meta_row_of, uint8_t* dst, uint64_t nbytes,
                   const std::string& name) {
  const int64_t cols = p.shape.back();
  const int64_t n_rows = p.shape.size() == 2 ? p.shape[0] : 1;
  const int64_t rb = row_bytes(t, cols);
  if (static_cast<uint64_t>(rb * n_rows) != nbytes)
    return err(ErrorCode::kInternal, "tensor %s: %llu bytes, expected %lld", name.c_str(),
               static_cast<unsigned long long>(nbytes), static_cast<long long>(rb * n_rows));
  pool.parallel_for(
      n_rows,
      [&](int64_t r0, int64_t r1, int) {
        std::vector<float> row(static_cast<size_t>(cols));
        for (int64_t r = r0; r < r1; ++r) {
          rows(p, meta_row_of(r), row.data());
          if (dtype_info(t).row_scaled) quantize_row_f8_e4m3(row.data(), dst + r * rb, cols);
          else quantize_row_ref(t, row.data(), dst + r * rb, cols);
        }
      },
      64);
  return Ok{};
}

// The row scales of an FP8 tensor ([rows, 1] f32, Meta's quantize_fp8 per row).
Status fill_row_scales(const TensorPlan& p, const RowSource& rows, ThreadPool& pool, uint8_t* dst, uint64_t nbytes) {
  const int64_t cols = p.shape.back(), n_rows = p.shape[0];
  if (nbytes != static_cast<uint64_t>(n_rows) * 4) return err(ErrorCode::kInternal, "row scales: %llu bytes", static_cast<unsigned long long>(nbytes));
  pool.parallel_for(
      n_rows,
      [&](int64_t r0, int64_t r1, int) {
        std::vector<float> row(static_cast<size_t>(cols));
        std::vector<uint8_t> q(static_cast<size_t>(cols));
        for (int64_t r = r0; r < r1; ++r) {
          rows(p, r, row.data());
          const float scale = quantize_row_f8_e4m3(row.data(), q.data(), cols);
          std::memcpy(dst + 4 * r, &scale, 4);
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

}  // namespace

ModelPlan plan_llama(const ModelShape& s, DType dtype) {
  ModelPlan plan;
  plan.shape = s;
  const LlamaDims dims{s.d_model, s.n_heads, s.n_kv_heads, s.head_dim, s.d_ff, plan.vocab_size};
  for_each_file_tensor(s.n_layers, [&](LlamaTensor t, int64_t il) {
    if (t == LlamaTensor::kOutput && s.tied) return;
    plan.tensors.push_back({t, il, llama_tensor_shape(t, dims), dtype});
  });
  return plan;
}

Result<ModelPlan> plan_file_type(const ModelShape& s, const FileType& ft, bool hf) {
  if (dtype_info(ft.base).row_scaled) {
    // Meta's fp8_mixed: the FFN matrices of layers 1 .. L-2 in FP8, the rest BF16.
    if (!hf)
      return err(ErrorCode::kInvalidArgument, "GGUF cannot hold FP8 weights with row scales; write a Hugging Face "
                 "directory (--format hf)");
    ModelPlan plan = plan_llama(s, DType::kBF16);
    for (TensorPlan& p : plan.tensors)
      if ((p.id == LlamaTensor::kWGate || p.id == LlamaTensor::kWUp || p.id == LlamaTensor::kWDown) && p.layer >= 1 &&
          p.layer <= s.n_layers - 2)
        p.dtype = ft.base;
    return plan;
  }
  ModelPlan plan = plan_llama(s, ft.base);
  plan.gguf_ftype = ft.gguf_ftype;
  if (hf) return plan;
  const QuantMixModel mix{s.n_layers, s.n_heads, s.n_kv_heads, !s.tied};
  for (TensorPlan& p : plan.tensors) {
    if (llama_tensor_info(p.id).norm) {
      p.dtype = DType::kF32;
      continue;
    }
    HERD_ASSIGN_OR_RETURN(p.dtype, quant_mix_dtype(ft, p.id, p.layer, p.shape.back(), mix));
  }
  return plan;
}

namespace {

uint64_t plan_bytes(const ModelPlan& plan) {
  uint64_t total = 0;
  for (const TensorPlan& p : plan.tensors) {
    int64_t rows = 1;
    for (size_t i = 0; i + 1 < p.shape.size(); ++i) rows *= p.shape[i];
    total += static_cast<uint64_t>(rows) * row_bytes(p.dtype, p.shape.back());
  }
  return total;
}

// Fills one tensor between Ctrl-C checks, and counts it.
Status fill_counted(Progress* progress, uint64_t n, const std::function<Status()>& fill) {
  if (interrupted()) return err(ErrorCode::kCancelled, "interrupted; no file written");
  HERD_TRY(fill());
  if (progress) progress->add(n);
  return Ok{};
}

}  // namespace

Status write_gguf_model(const ModelPlan& plan, const RowSource& rows, const tokenizer::Vocab& vocab, ThreadPool& pool,
                        const std::string& path, Progress* progress) {
  if (progress) progress->set_total(plan_bytes(plan));
  const ModelShape& s = plan.shape;
  using formats::GgufValue;
  formats::GgufWriter w;
  w.set("general.architecture", GgufValue::string("llama"));
  w.set("general.type", GgufValue::string("model"));
  w.set("general.name", GgufValue::string(plan.name));
  w.set("general.size_label", GgufValue::string(s.name));
  w.set("general.file_type", GgufValue::u32(plan.gguf_ftype));
  bool quantized = false;
  for (const TensorPlan& p : plan.tensors) quantized = quantized || dtype_info(p.dtype).quantized;
  if (quantized) w.set("general.quantization_version", GgufValue::u32(2));
  w.set("llama.vocab_size", GgufValue::u32(static_cast<uint32_t>(plan.vocab_size)));
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
  w.set("tokenizer.ggml.eos_token_id", GgufValue::u32(static_cast<uint32_t>(plan.instruct ? vocab.eot_id : vocab.end_of_text_id)));
  w.set("tokenizer.ggml.add_bos_token", GgufValue::boolean(true));
  if (!plan.chat_template.empty()) w.set("tokenizer.chat_template", GgufValue::string(plan.chat_template));

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
  for (const TensorPlan& p : plan.tensors) {
    const std::string name = gguf_tensor_name(p.id, p.layer);
    HERD_TRY(w.add_tensor(name, p.dtype, p.shape, [&, p, name](uint8_t* dst, uint64_t n) -> Status {
      return fill_counted(progress, n, [&] { return fill_tensor(p, p.dtype, rows, pool, identity, dst, n, name); });
    }));
  }
  return w.write(path);
}

Status write_hf_model(const ModelPlan& plan, const RowSource& rows, const tokenizer::Vocab& vocab, ThreadPool& pool,
                      const std::string& dir, uint64_t max_shard_bytes, Progress* progress) {
  if (progress) progress->set_total(plan_bytes(plan));
  const ModelShape& s = plan.shape;
  auto st_type = [](DType t) -> std::optional<formats::StDType> {
    if (t == DType::kF32) return formats::StDType::kF32;
    if (t == DType::kF16) return formats::StDType::kF16;
    if (t == DType::kBF16) return formats::StDType::kBF16;
    if (t == DType::kF8_E4M3) return formats::StDType::kF8E4M3;
    return std::nullopt;
  };
  DType model_type = DType::kF32;
  for (const TensorPlan& p : plan.tensors) {
    if (!st_type(p.dtype))
      return err(ErrorCode::kInvalidArgument, "--format hf holds f32, f16, bf16 or fp8 weights, not %s", dtype_name(p.dtype));
    if (p.id == LlamaTensor::kTokEmbd) model_type = p.dtype;
  }
  mkdir(dir.c_str(), 0755);
  std::vector<formats::HfTensorSpec> hs;
  for (const TensorPlan& p : plan.tensors) {
    const int64_t hd = s.head_dim;
    const bool perm = p.id == LlamaTensor::kWq || p.id == LlamaTensor::kWk;
    const std::string name = hf_tensor_name(p.id, p.layer);
    hs.push_back({name, *st_type(p.dtype), p.shape, [&, p, perm, hd, name](uint8_t* dst, uint64_t n) -> Status {
                    auto map = [perm, hd](int64_t r) { return perm ? meta_row_of_hf(r, hd) : r; };
                    return fill_counted(progress, n,
                                        [&] { return fill_tensor(p, p.dtype, rows, pool, map, dst, n, name); });
                  }});
    if (dtype_info(p.dtype).row_scaled)  // only FFN matrices: no q/k permutation
      hs.push_back({name + "_scale", formats::StDType::kF32, {p.shape[0], 1}, [&, p](uint8_t* dst, uint64_t n) -> Status {
                      return fill_row_scales(p, rows, pool, dst, n);
                    }});
  }
  if (Status st = formats::write_hf_safetensors(dir, std::move(hs), max_shard_bytes); !st.has_value()) {
    rmdir(dir.c_str());  // only if it is empty: a folder made here, nothing of the user's
    return st;
  }

  formats::HfLlamaConfig c;
  c.architectures = {"LlamaForCausalLM"};
  c.hidden_size = s.d_model;
  c.intermediate_size = s.d_ff;
  c.num_hidden_layers = s.n_layers;
  c.num_attention_heads = s.n_heads;
  c.num_key_value_heads = s.n_kv_heads;
  c.head_dim = s.head_dim;
  c.head_dim_in_file = s.tied;  // the 3.2 configs state head_dim
  c.vocab_size = plan.vocab_size;
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
  bool fp8 = false;
  for (const TensorPlan& p : plan.tensors) fp8 = fp8 || dtype_info(p.dtype).row_scaled;
  if (fp8) {
    // Every linear module left in BF16, as Meta's FP8 config lists them.
    formats::HfFp8Config q;
    for (const TensorPlan& p : plan.tensors) {
      const std::string n = hf_tensor_name(p.id, p.layer);
      if (!llama_tensor_info(p.id).norm && p.id != LlamaTensor::kTokEmbd && !dtype_info(p.dtype).row_scaled)
        q.modules_to_not_convert.push_back(n.substr(0, n.size() - 7));  // without ".weight"
    }
    if (s.tied) q.modules_to_not_convert.push_back("lm_head");
    c.fp8 = std::move(q);
  }
  c.bos_token_id = vocab.bos_id;
  c.eos_token_ids = plan.instruct ? std::vector<int64_t>{vocab.end_of_text_id, vocab.eom_id, vocab.eot_id}
                                  : std::vector<int64_t>{vocab.end_of_text_id};
  c.torch_dtype = model_type == DType::kBF16 ? "bfloat16" : model_type == DType::kF16 ? "float16" : "float32";
  std::string cfg = formats::hf_config_to_json(c);
  HERD_TRY(write_file(dir + "/config.json", cfg.data(), cfg.size()));
  formats::HfGenerationConfig g;
  g.bos_token_id = vocab.bos_id;
  g.eos_token_ids = c.eos_token_ids;
  g.do_sample = true;
  g.temperature = 0.6;
  g.top_p = 0.9;
  std::string gen = formats::generation_config_to_json(g);
  HERD_TRY(write_file(dir + "/generation_config.json", gen.data(), gen.size()));
  std::string tj = tokenizer::hf_tokenizer_json(vocab);
  HERD_TRY(write_file(dir + "/tokenizer.json", tj.data(), tj.size()));
  std::string tc = tokenizer::hf_tokenizer_config_json(vocab, plan.instruct, plan.chat_template);
  HERD_TRY(write_file(dir + "/tokenizer_config.json", tc.data(), tc.size()));
  return Ok{};
}

}  // namespace herd::model
